// The read side of site operations: analysis and timelapse aggregates (every figure from
// an indexed SQL aggregate in src/store/operations.ts, never rows loaded into JavaScript),
// active threats per zone, the operator's incident status, and the live feed's change log.
import { LEVELS, type GatewayConfig, type IncidentSource, type ThreatLevel } from '../config/schema.js';
import type { AcknowledgeResult, FeedRow, IncidentStatus, OperationsRepository, ReplayRow } from '../store/operations.js';
import type { Store } from '../store/store.js';

type Zone = GatewayConfig['zones'][number];

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
  /** The sources counted (null: all). */
  source_filter: IncidentSource[] | null;
  /** Per report source (threat_cv over mqtt or http, frigate, onvif). */
  sources: { source: IncidentSource; total: number; levels: LevelCounts; weapons: number }[];
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
  source_filter: IncidentSource[] | null;
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

const pct = (now: number, before: number): number | null => (before === 0 ? null : Math.round(((now - before) / before) * 1000) / 10);
const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export class OpsQueries {
  private readonly rows: OperationsRepository;
  private readonly zoneOfCamera = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly zones: readonly Zone[],
  ) {
    for (const z of zones) for (const c of z.cameras) if (!this.zoneOfCamera.has(c)) this.zoneOfCamera.set(c, z.id);
    this.rows = store.operations;
  }

  zoneOf(cameraId: string | null): string | null {
    return cameraId === null ? null : (this.zoneOfCamera.get(cameraId) ?? null);
  }

  // ------------------------------------------------------------------ analysis

  analysis(fromIso: string, toIso: string, utcOffsetMin = 0, sourceFilter?: readonly IncidentSource[]): Analysis {
    const fromMs = Date.parse(fromIso);
    const toMs = Date.parse(toIso);
    const prevFrom = new Date(fromMs - (toMs - fromMs)).toISOString();
    const days = Math.max((toMs - fromMs) / 86_400_000, 1 / 1440);

    const cameras = new Map<string, CameraRisk & { score_sum: number }>();
    const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, total: 0, levels: zeroLevels() }));
    const levels = zeroLevels();
    let total = 0;
    let weapons = 0;
    const bySource = new Map<IncidentSource, Analysis['sources'][number]>();
    for (const r of this.rows.cameraLevelHour(utcOffsetMin, fromIso, toIso, sourceFilter)) {
      let s = bySource.get(r.source);
      if (!s) bySource.set(r.source, (s = { source: r.source, total: 0, levels: zeroLevels(), weapons: 0 }));
      s.total += r.n;
      s.levels[r.level] += r.n;
      s.weapons += r.weapons;
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
      const n = this.rows.levelCount(level, prevFrom, fromIso, sourceFilter);
      prevLevels[level] = n;
      prevTotal += n;
    }

    const fa = { labelled: 0, false_alarm: 0, confirmed: 0, rate: null as number | null, cameras: [] as Analysis['false_alarms']['cameras'] };
    const perCamera = new Map<string, { labelled: number; false_alarm: number }>();
    for (const r of this.rows.latestLabels(fromIso, toIso, sourceFilter)) {
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
    for (const r of this.rows.facets(fromIso, toIso, sourceFilter)) {
      (r.kind === 'behaviour' ? behaviours : weaponFamilies).push({ value: r.value, count: r.n });
    }

    return {
      from: fromIso,
      to: toIso,
      source_filter: sourceFilter ? [...sourceFilter] : null,
      sources: [...bySource.values()].sort((a, b) => b.total - a.total || a.source.localeCompare(b.source)),
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
  timelapse(fromIso: string, toIso: string, bucketS: number, sourceFilter?: readonly IncidentSource[]): Timelapse {
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
    for (const r of this.rows.timelapse(fromS, bucketS, fromIso, toIso, sourceFilter)) {
      const b = buckets[Math.min(Math.max(r.b, 0), n - 1)]!;
      b.total += r.n;
      b.levels[r.level] += r.n;
      const c = (b.cameras[r.camera_id] ??= { total: 0, ...zeroLevels() });
      c.total += r.n;
      c[r.level] += r.n;
    }
    return { from: fromIso, to: toIso, source_filter: sourceFilter ? [...sourceFilter] : null, bucket_s: bucketS, buckets };
  }

  // ------------------------------------------------------------------ active threats

  /** Unresolved incidents received within the window, at the given levels, newest first. */
  activeThreats(windowS: number, levels: readonly ThreatLevel[] = ['CRITICAL', 'HIGH'], now = Date.now()): ActiveThreat[] {
    const since = new Date(now - windowS * 1000).toISOString();
    const out: ActiveThreat[] = [];
    for (const level of levels) {
      for (const r of this.rows.unresolved(level, since)) {
        out.push({ ...r, zone: this.zoneOf(r.camera_id) });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ incident status

  incidentExists(incidentId: string): boolean {
    return this.store.incidents.exists(incidentId);
  }

  status(incidentId: string): IncidentStatus | null {
    return this.rows.status(incidentId);
  }

  /** Acknowledges (idempotent: the first acknowledgement's operator, channel and time are kept); stops the escalation. */
  acknowledge(incidentId: string, by: string, note: string | null, via = 'api', at = new Date()): AcknowledgeResult {
    return this.rows.acknowledge({ incidentId, by, note, via, atIso: at.toISOString() });
  }

  resolve(incidentId: string, by: string, note: string | null, via = 'api', at = new Date()): AcknowledgeResult {
    return this.rows.resolve({ incidentId, by, note, via, atIso: at.toISOString() });
  }

  // ------------------------------------------------------------------ live feed

  feedAfter(seq: number, limit: number): FeedRow[] {
    return this.rows.feedAfter(seq, limit);
  }

  feedBounds(): { oldest: number; head: number } {
    return this.rows.feedBounds();
  }

  feedHead(): number {
    return this.rows.feedHead();
  }

  /** Deletes up to `chunk` feed rows at or below `uptoSeq`; returns how many went. */
  pruneFeed(uptoSeq: number, chunk: number): number {
    return this.rows.pruneFeed(uptoSeq, chunk);
  }

  /** Incidents in (created_at, id) order after a keyset cursor, for the timelapse replay. */
  replayPage(after: { createdAt: string; id: number }, toIso: string, limit: number): ReplayRow[] {
    return this.rows.replayPage(after, toIso, limit);
  }
}
