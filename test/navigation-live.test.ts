// /ws/navigation in-process, where the server side can be read: the new route is handed to the
// client's socket in the event-loop turn after the commit's event, by one evaluation (a bound on
// work, not a wall-clock race; bench/navigation.ts measures the time); a slow client is held to
// a bounded buffer and then given the latest route; a client that stops answering heartbeats
// is dropped; the signage MQTT account may read routes only.
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { hashToken } from '../src/security/roles.js';
import type { RouteUpdate } from '../src/navigation/navigator.js';
import { connectMqtt, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE, auth, getAuthed } from './ops-fixtures.js';
import { NavClient } from './nav-client.js';

const report = (gw: TestGateway, id: string, camera: string, level = 'CRITICAL') =>
  postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: camera, threat_level: level, weapon_detected: false, weapon_types: [] }), auth(CAMERA_TOKEN));
const resolve = (gw: TestGateway, id: string) => postJson(`${gw.httpUrl}/incidents/${id}/resolve`, { by: 'guard' }, auth());
const wsUrl = (gw: TestGateway, q: string) => `${gw.httpUrl.replace('http', 'ws')}/ws/navigation?${q}&access_token=${OPERATOR_TOKEN}`;
const pauseSocket = (c: NavClient) => (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
const resumeSocket = (c: NavClient) => (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();

describe('/ws/navigation on the small site', () => {
  let gw: TestGateway;
  const clients: NavClient[] = [];
  const open = async (q: string) => {
    const c = await NavClient.open(wsUrl(gw, q));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    gw = await startGateway({
      ...SITE,
      scoring: { enabled: false },
      dashboard: { ...SITE.dashboard, heartbeat_s: 1 },
      mqtt: { host: '127.0.0.1', port: 0, accounts: [{ username: 'sign-1', role: 'signage', password_hash: bcrypt.hashSync('pw-sign', 4) }] },
      auth: { ...SITE.auth, tokens: [...SITE.auth.tokens, { name: 'display', role: 'signage', sha256: hashToken('signage-token-xyz-123') }] },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await gw?.stop();
  });

  it('hands the new route to the socket in the turn after the commit event, from one evaluation', async () => {
    const nav = gw.gateway.get('navigation')!;
    const c = await open('from=lobby');
    expect(await c.next((m) => m.type === 'route')).toMatchObject({ route: { path: ['lobby', 'hall', 'north'] } });
    const [sentBefore] = nav.hub.sentTo('lobby');
    const evaluationsBefore = nav.navigator.stats.evaluations;
    let observed: { sent: number[]; latest: RouteUpdate | null; evaluations: number } | null = null;
    // Registered after the navigator's listener: its setImmediate runs right after the navigator's.
    const off = gw.gateway.bus.on('incident.stored', ({ incident }) => {
      if (incident.incident_id !== 'LIVE_1') return;
      setImmediate(() => {
        observed = { sent: nav.hub.sentTo('lobby'), latest: nav.navigator.latest('lobby')?.update ?? null, evaluations: nav.navigator.stats.evaluations };
      });
    });
    const seen = c.messages.length;
    expect((await report(gw, 'LIVE_1', 'cam-2')).status).toBe(200);
    await expect.poll(() => observed).not.toBeNull();
    off();
    // No poll interval, no timer: by then the route avoiding the hall has been sent, once.
    expect(observed!.latest).toMatchObject({ reason: 'incident', incident_ids: ['LIVE_1'], route: { path: ['lobby', 'south'] } });
    expect(observed!.sent).toEqual([sentBefore! + 1]);
    expect(observed!.evaluations - evaluationsBefore).toBe(1);
    expect(await c.next((m) => m.type === 'route', seen)).toMatchObject({ incident_ids: ['LIVE_1'], route: { path: ['lobby', 'south'] } });

    // A LOW elsewhere does not even evaluate; resolving does, and brings the old route back.
    expect((await report(gw, 'LIVE_LOW', 'cam-3', 'LOW')).status).toBe(200);
    const after = c.messages.length;
    expect((await resolve(gw, 'LIVE_1')).status).toBe(200);
    expect(await c.next((m) => m.type === 'route', after)).toMatchObject({ reason: 'resolved', incident_ids: ['LIVE_1'], route: { path: ['lobby', 'hall', 'north'] } });
    expect(nav.navigator.stats.evaluations - evaluationsBefore).toBe(2);
  });

  it('errors as messages: no origin yet, a bad message, then a good origin', async () => {
    const c = await open('x=1');
    await c.next((m) => m.type === 'hello');
    expect(c.messages[0]).toMatchObject({ from: null });
    c.ws.send('not json');
    expect(await c.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    c.send({ type: 'from', from: 'south' });
    expect(await c.next((m) => m.type === 'route')).toMatchObject({ from: 'south', route: { path: ['south'], exit: { id: 'exit-s' } } });
  });

  it('drops a client that stops answering heartbeats', async () => {
    const nav = gw.gateway.get('navigation')!;
    const c = await open('from=hall');
    await c.next((m) => m.type === 'heartbeat');
    const dropped = nav.hub.stats.dropped_heartbeat;
    pauseSocket(c);
    await expect.poll(() => nav.hub.stats.dropped_heartbeat, { timeout: 10_000 }).toBeGreaterThan(dropped);
  }, 15_000);

  it('lets a signage MQTT account read the retained routes and nothing else', async () => {
    const sign = await connectMqtt(gw.mqttUrl, { username: 'sign-1', password: 'pw-sign' });
    try {
      // mqtt.js rejects a SUBACK holding a refusal, with the packet attached.
      const granted = await sign.subscribeAsync(['safesphere/routes/#', 'safesphere/gateway/status', 'safesphere/incidents/#', '#'], { qos: 1 }).then(
        (g) => g.map((x) => x.qos),
        (err: { packet?: { granted?: number[] } }) => err.packet?.granted ?? [],
      );
      expect(granted).toEqual([1, 1, 128, 128]);
    } finally {
      await sign.endAsync();
    }
    // The signage HTTP token: routes, not the rest of the operator API.
    expect((await getAuthed(`${gw.httpUrl}/api/routes?from=lobby`, 'signage-token-xyz-123')).status).toBe(200);
    expect((await getAuthed(`${gw.httpUrl}/api/analysis`, 'signage-token-xyz-123')).status).toBe(403);
  });
});

/** Two corridors of 100 zones with long ids, so one route message is about 7 KB. */
function longSite() {
  const pad = (s: string) => s.padEnd(60, '_');
  const chain = (p: string) => Array.from({ length: 100 }, (_, i) => pad(`${p}${String(i).padStart(3, '0')}`));
  const a = chain('a');
  const b = chain('b');
  const zones = [{ id: 'start', cameras: ['cam-start'] }, ...a.map((id, i) => ({ id, cameras: i === 50 ? ['cam-a'] : [] })), ...b.map((id) => ({ id, cameras: [] }))];
  const links = [
    { from: 'start', to: a[0]!, distance_m: 1 },
    { from: 'start', to: b[0]!, distance_m: 2 },
    ...a.slice(1).map((id, i) => ({ from: a[i]!, to: id, distance_m: 1 })),
    ...b.slice(1).map((id, i) => ({ from: b[i]!, to: id, distance_m: 1 })),
  ];
  return { zones, site: { map: { links, exits: [{ id: 'exit-a', zone: a[99]! }, { id: 'exit-b', zone: b[99]! }] } }, a, b };
}

describe('/ws/navigation with a slow client', () => {
  let gw: TestGateway;
  const site = longSite();
  const clients: NavClient[] = [];

  beforeAll(async () => {
    gw = await startGateway({
      ...SITE,
      zones: site.zones,
      site: site.site,
      scoring: { enabled: false },
      navigation: { mqtt_retained: false },
      // Heartbeats far apart: this client is judged by its buffer, not by a missed pong.
      dashboard: { ...SITE.dashboard, ws_max_buffered_kb: 16, ws_stall_timeout_s: 300, heartbeat_s: 300 },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await gw?.stop();
  });

  it('holds a client that does not read to a bounded buffer, then sends it the latest route', async () => {
    const nav = gw.gateway.get('navigation')!;
    const slow = await NavClient.open(wsUrl(gw, 'from=start'));
    clients.push(slow);
    const first = await slow.next((m) => m.type === 'route');
    expect(first.route.exit.id).toBe('exit-a');
    const messageBytes = JSON.stringify(first).length;
    expect(messageBytes).toBeGreaterThan(6000);
    pauseSocket(slow);

    // Flip the route (a HIGH in corridor A, then resolved) until the server holds the client back.
    // Each step waits for its evaluation (turns of the event loop, no timer), so none coalesce.
    const exitNow = () => nav.navigator.latest('start')?.update.route?.exit.id;
    const settled = async (exit: string) => {
      for (let turns = 0; exitNow() !== exit; turns++) {
        if (turns > 10_000) throw new Error(`the route never reached ${exit}`);
        await new Promise((r) => setImmediate(r));
      }
    };
    let changes = 0;
    for (let i = 0; i < 3000 && nav.hub.stats.skipped < 50; i++) {
      expect((await report(gw, `SLOW_${i}`, 'cam-a', 'HIGH')).status).toBe(200);
      await settled('exit-b');
      expect((await resolve(gw, `SLOW_${i}`)).status).toBe(200);
      await settled('exit-a');
      changes += 2;
    }
    expect(nav.hub.stats.behind).toBeGreaterThanOrEqual(1);
    expect(nav.hub.stats.skipped).toBeGreaterThanOrEqual(50);
    // What the server holds for it: under the 16 KiB limit plus one message, however many changes came.
    const held = [...(nav.hub as unknown as { clients: Set<{ socket: WebSocket; from: string }> }).clients].find((c) => c.from === 'start')!;
    expect(held.socket.bufferedAmount).toBeLessThan(16 * 1024 + messageBytes);

    // One more change while it is behind (corridor A blocked), then it reads again.
    expect((await report(gw, 'SLOW_LAST', 'cam-a', 'HIGH')).status).toBe(200);
    const latest = await getAuthed(`${gw.httpUrl}/api/routes?from=start`);
    expect(latest.body.exit.id).toBe('exit-b');
    resumeSocket(slow);
    const notice = await slow.next((m) => m.type === 'notice', 1, 30_000);
    expect(notice).toMatchObject({ code: 'SKIPPED' });
    expect(notice.skipped).toBeGreaterThan(0);
    const last = await slow.next((m) => m.type === 'route' && m.incident_ids.includes('SLOW_LAST'), slow.messages.indexOf(notice), 30_000);
    expect(last.route).toEqual(latest.body);
    expect(slow.routes().length).toBeLessThan(changes);
  }, 120_000);
});
