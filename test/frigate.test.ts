// Frigate as a report source against a real Mosquitto: the review and event payloads of
// Frigate's MQTT documentation (test/fixtures/frigate/) published QoS 1 as Frigate publishes
// them. One incident per review, no duplicates on updates or redelivery, escalation on a
// severity raise and on a weapon label as linked follow-ups, availability in /health and in the
// dashboard's health feed, bad input refused and counted while the source keeps running, and a
// gateway SIGKILLed mid-stream losing and duplicating nothing (persistent session).
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { FrigateSource } from '../src/frigate/source.js';
import { Daemon, reapDaemons } from './daemon.js';
import { connectMqtt, getJson, startGateway, tempDir, type TestGateway } from './helpers.js';
import { freePort, Mosquitto, mosquittoAvailable } from './mosquitto.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/frigate/${name}`, import.meta.url), 'utf8')) as Record<string, any>;
const wait = <T>(fn: () => T | Promise<T>, timeout = 15_000) => vi.waitFor(fn, { timeout, interval: 20 });
const clone = <T>(x: T): T => structuredClone(x);

/** The messages of one review, derived from the documented update as Frigate sends them in turn. */
function reviewSteps() {
  const doc = fixture('review-update.json');
  const newMsg = { type: 'new', before: clone(doc.before), after: clone(doc.before) };
  const zone = clone(doc);
  zone.before = clone(doc.after);
  zone.after.data.zones = ['front_yard', 'driveway'];
  const knife = clone(zone);
  knife.before = clone(zone.after);
  knife.after.data.objects = ['person', 'car', 'knife'];
  knife.after.data.detections = [...knife.after.data.detections, '1718987150.101010-kn1fe0'];
  const end = clone(knife);
  end.type = 'end';
  end.before = clone(knife.after);
  end.after.end_time = 1718987190.5;
  return { newMsg, update: doc, zone, knife, end };
}

const run = mosquittoAvailable() ? describe : describe.skip;

run('Frigate source (real Mosquitto)', () => {
  let broker: Mosquitto;
  let gw: TestGateway;
  let frigateClient: Awaited<ReturnType<typeof connectMqtt>>;
  let source: FrigateSource;
  const publish = (topic: string, payload: unknown, retain = false) =>
    frigateClient.publishAsync(topic, typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload), { qos: 1, retain });
  const frigateIncidents = () => gw.gateway.store.listIncidents({ source: ['frigate'], limit: 1000 });

  beforeAll(async () => {
    broker = new Mosquitto(await freePort());
    await broker.start();
    // Frigate's own client: QoS 1 (Frigate's mqtt.qos: 1), "available" retained with the last will.
    frigateClient = await connectMqtt(broker.url, { clientId: 'frigate', will: { topic: 'frigate/available', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await publish('frigate/available', 'online', true);
    gw = await startGateway({
      scoring: { enabled: false },
      frigate: { enabled: true, url: broker.url, client_id: 'edge-frigate-test', reconnect_ms: 100, events: true, frigate_url: 'http://frigate.local:5000' },
    });
    source = gw.gateway.get('frigate')!;
    await wait(() => expect(source.health()).toMatchObject({ status: 'up', subscribed: true, frigate: 'online' }));
  });

  afterAll(async () => {
    await frigateClient?.endAsync(true);
    await gw?.stop();
    await broker?.stop('SIGKILL');
  });

  it('stores one incident per review; updates never duplicate it; a weapon label raises it as a linked follow-up', async () => {
    const s = reviewSteps();
    for (const m of [s.newMsg, s.update, s.zone, s.knife, s.end]) await publish('frigate/reviews', m);
    // Frigate's broker redelivering the documented update (a resend after a reconnect).
    await publish('frigate/reviews', s.update);
    await wait(() => expect(source.counters.absorbed).toBe(4));
    const rid = '1718987129.308396-fqk5ka';
    const ids = frigateIncidents().map((i) => i.incident_id).sort();
    expect(ids).toEqual([`frigate:${rid}`, `frigate:${rid}:HIGH:weapon`]);

    const base = gw.gateway.store.getIncident(`frigate:${rid}`)!;
    // The first message: a detection with a person (levels.person: MEDIUM).
    expect(base).toMatchObject({ source: 'frigate', source_key: rid, camera_id: 'front_cam', threat_level: 'MEDIUM', weapon_detected: false });
    expect(base.timestamp).toBe(new Date(Math.round(1718987129.308396 * 1000)).toISOString());
    expect(base.source_ref).toMatchObject({
      kind: 'review',
      review_id: rid,
      severity: 'detection',
      event_ids: ['1718987128.947436-g92ztx', '1718987148.879516-d7oq7r', '1718987126.934663-q5ywpt'],
      review_url: `http://frigate.local:5000/review?id=${rid}`,
      thumb_path: '/media/frigate/clips/review/thumb-front_cam-1718987129.308396-fqk5ka.webp',
    });
    const up = gw.gateway.store.getIncident(`frigate:${rid}:HIGH:weapon`)!;
    expect(up).toMatchObject({ threat_level: 'HIGH', weapon_detected: true, weapon_types: '["knife"]', source_key: rid });
    expect(up.source_ref).toMatchObject({ follows: `frigate:${rid}`, severity: 'alert', objects: ['person', 'car', 'knife'] });
    expect(up.behavior_summary).toMatch(/raised from MEDIUM, weapon added/);
    expect(gw.gateway.store.actionsFor(up.incident_id).map((a) => a.action_type)).toContain('notify_police');

    // The detail view links the review's incidents to each other.
    const detail = await getJson(`${gw.httpUrl}/incidents/${encodeURIComponent(base.incident_id)}`);
    expect(detail.status).toBe(200);
    expect(detail.body.related.map((r: { incident_id: string }) => r.incident_id)).toEqual([up.incident_id]);
  });

  it('raises a review whose severity goes from detection to alert', async () => {
    const rid = '1718990000.000001-car001';
    const item = (severity: string, objects: string[]) => ({
      id: rid, camera: 'driveway', start_time: 1718990000.000001, end_time: null, severity, thumb_path: null,
      data: { detections: ['1718990000.000002-ev0001'], objects, sub_labels: [], zones: ['street'], audio: [] },
    });
    await publish('frigate/reviews', { type: 'new', before: item('detection', ['car']), after: item('detection', ['car']) });
    await publish('frigate/reviews', { type: 'update', before: item('detection', ['car']), after: item('alert', ['car']) });
    await publish('frigate/reviews', { type: 'update', before: item('alert', ['car']), after: item('alert', ['car']) });
    await wait(() => expect(gw.gateway.store.getIncident(`frigate:${rid}:MEDIUM`)).not.toBeNull());
    expect(gw.gateway.store.getIncident(`frigate:${rid}`)!.threat_level).toBe('LOW');
    expect(frigateIncidents().filter((i) => i.incident_id.includes(rid))).toHaveLength(2);
  });

  it('takes tracked-object events (frigate/events) when enabled, with their clip links', async () => {
    const ev = fixture('event-update.json');
    ev.after.has_clip = true;
    await publish('frigate/events', ev);
    await publish('frigate/events', ev);
    const id = 'frigate:event:1607123955.475377-mxklsc';
    await wait(() => expect(gw.gateway.store.getIncident(id)).not.toBeNull());
    expect(gw.gateway.store.getIncident(id)!.source_ref).toMatchObject({
      kind: 'event',
      label: 'person',
      clip_url: 'http://frigate.local:5000/api/events/1607123955.475377-mxklsc/clip.mp4',
    });
    const fp = clone(ev);
    fp.after.id = '1607123999.000000-falsep';
    fp.after.false_positive = true;
    const ignored = source.counters.ignored;
    await publish('frigate/events', fp);
    await wait(() => expect(source.counters.ignored).toBe(ignored + 1));
    expect(gw.gateway.store.getIncident('frigate:event:1607123999.000000-falsep')).toBeNull();
  });

  it('refuses malformed JSON, unknown severities, wrong shapes and huge payloads, counts them, stores nothing, and keeps running', async () => {
    const before = frigateIncidents().length;
    const good = fixture('review-update.json');
    const unknown = clone(good);
    unknown.after.id = '1718999999.000000-unknwn';
    unknown.after.severity = 'catastrophic';
    const shape = clone(good);
    shape.after.id = '1718999999.000001-shape0';
    shape.after.camera = '../etc';
    const proto = `{"type":"new","after":{"id":"1718999999.000002-proto0","__proto__":{"polluted":true}}}`;
    await publish('frigate/reviews', '{"type": "new", "after": {');
    await publish('frigate/reviews', unknown);
    await publish('frigate/reviews', shape);
    await publish('frigate/reviews', proto);
    await publish('frigate/reviews', Buffer.alloc(100 * 1024, 0x20));
    await wait(() => expect(source.counters.refused).toMatchObject({ MALFORMED_JSON: 2, UNKNOWN_SEVERITY: 1, INVALID_SOURCE_EVENT: 1, PAYLOAD_TOO_LARGE: 1 }));
    expect(frigateIncidents()).toHaveLength(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Still running: a new review is stored.
    const next = clone(good);
    next.after.id = next.before.id = '1719000000.000000-after0';
    await publish('frigate/reviews', next);
    await wait(() => expect(frigateIncidents()).toHaveLength(before + 1));
  });

  it('shows Frigate offline or stopped as degraded in /health and in the dashboard feed', async () => {
    await publish('frigate/available', 'offline', true);
    await wait(() => expect(source.health()).toMatchObject({ status: 'degraded', frigate: 'offline' }));
    const health = await getJson(`${gw.httpUrl}/health`);
    expect(health.body.components.frigate).toMatchObject({ status: 'degraded', frigate: 'offline' });
    // The dashboard's system view is the feed's health message.
    const ws = new WebSocket(`${gw.httpUrl.replace('http', 'ws')}/ws/incidents`);
    const msg = await new Promise<Record<string, any>>((resolve, reject) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as Record<string, any>;
        if (m.type === 'health') resolve(m);
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(msg.components.frigate).toMatchObject({ status: 'degraded', frigate: 'offline' });
    await publish('frigate/available', 'stopped', true);
    await wait(() => expect(source.health()).toMatchObject({ status: 'degraded', frigate: 'stopped' }));
    await publish('frigate/available', 'online', true);
    await wait(() => expect(source.health()).toMatchObject({ status: 'up', frigate: 'online' }));
  });

  it('filters and groups by source in the statistics, the list and the analysis', async () => {
    const stats = await getJson(`${gw.httpUrl}/statistics?source=frigate`);
    expect(stats.status).toBe(200);
    expect(stats.body.statistics.total_incidents).toBe(frigateIncidents().length);
    expect(stats.body.statistics.per_source.frigate.total_incidents).toBe(frigateIncidents().length);
    const list = await getJson(`${gw.httpUrl}/incidents?source=threat_cv`);
    expect(list.body.count).toBe(0);
    expect((await getJson(`${gw.httpUrl}/incidents?source=bogus`)).body.error.code).toBe('BAD_SOURCE_FILTER');
  });
});

run('Frigate source: a gateway SIGKILLed mid-stream (persistent session)', () => {
  let broker: Mosquitto;
  const dataDir = tempDir('safesphere-frigate-kill-');
  afterAll(async () => {
    await reapDaemons();
    await broker?.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every review the broker delivered exactly once across the kill', async () => {
    broker = new Mosquitto(await freePort());
    await broker.start();
    const env = {
      SAFESPHERE_SCORING_ENABLED: 'false',
      SAFESPHERE_FRIGATE_ENABLED: 'true',
      SAFESPHERE_FRIGATE_URL: broker.url,
      SAFESPHERE_FRIGATE_CLIENT_ID: 'edge-frigate-kill',
      SAFESPHERE_FRIGATE_RECONNECT_MS: '100',
    };
    let daemon = await Daemon.start(dataDir, env);
    await daemon.waitForLog((l) => l.msg === 'frigate subscribed', 15_000);
    const frigate = await connectMqtt(broker.url, { clientId: 'frigate-kill' });
    const N = 300;
    const review = (i: number) => {
      const id = `17190${String(i).padStart(5, '0')}.000000-k${String(i).padStart(5, '0')}`;
      const after = { id, camera: `cam_${i % 4}`, start_time: 1719000000 + i, end_time: null, severity: i % 3 ? 'detection' : 'alert', thumb_path: null,
        data: { detections: [`${id}e`], objects: ['person'], sub_labels: [], zones: [], audio: [] } };
      return JSON.stringify({ type: 'new', before: after, after });
    };
    for (let i = 0; i < N; i++) {
      await frigate.publishAsync('frigate/reviews', review(i), { qos: 1 });
      // Mid-stream: the gateway dies with messages delivered and not yet acknowledged.
      if (i === 120) await daemon.kill('SIGKILL');
    }
    await frigate.endAsync();
    daemon = await Daemon.start(dataDir, env);
    const count = async () => (await getJson(`http://127.0.0.1:${daemon.httpPort}/incidents?source=frigate&limit=1000`)).body;
    await wait(async () => expect((await count()).count).toBe(N), 60_000);
    const ids = ((await count()).incidents as { incident_id: string }[]).map((i) => i.incident_id);
    expect(new Set(ids).size).toBe(N);
    const stats = await getJson(`http://127.0.0.1:${daemon.httpPort}/statistics?source=frigate`);
    expect(stats.body.statistics.total_incidents).toBe(N);
    await daemon.kill('SIGTERM');
  }, 120_000);
});
