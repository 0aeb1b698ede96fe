// The pull API: auth, cursor paging, ack idempotency, bad cursors; and the outbox's
// guarantees underneath (same transaction as the incident, index-served queries).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { sqlite } from './sqlite.js';

const TOKEN = 'pull-token-123';
const auth = { authorization: `Bearer ${TOKEN}` };

async function get(url: string, headers: Record<string, string> = auth): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

describe('sync pull API', () => {
  let gw: TestGateway;
  const dataDir = tempDir();
  beforeAll(async () => {
    gw = await startGateway({ sync: { token: TOKEN } }, { scorer: new ReportedLevelScorer(), dataDir });
    for (let i = 0; i < 25; i++) {
      const res = await postJson(
        `${gw.httpUrl}/threats/report`,
        seedReport({ incident_id: `PULL_${i}`, threat_level: ['LOW', 'HIGH', 'CRITICAL', 'MEDIUM'][i % 4], camera_id: `cam-${i % 3}` }),
      );
      expect(res.status).toBe(200);
    }
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('refuses requests without the sync token, and with a wrong one, in the error shape', async () => {
    const none = await get(`${gw.httpUrl}/sync/incidents`, {});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    const wrong = await get(`${gw.httpUrl}/sync/incidents`, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    const ack = await postJson(`${gw.httpUrl}/sync/ack`, { upto: 1 }, { authorization: 'Bearer nope' });
    expect(ack.status).toBe(401);
    const basic = await get(`${gw.httpUrl}/sync/incidents`, { authorization: `Basic ${TOKEN}` });
    expect(basic.status).toBe(401);
  });

  it('pages through every entry with the cursor, each as the full incident with its actions, labels and snapshots', async () => {
    const seen: any[] = [];
    let after = 0;
    const pages: { n: number; more: boolean }[] = [];
    for (;;) {
      const { status, body } = await get(`${gw.httpUrl}/sync/incidents?after=${after}&limit=10`);
      expect(status).toBe(200);
      pages.push({ n: body.incidents.length, more: body.more });
      seen.push(...body.incidents);
      if (body.incidents.length) expect(body.next_after).toBe(body.incidents[body.incidents.length - 1].sync.seq);
      after = body.next_after;
      if (!body.more) break;
    }
    expect(pages).toEqual([
      { n: 10, more: true },
      { n: 10, more: true },
      { n: 5, more: false },
    ]);
    expect(seen.map((d) => d.incident_id)).toEqual(Array.from({ length: 25 }, (_, i) => `PULL_${i}`));
    const seqs = seen.map((d) => d.sync.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const critical = seen.find((d) => d.incident_id === 'PULL_2');
    expect(critical).toMatchObject({
      threat_level: 'CRITICAL',
      site_id: gw.config.site_id,
      camera_id: 'cam-2',
      labels: [],
      snapshots: [],
      sync: { kind: 'incident', version: 1, idempotency_key: `${gw.config.site_id}:PULL_2:incident:1` },
    });
    expect(critical.actions.length).toBe(7);
    // An empty page at the end.
    const end = await get(`${gw.httpUrl}/sync/incidents?after=${after}`);
    expect(end.body).toEqual({ incidents: [], next_after: after, more: false });
  });

  it('shows a later change (a label) as a new entry after the cursor', async () => {
    const last = (await get(`${gw.httpUrl}/sync/status`, {})).body.last_seq;
    gw.gateway.store.labels.add({ incidentId: 'PULL_1', label: 'false_alarm', by: 'op' });
    const { body } = await get(`${gw.httpUrl}/sync/incidents?after=${last}`);
    expect(body.incidents).toHaveLength(1);
    expect(body.incidents[0]).toMatchObject({ incident_id: 'PULL_1', sync: { kind: 'label', version: 1 } });
    expect(body.incidents[0].labels).toEqual([expect.objectContaining({ label: 'false_alarm', by: 'op' })]);
  });

  it('answers 400 for a bad cursor or limit', async () => {
    for (const q of ['after=abc', 'after=-1', 'after=1.5', 'after=99999', 'limit=0', 'limit=1001', 'limit=x']) {
      const { status, body } = await get(`${gw.httpUrl}/sync/incidents?${q}`);
      expect(status, q).toBe(400);
      expect(['BAD_CURSOR', 'BAD_REQUEST'], q).toContain(body.error.code);
      expect(body.error.details[0].path).toMatch(/after|limit/);
    }
    const limitMax = await get(`${gw.httpUrl}/sync/incidents?after=0&limit=1000`);
    expect(limitMax.status).toBe(200);
  });

  it('acks idempotently, refuses an ack ahead of what was served, and survives a restart', async () => {
    const served = (await get(`${gw.httpUrl}/sync/status`, {})).body.pull.served_upto;
    expect(served).toBeGreaterThan(10);
    const ahead = await postJson(`${gw.httpUrl}/sync/ack`, { upto: served + 1 }, auth);
    expect(ahead.status).toBe(409);
    expect(ahead.body.error.code).toBe('SYNC_ACK_AHEAD');
    const bad = await postJson(`${gw.httpUrl}/sync/ack`, { upto: 'x' }, auth);
    expect(bad.status).toBe(400);

    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: 10 }, auth)).body).toEqual({ acked_upto: 10, changed: true });
    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: 10 }, auth)).body).toEqual({ acked_upto: 10, changed: false });
    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: 4 }, auth)).body).toEqual({ acked_upto: 10, changed: false });
    const status = (await get(`${gw.httpUrl}/sync/status`, {})).body;
    expect(status.pull).toMatchObject({ enabled: true, acked_upto: 10, backlog: status.last_seq - 10 });
    // Pull is the only consumer here, so the ack is what delivers.
    const db = sqlite(gw.gateway.store);
    expect(db.prepare('SELECT count(*) AS n FROM outbox WHERE seq <= 10 AND pending_mask != 0').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM outbox WHERE seq > 10 AND pending_mask = 4').get()).toEqual({ n: status.last_seq - 10 });

    await gw.stop();
    gw = await startGateway({ sync: { token: TOKEN } }, { scorer: new ReportedLevelScorer(), dataDir });
    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: served }, auth)).body).toEqual({ acked_upto: served, changed: true });
  });
});

describe('sync pull API without a token configured', () => {
  it('answers 503 explaining how to enable it', async () => {
    const gw = await startGateway({}, { scorer: new ReportedLevelScorer() });
    try {
      const { status, body } = await get(`${gw.httpUrl}/sync/incidents`, {});
      expect(status).toBe(503);
      expect(body.error.code).toBe('SYNC_DISABLED');
      expect(body.error.message).toContain('sync.token');
      expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: 0 })).status).toBe(503);
    } finally {
      await gw.stop();
    }
  });
});

describe('the outbox', () => {
  it('is written in the incident\'s transaction: a rolled-back batch leaves neither', async () => {
    const dir = tempDir();
    const store = new Store(dir, createLogger('silent'));
    store.outbox.consumers = 3;
    await store.start();
    try {
      const draft = (id: string) => ({
        incidentId: id,
        timestamp: '2026-02-10T14:30:45Z',
        level: 'HIGH' as const,
        score: 0.7,
        reportedLevel: 'HIGH' as const,
        reportedScore: 0.7,
        modelVersion: null,
        peopleCount: 1,
        weaponDetected: false,
        weaponTypes: [],
        behaviorSummary: null,
        isCritical: false,
        fullTelemetry: null,
        extraFields: null,
        cameraId: 'cam-1',
        source: 'http' as const,
        contentHash: `h-${id}`,
        receivedAtMs: Date.now(),
        actionTaken: 'ALERT_POLICE',
        actions: [],
      });
      store.commitBatch([draft('OB_1'), draft('OB_2')]);
      const db = sqlite(store);
      expect(db.prepare('SELECT incident_id, kind, version, rank, camera_id, pending_mask FROM outbox ORDER BY seq').all()).toEqual([
        { incident_id: 'OB_1', kind: 'incident', version: 1, rank: 1, camera_id: 'cam-1', pending_mask: 3 },
        { incident_id: 'OB_2', kind: 'incident', version: 1, rank: 1, camera_id: 'cam-1', pending_mask: 3 },
      ]);
      // A batch that fails part-way (a NOT NULL violation on the third row) rolls back everything.
      const broken = { ...draft('OB_5'), source: null as unknown as 'http' };
      expect(() => store.commitBatch([draft('OB_3'), draft('OB_4'), broken])).toThrow();
      expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 2 });
      expect(db.prepare('SELECT count(*) AS n FROM incidents').get()).toEqual({ n: 2 });
      // Inside another transaction, the general API; a rollback takes the entry with it.
      expect(() =>
        store.transaction(() => {
          store.outbox.enqueue('alert', 'OB_1', { payload: { x: 1 } });
          throw new Error('rollback');
        }),
      ).toThrow('rollback');
      expect(store.transaction(() => store.outbox.enqueue('alert', 'OB_1'))).toMatchObject({ version: 1 });
      expect(store.transaction(() => store.outbox.enqueue('alert', 'OB_1'))).toMatchObject({ version: 2 });
      expect(() => store.outbox.enqueue('alert', 'NOPE')).toThrow(/unknown incident/);
      // An action outcome (the automation stage's UPDATE) is queued by a trigger in the same transaction.
      db.prepare("INSERT INTO actions (incident_id, action_type, status, created_at, updated_at) VALUES ('OB_2', 'siren', 'pending', 'x', 'x')").run();
      // (Migration 8's honest states: a final state is e.g. 'delivered'; 'succeeded' no longer exists.)
      db.prepare("UPDATE actions SET status = 'delivered', result = 'ok' WHERE incident_id = 'OB_2'").run();
      const outcome = db.prepare("SELECT kind, version, payload FROM outbox WHERE kind = 'action'").get() as { payload: string };
      expect(JSON.parse(outcome.payload)).toMatchObject({ action_type: 'siren', status: 'delivered', result: 'ok' });
    } finally {
      await store.stop();
    }
  });

  it('serves every sync query from an index', async () => {
    const dir = tempDir();
    const store = new Store(dir, createLogger('silent'));
    await store.start();
    try {
      const db = sqlite(store);
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
      expect(plan('SELECT * FROM outbox WHERE pending_mask & 1 ORDER BY rank, seq LIMIT 10')).toMatch(/USING INDEX outbox_pending_http/);
      expect(plan('SELECT * FROM outbox WHERE pending_mask & 2 ORDER BY rank, seq LIMIT 10')).toMatch(/USING INDEX outbox_pending_mqtt/);
      expect(plan('SELECT * FROM outbox WHERE seq > 5 ORDER BY seq LIMIT 10')).toMatch(/INTEGER PRIMARY KEY/);
      expect(plan("SELECT * FROM outbox WHERE incident_id = 'x' AND kind = 'snapshot'")).toMatch(/USING INDEX/);
      expect(plan('SELECT * FROM outbox_poison WHERE seq = 3')).toMatch(/USING (COVERING )?INDEX/);
      for (const p of [plan('SELECT * FROM outbox WHERE pending_mask & 1 ORDER BY rank, seq LIMIT 10')]) expect(p).not.toContain('TEMP B-TREE');
    } finally {
      await store.stop();
    }
  });
});
