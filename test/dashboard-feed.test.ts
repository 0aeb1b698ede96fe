// The WebSocket feeds at the protocol level: /ws/incidents live events (incident, action,
// label, status) in one schema, filters, resume from a seq with nothing missed, a slow
// consumer held to a bounded buffer and then caught up, heartbeats; /ws/timelapse replay order,
// pacing and skip-ahead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE, auth } from './ops-fixtures.js';
import { seedIncidents } from './ops-seed.js';
import { sqlite } from './sqlite.js';

type Msg = Record<string, any>;

class FeedClient {
  readonly messages: Msg[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      this.messages.push(JSON.parse(String(raw)) as Msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }
  static async open(url: string): Promise<FeedClient> {
    const ws = new WebSocket(url);
    const c = new FeedClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return c;
  }
  async until(pred: (ms: Msg[]) => boolean, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this.messages)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out; last messages: ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  of(type: string): Msg[] {
    return this.messages.filter((m) => m.type === type);
  }
}

describe('WebSocket feeds', () => {
  let gw: TestGateway;
  let ws: (path: string) => string;
  const clients: FeedClient[] = [];
  const open = async (path: string) => {
    const c = await FeedClient.open(ws(path));
    clients.push(c);
    return c;
  };
  const report = (id: string, camera: string, level: string) =>
    postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: camera, threat_level: level }), auth(CAMERA_TOKEN));

  beforeAll(async () => {
    gw = await startGateway({ ...SITE, scoring: { enabled: false }, dashboard: { ...SITE.dashboard, heartbeat_s: 1, ws_max_buffered_kb: 64, ws_stall_timeout_s: 30 } });
    ws = (path) => `${gw.httpUrl.replace('http', 'ws')}${path}${path.includes('?') ? '&' : '?'}access_token=${OPERATOR_TOKEN}`;
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await gw?.stop();
  });

  it('serves the page and its vendored chart library without a token (no CDN), and nothing outside its folder', async () => {
    const page = await fetch(`${gw.httpUrl}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('/dashboard/vendor/uPlot.iife.min.js');
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await fetch(`${gw.httpUrl}/dashboard/vendor/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${gw.httpUrl}/dashboard/app.js`)).status).toBe(200);
    expect((await fetch(`${gw.httpUrl}/dashboard/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${gw.httpUrl}/api/site`)).status).toBe(401);
  });

  it('refuses a connection without the operator token', async () => {
    await expect(FeedClient.open(`${gw.httpUrl.replace('http', 'ws')}/ws/incidents`)).rejects.toThrow(/401/);
  });

  it('streams incidents, labels and status changes in one schema, filtered, with heartbeats', async () => {
    const all = await open('/ws/incidents');
    const critical = await open('/ws/incidents?level=CRITICAL&camera=cam-1');
    await all.until((m) => m.some((x) => x.type === 'hello') && m.some((x) => x.type === 'health'));
    expect(all.messages[0]).toMatchObject({ type: 'hello', schema: 1, head: expect.any(Number) });

    expect((await report('WS_1', 'cam-1', 'CRITICAL')).status).toBe(200);
    expect((await report('WS_2', 'cam-2', 'CRITICAL')).status).toBe(200);
    expect((await report('WS_3', 'cam-1', 'LOW')).status).toBe(200);
    expect((await postJson(`${gw.httpUrl}/incidents/WS_1/label`, { label: 'false_alarm', by: 'op' }, auth())).status).toBe(201);
    expect((await postJson(`${gw.httpUrl}/incidents/WS_1/acknowledge`, { by: 'op' }, auth())).status).toBe(200);

    await all.until((m) => m.some((x) => x.type === 'status'));
    const incidents = all.of('incident');
    expect(incidents.map((m) => m.incident_id)).toEqual(['WS_1', 'WS_2', 'WS_3']);
    expect(incidents[0]).toMatchObject({ type: 'incident', level: 'CRITICAL', camera_id: 'cam-1', zone: 'lobby', data: { incident_id: 'WS_1', threat_level: 'CRITICAL', weapon_types: ['gun'] } });
    expect(all.of('label')[0]).toMatchObject({ incident_id: 'WS_1', data: { label: 'false_alarm', by: 'op' } });
    expect(all.of('status')[0]).toMatchObject({ incident_id: 'WS_1', data: { state: 'acknowledged', acknowledged_by: 'op' } });
    const seqs = all.messages.filter((m) => m.seq).map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    await critical.until((m) => m.some((x) => x.type === 'status'));
    expect(critical.messages.filter((m) => m.seq).map((m) => `${m.type}:${m.incident_id}`)).toEqual(['incident:WS_1', 'label:WS_1', 'status:WS_1']);

    await all.until((m) => m.some((x) => x.type === 'heartbeat'), 3000);
  });

  it('resumes after a seq: a reconnecting client gets exactly what it missed', async () => {
    const first = await open('/ws/incidents');
    await report('WS_R1', 'cam-3', 'HIGH');
    await first.until((m) => m.some((x) => x.incident_id === 'WS_R1'));
    const last = Math.max(...first.messages.filter((m) => m.seq).map((m) => m.seq));
    first.ws.terminate();
    await report('WS_R2', 'cam-3', 'HIGH');
    await report('WS_R3', 'cam-4', 'MEDIUM');
    const again = await open(`/ws/incidents?after=${last}`);
    await again.until((m) => m.some((x) => x.incident_id === 'WS_R3'));
    expect(again.of('incident').map((m) => m.incident_id)).toEqual(['WS_R2', 'WS_R3']);
  });

  it('holds a slow consumer to a bounded buffer, then catches it up with nothing lost', async () => {
    const slow = await open('/ws/incidents');
    await slow.until((m) => m.some((x) => x.type === 'hello'));
    const head = slow.messages[0]!.head as number;
    // The client stops reading; 20,000 incidents (about 9 MB of feed) arrive at once.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    seedIncidents(sqlite(gw.gateway.store), 20_000, Date.now(), 3_600_000, 11);
    gw.gateway.get('operations')!.feed.wake();
    await new Promise((r) => setTimeout(r, 1000));
    expect(gw.gateway.get('operations')!.feed.stats.paused).toBeGreaterThanOrEqual(1);
    // What the server holds for it stays near the 64 KiB limit, not 9 MB.
    const serverSide = [...(gw.gateway.get('operations')!.feed as unknown as { clients: Set<{ socket: WebSocket; cursor: number }> }).clients];
    const held = serverSide.find((c) => c.cursor < head + 20_000)!;
    expect(held.socket.bufferedAmount).toBeLessThan(64 * 1024 + 8 * 1024);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await slow.until((m) => m.filter((x) => x.type === 'incident').length >= 20_000, 20_000);
    const got = slow.of('incident');
    expect(got.length).toBe(20_000);
    const seqs = got.map((m) => m.seq);
    expect(new Set(seqs).size).toBe(20_000);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }, 40_000);

  it('replays a range in order at speed, and skips ahead with a notice for a stalled consumer', async () => {
    const to = new Date();
    const from = new Date(to.getTime() - 3_600_000);
    const expected = (sqlite(gw.gateway.store)
      .prepare('SELECT count(*) AS n FROM incidents WHERE created_at >= ? AND created_at < ?')
      .get(from.toISOString(), to.toISOString()) as { n: number }).n;
    expect(expected).toBeGreaterThan(19_000);
    const tl = await open(`/ws/timelapse?from=${from.toISOString()}&to=${to.toISOString()}&speed=1000000`);
    await tl.until((m) => m.some((x) => x.type === 'end'), 20_000);
    const frames = tl.of('incident');
    const end = tl.of('end')[0]!;
    expect(end.sent + end.skipped).toBe(expected);
    expect(frames.length).toBe(end.sent);
    const ts = frames.map((f) => f.t);
    expect(ts).toEqual([...ts].sort());

    // A stalled consumer is skipped ahead, not buffered without limit.
    const stalled = await open(`/ws/timelapse?from=${from.toISOString()}&to=${to.toISOString()}&speed=1000000`);
    (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    await new Promise((r) => setTimeout(r, 1500));
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await stalled.until((m) => m.some((x) => x.type === 'end'), 20_000);
    const e2 = stalled.of('end')[0]!;
    expect(e2.skipped).toBeGreaterThan(0);
    expect(stalled.of('notice').some((n) => n.code === 'SKIPPED')).toBe(true);
    expect(e2.sent + e2.skipped).toBe(expected);
  }, 60_000);
});
