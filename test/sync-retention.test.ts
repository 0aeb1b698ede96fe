// Retention at tiny caps: delivered data goes first; then undelivered LOW, then MEDIUM,
// oldest first, snapshots before rows; HIGH and CRITICAL are never evicted; counters stay
// right; new reports are still accepted; every eviction is counted and logged.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { Retention } from '../src/sync/retention.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { sqlite } from './sqlite.js';

const TOKEN = 'retention-token';
const MB = 1024 * 1024;
const SNAPSHOT_BYTES = 8192;

describe('retention and buffer caps', () => {
  let gw: TestGateway;
  let retention: (o: { maxAgeDays?: number; maxDbMb?: number; maxSnapshotMb?: number }) => Retention;
  const order: string[] = []; // every incident, in the order it was stored
  const count = (sql: string) => (sqlite(gw.gateway.store).prepare(sql).get() as { n: number }).n;
  const present = (id: string) => gw.gateway.store.getIncident(id) !== null;
  const snapshotFile = (id: string) => join(gw.dataDir, 'snapshots', `${id}.jpg`);

  async function post(id: string, level: string): Promise<void> {
    const res = await postJson(
      `${gw.httpUrl}/threats/report`,
      // Rows of about one page each, so evicting a row frees about a page.
      seedReport({ incident_id: id, threat_level: level, camera_id: `cam-${order.length % 3}`, behavior_summary: `${id} ${'x'.repeat(1900)}` }),
    );
    expect(res.status).toBe(200);
    order.push(id);
  }

  beforeAll(async () => {
    // Pull is the only consumer: an entry is delivered once the cloud acks it.
    gw = await startGateway(
      { sync: { token: TOKEN }, retention: { max_age_days: 0, max_db_mb: 0, max_snapshot_mb: 0 } },
      { scorer: new ReportedLevelScorer() },
    );
    const store = gw.gateway.store;
    const log = gw.gateway.log.child({ component: 'retention' });
    retention = (o) =>
      new Retention(store, { maxAgeDays: o.maxAgeDays ?? 0, maxDbMb: o.maxDbMb ?? 0, maxSnapshotMb: o.maxSnapshotMb ?? 0, dataDir: gw.dataDir }, log);

    for (let i = 0; i < 8; i++) await post(`OLD_${i}`, ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'][i % 4]!);
    for (let r = 0; r < 30; r++) {
      await post(`LOW_${r}`, 'LOW');
      await post(`MEDIUM_${r}`, 'MEDIUM');
      if (r % 3 === 0) {
        await post(`HIGH_${r / 3}`, 'HIGH');
        await post(`CRITICAL_${r / 3}`, 'CRITICAL');
      }
    }
    // Snapshot files for ten LOW, ten MEDIUM and three HIGH incidents.
    mkdirSync(join(gw.dataDir, 'snapshots'), { recursive: true });
    const withSnapshots = [
      ...Array.from({ length: 10 }, (_, i) => `LOW_${i}`),
      ...Array.from({ length: 10 }, (_, i) => `MEDIUM_${i}`),
      'HIGH_0',
      'HIGH_1',
      'HIGH_2',
    ];
    for (const id of withSnapshots) {
      writeFileSync(snapshotFile(id), Buffer.alloc(SNAPSHOT_BYTES, 1));
      store.transaction(() => store.outbox.enqueue('snapshot', id, { payload: { path: `snapshots/${id}.jpg`, bytes: SNAPSHOT_BYTES } }));
    }
    // The cloud pulls and acks the eight OLD incidents: they are delivered.
    const page = await fetch(`${gw.httpUrl}/sync/incidents?after=0&limit=8`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const { next_after } = (await page.json()) as { next_after: number };
    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: next_after }, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('evicts snapshot files over the snapshot cap: LOW, then MEDIUM, oldest first, never HIGH', async () => {
    // Room for 8 of the 23 files: all 10 LOW and the 5 oldest MEDIUM must go.
    const report = await retention({ maxSnapshotMb: (8 * SNAPSHOT_BYTES) / MB }).runOnce();
    expect(report.snapshots_evicted).toBe(15);
    for (let i = 0; i < 10; i++) expect(existsSync(snapshotFile(`LOW_${i}`)), `LOW_${i}`).toBe(false);
    for (let i = 0; i < 5; i++) expect(existsSync(snapshotFile(`MEDIUM_${i}`)), `MEDIUM_${i}`).toBe(false);
    for (let i = 5; i < 10; i++) expect(existsSync(snapshotFile(`MEDIUM_${i}`)), `MEDIUM_${i}`).toBe(true);
    for (const id of ['HIGH_0', 'HIGH_1', 'HIGH_2']) expect(existsSync(snapshotFile(id))).toBe(true);
    // Only the files went; every incident row is still there.
    expect(count('SELECT count(*) AS n FROM incidents')).toBe(order.length);
    const evicted = sqlite(gw.gateway.store)
      .prepare("SELECT count(*) AS n FROM outbox WHERE kind = 'snapshot' AND json_extract(payload, '$.evicted') = 1")
      .get() as { n: number };
    expect(evicted.n).toBe(15);
  });

  it('deletes only delivered incidents by age', async () => {
    const report = await retention({ maxAgeDays: 1 }).runOnce(Date.now() + 2 * 86_400_000);
    expect(report.deleted_delivered).toBe(8);
    expect(order.filter((id) => id.startsWith('OLD_')).some(present)).toBe(false);
    expect(count('SELECT count(*) AS n FROM incidents')).toBe(order.length - 8);
  });

  it('at the database cap evicts undelivered LOW then MEDIUM, oldest first, and never HIGH or CRITICAL', async () => {
    // Size the cap on a page-for-page copy of the database: between its size without any
    // LOW row and its size without any LOW or MEDIUM row, so about half the MEDIUM must go.
    const twinDir = tempDir();
    await sqlite(gw.gateway.store).backup(join(twinDir, 'safesphere.db'));
    const twin = new Store(twinDir, createLogger('silent'));
    await twin.start();
    const twinRetention = new Retention(twin, { maxAgeDays: 0, maxDbMb: 0, maxSnapshotMb: 0, dataDir: twinDir }, createLogger('silent'));
    sqlite(twin).prepare("DELETE FROM incidents WHERE threat_level = 'LOW'").run();
    const withoutLow = twinRetention.dbBytes();
    sqlite(twin).prepare("DELETE FROM incidents WHERE threat_level = 'MEDIUM'").run();
    const withoutLowOrMedium = twinRetention.dbBytes();
    await twin.stop();
    rmSync(twinDir, { recursive: true, force: true });
    expect(withoutLow).toBeGreaterThan(withoutLowOrMedium);
    const cap = (withoutLow + withoutLowOrMedium) / 2;

    const logsBefore = gw.logs.lines.length;
    const report = await retention({ maxDbMb: cap / MB }).runOnce();

    expect(report.evicted_undelivered.LOW).toBe(30);
    expect(report.evicted_undelivered.MEDIUM).toBeGreaterThan(0);
    expect(report.evicted_undelivered.MEDIUM).toBeLessThan(30);
    const mediums = Array.from({ length: 30 }, (_, i) => `MEDIUM_${i}`);
    const kept = mediums.map(present);
    // The ones gone are the oldest: a prefix.
    expect(kept).toEqual([...kept].sort((a, b) => Number(a) - Number(b)));
    // Snapshots went with (before) their rows.
    for (let i = 0; i < 10; i++) if (!present(`MEDIUM_${i}`)) expect(existsSync(snapshotFile(`MEDIUM_${i}`))).toBe(false);
    for (let i = 0; i < 10; i++) expect(present(`HIGH_${i}`) && present(`CRITICAL_${i}`)).toBe(true);
    expect(report.db_bytes).toBeLessThanOrEqual(cap);

    // Logged, LOW before MEDIUM, each run's ids oldest first.
    const evictions = gw.logs.lines.slice(logsBefore).filter((l) => l.msg === 'evicted UNDELIVERED incidents to stay under the buffer cap');
    expect(evictions.length).toBeGreaterThan(0);
    expect(evictions.every((l) => l.level === 40)).toBe(true); // warn
    const firstMedium = evictions.findIndex((l) => String(l.first).startsWith('MEDIUM_'));
    expect(evictions.slice(0, firstMedium).every((l) => String(l.first).startsWith('LOW_'))).toBe(true);

    // The per-camera counters follow the deletions.
    const stats = (await getJson(`${gw.httpUrl}/statistics`)).body.statistics;
    for (const level of ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']) {
      expect(stats[`count_${level}`], level).toBe(count(`SELECT count(*) AS n FROM incidents WHERE threat_level = '${level}'`));
    }
    expect(stats.total_incidents).toBe(count('SELECT count(*) AS n FROM incidents'));

    const status = (await getJson(`${gw.httpUrl}/sync/status`)).body;
    expect(status.retention.evictions).toMatchObject({
      'evicted.delivered': 8,
      'evicted.undelivered.LOW': 30,
      'evicted.undelivered.MEDIUM': report.evicted_undelivered.MEDIUM,
      'evicted.snapshots': 15,
    });
    expect(status.retention.evictions['evicted.entries.pull']).toBeGreaterThanOrEqual(30 + report.evicted_undelivered.MEDIUM);
  });

  it('below what HIGH and CRITICAL need, keeps them all and still accepts new reports', async () => {
    const report = await retention({ maxDbMb: 0.001 }).runOnce();
    expect(report.over_cap).toBe(true);
    expect(count("SELECT count(*) AS n FROM incidents WHERE threat_level IN ('LOW', 'MEDIUM')")).toBe(0);
    expect(count("SELECT count(*) AS n FROM incidents WHERE threat_level IN ('HIGH', 'CRITICAL')")).toBe(20);
    const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'AFTER_CAP', threat_level: 'LOW' }));
    expect(res.status).toBe(200);
    expect(gw.logs.lines.some((l) => String(l.msg).includes('only HIGH/CRITICAL'))).toBe(true);
  });
});
