// The MQTT bridge against a real Mosquitto: the broker is away at first, then comes,
// then is killed mid-drain and restarted; a cloud subscriber with a persistent session
// sees every incident (at least once: QoS 1; deduped by the idempotency key).
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { freePort, Mosquitto, mosquittoAvailable } from './mosquitto.js';

const RANK: Record<string, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };

class CloudSubscriber {
  readonly messages: { topic: string; key: string; level: string; id: string }[] = [];
  private readonly waiters = new Set<() => void>();
  client: MqttClient | null = null;

  constructor(private readonly url: string) {}

  async connect(): Promise<void> {
    this.client = await mqtt.connectAsync(this.url, { clientId: 'cloud-sub', clean: false, reconnectPeriod: 100, protocolVersion: 4 });
    this.client.on('message', (topic, payload) => {
      const doc = JSON.parse(payload.toString());
      this.messages.push({ topic, key: doc.sync.idempotency_key, level: doc.threat_level, id: doc.incident_id });
      for (const w of this.waiters) w();
    });
  }

  keys(): Set<string> {
    return new Set(this.messages.map((m) => m.key));
  }

  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`subscriber: ${what} not met within ${timeoutMs} ms (have ${this.keys().size})`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

describe('upstream sync: MQTT bridge to a real Mosquitto', () => {
  // Not skipped when missing: CI installs Debian's mosquitto (.ci/run); a silent skip would hide that.
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto (see .ci/run)');

  let broker: Mosquitto;
  let gw: TestGateway | null = null;
  let sub: CloudSubscriber | null = null;
  afterAll(async () => {
    await sub?.client?.endAsync(true);
    await gw?.stop();
    await broker?.stop('SIGKILL');
  });

  it('delivers every incident through a broker outage at start and a broker restart mid-drain', async () => {
    broker = new Mosquitto(await freePort());
    // The cloud side's persistent session exists before any incident is published.
    await broker.start();
    sub = new CloudSubscriber(broker.url);
    await sub.connect();
    await sub.client!.subscribeAsync('safesphere/sites/+/incidents/#', { qos: 1 });
    await broker.stop();

    // The gateway starts while the broker is away, and keeps its backlog.
    gw = await startGateway(
      { upstream: { max_bytes_per_s: 120_000, retry_base_ms: 50, mqtt: { enabled: true, url: broker.url, client_id: 'edge-test-site' } } },
      { scorer: new ReportedLevelScorer() },
    );
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const level = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'][i % 4]!;
      const id = `MQ_${i}`;
      const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, threat_level: level, camera_id: `cam-${i % 5}` }));
      expect(res.status).toBe(200);
      ids.push(id);
    }
    const sync = gw.gateway.get('sync')!;
    expect(sync.status(0).transports.mqtt).toMatchObject({ connected: false, backlog: { total: 200, CRITICAL: 50 } });

    await broker.start();
    await sub.waitFor(() => sub!.keys().size >= 60, 15_000, '60 incidents before the kill');
    expect(sync.status(0).transports.mqtt!.backlog.total).toBeGreaterThan(0); // still draining
    await broker.stop(); // mid-drain
    await broker.start();
    await sub.waitFor(() => sub!.keys().size === 200, 20_000, 'all 200 incidents').catch((err) => {
      console.log(JSON.stringify(sync.status(0).transports.mqtt), broker.log.slice(-3000));
      throw err;
    });

    expect(sub.keys()).toEqual(new Set(ids.map((id) => `${gw!.config.site_id}:${id}:incident:1`)));
    expect(sub.messages[0]!.level).toBe('CRITICAL');
    expect(sub.messages[0]!.topic).toBe(`safesphere/sites/${gw.config.site_id}/incidents/${sub.messages[0]!.id}`);
    // Most severe first: across first arrivals the level never goes back up.
    const firstSeen = new Map<string, number>();
    for (const m of sub.messages) if (!firstSeen.has(m.key)) firstSeen.set(m.key, RANK[m.level]!);
    const ranks = [...firstSeen.values()];
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));

    // Every entry is marked delivered (its PUBACK came), and the bridge is connected again.
    await new Promise<void>((resolve) => {
      const d = sync.drainer('mqtt')!;
      const off = d.onRound(() => {
        if (sync.status(0).transports.mqtt!.backlog.total === 0) {
          off();
          resolve();
        }
      });
      if (sync.status(0).transports.mqtt!.backlog.total === 0) {
        off();
        resolve();
      }
    });
    expect(sync.status(0).transports.mqtt).toMatchObject({ connected: true, poisoned: 0 });
  });
});
