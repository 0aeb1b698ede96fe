// Availability upstream: the daemon (node src/bin/safesphere-edge.ts) bridged to a real
// Mosquitto is SIGKILLed. The bridge session's retained last will must tell a subscriber
// `offline` within keepalive x 1.5 (the bound the MQTT spec gives a broker to notice a silent
// client; a killed process's socket usually closes at once). After the restart the subscriber
// sees `online`, then heartbeats with the health summary.
import mqtt from 'mqtt';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons, waitFor } from '../daemon.js';
import { tempDir } from '../helpers.js';
import { freePort, Mosquitto, mosquittoAvailable } from '../mosquitto.js';

const KEEPALIVE_S = 5;
const HEARTBEAT_S = 5;

describe('upstream availability across a SIGKILL', () => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed: apt-get install -y mosquitto (see .ci/run)');
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('publishes offline through the last will within keepalive x 1.5, then online and heartbeats after the restart', async () => {
    const broker = new Mosquitto(await freePort());
    await broker.start();
    cleanup.push(() => broker.stop('SIGKILL'));
    const dataDir = tempDir('safesphere-availability-');
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = {
      SAFESPHERE_SITE_ID: 'depot-7',
      SAFESPHERE_UPSTREAM_MQTT_ENABLED: 'true',
      SAFESPHERE_UPSTREAM_MQTT_URL: broker.url,
      SAFESPHERE_UPSTREAM_MQTT_KEEPALIVE_S: String(KEEPALIVE_S),
      SAFESPHERE_UPSTREAM_MQTT_HEARTBEAT_S: String(HEARTBEAT_S),
    };

    const cloud = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 4 });
    cleanup.push(() => cloud.endAsync(true));
    const seen: { topic: string; payload: string; at: number }[] = [];
    const waiters = new Set<() => void>();
    cloud.on('message', (topic, payload) => {
      seen.push({ topic, payload: payload.toString(), at: Date.now() });
      for (const w of waiters) w();
    });
    await cloud.subscribeAsync(['safesphere/sites/depot-7/status', 'safesphere/sites/depot-7/heartbeat'], { qos: 1 });
    const next = (predicate: (m: (typeof seen)[number]) => boolean, from: number, ms: number, what: string) =>
      waitFor(
        new Promise<(typeof seen)[number]>((resolve) => {
          const check = () => {
            const m = seen.slice(from).find(predicate);
            if (m) {
              waiters.delete(check);
              resolve(m);
            }
          };
          waiters.add(check);
          check();
        }),
        ms,
        what,
      );

    const first = await Daemon.start(dataDir, env);
    await next((m) => m.topic.endsWith('/status') && m.payload === 'online', 0, 15_000, 'online');
    const hb = await next((m) => m.topic.endsWith('/heartbeat'), 0, 15_000, 'a heartbeat');
    expect(JSON.parse(hb.payload)).toMatchObject({ site_id: 'depot-7', status: 'online', transport: 'mqtt', arming_mode: 'armed_away', components: { db: 'up', sync: expect.any(String) } });

    const mark = seen.length;
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    expect(await waitFor(first.exited, 10_000, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const offline = await next((m) => m.topic.endsWith('/status') && m.payload === 'offline', mark, KEEPALIVE_S * 1500, `offline within keepalive x 1.5 (${KEEPALIVE_S * 1.5} s)`);
    console.log(`[faults] availability: offline seen ${offline.at - killedAt} ms after SIGKILL (keepalive ${KEEPALIVE_S} s)`);

    // A new subscriber sees the retained offline too: the site is known to be dead, not quiet.
    const late = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 4 });
    cleanup.push(() => late.endAsync(true));
    const retained = new Promise<string>((resolve) => late.on('message', (_t, p) => resolve(p.toString())));
    await late.subscribeAsync('safesphere/sites/depot-7/status', { qos: 1 });
    expect(await waitFor(retained, 5_000, 'retained status')).toBe('offline');

    const afterKill = seen.length;
    const second = await Daemon.start(dataDir, env);
    const online = await next((m) => m.topic.endsWith('/status') && m.payload === 'online', afterKill, 15_000, 'online after the restart');
    const beats: (typeof seen)[number][] = [];
    for (let i = 0; i < 2; i++) beats.push(await next((m) => m.topic.endsWith('/heartbeat') && !beats.includes(m), afterKill, HEARTBEAT_S * 3000, `heartbeat ${i + 1}`));
    expect(seen.indexOf(online)).toBeLessThan(seen.indexOf(beats[0]!));
    for (const b of beats) expect(JSON.parse(b.payload)).toMatchObject({ site_id: 'depot-7', status: 'online', backlog: { total: expect.any(Number) } });

    // A graceful stop says offline itself.
    const beforeStop = seen.length;
    expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    await next((m) => m.topic.endsWith('/status') && m.payload === 'offline', beforeStop, 5_000, 'offline on SIGTERM');
  }, 120_000);
});
