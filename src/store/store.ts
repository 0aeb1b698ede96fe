// The "commit" stage and the query side: SQLite through better-sqlite3, WAL with
// synchronous=FULL, so an acknowledged report survives a power cut.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { LEVELS, type ThreatLevel } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { FacetWriter } from './facets.js';
import { MIGRATIONS } from './migrations.js';
import { checkDatabaseFile } from './integrity.js';
import { Outbox, type EnqueueOptions, type OutboxKind } from '../sync/outbox.js';
import type {
  AlertRow,
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
type Statement = Database.Statement<unknown[], Row>;

export class StoreOpenError extends Error {
  constructor(
    readonly file: string,
    cause: Error,
  ) {
    super(
      `cannot open the database ${file}: ${cause.message}. ` +
        'If the file is damaged, stop the gateway, move it (and its -wal/-shm files) aside as evidence, ' +
        'and restore a backup or start with an empty data_dir.',
    );
    this.name = 'StoreOpenError';
  }
}

const INCIDENT_COLUMNS = `id, incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score,
  model_version, people_count, weapon_detected, weapon_types, behavior_summary, is_critical, full_telemetry,
  extra_fields, camera_id, source, content_hash, status, action_taken, response_time_ms, created_at, updated_at`;

const SUMMARY_COLUMNS = `incident_id, seq, timestamp, threat_level, threat_score, reported_level, camera_id,
  weapon_detected, action_taken, created_at`;

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
    people_count: (row.people_count as number | null) ?? null,
    weapon_detected: row.weapon_detected === 1,
    weapon_types: row.weapon_types as string,
    behavior_summary: (row.behavior_summary as string | null) ?? null,
    is_critical: row.is_critical === 1,
    full_telemetry: row.full_telemetry ? (JSON.parse(row.full_telemetry as string) as Record<string, unknown>) : null,
    camera_id: (row.camera_id as string | null) ?? null,
    source: row.source as 'mqtt' | 'http',
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

export class Store {
  private db: Database.Database | null = null;
  private nextSeq = 1;
  private stmts: Record<string, Statement> = {};
  private facets: FacetWriter | null = null;
  /** List queries differ only by which filters are set: at most 16 shapes, each prepared once. */
  private readonly listStmts = new Map<string, Statement>();
  readonly file: string;
  /** Upstream sync entries, written inside the same transactions as the changes they announce. */
  readonly outbox = new Outbox();

  constructor(
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.file = join(resolve(dataDir), 'safesphere.db');
  }

  async start(): Promise<void> {
    mkdirSync(join(this.file, '..'), { recursive: true });
    // A damaged or partial file is refused, never opened for writing (nor recreated over the evidence).
    const check = await checkDatabaseFile(this.file, 20_000);
    if (check.status === 'corrupt') throw new StoreOpenError(this.file, new Error(`integrity check failed: ${check.problems.slice(0, 3).join('; ')}`));
    if (check.status === 'timeout') this.log.warn({ file: this.file, ms: Math.round(check.ms) }, 'database quick_check did not finish in time; opening without it');
    else if (check.status === 'ok') this.log.info({ file: this.file, ms: Math.round(check.ms) }, 'database quick_check ok');
    let db: Database.Database;
    try {
      db = new Database(this.file);
      db.pragma('journal_mode = WAL');
      // FULL: the WAL is fsynced at every commit, so a power cut loses nothing acknowledged.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.pragma('cache_size = -16000');
      db.pragma('temp_store = MEMORY');
      this.migrate(db);
    } catch (err) {
      throw new StoreOpenError(this.file, err as Error);
    }
    this.db = db;
    this.prepare(db);
    this.outbox.attach(db);
    this.facets = new FacetWriter(db);
    this.nextSeq = ((this.stmts.maxSeq!.get() as { s: number | null }).s ?? 0) + 1;
    this.log.info({ file: this.file, nextSeq: this.nextSeq }, 'store opened');
  }

  async stop(): Promise<void> {
    if (!this.db) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint at close failed');
    }
    this.outbox.detach();
    this.db.close();
    this.db = null;
    this.listStmts.clear();
  }

  get isOpen(): boolean {
    return this.db !== null && this.db.open;
  }

  /** The raw handle, for components that add their own tables through migrations. */
  get database(): Database.Database {
    if (!this.db) throw new Error('store is not started');
    return this.db;
  }

  private migrate(db: Database.Database): void {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
    );
    for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.transaction(() => {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          m.version,
          m.name,
          new Date().toISOString(),
        );
      })();
      this.log.info({ version: m.version, name: m.name }, 'migration applied');
    }
  }

  private prepare(db: Database.Database): void {
    const p = (sql: string) => db.prepare<unknown[], Row>(sql);
    this.stmts = {
      maxSeq: p('SELECT max(seq) AS s FROM incidents'),
      byId: p(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE incident_id = ?`),
      insertIncident: p(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level,
          reported_score, model_version, people_count, weapon_detected, weapon_types, behavior_summary, is_critical,
          full_telemetry, extra_fields, camera_id, source, content_hash, action_taken, received_at_ms, created_at, updated_at)
        VALUES (@incident_id, @seq, @timestamp, @threat_level, @threat_score, @reported_level, @reported_score,
          @model_version, @people_count, @weapon_detected, @weapon_types, @behavior_summary, @is_critical,
          @full_telemetry, @extra_fields, @camera_id, @source, @content_hash, @action_taken, @received_at_ms,
          @created_at, @created_at)`),
      insertAction: p(`INSERT INTO actions (incident_id, action_type, description, status, created_at, updated_at)
        VALUES (?, ?, ?, 'pending', ?, ?)`),
      actionsFor: p(`SELECT id, incident_id, action_type, description, status, executed_at, result, attempts,
          dispatched_at, completed_at, created_at, updated_at
        FROM actions WHERE incident_id = ? ORDER BY id`),
      alertsFor: p(`SELECT id, incident_id, alert_type, recipient, message, sent_at, status
        FROM alerts WHERE incident_id = ? ORDER BY id`),
      counts: p('SELECT camera_id, threat_level, total, weapons, critical FROM incident_counts WHERE total > 0'),
      since: p('SELECT count(*) AS n FROM incidents WHERE threat_level = ? AND created_at >= ?'),
    };
  }

  /**
   * Writes a batch of incidents and their actions in ONE transaction (one fsync),
   * returning a result per draft, in order. A repeated incident_id with the same
   * content is a duplicate; with other content, a conflict. Nothing is written for either.
   */
  commitBatch(drafts: IncidentDraft[]): CommitResult[] {
    const db = this.database;
    const startSeq = this.nextSeq;
    const run = db.transaction((items: IncidentDraft[]) => items.map((d) => this.commitOne(d)));
    try {
      return run(drafts);
    } catch (err) {
      this.nextSeq = startSeq; // the transaction rolled back, so did its seqs
      throw err;
    }
  }

  private commitOne(d: IncidentDraft): CommitResult {
    const existing = this.stmts.byId!.get(d.incidentId);
    if (existing) {
      const incident = toIncident(existing);
      if (existing.content_hash === d.contentHash) {
        return { kind: 'duplicate', incident, actions: this.actionsFor(d.incidentId) };
      }
      return { kind: 'conflict', incident };
    }
    const now = new Date(d.receivedAtMs).toISOString();
    const seq = this.nextSeq++;
    const info = this.stmts.insertIncident!.run({
      incident_id: d.incidentId,
      seq,
      timestamp: d.timestamp,
      threat_level: d.level,
      threat_score: d.score,
      reported_level: d.reportedLevel,
      reported_score: d.reportedScore,
      model_version: d.modelVersion,
      people_count: d.peopleCount,
      weapon_detected: d.weaponDetected ? 1 : 0,
      weapon_types: JSON.stringify(d.weaponTypes),
      behavior_summary: d.behaviorSummary,
      is_critical: d.isCritical ? 1 : 0,
      full_telemetry: d.fullTelemetry ? JSON.stringify(d.fullTelemetry) : null,
      extra_fields: d.extraFields ? JSON.stringify(d.extraFields) : null,
      camera_id: d.cameraId,
      source: d.source,
      content_hash: d.contentHash,
      action_taken: d.actionTaken,
      received_at_ms: d.receivedAtMs,
      created_at: now,
    });
    this.outbox.enqueueIncident(d.incidentId, d.level, d.cameraId, d.receivedAtMs);
    this.facets!.write(d.incidentId, now, d.behaviorSummary, d.weaponTypes);
    const actions: PlannedAction[] = d.actions.map((a) => {
      const r = this.stmts.insertAction!.run(d.incidentId, a.type, a.description, now, now);
      return {
        id: Number(r.lastInsertRowid),
        incident_id: d.incidentId,
        action_type: a.type,
        description: a.description,
        status: 'pending',
        executed_at: null,
        result: null,
        created_at: now,
        updated_at: now,
      };
    });
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
      people_count: d.peopleCount,
      weapon_detected: d.weaponDetected,
      weapon_types: JSON.stringify(d.weaponTypes),
      behavior_summary: d.behaviorSummary,
      is_critical: d.isCritical,
      full_telemetry: d.fullTelemetry,
      camera_id: d.cameraId,
      source: d.source,
      status: 'logged',
      action_taken: d.actionTaken,
      response_time_ms: null,
      created_at: now,
      updated_at: now,
    };
    return { kind: 'stored', incident, actions };
  }

  /**
   * Queues an upstream sync entry for a change to an incident (a label, an action outcome,
   * an alert, a snapshot reference). Synchronous: call it INSIDE the transaction that makes
   * the change, so both commit or neither does. See src/sync/outbox.ts.
   */
  enqueueOutbox(kind: OutboxKind, incidentId: string, options?: EnqueueOptions): { seq: number; version: number } {
    return this.outbox.enqueue(kind, incidentId, options);
  }

  getIncident(incidentId: string): StoredIncident | null {
    const row = this.stmts.byId!.get(incidentId);
    return row ? toIncident(row) : null;
  }

  actionsFor(incidentId: string): PlannedAction[] {
    return this.stmts.actionsFor!.all(incidentId) as unknown as PlannedAction[];
  }

  alertsFor(incidentId: string): AlertRow[] {
    return this.stmts.alertsFor!.all(incidentId) as unknown as AlertRow[];
  }

  /** Newest first. Each filter combination is served by an index on (filter, created_at). */
  listIncidents(filter: IncidentFilter): IncidentSummary[] {
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
    if (!stmt) this.listStmts.set(sql, (stmt = this.database.prepare<unknown[], Row>(sql)));
    return stmt.all(...params).map(toSummary);
  }

  statistics(now = Date.now()): Statistics {
    const stats: Statistics = {
      total_incidents: 0,
      ...emptyCounts(),
      weapons_detected: 0,
      critical_incidents: 0,
      per_camera: {},
      last_24h: { total_incidents: 0, ...emptyCounts(), since: new Date(now - 24 * 3600 * 1000).toISOString() },
    };
    for (const row of this.stmts.counts!.all() as {
      camera_id: string;
      threat_level: ThreatLevel;
      total: number;
      weapons: number;
      critical: number;
    }[]) {
      const key = `count_${row.threat_level}` as const;
      stats.total_incidents += row.total;
      stats[key] += row.total;
      stats.weapons_detected += row.weapons;
      stats.critical_incidents += row.critical;
      const camera = (stats.per_camera[row.camera_id || 'unknown'] ??= {
        total_incidents: 0,
        ...emptyCounts(),
        weapons_detected: 0,
      });
      camera.total_incidents += row.total;
      camera[key] += row.total;
      camera.weapons_detected += row.weapons;
    }
    for (const level of LEVELS) {
      const n = (this.stmts.since!.get(level, stats.last_24h.since) as { n: number }).n;
      stats.last_24h[`count_${level}`] = n;
      stats.last_24h.total_incidents += n;
    }
    return stats;
  }

  /** A cheap liveness probe of the database. */
  ping(): boolean {
    try {
      this.database.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }
}
