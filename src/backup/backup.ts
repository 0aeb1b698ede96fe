// `safesphere-edge backup` / `restore`, and the scheduled backups of src/backup/module.ts.
// A backup is an online, consistent copy (src/store/backup.ts) plus every file that copy names
// (snapshots, held snapshots), the Node-RED flows and the generated secrets, in one archive
// with a manifest. A restore checks the archive and the database before anything in the data
// dir moves, holds the data-dir lock throughout (so never under a running gateway), and sets
// what it replaces aside instead of deleting it.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { GatewayConfig } from '../config/schema.js';
import { EXIT } from '../errors.js';
import { copyDatabase, inspectDatabase, type DatabaseSummary } from '../store/backup.js';
import { prepareDataDir } from '../store/data-dir.js';
import { DataDirLock, DataDirLockedError, LOCK_FILE } from '../store/lock.js';
import { SCHEMA_VERSION } from '../store/store.js';
import { BackupError, FORMAT, FORMAT_VERSION, readArchive, writeArchive, type Manifest, type SourceFile } from './archive.js';

const DB = 'safesphere.db';
/** Generated secrets at the top of data_dir, restored with the data they protect. */
const SECRETS = ['admin-token', 'operator-token', 'node-red-admin-password'];

export interface BackupResult {
  file: string;
  bytes: number;
  manifest: Manifest;
  /** Whether the gateway was running (an online copy) or the data dir was free (held by the command). */
  online: boolean;
  ms: number;
}

/** Regular files directly in the Node-RED user dir (flows, credentials, its settings); not installed palette modules. */
function nodeRedFiles(dataDir: string): SourceFile[] {
  const dir = join(dataDir, 'node-red');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !/\.tmp-\d+$/.test(e.name))
    .map((e) => ({ path: `node-red/${e.name}`, from: join(dir, e.name) }));
}

/** The archive entries for the snapshot files the copied database names. */
function snapshotFiles(dataDir: string, summary: DatabaseSummary): { files: SourceFile[]; missing: string[]; external: Record<string, string> } {
  const files: SourceFile[] = [];
  const missing: string[] = [];
  const external: Record<string, string> = {};
  for (const stored of new Set(summary.files)) {
    const from = isAbsolute(stored) ? stored : join(dataDir, stored);
    const rel = relative(dataDir, from);
    const inside = !rel.startsWith('..') && !isAbsolute(rel);
    const path = inside ? rel.split('\\').join('/') : `external/${from.replace(/^\/+/, '')}`;
    if (!existsSync(from)) {
      missing.push(stored);
      continue;
    }
    if (!inside) external[path] = from;
    files.push({ path, from });
  }
  return { files, missing, external };
}

/** Writes a backup of `config.data_dir` to `out` (which must not exist). */
export async function createBackup(
  config: GatewayConfig,
  out: string,
  version: string,
  /** The caller is the gateway itself, which holds the data-dir lock. */
  options: { inGateway?: boolean } = {},
): Promise<BackupResult> {
  const started = performance.now();
  const dataDir = resolve(config.data_dir);
  const dbFile = join(dataDir, DB);
  const target = resolve(out);
  if (!existsSync(dbFile)) throw new BackupError(`there is no database to back up: ${dbFile} does not exist (data_dir, SAFESPHERE_DATA_DIR)`, EXIT.USAGE);
  if (existsSync(target)) throw new BackupError(`${target} exists already: choose a new file name`, EXIT.USAGE);
  // Without a running gateway the command holds the lock, so none starts while it reads.
  let lock: DataDirLock | null = null;
  if (!options.inGateway) {
    try {
      lock = DataDirLock.acquire(dataDir, 'backup');
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
    }
  }
  const sidecars = [`${dbFile}-wal`, `${dbFile}-shm`].filter((f) => !existsSync(f));
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const work = `${target}.partial-${process.pid}`;
  const copy = `${work}.db`;
  try {
    const summary = await copyDatabase(dbFile, copy);
    const snaps = snapshotFiles(dataDir, summary);
    const files: SourceFile[] = [
      { path: DB, from: copy },
      ...snaps.files,
      ...nodeRedFiles(dataDir),
      ...SECRETS.filter((s) => existsSync(join(dataDir, s))).map((s) => ({ path: s, from: join(dataDir, s) })),
    ];
    const manifest = await writeArchive(work, files, (archived) => ({
      format: FORMAT,
      format_version: FORMAT_VERSION,
      created_at: new Date().toISOString(),
      gateway_version: version,
      site_id: config.site_id,
      db: {
        file: DB,
        schema_version: summary.schema,
        incidents: summary.incidents,
        max_incident_seq: summary.max_incident_seq,
        outbox_seq: summary.outbox_seq,
        sync_state: summary.sync_state,
      },
      files: archived,
      missing: snaps.missing,
      external: snaps.external,
    }));
    renameSync(work, target);
    return { file: target, bytes: statSync(target).size, manifest, online: lock === null, ms: performance.now() - started };
  } catch (err) {
    rmSync(work, { force: true });
    throw err;
  } finally {
    rmSync(copy, { force: true });
    if (lock) {
      // A read-only connection leaves an empty -wal and the -shm index behind; with the lock held no gateway uses them.
      for (const f of sidecars) if (existsSync(f) && (f.endsWith('-shm') || statSync(f).size === 0)) rmSync(f, { force: true });
      lock.release();
    }
  }
}

export interface RestoreResult {
  manifest: Manifest;
  /** Where the data dir's previous contents were set aside (null: there were none). */
  setAside: string | null;
}

/** Restores `file` into `config.data_dir`; refuses while a gateway holds the data dir. */
export async function restoreBackup(config: GatewayConfig, file: string): Promise<RestoreResult> {
  const archive = resolve(file);
  if (!existsSync(archive)) throw new BackupError(`${archive} does not exist`, EXIT.USAGE);
  const dataDir = prepareDataDir(config.data_dir);
  const lock = DataDirLock.acquire(dataDir, 'restore');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const staging = join(dataDir, `.restore-${stamp}`);
  try {
    mkdirSync(staging, { mode: 0o700 });
    const manifest = await readArchive(archive, staging);
    const db = await inspectDatabase(join(staging, DB)).catch((err: Error) => {
      throw new BackupError(`${archive}: its database cannot be read (${err.message})`);
    });
    if (db.integrity.length !== 1 || db.integrity[0] !== 'ok') throw new BackupError(`${archive}: its database fails integrity_check: ${db.integrity.slice(0, 3).join('; ')}`);
    if (db.schema !== null && db.schema > SCHEMA_VERSION) {
      throw new BackupError(
        `${archive} was made by a newer release (schema ${db.schema}; this one knows ${SCHEMA_VERSION}): restore it with that release`,
        EXIT.SCHEMA_TOO_NEW,
      );
    }
    const m = manifest.db;
    if (db.incidents !== m.incidents || db.outbox_seq !== m.outbox_seq || db.max_incident_seq !== m.max_incident_seq) {
      throw new BackupError(`${archive}: the database does not hold what the manifest says (${db.incidents} incidents, manifest ${m.incidents})`);
    }

    // Everything checked: set the current contents aside, then move the restored ones in.
    const aside = join(dataDir, `pre-restore-${stamp}`);
    const current = readdirSync(dataDir).filter(
      (n) => n !== LOCK_FILE && n !== basename(staging) && !n.startsWith('pre-restore-') && !n.startsWith('.write-test-') && !n.startsWith('.restore-'),
    );
    const backupsDir = config.backup.dir ? resolve(config.backup.dir) : join(dataDir, 'backups');
    const moving = current.filter((n) => join(dataDir, n) !== backupsDir);
    if (moving.length) {
      mkdirSync(aside, { mode: 0o700 });
      for (const n of moving) renameSync(join(dataDir, n), join(aside, n));
    }
    for (const entry of readdirSync(staging)) renameSync(join(staging, entry), join(dataDir, entry));
    for (const [entry, to] of Object.entries(manifest.external ?? {})) {
      const from = join(dataDir, ...entry.split('/'));
      mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
      if (existsSync(to)) renameSync(to, `${to}.pre-restore-${stamp}`);
      copyFileSync(from, to);
      chmodSync(to, 0o600);
    }
    if (existsSync(join(dataDir, 'external'))) rmSync(join(dataDir, 'external'), { recursive: true, force: true });
    return { manifest, setAside: moving.length ? aside : null };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    lock.release();
  }
}
