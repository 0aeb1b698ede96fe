// /metrics: protected, parseable Prometheus text, and the counters move with the traffic sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { CAMERA_TOKEN, METRICS_TOKEN, OPERATOR_TOKEN, SITE, auth } from './ops-fixtures.js';

type Samples = Map<string, number>;

/** Parses the Prometheus text format: `name{labels} value` lines; labels sorted into the key. */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels = m[3]
      ? [...m[3].matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}=${l[2]}`).sort().join(',')
      : '';
    out.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[4]));
  }
  return out;
}

describe('/metrics', () => {
  let gw: TestGateway;
  const scrape = async (token = METRICS_TOKEN) => {
    const res = await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return parse(await res.text());
  };
  const v = (s: Samples, key: string) => s.get(key) ?? 0;

  beforeAll(async () => {
    gw = await startGateway({ ...SITE, metrics: { token: METRICS_TOKEN }, scoring: { enabled: false } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('needs the metrics token or the operator token', async () => {
    expect((await fetch(`${gw.httpUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    await scrape(OPERATOR_TOKEN);
  });

  it('counts reports by transport, level and result, ack latency, batches, level changes, clients', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) {
      expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: `M_HTTP_${i}`, camera_id: 'cam-1', threat_level: 'HIGH' }), auth(CAMERA_TOKEN))).status).toBe(200);
    }
    // A repeat: a duplicate, not a second row.
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'M_HTTP_0', camera_id: 'cam-1', threat_level: 'HIGH' }), auth(CAMERA_TOKEN))).body.duplicate).toBe(true);
    const camera = await connectMqtt(gw.mqttUrl, { clientId: 'metrics-cam' });
    await camera.publishAsync('safesphere/cameras/cam-2/threats', JSON.stringify(seedReport({ incident_id: 'M_MQTT_1', threat_level: 'CRITICAL' })), { qos: 1 });
    await camera.publishAsync('safesphere/cameras/cam-2/threats', JSON.stringify({ incident_id: 'bad', threat_level: 'NOPE' }), { qos: 1 });
    const after = await scrape();
    await camera.endAsync();

    const d = (key: string) => v(after, key) - v(before, key);
    expect(d('safesphere_reports_total{level=HIGH,result=stored,transport=http}')).toBe(3);
    expect(d('safesphere_reports_total{level=HIGH,result=duplicate,transport=http}')).toBe(1);
    expect(d('safesphere_reports_total{level=CRITICAL,result=stored,transport=mqtt}')).toBe(1);
    expect(d('safesphere_reports_total{level=unknown,result=invalid,transport=mqtt}')).toBe(1);
    expect(d('safesphere_ack_latency_seconds_count{transport=http}')).toBe(4);
    expect(d('safesphere_ack_latency_seconds_count{transport=mqtt}')).toBe(1);
    expect(d('safesphere_commit_batch_size_sum')).toBe(5);
    expect(d('safesphere_rescore_level_changes_total{from=HIGH,to=HIGH}')).toBe(3); // the duplicate is not a re-scoring outcome
    expect(d('safesphere_rescore_level_changes_total{from=CRITICAL,to=CRITICAL}')).toBe(1);
    expect(d('safesphere_rescore_batch_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(v(after, 'safesphere_broker_clients')).toBeGreaterThanOrEqual(1);
    expect(after.has('safesphere_event_loop_lag_seconds{quantile=0.99}')).toBe(true);
  });

  it('counts action transitions from the bus', async () => {
    const before = await scrape();
    gw.gateway.bus.emit('action.updated', {
      action_id: 1,
      incident_id: 'M_HTTP_0',
      action_type: 'notify_police',
      state: 'delivered',
      attempts: 1,
      result: null,
      at: new Date().toISOString(),
    });
    const after = await scrape();
    expect(v(after, 'safesphere_action_transitions_total{state=delivered,type=notify_police}') - v(before, 'safesphere_action_transitions_total{state=delivered,type=notify_police}')).toBe(1);
  });

  it('reports the sync backlog per transport and level when a push transport is on', async () => {
    const gw2 = await startGateway({
      ...SITE,
      scoring: { enabled: false },
      upstream: { http: { enabled: true, url: 'http://127.0.0.1:9' }, retry_base_ms: 60_000 },
    });
    try {
      await postJson(`${gw2.httpUrl}/threats/report`, seedReport({ incident_id: 'M_SYNC_1', threat_level: 'CRITICAL' }), auth(CAMERA_TOKEN));
      await new Promise((r) => setTimeout(r, 1100)); // sync status is cached for 1 s
      const res = await fetch(`${gw2.httpUrl}/metrics`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
      const s = parse(await res.text());
      expect(v(s, 'safesphere_sync_backlog{level=CRITICAL,transport=http}')).toBe(1);
      expect(s.has('safesphere_sync_oldest_undelivered_seconds{transport=http}')).toBe(true);
    } finally {
      await gw2.stop();
    }
  });
});
