// /ws/navigation and the retained safesphere/routes/<zone> against the real daemon (a child
// process, as deployed): the route from the lobby goes through the hall; a CRITICAL in the hall
// moves it around the hall, resolving that incident brings the old route back, a reconnecting
// client gets the current route, NO_SAFE_ROUTE is a message on an open socket, and the
// retained MQTT route (read with Debian's mosquitto_sub, as a signage account) follows every
// change. Every answer is compared with GET /api/routes for the same question.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/security/roles.js';
import { Daemon, reapDaemons } from './daemon.js';
import { postJson, seedReport, tempDir } from './helpers.js';
import { CAMERA_TOKEN, SITE, auth, getAuthed } from './ops-fixtures.js';
import { NavClient, type Msg } from './nav-client.js';

const run = promisify(execFile);
const SIGNAGE_TOKEN = 'test-signage-token-5555555555';
const SIGNAGE_PASSWORD = 'signage-pw-1';

const VIA_HALL = ['lobby', 'hall', 'north'];
const AROUND_HALL = ['lobby', 'south'];

describe('live safe routes (real daemon)', () => {
  let daemon: Daemon;
  let dir: string;
  const clients: NavClient[] = [];
  const wsUrl = (q: string, token = SIGNAGE_TOKEN) => `${daemon.httpUrl.replace('http', 'ws')}/ws/navigation?${q}&access_token=${token}`;
  const open = async (q: string, token?: string) => {
    const c = await NavClient.open(wsUrl(q, token));
    clients.push(c);
    return c;
  };
  const report = (id: string, camera: string, level: string) =>
    postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: camera, threat_level: level, weapon_detected: false, weapon_types: [] }), auth(CAMERA_TOKEN));
  const resolve = (id: string) => postJson(`${daemon.httpUrl}/incidents/${id}/resolve`, { by: 'guard-1' }, auth());
  /** The retained route from `zone`, as a signage device on the broker gets it. */
  const retained = async (zone: string): Promise<Msg> => {
    const { stdout } = await run('mosquitto_sub', [
      '-h', '127.0.0.1', '-p', String(daemon.mqttPort), '-u', 'lobby-sign', '-P', SIGNAGE_PASSWORD,
      '-t', `safesphere/routes/${zone}`, '-q', '1', '-C', '1', '-W', '5', '--retained-only',
    ]);
    return JSON.parse(stdout) as Msg;
  };
  /** GET /api/routes' answer, in the message's terms. */
  const answer = async (from: string) => {
    const r = await getAuthed(`${daemon.httpUrl}/api/routes?from=${from}`, SIGNAGE_TOKEN);
    return r.status === 200 ? { status: 200, route: r.body } : { status: r.status, route: null, error: r.body.error, avoided_zones: r.body.avoided_zones };
  };

  beforeAll(async () => {
    dir = tempDir();
    const config = {
      ...SITE,
      scoring: { enabled: false },
      auth: { ...SITE.auth, tokens: [...SITE.auth.tokens, { name: 'hall-display', role: 'signage', sha256: hashToken(SIGNAGE_TOKEN) }] },
      mqtt: { accounts: [{ username: 'lobby-sign', role: 'signage', password_hash: bcrypt.hashSync(SIGNAGE_PASSWORD, 4) }] },
    };
    writeFileSync(join(dir, 'site.yaml'), JSON.stringify(config));
    daemon = await Daemon.start(dir, { SAFESPHERE_CONFIG: join(dir, 'site.yaml') });
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await reapDaemons();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves the route around a CRITICAL in the hall, back when it is resolved, and a reconnect gets the current one', async () => {
    const sign = await open('from=lobby');
    const first = await sign.next((m) => m.type === 'route');
    expect(sign.messages[0]).toMatchObject({ type: 'hello', schema: 1, from: 'lobby' });
    expect(first).toMatchObject({ from: 'lobby', reason: 'current', incident_ids: [], status: 200, route: { path: VIA_HALL, exit: { id: 'exit-n' } } });
    const initial = await answer('lobby');
    expect({ status: first.status, route: first.route }).toEqual(initial);
    expect((await retained('lobby')).route.path).toEqual(VIA_HALL);

    // A CRITICAL in the hall: the next route message goes around it and names the incident.
    const seen = sign.messages.length;
    expect((await report('NAV_HALL_1', 'cam-2', 'CRITICAL')).status).toBe(200);
    const moved = await sign.next((m) => m.type === 'route', seen);
    expect(moved).toMatchObject({ reason: 'incident', incident_ids: ['NAV_HALL_1'], status: 200, route: { path: AROUND_HALL, avoided_zones: ['hall'] } });
    expect({ status: moved.status, route: moved.route }).toEqual(await answer('lobby'));
    await expect.poll(async () => (await retained('lobby')).route.path, { timeout: 5000 }).toEqual(AROUND_HALL);
    // Every zone's retained route follows: the hall's own leads out of it.
    expect((await retained('hall')).route).toMatchObject({ from: 'hall', avoided_zones: ['hall'] });

    // A client that reconnects gets the current route at once, with the incident that shapes it.
    sign.ws.terminate();
    const again = await open('from=lobby');
    const current = await again.next((m) => m.type === 'route');
    expect(current).toMatchObject({ reason: 'current', incident_ids: ['NAV_HALL_1'], route: { path: AROUND_HALL } });

    // Resolved: the old route again, and the resolution is the reason.
    const before = again.messages.length;
    expect((await resolve('NAV_HALL_1')).status).toBe(200);
    const back = await again.next((m) => m.type === 'route', before);
    expect(back).toMatchObject({ reason: 'resolved', incident_ids: ['NAV_HALL_1'], status: 200 });
    expect(back.route).toEqual(initial.route);
    await expect.poll(async () => (await retained('lobby')).route.path, { timeout: 5000 }).toEqual(VIA_HALL);
  }, 60_000);

  it('sends NO_SAFE_ROUTE as a message on an open socket, changes origin on request, and answers errors as messages', async () => {
    const c = await open('from=lobby');
    await c.next((m) => m.type === 'route');
    let seen = c.messages.length;
    expect((await report('NAV_HALL_2', 'cam-2', 'HIGH')).status).toBe(200);
    await c.next((m) => m.type === 'route' && m.incident_ids.includes('NAV_HALL_2'), seen);
    seen = c.messages.length;
    expect((await report('NAV_SOUTH_2', 'cam-4', 'HIGH')).status).toBe(200);
    const none = await c.next((m) => m.type === 'route' && m.incident_ids.includes('NAV_SOUTH_2'), seen);
    expect(none).toMatchObject({ reason: 'incident', status: 409, route: null, error: { code: 'NO_SAFE_ROUTE' }, avoided_zones: ['hall', 'south'] });
    const http = await answer('lobby');
    expect(http.status).toBe(409);
    expect({ status: none.status, route: none.route, error: none.error, avoided_zones: none.avoided_zones }).toEqual(http);
    expect((await retained('lobby')).error.code).toBe('NO_SAFE_ROUTE');
    expect(c.ws.readyState).toBe(1);

    // Another origin on the same socket; an unknown zone is an error message, the socket stays.
    seen = c.messages.length;
    c.send({ type: 'from', from: 'north' });
    const north = await c.next((m) => m.type === 'route', seen);
    expect(north).toMatchObject({ from: 'north', reason: 'current', status: 200, route: { path: ['north'], exit: { id: 'exit-n' } } });
    seen = c.messages.length;
    c.send({ type: 'from', from: 'roof' });
    expect(await c.next((m) => m.type === 'error', seen)).toMatchObject({ error: { code: 'UNKNOWN_ZONE' } });
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'heartbeat', seen);
    expect(c.ws.readyState).toBe(1);

    for (const id of ['NAV_HALL_2', 'NAV_SOUTH_2']) expect((await resolve(id)).status).toBe(200);
    await expect.poll(async () => (await retained('lobby')).route?.path, { timeout: 5000 }).toEqual(VIA_HALL);
  }, 60_000);

  it('gives the signage role routes and nothing else, over HTTP and MQTT', async () => {
    expect((await getAuthed(`${daemon.httpUrl}/api/routes?from=lobby`, SIGNAGE_TOKEN)).status).toBe(200);
    expect((await getAuthed(`${daemon.httpUrl}/api/site`, SIGNAGE_TOKEN)).status).toBe(403);
    expect((await getAuthed(`${daemon.httpUrl}/incidents`, SIGNAGE_TOKEN)).status).toBe(403);
    expect((await postJson(`${daemon.httpUrl}/incidents/NAV_HALL_1/resolve`, { by: 'sign' }, auth(SIGNAGE_TOKEN))).status).toBe(403);
    await expect(NavClient.open(`${daemon.httpUrl.replace('http', 'ws')}/ws/navigation?from=lobby`)).rejects.toThrow(/401/);
    // The operator's token opens it too.
    const op = await open('from=lobby', SITE.dashboard.operator_token);
    expect(await op.next((m) => m.type === 'route')).toMatchObject({ status: 200 });

    // On the broker: reading another topic is refused, and so is publishing (mosquitto_pub is disconnected).
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(daemon.mqttPort), '-u', 'lobby-sign', '-P', SIGNAGE_PASSWORD, '-t', 'safesphere/incidents/#', '-C', '1', '-W', '2', '-d'])
      .then((r) => r.stdout, (e: { stdout: string }) => e.stdout);
    expect(sub).toMatch(/Subscribed \(mid: \d+\): 128/);
    const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(daemon.mqttPort), '-u', 'lobby-sign', '-P', SIGNAGE_PASSWORD, '-t', 'safesphere/routes/lobby', '-r', '-q', '1', '-m', '{"forged":true}'])
      .then(() => 'ok', () => 'refused');
    expect(pub).toBe('refused');
    // The same command from an anonymous loopback client (full access) goes through: the refusal above is the ACL.
    const control = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(daemon.mqttPort), '-t', 'safesphere/test/control', '-q', '1', '-m', 'x'])
      .then(() => 'ok', () => 'refused');
    expect(control).toBe('ok');
    const kept = await retained('lobby');
    expect(kept.type).toBe('route');
    expect(kept.forged).toBeUndefined();
  }, 30_000);
});
