// Incidents (migration 1): the commit stage's batch write and the query side. Counters for
// /statistics are kept by triggers (triggers.ts); facets and outbox entries are written by
// the commit transaction itself.
import type Database from 'better-sqlite3';
import { LEVELS, type IncidentSource, type ThreatLevel } from '../config/schema.js';
import type { ActionRepository } from './actions.js';
import { FacetWriter } from './facets.js';
import type { OutboxRepository } from './outbox.js';
import { Repository, type Db } from './repository.js';
import type {
  CommitResult,
  IncidentDraft,
  IncidentFilter,
  IncidentSummary,
  LevelCounts,
  PlannedAction,
  Statistics,
  StoredIncident,
} from './types.js';

type Row = Record<string, unknown>;

const INCIDENT_COLUMNS = `id, incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score,
  model_version, model_probability, model_level, people_count, weapon_detected, weapon_types, behavior_summary, is_critical, full_telemetry,
  extra_fields, camera_id, source, source_key, source_ref, content_hash, status, action_taken, response_time_ms, created_at, updated_at`;

const SUMMARY_COLUMNS = `incident_id, seq, timestamp, threat_level, threat_score, reported_level, camera_id,
  weapon_detected, action_taken, source, created_at`;

/** The re-scorer's priming query: a range scan of incidents_created (test/scoring-gateway.test.ts checks the plan). */
export const PRIME_INCIDENTS_SQL = `SELECT incident_id, camera_id, reported_level, received_at_ms FROM incidents
  WHERE created_at >= ? ORDER BY created_at, id`;

export interface RecentReport {
  incident_id: string;
  camera_id: string | null;
  reported_level: ThreatLevel;
  received_at_ms: number;
}

function toIncident(row: Row): StoredIncident {
  return {
    id: row.id as number,
    incident_id: row.incident_id as string,
    seq: row.seq as number,
    timestamp: row.timestamp as string,
    threat_level: row.threat_level as ThreatLevel,
    threat_score: row.threat_score as number,
    reported_level: row.reported_level as ThreatLevel,
    reported_score: row.reported_score as number,
    model_version: (row.model_version as string | null) ?? null,
    model_probability: (row.model_probability as number | null) ?? null,
    model_level: (row.model_level as ThreatLevel | null) ?? null,
    people_count: (row.people_count as number | null) ?? null,
    weapon_detected: row.weapon_detected === 1,
    weapon_types: row.weapon_types as string,
    behavior_summary: (row.behavior_summary as string | null) ?? null,
    is_critical: row.is_critical === 1,
    full_telemetry: row.full_telemetry ? (JSON.parse(row.full_telemetry as string) as Record<string, unknown>) : null,
    camera_id: (row.camera_id as string | null) ?? null,
    source: row.source as IncidentSource,
    source_key: (row.source_key as string | null) ?? null,
    source_ref: row.source_ref ? (JSON.parse(row.source_ref as string) as Record<string, unknown>) : null,
    status: row.status as string,
    action_taken: (row.action_taken as string | null) ?? null,
    response_time_ms: (row.response_time_ms as number | null) ?? null,
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
  };
}

function toSummary(row: Row): IncidentSummary {
  return { ...(row as unknown as IncidentSummary), weapon_detected: row.weapon_detected === 1 };
}

const emptyCounts = (): LevelCounts => ({ count_LOW: 0, count_MEDIUM: 0, count_HIGH: 0, count_CRITICAL: 0 });

function prepare(db: Db) {
  return {
    maxSeq: db.prepare<[], { s: number | null }>('SELECT max(seq) AS s FROM incidents'),
    seqFloor: db.prepare<[], { s: number }>("SELECT seq AS s FROM seq_floor WHERE name = 'incidents'"),
    byId: db.prepare<[string], Row>(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE incident_id = ?`),
    exists: db.prepare<[string], { x: number }>('SELECT 1 AS x FROM incidents WHERE incident_id = ?'),
    insert: db.prepare<[Row]>(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level,
        reported_score, model_version, model_probability, model_level, people_count, weapon_detected, weapon_types, behavior_summary, is_critical,
        full_telemetry, extra_fields, camera_id, source, source_key, source_ref, content_hash, action_taken, received_at_ms,
        created_at, updated_at)
      VALUES (@incident_id, @seq, @timestamp, @threat_level, @threat_score, @reported_level, @reported_score,
        @model_version, @model_probability, @model_level, @people_count, @weapon_detected, @weapon_types, @behavior_summary, @is_critical,
        @full_telemetry, @extra_fields, @camera_id, @source, @source_key, @source_ref, @content_hash, @action_taken, @received_at_ms,
        @created_at, @created_at)`),
    counts: db.prepare<[], { camera_id: string; threat_level: ThreatLevel; total: number; weapons: number; critical: number }>(
      'SELECT camera_id, threat_level, total, weapons, critical FROM incident_counts WHERE total > 0',
    ),
    sourceCounts: db.prepare<[], { source: IncidentSource; camera_id: string; threat_level: ThreatLevel; total: number; weapons: number; critical: number }>(
      'SELECT source, camera_id, threat_level, total, weapons, critical FROM incident_source_counts WHERE total > 0',
    ),
    sinceSource: db.prepare<[IncidentSource, ThreatLevel, string], { n: number }>(
      'SELECT count(*) AS n FROM incidents INDEXED BY incidents_source_level_created WHERE source = ? AND threat_level = ? AND created_at >= ?',
    ),
    related: db.prepare<[IncidentSource, string], { incident_id: string; seq: number; threat_level: ThreatLevel; created_at: string }>(
      `SELECT incident_id, seq, threat_level, created_at FROM incidents INDEXED BY incidents_source_key
       WHERE source = ? AND source_key = ? ORDER BY seq LIMIT 100`,
    ),
    since: db.prepare<[ThreatLevel, string], { n: number }>('SELECT count(*) AS n FROM incidents WHERE threat_level = ? AND created_at >= ?'),
    recent: db.prepare<[string], RecentReport>(PRIME_INCIDENTS_SQL),
    facets: new FacetWriter(db),
  };
}

export class IncidentRepository extends Repository<ReturnType<typeof prepare>> {
  private nextSeq = 1;
  /** List queries differ only by which filters are set: at most 16 shapes, each prepared once. */
  private readonly listStmts = new Map<string, Database.Statement<unknown[], Row>>();

  constructor(
    private readonly outbox: OutboxRepository,
    private readonly actions: ActionRepository,
  ) {
    super();
  }

  protected prepare(db: Db) {
    this.listStmts.clear();
    const s = prepare(db);
    // Past a raised floor too (src/store/high-water.ts): a seq lost with a damaged WAL is never given again.
    this.nextSeq = Math.max(s.maxSeq.get()!.s ?? 0, s.seqFloor.get()?.s ?? 0) + 1;
    return s;
  }

  /** The highest seq ever committed here (its floor included). */
  get highestSeq(): number {
    return this.nextSeq - 1;
  }

  /** Gives out only seqs above `seq` from now on (the caller persists the floor in seq_floor). */
  raiseSeq(seq: number): void {
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
  }

  /** The seq the next stored incident gets. */
  get seq(): number {
    return this.nextSeq;
  }

  /**
   * Writes a batch of incidents and their actions in ONE transaction (one fsync),
   * returning a result per draft, in order. A repeated incident_id with the same
   * content is a duplicate; with other content, a conflict. Nothing is written for either.
   */
  commitBatch(drafts: IncidentDraft[]): CommitResult[] {
    const startSeq = this.nextSeq;
    try {
      return this.tx(() => drafts.map((d) => this.commitOne(d)));
    } catch (err) {
      this.nextSeq = startSeq; // the transaction rolled back, so did its seqs
      throw err;
    }
  }

  private commitOne(d: IncidentDraft): CommitResult {
    const s = this.st;
    const existing = s.byId.get(d.incidentId);
    if (existing) {
      const incident = toIncident(existing);
      if (existing.content_hash === d.contentHash) {
        return { kind: 'duplicate', incident, actions: this.actions.forIncident(d.incidentId) };
      }
      return { kind: 'conflict', incident };
    }
    const now = new Date(d.receivedAtMs).toISOString();
    const seq = this.nextSeq++;
    const info = s.insert.run({
      incident_id: d.incidentId,
      seq,
      timestamp: d.timestamp,
      threat_level: d.level,
      threat_score: d.score,
      reported_level: d.reportedLevel,
      reported_score: d.reportedScore,
      model_version: d.modelVersion,
      model_probability: d.modelProbability ?? null,
      model_level: d.modelLevel ?? null,
      people_count: d.peopleCount,
      weapon_detected: d.weaponDetected ? 1 : 0,
      weapon_types: JSON.stringify(d.weaponTypes),
      behavior_summary: d.behaviorSummary,
      is_critical: d.isCritical ? 1 : 0,
      full_telemetry: d.fullTelemetry ? JSON.stringify(d.fullTelemetry) : null,
      extra_fields: d.extraFields ? JSON.stringify(d.extraFields) : null,
      camera_id: d.cameraId,
      source: d.source,
      source_key: d.sourceKey ?? null,
      source_ref: d.sourceRef ? JSON.stringify(d.sourceRef) : null,
      content_hash: d.contentHash,
      action_taken: d.actionTaken,
      received_at_ms: d.receivedAtMs,
      created_at: now,
    });
    this.outbox.enqueueIncident(d.incidentId, d.level, d.cameraId, d.receivedAtMs);
    s.facets.write(d.incidentId, now, d.behaviorSummary, d.weaponTypes);
    const actions: PlannedAction[] = d.actions.map((a) => this.actions.insertPlanned(d.incidentId, a.type, a.description, now));
    const incident: StoredIncident = {
      id: Number(info.lastInsertRowid),
      incident_id: d.incidentId,
      seq,
      timestamp: d.timestamp,
      threat_level: d.level,
      threat_score: d.score,
      reported_level: d.reportedLevel,
      reported_score: d.reportedScore,
      model_version: d.modelVersion,
      model_probability: d.modelProbability ?? null,
      model_level: d.modelLevel ?? null,
      people_count: d.peopleCount,
      weapon_detected: d.weaponDetected,
      weapon_types: JSON.stringify(d.weaponTypes),
      behavior_summary: d.behaviorSummary,
      is_critical: d.isCritical,
      full_telemetry: d.fullTelemetry,
      camera_id: d.cameraId,
      source: d.source,
      source_key: d.sourceKey ?? null,
      source_ref: d.sourceRef ?? null,
      status: 'logged',
      action_taken: d.actionTaken,
      response_time_ms: null,
      created_at: now,
      updated_at: now,
    };
    return { kind: 'stored', incident, actions };
  }

  get(incidentId: string): StoredIncident | null {
    const row = this.st.byId.get(incidentId);
    return row ? toIncident(row) : null;
  }

  exists(incidentId: string): boolean {
    return this.st.exists.get(incidentId) !== undefined;
  }

  /** Newest first. Each filter combination is served by an index on (filter, created_at). */
  list(filter: IncidentFilter): IncidentSummary[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.threat_level) {
      where.push('threat_level = ?');
      params.push(filter.threat_level);
    }
    if (filter.camera_id) {
      where.push('camera_id = ?');
      params.push(filter.camera_id);
    }
    if (filter.source?.length) {
      where.push(`source IN (${filter.source.map(() => '?').join(', ')})`);
      params.push(...filter.source);
    }
    if (filter.since) {
      where.push('created_at >= ?');
      params.push(filter.since);
    }
    if (filter.until) {
      where.push('created_at <= ?');
      params.push(filter.until);
    }
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT ?`;
    params.push(filter.limit);
    let stmt = this.listStmts.get(sql);
    if (!stmt) this.listStmts.set(sql, (stmt = this.db.prepare<unknown[], Row>(sql)));
    return stmt.all(...params).map(toSummary);
  }

  /**
   * Totals, per camera, per source and the last 24 h, from the trigger-kept counters. With
   * `sources`, only incidents of those sources count (incident_source_counts).
   */
  statistics(now = Date.now(), sources?: readonly IncidentSource[]): Statistics {
    const stats: Statistics = {
      total_incidents: 0,
      ...emptyCounts(),
      weapons_detected: 0,
      critical_incidents: 0,
      per_camera: {},
      per_source: {},
      last_24h: { total_incidents: 0, ...emptyCounts(), since: new Date(now - 24 * 3600 * 1000).toISOString() },
    };
    const group = () => ({ total_incidents: 0, ...emptyCounts(), weapons_detected: 0 });
    const add = (row: { camera_id: string; threat_level: ThreatLevel; total: number; weapons: number; critical: number }) => {
      const key = `count_${row.threat_level}` as const;
      stats.total_incidents += row.total;
      stats[key] += row.total;
      stats.weapons_detected += row.weapons;
      stats.critical_incidents += row.critical;
      const camera = (stats.per_camera[row.camera_id || 'unknown'] ??= group());
      camera.total_incidents += row.total;
      camera[key] += row.total;
      camera.weapons_detected += row.weapons;
    };
    if (!sources) for (const row of this.st.counts.all()) add(row);
    for (const row of this.st.sourceCounts.all()) {
      if (sources && !sources.includes(row.source)) continue;
      if (sources) add(row);
      const g = (stats.per_source[row.source] ??= group());
      g.total_incidents += row.total;
      g[`count_${row.threat_level}`] += row.total;
      g.weapons_detected += row.weapons;
    }
    for (const level of LEVELS) {
      const n = sources
        ? sources.reduce((sum, source) => sum + this.st.sinceSource.get(source, level, stats.last_24h.since)!.n, 0)
        : this.st.since.get(level, stats.last_24h.since)!.n;
      stats.last_24h[`count_${level}`] = n;
      stats.last_24h.total_incidents += n;
    }
    return stats;
  }

  /** Incidents with the same source id (a Frigate review's incident and its follow-ups), oldest first. */
  related(source: IncidentSource, sourceKey: string): { incident_id: string; seq: number; threat_level: ThreatLevel; created_at: string }[] {
    return this.st.related.all(source, sourceKey);
  }

  /** Reports received since `sinceIso`, oldest first (index incidents_created). */
  recentReports(sinceIso: string): RecentReport[] {
    return this.st.recent.all(sinceIso);
  }
}
