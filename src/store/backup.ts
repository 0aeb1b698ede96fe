// The database side of backup and restore. An online copy is `VACUUM INTO` on a read-only
// connection of its own: one read transaction, so the copy is one consistent snapshot of every
// committed transaction, while WAL lets the gateway keep committing. It runs in a worker thread,
// so a scheduled backup never stalls the daemon's event loop. What the archive needs besides
// (the snapshot files, the figures for the manifest) is read from the copy, so it matches it.
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { op, file, dest } = workerData;
let db;
const one = (sql) => { try { return db.prepare(sql).get(); } catch { return undefined; } };
const all = (sql) => { try { return db.prepare(sql).all(); } catch { return []; } };
try {
  if (op === 'copy') {
    const src = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
    try { src.prepare('VACUUM INTO ?').run(dest); } finally { src.close(); }
  }
  db = new Database(op === 'copy' ? dest : file, { readonly: true, fileMustExist: true });
  const integrity = op === 'inspect' ? db.pragma('integrity_check(20)', { simple: false }).map((r) => Object.values(r)[0]) : ['ok'];
  const files = [];
  for (const r of all('SELECT file, thumb_file FROM snapshots')) files.push(r.file, r.thumb_file);
  for (const r of all("SELECT json_extract(meta, '$.file') AS file, json_extract(meta, '$.thumb_file') AS thumb_file FROM snapshots_held")) files.push(r.file, r.thumb_file);
  const state = Object.fromEntries(all('SELECT key, value FROM sync_state').map((r) => [r.key, r.value]));
  parentPort.postMessage({
    ok: true,
    integrity,
    schema: one('SELECT max(version) AS v FROM schema_migrations')?.v ?? null,
    incidents: one('SELECT count(*) AS n FROM incidents')?.n ?? 0,
    max_incident_seq: one('SELECT max(seq) AS n FROM incidents')?.n ?? 0,
    outbox_seq: one("SELECT seq AS n FROM sqlite_sequence WHERE name = 'outbox'")?.n ?? 0,
    sync_state: state,
    files: files.filter((f) => typeof f === 'string' && f.length > 0),
  });
} catch (err) {
  parentPort.postMessage({ ok: false, message: String((err && err.message) || err), code: err && err.code });
} finally {
  try { db && db.close(); } catch {}
}
`;

/** What a database file holds, as the backup manifest records it. */
export interface DatabaseSummary {
  /** integrity_check's answer (only when inspecting; a fresh VACUUM copy is ['ok']). */
  integrity: string[];
  schema: number | null;
  incidents: number;
  max_incident_seq: number;
  /** The outbox's AUTOINCREMENT high-water mark: the pull cursor's space. */
  outbox_seq: number;
  /** sync_state: the pull cursor, ack and counters. */
  sync_state: Record<string, number>;
  /** Snapshot files the rows name (relative to data_dir, or absolute). */
  files: string[];
}

export class DatabaseCopyError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'DatabaseCopyError';
  }
}

function run(op: 'copy' | 'inspect', file: string, dest: string | null): Promise<DatabaseSummary> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { op, file, dest, driver } });
  return new Promise<DatabaseSummary>((resolve, reject) => {
    worker.once('message', (m: ({ ok: true } & DatabaseSummary) | { ok: false; message: string; code?: string }) => {
      if (m.ok) {
        const { ok: _ok, ...summary } = m;
        resolve(summary);
      } else reject(new DatabaseCopyError(m.message, m.code));
    });
    worker.once('error', (err) => reject(new DatabaseCopyError(err.message, undefined)));
  }).finally(() => void worker.terminate());
}

/** A consistent copy of the live database `file` into the new file `dest` (fsynced), and what it holds. */
export async function copyDatabase(file: string, dest: string): Promise<DatabaseSummary> {
  const summary = await run('copy', file, dest);
  // VACUUM INTO does not sync its output.
  const fd = openSync(dest, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return summary;
}

/** Full integrity_check and the summary of a database file, read-only (for restore). */
export function inspectDatabase(file: string): Promise<DatabaseSummary> {
  return run('inspect', file, null);
}
