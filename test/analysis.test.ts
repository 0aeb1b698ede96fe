// The analysis and timelapse APIs on a seeded store of 100,000 incidents, checked against a
// brute-force computation over every row in JavaScript. (Their speed is a bench:
// bench/analysis.ts.) Also checks that each aggregate's query plan reads an index.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVELS, type ThreatLevel } from '../src/config/schema.js';
import { startGateway, type TestGateway } from './helpers.js';
import { getAuthed, SITE } from './ops-fixtures.js';
import { BEHAVIOURS, WEAPONS, seedIncidents } from './ops-seed.js';
import { sqlite } from './sqlite.js';

const DAY = 86_400_000;
const END = Date.parse('2026-03-01T00:00:00.000Z');
const N = 100_000;

interface Raw {
  incident_id: string;
  created_at: string;
  camera_id: string;
  threat_level: ThreatLevel;
  threat_score: number;
  weapon_detected: number;
  weapon_types: string;
  behavior_summary: string | null;
}

const behaviourFacets = new Map(BEHAVIOURS.map(([text, facets]) => [text, facets]));
const weaponFacets = new Map(WEAPONS.map(([w, facets]) => [JSON.stringify(w), facets]));
const WEIGHT: Record<ThreatLevel, number> = { LOW: 1, MEDIUM: 2, HIGH: 4, CRITICAL: 8 };

describe('analysis and timelapse on 100,000 incidents', () => {
  let gw: TestGateway;
  let rows: Raw[];
  let labels: { incident_id: string; camera_id: string; label: string; created_at: string; id: number }[];

  beforeAll(async () => {
    gw = await startGateway({ ...SITE, scoring: { enabled: false } });
    seedIncidents(sqlite(gw.gateway.store), N, END, 28 * DAY);
    const db = sqlite(gw.gateway.store);
    rows = db.prepare('SELECT incident_id, created_at, camera_id, threat_level, threat_score, weapon_detected, weapon_types, behavior_summary FROM incidents').all() as Raw[];
    expect(rows.length).toBe(N); // the seed's size, not its time (bench/analysis.ts times it)
    labels = db.prepare('SELECT id, incident_id, camera_id, label, created_at FROM labels').all() as typeof labels;
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  });

  const inRange = (r: { created_at: string }, from: string, to: string) => r.created_at >= from && r.created_at < to;

  for (const [name, fromMs, toMs, offset] of [
    ['the last 7 days', END - 7 * DAY, END, 0],
    ['an odd 50-hour range, UTC+5:30', END - 13 * DAY + 1234567, END - 13 * DAY + 1234567 + 50 * 3_600_000, 330],
  ] as const) {
    it(`analysis matches brute force over ${name}`, async () => {
      const from = new Date(fromMs).toISOString();
      const to = new Date(toMs).toISOString();
      const { status, body } = await getAuthed(
        `${gw.httpUrl}/api/analysis?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&utc_offset_min=${offset}`,
      );
      expect(status).toBe(200);
      const sel = rows.filter((r) => inRange(r, from, to));
      expect(sel.length).toBeGreaterThan(1000);
      expect(body.total).toBe(sel.length);
      for (const l of LEVELS) expect(body.levels[l]).toBe(sel.filter((r) => r.threat_level === l).length);
      expect(body.weapons).toBe(sel.filter((r) => r.weapon_detected === 1).length);

      // Previous period of the same length, and the trend.
      const prevFrom = new Date(fromMs - (toMs - fromMs)).toISOString();
      const prev = rows.filter((r) => inRange(r, prevFrom, from));
      expect(body.previous.total).toBe(prev.length);
      const expectedPct = Math.round(((sel.length - prev.length) / prev.length) * 1000) / 10;
      expect(body.trend.total_pct).toBe(expectedPct);

      // Per camera and per zone.
      const days = (toMs - fromMs) / DAY;
      for (const c of body.cameras) {
        const cr = sel.filter((r) => r.camera_id === c.camera_id);
        expect(c.total).toBe(cr.length);
        expect(c.mean_score).toBeCloseTo(cr.reduce((s, r) => s + r.threat_score, 0) / cr.length, 4);
        expect(c.max_score).toBeCloseTo(Math.max(...cr.map((r) => r.threat_score)), 4);
        expect(c.risk_index).toBeCloseTo(cr.reduce((s, r) => s + WEIGHT[r.threat_level], 0) / days, 2);
      }
      expect(body.cameras.length).toBe(new Set(sel.map((r) => r.camera_id)).size);
      const lobby = body.zones.find((z: { zone: string }) => z.zone === 'lobby');
      expect(lobby.total).toBe(sel.filter((r) => r.camera_id === 'cam-1').length);

      // Hour of day (local to the offset).
      const hours = new Array(24).fill(0);
      for (const r of sel) {
        const d = new Date(Date.parse(r.created_at) + offset * 60_000);
        hours[d.getUTCHours()]++;
      }
      expect(body.hour_of_day.hours.map((h: { total: number }) => h.total)).toEqual(hours);

      // False alarms: labels given in the range, an incident's latest label counting.
      const latest = new Map<string, (typeof labels)[number]>();
      for (const l of labels) if (!latest.has(l.incident_id) || latest.get(l.incident_id)!.id < l.id) latest.set(l.incident_id, l);
      const given = labels.filter((l) => inRange(l, from, to) && latest.get(l.incident_id)!.id === l.id);
      expect(body.false_alarms.labelled).toBe(given.length);
      expect(body.false_alarms.false_alarm).toBe(given.filter((l) => l.label === 'false_alarm').length);

      // Behaviours and weapon families.
      const count = (facetsOf: (r: Raw) => string[]) => {
        const m = new Map<string, number>();
        for (const r of sel) for (const f of facetsOf(r)) m.set(f, (m.get(f) ?? 0) + 1);
        return Object.fromEntries(m);
      };
      const asObj = (list: { value: string; count: number }[]) => Object.fromEntries(list.map((b) => [b.value, b.count]));
      expect(asObj(body.behaviours)).toEqual(count((r) => behaviourFacets.get(r.behavior_summary)!));
      expect(asObj(body.weapon_families)).toEqual(count((r) => weaponFacets.get(r.weapon_types)!));
      expect(body.behaviours[0].count).toBeGreaterThanOrEqual(body.behaviours.at(-1).count);
    });
  }

  for (const [bucket, seconds, spanMs] of [
    ['1h', 3600, 3 * DAY],
    ['15m', 900, DAY + 7_000_000],
    ['86400', 86400, 28 * DAY],
  ] as const) {
    it(`timelapse counts per ${bucket} bucket match brute force`, async () => {
      const from = new Date(END - spanMs).toISOString();
      const to = new Date(END).toISOString();
      const { status, body } = await getAuthed(`${gw.httpUrl}/api/timelapse?from=${from}&to=${to}&bucket=${bucket}`);
      expect(status).toBe(200);
      expect(body.bucket_s).toBe(seconds);
      const fromS = Math.floor((END - spanMs) / 1000);
      const expected = body.buckets.map(() => ({ total: 0, levels: { LOW: 0, MEDIUM: 0, HIGH: 0, CRITICAL: 0 } as Record<string, number>, cameras: {} as Record<string, number> }));
      expect(body.buckets.length).toBe(Math.ceil(spanMs / 1000 / seconds));
      for (const r of rows) {
        if (!inRange(r, from, to)) continue;
        const b = expected[Math.floor((Math.floor(Date.parse(r.created_at) / 1000) - fromS) / seconds)]!;
        b.total++;
        b.levels[r.threat_level]!++;
        b.cameras[r.camera_id] = (b.cameras[r.camera_id] ?? 0) + 1;
      }
      body.buckets.forEach((b: { total: number; levels: Record<string, number>; cameras: Record<string, { total: number }> }, i: number) => {
        expect(b.total).toBe(expected[i]!.total);
        expect(b.levels).toEqual(expected[i]!.levels);
        expect(Object.fromEntries(Object.entries(b.cameras).map(([c, v]) => [c, v.total]))).toEqual(expected[i]!.cameras);
      });
    });
  }

  it('reads indexes only (no table scan) for every aggregate', () => {
    const db = sqlite(gw.gateway.store);
    const plan = (sql: string, ...p: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...p) as { detail: string }[]).map((r) => r.detail).join(' | ');
    const a = '2026-02-01T00:00:00.000Z';
    const b = '2026-02-08T00:00:00.000Z';
    expect(plan(`SELECT camera_id, threat_level, count(*) FROM incidents INDEXED BY incidents_ops_range WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2`, a, b)).toMatch(
      /COVERING INDEX incidents_ops_range/,
    );
    expect(plan(`SELECT kind, value, count(*) FROM incident_facets INDEXED BY incident_facets_created WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2`, a, b)).toMatch(
      /COVERING INDEX incident_facets_created/,
    );
    expect(plan(`SELECT count(*) FROM incidents INDEXED BY incidents_level_created WHERE threat_level = ? AND created_at >= ? AND created_at < ?`, 'LOW', a, b)).toMatch(
      /COVERING INDEX incidents_level_created/,
    );
  });

  it('refuses bad ranges and buckets clearly, and needs the token', async () => {
    expect((await fetch(`${gw.httpUrl}/api/analysis`)).status).toBe(401);
    const r1 = await getAuthed(`${gw.httpUrl}/api/timelapse?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`);
    expect(r1.status).toBe(400);
    expect(r1.body.error.details[0].path).toBe('from');
    const r2 = await getAuthed(`${gw.httpUrl}/api/timelapse?bucket=1s&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`);
    expect(r2.status).toBe(400);
    expect(r2.body.error.details[0].path).toBe('bucket');
  });
});
