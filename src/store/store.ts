// The "commit" stage and the query side: SQLite through better-sqlite3, WAL with
// synchronous=FULL, so an acknowledged report survives a power cut. The Store owns the
// connection and every SQL statement: each domain has a repository (below) with typed
// prepared statements, and nothing outside src/store/ sees the database handle.
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../logger.js';
import { ActionRepository } from './actions.js';
import { ArmingRepository } from './arming.js';
import { AnnotationRepository } from './annotations.js';
import { IncidentRepository } from './incidents.js';
import { HighWaterRepository } from './high-water.js';
import { DataDirError, prepareDataDir } from './data-dir.js';
import { checkDatabaseFile } from './integrity.js';
import { DataDirLock } from './lock.js';
import { LabelRepository } from './labels.js';
import { EvaluationRepository } from './evaluation.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { NotifyRepository } from './notify.js';
import { ArcRepository } from './arc.js';
import { OperationsRepository } from './operations.js';
import { OutboxRepository } from './outbox.js';
import type { Repository } from './repository.js';
import { RetentionRepository } from './retention.js';
import { SnapshotRepository } from './snapshots.js';
import { SyncStateRepository } from './sync-state.js';
import type {
  AlertRow,
  CommitResult,
  IncidentDraft,
  IncidentFilter,
  IncidentSummary,
  PlannedAction,
  Statistics,
  StoredIncident,
} from './types.js';

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

/**
 * Widens CHECK constraints in place, inside the migration's transaction: SQLite's documented
 * writable_schema procedure (sqlite.org/lang_altertable.html, "making other kinds of table schema
 * changes"). better-sqlite3 runs in defensive mode, which forbids writing sqlite_schema, so that
 * is lifted for these statements only. Afterwards quick_check must pass, or the transaction rolls back.
 */
function widenChecks(db: Database.Database, edits: NonNullable<Migration['widenChecks']>): void {
  const version = db.pragma('schema_version', { simple: true }) as number;
  db.unsafeMode(true);
  try {
    db.pragma('writable_schema = ON');
    for (const e of edits) {
      const row = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(e.table) as { sql: string } | undefined;
      const count = row ? row.sql.split(e.from).length - 1 : 0;
      if (count !== 1) throw new Error(`migration: ${e.table} has ${count} copies of ${e.from}, expected 1`);
      db.prepare("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?").run(row!.sql.replace(e.from, e.to), e.table);
    }
    db.pragma(`schema_version = ${version + 1}`);
    db.pragma('writable_schema = OFF');
  } finally {
    db.unsafeMode(false);
  }
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') throw new Error(`migration: quick_check after widening a CHECK: ${String(check)}`);
}

/** The database was written by a newer release (a migration this code does not know): refused, untouched. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(
      `the database ${file} has schema version ${found}, newer than this release knows (${known}): it was written by a newer ` +
        'SafeSphere Edge. It was not changed. Install that release again (systemd/install.sh from its checkout), ' +
        'or restore a backup made by this release (safesphere-edge restore FILE)',
    );
    this.name = 'SchemaTooNewError';
  }
}

/** The newest schema version this release knows. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

export interface StoreOptions {
  /** Take the data-dir lock (default true): one gateway per data dir. */
  lock?: boolean;
  /** The migrations to apply (tests of future migrations); default MIGRATIONS. */
  migrations?: readonly Migration[];
  /** SQLite's page cache for this connection in MB (memory.sqlite_cache_mb); default 4. */
  cacheMb?: number;
}

export class Store {
  private db: Database.Database | null = null;
  private lock: DataDirLock | null = null;
  readonly file: string;

  /** Persistent sync counters and positions (sync_state). */
  readonly syncState = new SyncStateRepository();
  /** Upstream sync entries, written inside the same transactions as the changes they announce. */
  readonly outbox = new OutboxRepository(this.syncState);
  /** Planned actions, their lifecycle, and alerts. */
  readonly actions = new ActionRepository();
  /** Incidents: the commit batch and the query side. */
  readonly incidents = new IncidentRepository(this.outbox, this.actions);
  /** Operator labels. */
  readonly labels = new LabelRepository(this.outbox);
  /** Snapshots, held snapshots and the image model's detections. */
  readonly snapshots = new SnapshotRepository(this.outbox);
  /** AI annotations and the AI request log (daily budget, per-incident cap). */
  readonly annotations = new AnnotationRepository(this.outbox);
  /** Escalations and the durable delivery queue (src/notify/). */
  readonly notify = new NotifyRepository();
  /** Site operations: range aggregates, incident status (and THE acknowledgement), the live feed. */
  readonly operations = new OperationsRepository(this.notify);
  /** Retention's reads and deletes. */
  readonly retention = new RetentionRepository(this.syncState);
  /** Sequence counters vs the high-water mark, missing-commit events, the write probe (src/integrity/). */
  readonly highWater = new HighWaterRepository(this.incidents);
  /**
   * The latest outcomes of writes, for /health's db: commits (report batches, store.transaction)
   * and the probe apart, since a one-page probe may still fit where a report no longer does:
   * only a commit that succeeds clears a failed commit.
   */
  readonly writes = { okAt: 0, failedAt: 0, probeOkAt: 0, probeFailedAt: 0, error: null as string | null };
  /** The arming mode, its audit log (site events for upstream), Home Assistant's reads. */
  readonly arming = new ArmingRepository(this.outbox);
  /** DC-09 sequence numbers of the monitoring station (src/arc/). */
  readonly arc = new ArcRepository();
  /** The re-scorer's site evaluation (read only). */
  readonly evaluation = new EvaluationRepository();

  private readonly repositories: readonly Repository<unknown>[] = [
    this.syncState,
    this.outbox,
    this.actions,
    this.incidents,
    this.labels,
    this.snapshots,
    this.annotations,
    this.notify,
    this.operations,
    this.retention,
    this.highWater,
    this.arming,
    this.arc,
    this.evaluation,
  ];

  constructor(
    dataDir: string,
    private readonly log: Logger,
    private readonly options: StoreOptions = {},
  ) {
    this.file = join(resolve(dataDir), 'safesphere.db');
  }

  async start(): Promise<void> {
    const dir = prepareDataDir(join(this.file, '..'), ['safesphere.db', 'safesphere.db-wal', 'safesphere.db-shm']);
    // Before anything is opened for writing: a second gateway on this dir would interleave commits.
    if (this.options.lock !== false) {
      this.lock = DataDirLock.acquire(dir);
      if (this.lock.tookOverFrom) {
        this.log.warn({ previous: this.lock.tookOverFrom }, 'took over the data-dir lock of a process that ended without releasing it');
      }
    }
    try {
      await this.open();
    } catch (err) {
      this.lock?.release(true);
      this.lock = null;
      throw err;
    }
  }

  private async open(): Promise<void> {
    // A damaged or partial file is refused, never opened for writing (nor recreated over the evidence).
    const check = await checkDatabaseFile(this.file, 20_000);
    if (check.status === 'corrupt') throw new StoreOpenError(this.file, new Error(`integrity check failed: ${check.problems.slice(0, 3).join('; ')}`));
    if (check.status === 'unreadable') throw new DataDirError(join(this.file, '..'), `${this.file}: ${check.code}: ${check.problems[0] ?? ''}`);
    const known = Math.max(...(this.options.migrations ?? MIGRATIONS).map((m) => m.version));
    if (check.status === 'ok' && check.schemaVersion !== null && check.schemaVersion > known) {
      throw new SchemaTooNewError(this.file, check.schemaVersion, known);
    }
    if (check.status === 'timeout') this.log.warn({ file: this.file, ms: Math.round(check.ms) }, 'database quick_check did not finish in time; opening without it');
    else if (check.status === 'ok') this.log.info({ file: this.file, ms: Math.round(check.ms) }, 'database quick_check ok');
    let db: Database.Database | undefined;
    try {
      db = new Database(this.file);
      db.pragma('journal_mode = WAL');
      // FULL: the WAL is fsynced at every commit, so a power cut loses nothing acknowledged.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      // Negative: KiB. Small on purpose (memory.sqlite_cache_mb): the OS caches the file as well.
      db.pragma(`cache_size = -${Math.round((this.options.cacheMb ?? 4) * 1024)}`);
      db.pragma('temp_store = MEMORY');
      this.migrate(db);
    } catch (err) {
      db?.close();
      if (err instanceof SchemaTooNewError) throw err;
      throw new StoreOpenError(this.file, err as Error);
    }
    this.db = db;
    for (const r of this.repositories) r.connect(db);
    this.log.info({ file: this.file, nextSeq: this.incidents.seq }, 'store opened');
  }

  async stop(): Promise<void> {
    if (!this.db) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint at close failed');
    }
    for (const r of this.repositories) r.disconnect();
    this.db.close();
    this.db = null;
    this.lock?.release();
    this.lock = null;
  }

  get isOpen(): boolean {
    return this.db !== null && this.db.open;
  }

  /**
   * Runs `fn` in ONE transaction (a savepoint inside another), for a change that spans
   * repositories: both commit or neither does. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    if (!this.db) throw new Error('store is not started');
    const outermost = !this.db.inTransaction;
    return outermost ? this.tracked(() => this.db!.transaction(fn)(), false) : this.db.transaction(fn)();
  }

  /** Runs a write and records its outcome, so a failing disk shows in /health at once. */
  private tracked<T>(write: () => T, probe: boolean): T {
    try {
      const result = write();
      if (probe) this.writes.probeOkAt = Date.now();
      else this.writes.okAt = Date.now();
      return result;
    } catch (err) {
      if (probe) this.writes.probeFailedAt = Date.now();
      else this.writes.failedAt = Date.now();
      this.writes.error = (err as { code?: string }).code ?? (err as Error).message;
      throw err;
    }
  }

  /** A small write transaction, for /health when no commit happened for a while; false when it failed. */
  probeWrite(): boolean {
    if (!this.db) return false;
    try {
      this.tracked(() => this.highWater.probe(), true);
      return true;
    } catch {
      return false;
    }
  }

  private migrate(db: Database.Database): void {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
    );
    // Checked again on the writable connection: the quick_check may have timed out.
    const newest = (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v;
    const migrations = this.options.migrations ?? MIGRATIONS;
    const known = Math.max(...migrations.map((m) => m.version));
    if (newest !== null && newest > known) throw new SchemaTooNewError(this.file, newest, known);
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.transaction(() => {
        if (m.widenChecks?.length) widenChecks(db, m.widenChecks);
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

  // The incident API the pipeline and the transports call; the SQL is in the repositories.

  /** See IncidentRepository.commitBatch: one transaction, one result per draft. */
  commitBatch(drafts: IncidentDraft[]): CommitResult[] {
    return this.tracked(() => this.incidents.commitBatch(drafts), false);
  }

  getIncident(incidentId: string): StoredIncident | null {
    return this.incidents.get(incidentId);
  }

  actionsFor(incidentId: string): PlannedAction[] {
    return this.actions.forIncident(incidentId);
  }

  alertsFor(incidentId: string): AlertRow[] {
    return this.actions.alertsFor(incidentId);
  }

  listIncidents(filter: IncidentFilter): IncidentSummary[] {
    return this.incidents.list(filter);
  }

  statistics(now = Date.now()): Statistics {
    return this.incidents.statistics(now);
  }

  /** The durability settings of the store's own connection (per-connection pragmas), for diagnostics. */
  connectionSettings(): { journal_mode: string; synchronous: number; foreign_keys: number } {
    if (!this.db) throw new Error('store is not started');
    return {
      journal_mode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
      foreign_keys: this.db.pragma('foreign_keys', { simple: true }) as number,
    };
  }

  /** A cheap liveness probe of the database. */
  ping(): boolean {
    if (!this.db) return false;
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }
}
