// Provenance: migration 8 on a database written before it (mqtt/http rows keep their meaning,
// the widened CHECK still refuses unknown sources, counters per source start from the rows
// already there), and the source filter and grouping in the statistics, list, analysis,
// timelapse, live feed and upstream pull.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MIGRATIONS } from '../src/store/migrations.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { sqlite } from './sqlite.js';

describe('report provenance', () => {
  const dataDir = tempDir('safesphere-provenance-');
  let gw: TestGateway;

  beforeAll(async () => {
    // A database as the gateway left it before migration 8, with a threat_cv incident of each transport.
    const db = new Database(join(dataDir, 'safesphere.db'));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version <= 7)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
    }
    const insert = db.prepare(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score,
      camera_id, source, content_hash, received_at_ms, created_at, updated_at) VALUES (?, ?, ?, 'HIGH', 0.8, 'HIGH', 0.8, 'cam-old', ?, 'h', ?, ?, ?)`);
    const at = new Date().toISOString();
    insert.run('OLD_MQTT', 1, at, 'mqtt', Date.now(), at, at);
    insert.run('OLD_HTTP', 2, at, 'http', Date.now(), at, at);
    db.close();
    gw = await startGateway({ scoring: { enabled: false }, sync: { token: 'sync-token-provenance-0123456789' } }, { dataDir });
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const commit = async (source: 'frigate' | 'onvif', id: string, level: string, camera: string) => {
    const validator = gw.gateway.get('validator')!;
    const valid = validator.validate(
      { incident_id: id, timestamp: new Date().toISOString(), threat_level: level, threat_score: 0.5, camera_id: camera },
      source,
      camera,
      { provenance: { key: `${source}-key`, ref: { note: `from ${source}` } } },
    );
    return gw.gateway.get('pipeline')!.submit(valid);
  };

  it('migrates a database written before the report sources, keeping mqtt and http as they were', () => {
    const db = sqlite(gw.gateway.store);
    expect(db.prepare('SELECT incident_id, source, source_key, source_ref FROM incidents ORDER BY seq').all()).toEqual([
      { incident_id: 'OLD_MQTT', source: 'mqtt', source_key: null, source_ref: null },
      { incident_id: 'OLD_HTTP', source: 'http', source_key: null, source_ref: null },
    ]);
    expect(db.prepare('SELECT source, total FROM incident_source_counts ORDER BY source').all()).toEqual([
      { source: 'http', total: 1 },
      { source: 'mqtt', total: 1 },
    ]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    // The widened CHECK still refuses a source that is not one of the four.
    expect(() =>
      db.prepare(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score, source,
        content_hash, received_at_ms, created_at, updated_at) VALUES ('X', 99, 't', 'LOW', 0, 'LOW', 0, 'carrier-pigeon', 'h', 0, 't', 't')`).run(),
    ).toThrow(/CHECK constraint failed/);
  });

  it('filters and groups by source everywhere an operator or the cloud reads incidents', async () => {
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'NEW_HTTP', camera_id: 'cam-1' }))).status).toBe(200);
    await commit('frigate', 'frigate:r1', 'MEDIUM', 'front');
    await commit('frigate', 'frigate:r2', 'LOW', 'front');
    await commit('onvif', 'onvif:gate:1', 'LOW', 'gate');

    const stats = (await getJson(`${gw.httpUrl}/statistics`)).body.statistics;
    expect(stats.total_incidents).toBe(6);
    expect(Object.fromEntries(Object.entries(stats.per_source).map(([k, v]) => [k, (v as { total_incidents: number }).total_incidents]))).toEqual({
      mqtt: 1,
      http: 2,
      frigate: 2,
      onvif: 1,
    });
    const cv = (await getJson(`${gw.httpUrl}/statistics?source=threat_cv`)).body;
    expect(cv.source_filter).toEqual(['mqtt', 'http']);
    expect(cv.statistics.total_incidents).toBe(3);
    expect(cv.statistics.last_24h.total_incidents).toBe(3);
    expect(Object.keys(cv.statistics.per_camera).sort()).toEqual(['cam-1', 'cam-old']);

    const list = (await getJson(`${gw.httpUrl}/incidents?source=frigate`)).body;
    expect(list.incidents.map((i: { incident_id: string; source: string }) => [i.incident_id, i.source])).toEqual([
      ['frigate:r2', 'frigate'],
      ['frigate:r1', 'frigate'],
    ]);

    const analysisRes = await getJson(`${gw.httpUrl}/api/analysis`);
    expect(analysisRes.status, JSON.stringify(analysisRes.body)).toBe(200);
    const analysis = analysisRes.body;
    expect(Object.fromEntries(analysis.sources.map((s: { source: string; total: number }) => [s.source, s.total]))).toEqual({ mqtt: 1, http: 2, frigate: 2, onvif: 1 });
    const onlyOnvif = (await getJson(`${gw.httpUrl}/api/analysis?source=onvif`)).body;
    expect(onlyOnvif.total).toBe(1);
    expect(onlyOnvif.cameras.map((c: { camera_id: string }) => c.camera_id)).toEqual(['gate']);
    const timelapse = (await getJson(`${gw.httpUrl}/api/timelapse?source=frigate&bucket=1d`)).body;
    expect(timelapse.buckets.reduce((n: number, b: { total: number }) => n + b.total, 0)).toBe(2);
    expect((await getJson(`${gw.httpUrl}/api/analysis?source=nope`)).status).toBe(400);

    // The live feed, filtered: only the ONVIF incident (replayed from the feed's log with after=0).
    const ws = new WebSocket(`${gw.httpUrl.replace('http', 'ws')}/ws/incidents?after=0&source=onvif`);
    const seen: Record<string, any>[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as Record<string, any>;
        if (m.type === 'incident') seen.push(m);
        if (m.type === 'incident' && m.incident_id === 'onvif:gate:1') resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(seen.map((m) => [m.incident_id, m.source, m.data.source_key])).toEqual([['onvif:gate:1', 'onvif', 'onvif-key']]);

    // The cloud pull: the document carries the source and its ids; a source filter narrows the page.
    const auth = { authorization: 'Bearer sync-token-provenance-0123456789' };
    const pull = async (q: string) => (await fetch(`${gw.httpUrl}/sync/incidents${q}`, { headers: auth })).json() as Promise<Record<string, any>>;
    const frigateDocs = await pull('?source=frigate');
    expect(frigateDocs.incidents.map((d: Record<string, unknown>) => [d.incident_id, d.source, d.source_key, d.source_ref])).toEqual([
      ['frigate:r1', 'frigate', 'frigate-key', { note: 'from frigate' }],
      ['frigate:r2', 'frigate', 'frigate-key', { note: 'from frigate' }],
    ]);
    const all = await pull('?limit=1000');
    // (The two rows written straight into the old file have no outbox entries.)
    expect(all.incidents.map((d: { incident_id: string; source: string }) => [d.incident_id, d.source])).toEqual([
      ['NEW_HTTP', 'http'],
      ['frigate:r1', 'frigate'],
      ['frigate:r2', 'frigate'],
      ['onvif:gate:1', 'onvif'],
    ]);
  });
});
