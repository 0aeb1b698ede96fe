// The read side of site operations: analysis and timelapse aggregates (every figure from
// an indexed SQL aggregate, never rows loaded into JavaScript), active threats per zone,
// the operator's incident status, and the live feed's change log. Migration 6 adds the
// tables and indexes used here.
import type Database from 'better-sqlite3';
import { LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';
import type { Store } from '../store/store.js';

type Zone = GatewayConfig['zones'][number];
type Row = Record<string, unknown>;

/** Weight of each level in the risk index: a CRITICAL counts as much as eight LOWs. */
export const LEVEL_WEIGHT: Record<ThreatLevel, number> = { LOW: 1, MEDIUM: 2, HIGH: 4, CRITICAL: 8 };

export type LevelCounts = Record<ThreatLevel, number>;
const zeroLevels = (): LevelCounts => ({ LOW: 0, MEDIUM: 0, HIGH: 0, CRITICAL: 0 });

export interface CameraRisk {
  camera_id: string;
  zone: string | null;
  total: number;
  levels: LevelCounts;
  weapons: number;
  mean_score: number;
  max_score: number;
  /** Level-weighted incidents per day: (1·LOW + 2·MEDIUM + 4·HIGH + 8·CRITICAL) / days in the range. */
  risk_index: number;
}

export interface ZoneRisk {
  zone: string;
  name: string | null;
  configured_risk: number;
  cameras: string[];
  total: number;
  levels: LevelCounts;
  weapons: number;
  risk_index: number;
}

export interface Analysis {
  from: string;
  to: string;
  previous: { from: string; to: string; total: number; levels: LevelCounts };
  total: number;
  levels: LevelCounts;
  weapons: number;
  /** Change against the previous period of the same length, in percent (null when the previous period had none). */
  trend: { total_pct: number | null; levels: Record<ThreatLevel, number | null> };
  cameras: CameraRisk[];
  zones: ZoneRisk[];
  hour_of_day: { utc_offset_min: number; hours: { hour: number; total: number; levels: LevelCounts }[] };
  false_alarms: {
    labelled: number;
    false_alarm: number;
    confirmed: number;
    rate: number | null;
    cameras: { camera_id: string; labelled: number; false_alarm: number; rate: number }[];
  };
  behaviours: { value: string; count: number }[];
  weapon_families: { value: string; count: number }[];
}

export interface TimelapseBucket {
  t: string;
  total: number;
  levels: LevelCounts;
  cameras: Record<string, LevelCounts & { total: number }>;
}

export interface Timelapse {
  from: string;
  to: string;
  bucket_s: number;
  buckets: TimelapseBucket[];
}

export interface ActiveThreat {
  incident_id: string;
  camera_id: string | null;
  zone: string | null;
  threat_level: ThreatLevel;
  created_at: string;
}

export interface IncidentStatus {
  incident_id: string;
  state: 'acknowledged' | 'resolved';
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  resolved_by: string | null;
  resolved_at: string | null;
  note: string | null;
  updated_at: string;
}

export interface FeedRow {
  seq: number;
  kind: 'incident' | 'action' | 'label' | 'status';
  incident_id: string;
  level: ThreatLevel | null;
  camera_id: string | null;
  data: string;
  at: string;
}

export interface ReplayRow {
  id: number;
  incident_id: string;
  seq: number;
  threat_level: ThreatLevel;
  threat_score: number;
  camera_id: string | null;
  weapon_detected: number;
  behavior_summary: string | null;
  created_at: string;
}

const pct = (now: number, before: number): number | null => (before === 0 ? null : Math.round(((now - before) / before) * 1000) / 10);
const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export class OpsQueries {
  private prepared: Database.Database | null = null;
  private s: Record<string, Database.Statement<unknown[], Row>> = {};
  private readonly zoneOfCamera = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly zones: readonly Zone[],
  ) {
    for (const z of zones) for (const c of z.cameras) if (!this.zoneOfCamera.has(c)) this.zoneOfCamera.set(c, z.id);
  }

  zoneOf(cameraId: string | null): string | null {
    return cameraId === null ? null : (this.zoneOfCamera.get(cameraId) ?? null);
  }

  private get st(): Record<string, Database.Statement<unknown[], Row>> {
    const db = this.store.database;
    if (this.prepared === db) return this.s;
    const p = (sql: string) => db.prepare<unknown[], Row>(sql);
    this.s = {
      // One pass over incidents_ops_range (covering): per camera, level and local hour.
      cameraLevelHour: p(`SELECT coalesce(camera_id, '') AS camera_id, threat_level AS level,
          (((CAST(substr(created_at, 12, 2) AS INTEGER) * 60 + CAST(substr(created_at, 15, 2) AS INTEGER) + CAST(? AS INTEGER)) % 1440 + 1440) % 1440) / 60 AS hour,
          count(*) AS n, sum(threat_score) AS score_sum, max(threat_score) AS score_max, sum(weapon_detected) AS weapons
        FROM incidents INDEXED BY incidents_ops_range WHERE created_at >= ? AND created_at < ?
        GROUP BY 1, 2, 3`),
      levelCount: p(`SELECT count(*) AS n FROM incidents INDEXED BY incidents_level_created
        WHERE threat_level = ? AND created_at >= ? AND created_at < ?`),
      // Labels given in the range; an incident's latest label counts.
      falseAlarms: p(`SELECT coalesce(l.camera_id, '') AS camera_id, l.label AS label, count(*) AS n
        FROM labels l INDEXED BY labels_created
        WHERE l.created_at >= ? AND l.created_at < ?
          AND NOT EXISTS (SELECT 1 FROM labels l2 WHERE l2.incident_id = l.incident_id AND l2.id > l.id)
        GROUP BY 1, 2`),
      facets: p(`SELECT kind, value, count(*) AS n FROM incident_facets INDEXED BY incident_facets_created
        WHERE created_at >= ? AND created_at < ? GROUP BY kind, value ORDER BY n DESC, value`),
      timelapse: p(`SELECT (unixepoch(created_at) - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, coalesce(camera_id, '') AS camera_id, threat_level AS level, count(*) AS n
        FROM incidents INDEXED BY incidents_ops_range WHERE created_at >= ? AND created_at < ?
        GROUP BY 1, 2, 3`),
      active: p(`SELECT i.incident_id, i.camera_id, i.threat_level, i.created_at FROM incidents i INDEXED BY incidents_level_created
        WHERE i.threat_level = ? AND i.created_at >= ?
          AND NOT EXISTS (SELECT 1 FROM incident_status s WHERE s.incident_id = i.incident_id AND s.state = 'resolved')
        ORDER BY i.created_at DESC LIMIT 1000`),
      statusGet: p(`SELECT incident_id, state, acknowledged_by, acknowledged_at, resolved_by, resolved_at, note, updated_at
        FROM incident_status WHERE incident_id = ?`),
      statusAck: p(`INSERT INTO incident_status (incident_id, state, acknowledged_by, acknowledged_at, note, updated_at)
        VALUES (?, 'acknowledged', ?, ?, ?, ?)
        ON CONFLICT (incident_id) DO UPDATE SET acknowledged_by = coalesce(acknowledged_by, excluded.acknowledged_by),
          acknowledged_at = coalesce(acknowledged_at, excluded.acknowledged_at), note = coalesce(excluded.note, note),
          updated_at = excluded.updated_at`),
      statusResolve: p(`INSERT INTO incident_status (incident_id, state, acknowledged_by, acknowledged_at, resolved_by, resolved_at, note, updated_at)
        VALUES (?, 'resolved', ?, ?, ?, ?, ?, ?)
        ON CONFLICT (incident_id) DO UPDATE SET state = 'resolved',
          acknowledged_by = coalesce(acknowledged_by, excluded.acknowledged_by), acknowledged_at = coalesce(acknowledged_at, excluded.acknowledged_at),
          resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at, note = coalesce(excluded.note, note),
          updated_at = excluded.updated_at`),
      incidentExists: p('SELECT 1 AS x FROM incidents WHERE incident_id = ?'),
      feedAfter: p('SELECT seq, kind, incident_id, level, camera_id, data, at FROM ops_feed WHERE seq > ? ORDER BY seq LIMIT ?'),
      feedBounds: p('SELECT coalesce(min(seq), 0) AS oldest, coalesce(max(seq), 0) AS head FROM ops_feed'),
      feedHead: p('SELECT coalesce(max(seq), 0) AS head FROM ops_feed'),
      feedPrune: p('DELETE FROM ops_feed WHERE seq IN (SELECT seq FROM ops_feed WHERE seq <= ? ORDER BY seq LIMIT ?)'),
      replayPage: p(`SELECT id, incident_id, seq, threat_level, threat_score, camera_id, weapon_detected, behavior_summary, created_at
        FROM incidents INDEXED BY incidents_created
        WHERE (created_at, id) > (?, ?) AND created_at < ?
        ORDER BY created_at, id LIMIT ?`),
    };
    this.prepared = db;
    return this.s;
  }

  // ------------------------------------------------------------------ analysis

  analysis(fromIso: string, toIso: string, utcOffsetMin = 0): Analysis {
    const s = this.st;
    const fromMs = Date.parse(fromIso);
    const toMs = Date.parse(toIso);
    const prevFrom = new Date(fromMs - (toMs - fromMs)).toISOString();
    const days = Math.max((toMs - fromMs) / 86_400_000, 1 / 1440);

    const cameras = new Map<string, CameraRisk & { score_sum: number }>();
    const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, total: 0, levels: zeroLevels() }));
    const levels = zeroLevels();
    let total = 0;
    let weapons = 0;
    for (const r of s.cameraLevelHour!.all(utcOffsetMin, fromIso, toIso) as {
      camera_id: string;
      level: ThreatLevel;
      hour: number;
      n: number;
      score_sum: number;
      score_max: number;
      weapons: number;
    }[]) {
      let c = cameras.get(r.camera_id);
      if (!c) {
        c = {
          camera_id: r.camera_id,
          zone: this.zoneOf(r.camera_id || null),
          total: 0,
          levels: zeroLevels(),
          weapons: 0,
          mean_score: 0,
          max_score: 0,
          risk_index: 0,
          score_sum: 0,
        };
        cameras.set(r.camera_id, c);
      }
      c.total += r.n;
      c.levels[r.level] += r.n;
      c.weapons += r.weapons;
      c.score_sum += r.score_sum;
      c.max_score = Math.max(c.max_score, r.score_max);
      const h = hours[r.hour]!;
      h.total += r.n;
      h.levels[r.level] += r.n;
      levels[r.level] += r.n;
      total += r.n;
      weapons += r.weapons;
    }
    const riskIndex = (l: LevelCounts) => round(LEVELS.reduce((sum, level) => sum + LEVEL_WEIGHT[level] * l[level], 0) / days, 3);
    const cameraList: CameraRisk[] = [...cameras.values()]
      .map(({ score_sum, ...c }) => ({ ...c, mean_score: round(score_sum / c.total), max_score: round(c.max_score), risk_index: riskIndex(c.levels) }))
      .sort((a, b) => b.risk_index - a.risk_index || a.camera_id.localeCompare(b.camera_id));

    const zones: ZoneRisk[] = this.zones.map((z) => {
      const zl = zeroLevels();
      let zt = 0;
      let zw = 0;
      for (const c of cameraList) {
        if (c.zone !== z.id) continue;
        zt += c.total;
        zw += c.weapons;
        for (const level of LEVELS) zl[level] += c.levels[level];
      }
      return { zone: z.id, name: z.name ?? null, configured_risk: z.risk, cameras: [...z.cameras], total: zt, levels: zl, weapons: zw, risk_index: riskIndex(zl) };
    });
    zones.sort((a, b) => b.risk_index - a.risk_index || a.zone.localeCompare(b.zone));

    const prevLevels = zeroLevels();
    let prevTotal = 0;
    for (const level of LEVELS) {
      const n = (s.levelCount!.get(level, prevFrom, fromIso) as { n: number }).n;
      prevLevels[level] = n;
      prevTotal += n;
    }

    const fa = { labelled: 0, false_alarm: 0, confirmed: 0, rate: null as number | null, cameras: [] as Analysis['false_alarms']['cameras'] };
    const perCamera = new Map<string, { labelled: number; false_alarm: number }>();
    for (const r of s.falseAlarms!.all(fromIso, toIso) as { camera_id: string; label: string; n: number }[]) {
      const c = perCamera.get(r.camera_id) ?? { labelled: 0, false_alarm: 0 };
      c.labelled += r.n;
      fa.labelled += r.n;
      if (r.label === 'false_alarm') {
        c.false_alarm += r.n;
        fa.false_alarm += r.n;
      } else fa.confirmed += r.n;
      perCamera.set(r.camera_id, c);
    }
    fa.rate = fa.labelled ? round(fa.false_alarm / fa.labelled) : null;
    fa.cameras = [...perCamera.entries()]
      .map(([camera_id, c]) => ({ camera_id, ...c, rate: round(c.false_alarm / c.labelled) }))
      .sort((a, b) => b.rate - a.rate || a.camera_id.localeCompare(b.camera_id));

    const behaviours: Analysis['behaviours'] = [];
    const weaponFamilies: Analysis['weapon_families'] = [];
    for (const r of s.facets!.all(fromIso, toIso) as { kind: string; value: string; n: number }[]) {
      (r.kind === 'behaviour' ? behaviours : weaponFamilies).push({ value: r.value, count: r.n });
    }

    return {
      from: fromIso,
      to: toIso,
      previous: { from: prevFrom, to: fromIso, total: prevTotal, levels: prevLevels },
      total,
      levels,
      weapons,
      trend: {
        total_pct: pct(total, prevTotal),
        levels: Object.fromEntries(LEVELS.map((l) => [l, pct(levels[l], prevLevels[l])])) as Record<ThreatLevel, number | null>,
      },
      cameras: cameraList,
      zones,
      hour_of_day: { utc_offset_min: utcOffsetMin, hours },
      false_alarms: fa,
      behaviours,
      weapon_families: weaponFamilies,
    };
  }

  /** Counts per bucket (aligned to `from`) by level and camera. */
  timelapse(fromIso: string, toIso: string, bucketS: number): Timelapse {
    const fromMs = Date.parse(fromIso);
    const toMs = Date.parse(toIso);
    const fromS = Math.floor(fromMs / 1000);
    const n = Math.ceil((toMs - fromMs) / 1000 / bucketS);
    const buckets: TimelapseBucket[] = Array.from({ length: n }, (_, i) => ({
      t: new Date((fromS + i * bucketS) * 1000).toISOString(),
      total: 0,
      levels: zeroLevels(),
      cameras: {},
    }));
    for (const r of this.st.timelapse!.all(fromS, bucketS, fromIso, toIso) as { b: number; camera_id: string; level: ThreatLevel; n: number }[]) {
      const b = buckets[Math.min(Math.max(r.b, 0), n - 1)]!;
      b.total += r.n;
      b.levels[r.level] += r.n;
      const c = (b.cameras[r.camera_id] ??= { total: 0, ...zeroLevels() });
      c.total += r.n;
      c[r.level] += r.n;
    }
    return { from: fromIso, to: toIso, bucket_s: bucketS, buckets };
  }

  // ------------------------------------------------------------------ active threats

  /** Unresolved incidents received within the window, at the given levels, newest first. */
  activeThreats(windowS: number, levels: readonly ThreatLevel[] = ['CRITICAL', 'HIGH'], now = Date.now()): ActiveThreat[] {
    const since = new Date(now - windowS * 1000).toISOString();
    const out: ActiveThreat[] = [];
    for (const level of levels) {
      for (const r of this.st.active!.all(level, since) as { incident_id: string; camera_id: string | null; threat_level: ThreatLevel; created_at: string }[]) {
        out.push({ ...r, zone: this.zoneOf(r.camera_id) });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ incident status

  incidentExists(incidentId: string): boolean {
    return this.st.incidentExists!.get(incidentId) !== undefined;
  }

  status(incidentId: string): IncidentStatus | null {
    return (this.st.statusGet!.get(incidentId) as IncidentStatus | undefined) ?? null;
  }

  /** Acknowledges (idempotent: the first acknowledgement's operator and time are kept). */
  acknowledge(incidentId: string, by: string, note: string | null, at = new Date()): IncidentStatus {
    const iso = at.toISOString();
    this.st.statusAck!.run(incidentId, by, iso, note, iso);
    return this.status(incidentId)!;
  }

  resolve(incidentId: string, by: string, note: string | null, at = new Date()): IncidentStatus {
    const iso = at.toISOString();
    this.st.statusResolve!.run(incidentId, by, iso, by, iso, note, iso);
    return this.status(incidentId)!;
  }

  // ------------------------------------------------------------------ live feed

  feedAfter(seq: number, limit: number): FeedRow[] {
    return this.st.feedAfter!.all(seq, limit) as unknown as FeedRow[];
  }

  feedBounds(): { oldest: number; head: number } {
    return this.st.feedBounds!.get() as { oldest: number; head: number };
  }

  feedHead(): number {
    return (this.st.feedHead!.get() as { head: number }).head;
  }

  /** Deletes up to `chunk` feed rows at or below `uptoSeq`; returns how many went. */
  pruneFeed(uptoSeq: number, chunk: number): number {
    return this.st.feedPrune!.run(uptoSeq, chunk).changes;
  }

  /** Incidents in (created_at, id) order after a keyset cursor, for the timelapse replay. */
  replayPage(after: { createdAt: string; id: number }, toIso: string, limit: number): ReplayRow[] {
    return this.st.replayPage!.all(after.createdAt, after.id, toIso, limit) as unknown as ReplayRow[];
  }
}
