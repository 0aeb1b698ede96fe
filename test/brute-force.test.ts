// Brute force costs the attacker, not the cameras: the PasswordGate's growing delays per
// address and per username (a clock injected, no sleeps), its cap on concurrent checks, and,
// on a gateway, a wrong-password flood from another address that leaves a camera connected,
// publishing, and able to reconnect. The gateway's own MQTT session reconnects if closed.
import bcrypt from 'bcryptjs';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { GATEWAY_CLIENT_PREFIX } from '../src/security/mqtt.js';
import { PasswordGate } from '../src/security/password-gate.js';
import { connectMqtt, getJson, nextMessage, seedReport, startGateway, type TestGateway } from './helpers.js';
import { connackCode } from './wire.js';

const LIMITS = {
  auth_free_failures: 2,
  auth_delay_base_ms: 1000,
  auth_delay_max_ms: 8000,
  auth_failure_window_s: 60,
  auth_max_concurrent: 1,
  auth_max_queued: 2,
  auth_max_pending_per_address: 100,
};
const HASH = bcrypt.hashSync('right', 4);

describe('PasswordGate', () => {
  it('delays a client address and a username more with every failure, from the last one, and forgets after the window', async () => {
    let now = 1_000_000;
    const gate = new PasswordGate(LIMITS, true, () => now);
    for (let i = 0; i < 2; i++) expect((await gate.check('10.0.0.9', 'cam-1', 'wrong', HASH, false)).kind).toBe('wrong');
    // Two free failures, then 1 s, 2 s, 4 s, 8 s (the cap), each counted from the last failure.
    expect(gate.waitMs('10.0.0.9', 'anyone')).toBe(1000);
    expect(gate.waitMs('10.0.0.1', 'cam-1')).toBe(1000); // the username is throttled from every address
    expect(gate.waitMs('10.0.0.1', 'cam-2')).toBe(0);
    expect(await gate.check('10.0.0.9', 'cam-1', 'right', HASH, false)).toEqual({ kind: 'throttled', retryMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      now += gate.waitMs('10.0.0.9', 'x');
      expect((await gate.check('10.0.0.9', `x${i}`, 'wrong', HASH, false)).kind).toBe('wrong');
      delays.push(gate.waitMs('10.0.0.9', 'x'));
    }
    expect(delays).toEqual([2000, 4000, 8000, 8000, 8000]);
    // An unknown username costs a check and counts like any other failure.
    now += 8000;
    expect((await gate.check('10.0.0.9', 'nobody', 'pw', null, false)).kind).toBe('wrong');
    expect(gate.counters.failures).toBe(8);
    now += 61_000;
    expect(gate.waitMs('10.0.0.9', 'cam-1')).toBe(0);
    // Without per-username counting (the editor), one address's failures never touch another's.
    const editor = new PasswordGate(LIMITS, false, () => now);
    for (let i = 0; i < 6; i++) await editor.check('10.0.0.9', 'installer', 'wrong', HASH, false);
    expect(editor.waitMs('10.0.0.1', 'installer')).toBe(0);
    expect((await editor.check('10.0.0.1', 'installer', 'right', HASH, false)).kind).toBe('ok');
  });

  it('runs at most auth_max_concurrent checks, queues auth_max_queued, refuses the rest unchecked', async () => {
    const gate = new PasswordGate({ ...LIMITS, auth_free_failures: 100 }, true);
    const slow = bcrypt.hashSync('right', 10);
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => gate.check(`10.0.1.${i}`, `u${i}`, 'right', slow)));
    expect(outcomes.filter((o) => o.kind === 'ok')).toHaveLength(3);
    expect(outcomes.filter((o) => o.kind === 'busy')).toHaveLength(3);
    expect(gate.counters.checks).toBe(3);
    expect(gate.load).toMatchObject({ running: 0, queued: 0 });
  });
});

describe('a wrong-password flood on the gateway', () => {
  let gw: TestGateway;
  const password = 'cam-1-secret-pw';
  beforeAll(async () => {
    gw = await startGateway(
      {
        mqtt: {
          allow_anonymous_loopback: false,
          accounts: [
            { username: 'cam-1', role: 'camera', password_hash: bcrypt.hashSync(password, 4) },
            { username: 'ops', role: 'admin', password_hash: bcrypt.hashSync('ops-pw', 4) },
          ],
        },
        limits: { auth_free_failures: 3, auth_delay_base_ms: 200, auth_delay_max_ms: 2000, auth_max_pending_per_address: 4 },
      },
      { scorer: new ReportedLevelScorer() },
    );
  });
  afterAll(async () => gw?.stop());

  it('slows and caps the attacker, while the camera keeps publishing and can reconnect from its own address', async () => {
    const cam = await connectMqtt(gw.mqttUrl, { username: 'cam-1', password, clientId: 'cam-1' });
    const port = gw.gateway.get('broker')!.port;
    // 40 wrong passwords from 127.0.0.2, 8 at a time, for a real username and unknown ones.
    const codes: (number | null)[] = [];
    const attack = (async () => {
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 8 }, (_, i) =>
          connackCode(port, { clientId: `atk-${round}-${i}`, username: i % 2 ? 'cam-1' : `guess-${i}`, password: 'wrong', localAddress: '127.0.0.2' }),
        );
        codes.push(...(await Promise.all(batch)));
      }
    })();
    for (let i = 0; i < 20; i++) await cam.publishAsync('safesphere/cameras/cam-1/threats', JSON.stringify(seedReport({ incident_id: `FLOOD_${i}` })), { qos: 1 });
    await attack;
    // Every attempt refused: 4 (wrong) after its delay, or 3 (busy) beyond the per-address cap; none accepted.
    expect(codes.every((c) => c === 4 || c === 3)).toBe(true);
    expect(codes.filter((c) => c === 3).length).toBeGreaterThan(0);
    const gate = gw.gateway.get('broker')!.security!.gate;
    expect(gate.counters.delayed).toBeGreaterThan(0);
    expect(gate.counters.checks).toBeLessThan(40);
    expect((await getJson(`${gw.httpUrl}/incidents/FLOOD_19`)).status).toBe(200);
    // The camera's own secret was verified before: its reconnect waits for nothing.
    await cam.endAsync();
    const again = await connectMqtt(gw.mqttUrl, { username: 'cam-1', password, clientId: 'cam-1' });
    await again.publishAsync('safesphere/cameras/cam-1/threats', JSON.stringify(seedReport({ incident_id: 'FLOOD_AFTER' })), { qos: 1 });
    await again.endAsync();
  }, 60_000);

  it("reconnects the gateway's own session when it is closed, re-asserts online, and says so in the log and /health", async () => {
    const broker = gw.gateway.get('broker')!;
    // aedes keeps its clients by id (not in its typings).
    const aedes = (broker as unknown as { aedes: { clients: Record<string, { id: string; close(): void }> } }).aedes;
    const own = Object.values(aedes.clients).find((c) => c.id.startsWith(GATEWAY_CLIENT_PREFIX))!;
    expect(own.id).toMatch(/^safesphere-gateway-[0-9a-f]{24}$/);
    const watcher = await connectMqtt(gw.mqttUrl, { username: 'ops', password: 'ops-pw' });
    await watcher.subscribeAsync('safesphere/gateway/status', { qos: 1 });
    const seen: string[] = [];
    watcher.on('message', (_t, p) => seen.push(p.toString()));
    own.close();
    for (let i = 0; i < 100 && !(seen.includes('offline') && seen.at(-1) === 'online'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toContain('offline'); // its will
    expect(seen.at(-1)).toBe('online'); // re-asserted
    const health = (await getJson(`${gw.httpUrl}/health`)).body;
    expect(health.components.broker.status_session).toMatchObject({ connected: true, drops: 1 });
    expect(health.components.broker.warning).toMatch(/closed 1 time/);
    expect(gw.logs.lines.some((l) => l.level === 40 && String(l.msg).includes('re-asserted online'))).toBe(true);
    // A fresh retained read says online too.
    const late = await mqtt.connectAsync(gw.mqttUrl, { username: 'ops', password: 'ops-pw', reconnectPeriod: 0 });
    expect((await nextMessage(late, 'safesphere/gateway/status')).payload.toString()).toBe('online');
    await late.endAsync();
    await watcher.endAsync();
  });
});
