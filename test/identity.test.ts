// Issue 21 against the real daemon: a camera credential is a camera (HTTP tokens, MQTT
// accounts, trusted camera networks), the gateway's own MQTT session cannot be taken, and the
// lows (access_token only on WebSocket upgrades, duplicate JSON keys, CONNACK 2 for bad ids).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons } from './daemon.js';
import { nextMessage, seedReport, tempDir } from './helpers.js';
import { hashToken } from '../src/security/roles.js';
import { connackCode, httpFrom } from './wire.js';

const TOKENS = { cam1: 'sse_camera_cam1-token-for-the-identity-test', relay: 'sse_camera_relay-token-for-the-identity-test' };
const PASSWORDS = { 'cam-1': 'cam-1-secret-pw', nvr: 'nvr-secret-pw', ops: 'ops-secret-pw' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('identity, against the real daemon', () => {
  let daemon: Daemon;
  let dataDir: string;
  let admin: string;
  const post = (body: unknown, headers: Record<string, string> = {}, localAddress?: string) =>
    httpFrom(`${daemon.httpUrl}/threats/report`, { body: typeof body === 'string' ? body : JSON.stringify(body), headers, ...(localAddress ? { localAddress } : {}) });
  const incident = async (id: string) => (await httpFrom(`${daemon.httpUrl}/incidents/${id}`, { headers: bearer(admin) })).body;

  beforeAll(async () => {
    dataDir = tempDir('safesphere-identity-');
    daemon = await Daemon.start(dataDir, {
      SAFESPHERE_AUTH_TRUST_LOOPBACK: 'false',
      SAFESPHERE_AUTH_TOKENS: JSON.stringify([
        // Bound by its name: the token "cam-1" is camera cam-1.
        { name: 'cam-1', role: 'camera', sha256: hashToken(TOKENS.cam1) },
        { name: 'relay', role: 'camera', sha256: hashToken(TOKENS.relay), cameras: ['cam-5', 'cam-6'] },
      ]),
      SAFESPHERE_AUTH_CAMERA_NETWORKS: JSON.stringify([{ network: '127.0.0.2/32', cameras: ['cam-9'] }, '127.0.0.3/32']),
      SAFESPHERE_MQTT_ALLOW_ANONYMOUS_LOOPBACK: 'false',
      SAFESPHERE_MQTT_ACCOUNTS: JSON.stringify([
        { username: 'cam-1', role: 'camera', password_hash: bcrypt.hashSync(PASSWORDS['cam-1'], 4) },
        { username: 'nvr', role: 'camera', cameras: ['cam-7', 'cam-8'], password_hash: bcrypt.hashSync(PASSWORDS.nvr, 4) },
        { username: 'ops', role: 'admin', password_hash: bcrypt.hashSync(PASSWORDS.ops, 4) },
      ]),
    });
    admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  }, 60_000);
  afterAll(async () => {
    await reapDaemons();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a camera token reporting as another camera (403), fills a missing camera_id from the token', async () => {
    const spoof = await post(seedReport({ incident_id: 'SPOOF_1', camera_id: 'cam-2' }), bearer(TOKENS.cam1));
    expect(spoof.status).toBe(403);
    expect(spoof.body.error.code).toBe('CAMERA_NOT_ALLOWED');
    expect(spoof.body.error.details[0].path).toBe('camera_id');
    expect((await httpFrom(`${daemon.httpUrl}/incidents/SPOOF_1`, { headers: bearer(admin) })).status).toBe(404);

    expect((await post(seedReport({ incident_id: 'OWN_1', camera_id: 'cam-1' }), bearer(TOKENS.cam1))).status).toBe(200);
    expect((await post(seedReport({ incident_id: 'FILL_1' }), bearer(TOKENS.cam1))).status).toBe(200);
    expect((await incident('FILL_1')).camera_id).toBe('cam-1');

    // A token for a set: any of its cameras, and it must say which.
    expect((await post(seedReport({ incident_id: 'RELAY_6', camera_id: 'cam-6' }), bearer(TOKENS.relay))).status).toBe(200);
    expect((await post(seedReport({ incident_id: 'RELAY_1', camera_id: 'cam-1' }), bearer(TOKENS.relay))).status).toBe(403);
    const unnamed = await post(seedReport({ incident_id: 'RELAY_X' }), bearer(TOKENS.relay));
    expect(unnamed.status).toBe(422);
    expect(unnamed.body.error.details[0].path).toBe('camera_id');
    // The admin token is every role, every camera.
    expect((await post(seedReport({ incident_id: 'ADMIN_2', camera_id: 'cam-2' }), bearer(admin))).status).toBe(200);
  });

  it('trusts each camera network with its own cameras: an unchanged threat_cv (no token, no camera_id) gets its camera', async () => {
    const engine = await post(seedReport({ incident_id: 'NET_9' }), {}, '127.0.0.2');
    expect(engine.status).toBe(200);
    expect((await incident('NET_9')).camera_id).toBe('cam-9');
    expect((await post(seedReport({ incident_id: 'NET_SPOOF', camera_id: 'cam-1' }), {}, '127.0.0.2')).status).toBe(403);
    // A bare CIDR: any camera, and the start said so per network.
    expect((await post(seedReport({ incident_id: 'NET_ANY', camera_id: 'cam-3' }), {}, '127.0.0.3')).status).toBe(200);
    expect((await post(seedReport({ incident_id: 'NET_NONE', camera_id: 'cam-3' }), {}, '127.0.0.4')).status).toBe(401);
    const lines = daemon.lines.filter((l) => String(l.msg).includes('auth.camera_networks may report'));
    expect(lines.map((l) => [l.network, l.cameras])).toEqual([
      ['127.0.0.2/32', ['cam-9']],
      ['127.0.0.3/32', '*'],
    ]);
  });

  it('MQTT: an account publishes only as its own camera(s); a body naming another camera gets a reject message', async () => {
    const nvr = await mqtt.connectAsync(daemon.mqttUrl, { username: 'nvr', password: PASSWORDS.nvr, reconnectPeriod: 0 });
    await nvr.publishAsync('safesphere/cameras/cam-8/threats', JSON.stringify(seedReport({ incident_id: 'NVR_8' })), { qos: 1 });
    expect((await incident('NVR_8')).camera_id).toBe('cam-8');
    const reject = nextMessage(nvr, 'safesphere/gateway/rejects/cam-7');
    await new Promise((r) => setTimeout(r, 100));
    await nvr.publishAsync('safesphere/cameras/cam-7/threats', JSON.stringify(seedReport({ incident_id: 'NVR_SPOOF', camera_id: 'cam-1' })), { qos: 1 });
    const msg = JSON.parse((await reject).payload.toString()) as { error: { details: { path: string }[] } };
    expect(msg.error.details.map((d) => d.path)).toContain('camera_id');
    await nvr.endAsync();

    // Another camera's topic: the ACL closes the connection, nothing stored.
    const cam = await mqtt.connectAsync(daemon.mqttUrl, { username: 'cam-1', password: PASSWORDS['cam-1'], reconnectPeriod: 0 });
    cam.on('error', () => {});
    const closed = new Promise<void>((resolve) => cam.once('close', () => resolve()));
    cam.publish('safesphere/cameras/cam-2/threats', JSON.stringify(seedReport({ incident_id: 'MQTT_SPOOF' })), { qos: 1 });
    await closed;
    cam.end(true);
    expect((await httpFrom(`${daemon.httpUrl}/incidents/MQTT_SPOOF`, { headers: bearer(admin) })).status).toBe(404);
  });

  it('refuses the takeover sweep of the gateway session (CONNACK 2); the retained status stays online', async () => {
    const ids = [`safesphere-gateway-${daemon.pid}`, 'SAFESPHERE-GATEWAY-1', ...Array.from({ length: 300 }, (_, i) => `safesphere-gateway-${i}`)];
    const codes = new Map<number | null, number>();
    for (let i = 0; i < ids.length; i += 30) {
      const batch = await Promise.all(
        ids.slice(i, i + 30).map((clientId) => connackCode(daemon.mqttPort, { clientId, username: 'cam-1', password: PASSWORDS['cam-1'] })),
      );
      for (const c of batch) codes.set(c, (codes.get(c) ?? 0) + 1);
    }
    expect([...codes]).toEqual([[2, ids.length]]);
    const watcher = await mqtt.connectAsync(daemon.mqttUrl, { username: 'ops', password: PASSWORDS.ops, reconnectPeriod: 0 });
    const status = await nextMessage(watcher, 'safesphere/gateway/status');
    expect(status.payload.toString()).toBe('online');
    await watcher.endAsync();
    // Nothing took the session: connected, never dropped.
    const health = (await httpFrom(`${daemon.httpUrl}/health`, { headers: bearer(admin) })).body;
    expect(health.components.broker.status_session).toMatchObject({ connected: true, drops: 0 });
    expect(health.components.broker.auth.refused_client_ids).toBeGreaterThanOrEqual(ids.length);
  }, 60_000);

  it('CONNACK 2 for an empty client id with clean session 0 and for ids with control characters', async () => {
    const creds = { username: 'cam-1', password: PASSWORDS['cam-1'] };
    expect(await connackCode(daemon.mqttPort, { clientId: '', clean: false, ...creds })).toBe(2);
    expect(await connackCode(daemon.mqttPort, { clientId: 'cam\u0000one', ...creds })).toBe(2);
    expect(await connackCode(daemon.mqttPort, { clientId: 'cam\u001bone', ...creds })).toBe(2);
    expect(await connackCode(daemon.mqttPort, { clientId: 'cam\u0085one', ...creds })).toBe(2);
    // The same credentials with a proper id, or an empty one with clean session 1, connect.
    expect(await connackCode(daemon.mqttPort, { clientId: 'cam-1-ok', clean: false, ...creds })).toBe(0);
    expect(await connackCode(daemon.mqttPort, { clientId: '', clean: true, ...creds })).toBe(0);
  });

  it('accepts access_token only on WebSocket upgrades', async () => {
    const url = `${daemon.httpUrl}/incidents?access_token=${encodeURIComponent(admin)}`;
    const res = await httpFrom(url, {});
    expect(res.status).toBe(401);
    expect(res.body.error.details[0].path).toBe('access_token');
    // The header still works, and the live feed's WebSocket still takes the query token.
    expect((await httpFrom(`${daemon.httpUrl}/incidents`, { headers: bearer(admin) })).status).toBe(200);
    const ws = new WebSocket(`${daemon.httpUrl.replace('http', 'ws')}/ws/incidents?tail=1&access_token=${encodeURIComponent(admin)}`);
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('error', () => resolve(false));
    });
    ws.close();
    expect(opened).toBe(true);
  });

  it('refuses duplicate JSON keys, naming the key (HTTP 400; MQTT a reject message)', async () => {
    const dup = '{"incident_id":"DUP_1","timestamp":"2026-02-10T14:30:45","threat_level":"LOW","threat_score":0.2,"threat_level":"CRITICAL"}';
    const res = await post(dup, bearer(TOKENS.cam1));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DUPLICATE_KEY');
    expect(res.body.error.details[0].path).toBe('threat_level');
    const nested = '{"incident_id":"DUP_2","timestamp":"2026-02-10T14:30:45","threat_level":"LOW","threat_score":0.2,"full_telemetry":{"tracks":[{"id":1,"id":2}]}}';
    expect((await post(nested, bearer(TOKENS.cam1))).body.error.details[0].path).toBe('full_telemetry.tracks[0].id');
    expect((await httpFrom(`${daemon.httpUrl}/incidents/DUP_1`, { headers: bearer(admin) })).status).toBe(404);

    const cam = await mqtt.connectAsync(daemon.mqttUrl, { username: 'cam-1', password: PASSWORDS['cam-1'], reconnectPeriod: 0 });
    const reject = nextMessage(cam, 'safesphere/gateway/rejects/cam-1');
    await new Promise((r) => setTimeout(r, 100));
    await cam.publishAsync('safesphere/cameras/cam-1/threats', dup.replace('DUP_1', 'DUP_3'), { qos: 1 });
    const msg = JSON.parse((await reject).payload.toString()) as { error: { code: string; details: { path: string }[] } };
    expect(msg.error.code).toBe('DUPLICATE_KEY');
    expect(msg.error.details[0]!.path).toBe('threat_level');
    await cam.endAsync();
  });
});
