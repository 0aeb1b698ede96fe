// Home Assistant MQTT discovery, captured with mosquitto_sub on a real Mosquitto (the upstream
// broker, homeassistant.upstream) and with an MQTT client on the embedded broker. Each payload
// is checked against Home Assistant's documented required fields per platform:
//   https://www.home-assistant.io/integrations/alarm_control_panel.mqtt/  (command_topic, state_topic)
//   https://www.home-assistant.io/integrations/binary_sensor.mqtt/        (state_topic)
//   https://www.home-assistant.io/integrations/button.mqtt/               (command_topic)
//   https://www.home-assistant.io/integrations/event.mqtt/                (state_topic, event_types)
//   https://www.home-assistant.io/integrations/sensor.mqtt/               (state_topic)
//   https://www.home-assistant.io/integrations/siren.mqtt/                (command_topic; turn_on sends {"state","duration","tone"})
// and the discovery rules (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery:
// <prefix>/<component>/<node_id>/<object_id>/config, unique_id, device, origin, availability,
// an empty retained config removes an entity, the birth message on <prefix>/status). The
// removal of entities that left the config follows zigbee2mqtt (lib/extension/homeassistant.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import bcrypt from 'bcryptjs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { connectMqtt, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { freePort, Mosquitto, mosquittoAvailable } from './mosquitto.js';

const REQUIRED: Record<string, string[]> = {
  alarm_control_panel: ['command_topic', 'state_topic'],
  binary_sensor: ['state_topic'],
  button: ['command_topic'],
  event: ['state_topic', 'event_types'],
  sensor: ['state_topic'],
  siren: ['command_topic'],
};

interface Line {
  retained: boolean;
  topic: string;
  payload: string;
}

/** mosquitto_sub on a filter, one line per message: retain flag, topic, payload. */
class MosquittoSub {
  readonly lines: Line[] = [];
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  constructor(port: number, filter: string) {
    this.child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', filter, '-q', '1', '-F', '%r\t%t\t%p'], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const [r, topic, ...rest] = l.split('\t');
      this.lines.push({ retained: r === '1', topic: topic!, payload: rest.join('\t') });
      for (const w of this.waiters) w();
    });
  }
  until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
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
        reject(new Error(`mosquitto_sub: ${what} not seen within ${timeoutMs} ms; ${this.lines.length} lines`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

/** Messages on `filter` seen by a client, newest last. */
async function watch(url: string, filter: string) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 4 });
  const seen: { topic: string; payload: string; retain: boolean }[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    seen.push({ topic, payload: payload.toString(), retain: packet.retain });
    for (const w of waiters) w();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    client,
    seen,
    last: (topic: string) => [...seen].reverse().find((m) => m.topic === topic)?.payload,
    until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => predicate() && (clearTimeout(timer), waiters.delete(check), resolve());
        const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`${what} not seen within ${timeoutMs} ms`))), timeoutMs);
        waiters.add(check);
      });
    },
  };
}

const configs = (lines: Line[]) => lines.filter((l) => l.topic.endsWith('/config') && l.payload !== '');

describe('Home Assistant discovery on a real Mosquitto and on the embedded broker', () => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto (see .ci/run)');
  let broker: Mosquitto;
  let sub: MosquittoSub;
  let gw: TestGateway | null = null;
  const dataDir = tempDir();
  const clients: MqttClient[] = [];
  const config = (shrunk: boolean) => ({
    upstream: { mqtt: { enabled: true, url: broker.url, keepalive_s: 5, heartbeat_s: 30 }, retry_base_ms: 100 },
    homeassistant: { enabled: true, upstream: true },
    arming: { pin_hash: bcrypt.hashSync('1357', 4) },
    zones: shrunk
      ? [{ id: 'lobby', name: 'Lobby', cameras: ['cam-1'] }]
      : [
          { id: 'lobby', name: 'Lobby', cameras: ['cam-1', 'cam-2'] },
          { id: 'yard', cameras: ['cam-3'] },
        ],
    devices: {
      sirens: shrunk
        ? [{ id: 'siren-1', cameras: ['*'], duration_s: 30 }]
        : [
            { id: 'siren-1', cameras: ['*'], duration_s: 30 },
            { id: 'siren-2', cameras: [], zones: ['yard'], duration_s: 10 },
          ],
    },
  });

  beforeAll(async () => {
    broker = new Mosquitto(await freePort());
    await broker.start();
    sub = new MosquittoSub(broker.port, 'homeassistant/#');
    gw = await startGateway(config(false), { scorer: new ReportedLevelScorer(), dataDir });
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await gw?.stop();
    sub?.stop();
    await broker?.stop('SIGKILL');
  });

  it('publishes one device with every entity, each payload with the platform\'s required fields', async () => {
    // 3 site entities + 3 cameras x 3 + 2 zones + 2 sirens.
    await sub.until(() => new Set(configs(sub.lines).map((l) => l.topic)).size === 16, 'sixteen configs');
    const byTopic = new Map(configs(sub.lines).map((l) => [l.topic, JSON.parse(l.payload)]));
    const components: Record<string, number> = {};
    const uniqueIds = new Set<string>();
    for (const [topic, p] of byTopic) {
      const m = /^homeassistant\/([a-z_]+)\/safesphere_site-1\/([A-Za-z0-9_-]+)\/config$/.exec(topic);
      expect(m, topic).not.toBeNull();
      const component = m![1]!;
      components[component] = (components[component] ?? 0) + 1;
      for (const field of REQUIRED[component]!) expect(p[field], `${topic} ${field}`).toBeDefined();
      expect(typeof p.unique_id).toBe('string');
      uniqueIds.add(p.unique_id);
      expect(p.device).toMatchObject({ identifiers: ['safesphere_edge_site-1'], name: 'SafeSphere Edge site-1' });
      expect(p.origin.name).toBe('SafeSphere Edge');
      expect(p.availability).toEqual([{ topic: 'safesphere/sites/site-1/status', payload_available: 'online', payload_not_available: 'offline' }]);
    }
    expect(uniqueIds.size).toBe(16);
    expect(components).toEqual({ alarm_control_panel: 1, sensor: 7, button: 1, event: 3, binary_sensor: 2, siren: 2 });
    const alarm = byTopic.get('homeassistant/alarm_control_panel/safesphere_site-1/arming/config');
    expect(alarm).toMatchObject({
      state_topic: 'safesphere/sites/site-1/arming/state',
      command_topic: 'safesphere/sites/site-1/arming/set',
      code: 'REMOTE_CODE',
      code_disarm_required: true,
      code_arm_required: false,
      supported_features: ['arm_home', 'arm_away', 'arm_night', 'arm_vacation'],
    });
    expect(byTopic.get('homeassistant/event/safesphere_site-1/camera_cam-1_threat/config').event_types).toEqual(['low', 'medium', 'high', 'critical']);

    // The embedded broker has the same device, available through the gateway's own status topic.
    const embedded = await watch(gw!.mqttUrl, 'homeassistant/#');
    clients.push(embedded.client);
    await embedded.until(() => embedded.seen.filter((m) => m.topic.endsWith('/config')).length >= 16, 'embedded configs');
    const one = JSON.parse(embedded.last('homeassistant/siren/safesphere_site-1/siren_siren-1/config')!);
    expect(one.availability[0].topic).toBe('safesphere/gateway/status');
    expect(one.command_topic).toBe('safesphere/gateway/ha/sirens/siren-1/set');
  });

  it('re-sends discovery when Home Assistant says online on homeassistant/status', async () => {
    const before = configs(sub.lines).length;
    const ha = await connectMqtt(broker.url);
    clients.push(ha);
    await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await sub.until(() => configs(sub.lines).length >= before + 16, 'sixteen configs again');
  });

  it('drives the entities: a report triggers the panel, the camera event and the zone; the button acknowledges; HA siren commands reach the siren', async () => {
    const up = await watch(broker.url, 'safesphere/sites/site-1/#');
    clients.push(up.client);
    const local = await watch(gw!.mqttUrl, 'safesphere/sirens/#');
    clients.push(local.client);
    await up.until(() => up.last('safesphere/sites/site-1/arming/state') === 'armed_away', 'armed_away');

    const res = await postJson(`${gw!.httpUrl}/threats/report`, seedReport({ incident_id: 'HA_1', camera_id: 'cam-1' }));
    expect(res.status).toBe(200);
    await up.until(() => up.last('safesphere/sites/site-1/arming/state') === 'triggered', 'triggered');
    const event = JSON.parse(up.last('safesphere/sites/site-1/ha/cameras/cam-1/event')!);
    expect(event).toMatchObject({ event_type: 'critical', incident_id: 'HA_1', level: 'CRITICAL', weapon_types: ['gun'], arming_mode: 'armed_away' });
    expect(JSON.parse(up.last('safesphere/sites/site-1/ha/cameras/cam-1/state')!)).toMatchObject({ level: 'CRITICAL', score: 0.87, incident_id: 'HA_1' });
    await up.until(() => up.last('safesphere/sites/site-1/ha/zones/lobby/threat') === 'ON', 'lobby ON');
    expect(up.last('safesphere/sites/site-1/ha/zones/yard/threat')).toBe('OFF');
    expect(JSON.parse(up.last('safesphere/sites/site-1/ha/open_incidents')!)).toMatchObject({ count: 1, unacknowledged: 1 });

    await up.client.publishAsync('safesphere/sites/site-1/ha/acknowledge', 'PRESS', { qos: 1 });
    await up.until(() => up.last('safesphere/sites/site-1/arming/state') === 'armed_away', 'back to armed_away');
    const status = (await (await fetch(`${gw!.httpUrl}/incidents/HA_1`)).json()) as any;
    expect(JSON.stringify(status)).toContain('homeassistant');

    // Home Assistant's siren schema, translated to ours on the siren's own topic.
    await up.client.publishAsync('safesphere/sites/site-1/ha/sirens/siren-2/set', JSON.stringify({ state: 'ON', duration: 2, tone: 'alarm' }), { qos: 1 });
    await local.until(() => local.seen.some((m) => m.topic === 'safesphere/sirens/siren-2/set'), 'siren-2 command');
    expect(JSON.parse(local.seen.find((m) => m.topic === 'safesphere/sirens/siren-2/set')!.payload)).toMatchObject({ state: 'ON', duration_s: 2, tone: 'alarm' });
    await up.until(() => up.last('safesphere/sites/site-1/ha/sirens/siren-2/state') === 'ON', 'siren-2 ON');
    // Ours works next to it, on the embedded broker.
    await local.client.publishAsync('safesphere/gateway/ha/sirens/siren-2/set', JSON.stringify({ state: 'OFF' }), { qos: 1 });
    await up.until(() => up.last('safesphere/sites/site-1/ha/sirens/siren-2/state') === 'OFF', 'siren-2 OFF');

    // Arming from the cloud's Home Assistant: the PIN applies.
    await up.client.publishAsync('safesphere/sites/site-1/arming/set', JSON.stringify({ action: 'DISARM', code: '0000', source: 'homeassistant' }), { qos: 1 });
    await up.until(() => up.seen.some((m) => m.topic === 'safesphere/sites/site-1/arming/result'), 'a result');
    expect(JSON.parse(up.last('safesphere/sites/site-1/arming/result')!)).toMatchObject({ ok: false, error: { code: 'ARMING_PIN_WRONG' } });
    await up.client.publishAsync('safesphere/sites/site-1/arming/set', JSON.stringify({ action: 'DISARM', code: '1357', source: 'homeassistant' }), { qos: 1 });
    await up.until(() => up.last('safesphere/sites/site-1/arming/state') === 'disarmed', 'disarmed');
    // The audited change goes upstream through the bridge as a site event (QoS 1).
    const isDisarm = (m: { topic: string; payload: string }) => m.topic === 'safesphere/sites/site-1/events/arming' && JSON.parse(m.payload).data.mode === 'disarmed';
    await up.until(() => up.seen.some(isDisarm), 'the arming event upstream');
    const ev = JSON.parse(up.seen.find(isDisarm)!.payload);
    expect(ev).toMatchObject({ site_id: 'site-1', kind: 'arming', data: { previous: 'armed_away', by: 'upstream:homeassistant', via: 'homeassistant' } });
    expect(ev.idempotency_key).toBe(`site-1:site-event:${ev.seq}`);
  });

  it('removes the entities of cameras, zones and sirens that left the config with empty retained configs', async () => {
    await gw!.stop();
    gw = null;
    const from = sub.lines.length;
    gw = await startGateway(config(true), { scorer: new ReportedLevelScorer(), dataDir });
    const gone = [
      'sensor/safesphere_site-1/camera_cam-2_level',
      'sensor/safesphere_site-1/camera_cam-2_score',
      'event/safesphere_site-1/camera_cam-2_threat',
      'sensor/safesphere_site-1/camera_cam-3_level',
      'sensor/safesphere_site-1/camera_cam-3_score',
      'event/safesphere_site-1/camera_cam-3_threat',
      'binary_sensor/safesphere_site-1/zone_yard_threat',
      'siren/safesphere_site-1/siren_siren-2',
    ].map((t) => `homeassistant/${t}/config`);
    const removed = () => new Set(sub.lines.slice(from).filter((l) => l.payload === '').map((l) => l.topic));
    await sub.until(() => gone.every((t) => removed().has(t)), 'eight removals');
    expect([...removed()].sort()).toEqual([...gone].sort());
    // What stays is published again, and nothing that stays was removed.
    await sub.until(() => new Set(configs(sub.lines.slice(from)).map((l) => l.topic)).size === 8, 'eight configs');
    // A fresh subscriber finds only the current entities retained.
    const fresh = await watch(broker.url, 'homeassistant/#');
    clients.push(fresh.client);
    await fresh.until(() => fresh.seen.filter((m) => m.retain && m.payload !== '').length >= 8, 'retained configs');
    expect(fresh.seen.filter((m) => m.retain && m.payload !== '').map((m) => m.topic).filter((t) => gone.includes(t))).toEqual([]);
  });
});
