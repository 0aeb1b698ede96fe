// The start-up check of an existing database file: PRAGMA quick_check in a worker thread on a
// read-only connection, bounded in time, so a damaged or partial file (a torn write on an SD
// card, a half-copied backup) is refused with a clear message instead of being written over,
// and a big healthy file cannot hold the start for long.
import { existsSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  const rows = db.pragma('quick_check(20)', { simple: false }).map((r) => Object.values(r)[0]);
  const ok = rows.length === 1 && rows[0] === 'ok';
  let schema = null;
  if (ok) {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (table) schema = db.prepare('SELECT max(version) AS v FROM schema_migrations').get().v;
  }
  parentPort.postMessage({ ok, problems: rows.slice(0, 20), schema });
} catch (err) {
  parentPort.postMessage({ ok: false, problems: [String(err && err.message || err)], code: err && err.code });
} finally {
  try { db && db.close(); } catch {}
}
`;

export type IntegrityResult =
  | { status: 'ok'; ms: number; schemaVersion: number | null }
  | { status: 'new' }
  | { status: 'corrupt'; problems: string[]; ms: number }
  | { status: 'timeout'; ms: number }
  /** The file could not be opened or read (permissions, a read-only directory): not evidence of damage. */
  | { status: 'unreadable'; problems: string[]; code: string; ms: number };

// Only these mean the bytes are wrong; any other failure to open is about access, not damage.
const DAMAGE = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** Checks `file` if it exists and is not empty; never modifies it. */
export async function checkDatabaseFile(file: string, timeoutMs: number): Promise<IntegrityResult> {
  if (!existsSync(file) || statSync(file).size === 0) return { status: 'new' };
  const started = performance.now();
  // A read-only connection still creates empty -wal/-shm files; those we created go again, so a
  // refused file is left exactly as it was found.
  const sidecars = [`${file}-wal`, `${file}-shm`].filter((f) => !existsSync(f));
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { file, driver } });
  try {
    return await new Promise<IntegrityResult>((resolve) => {
      const timer = setTimeout(() => resolve({ status: 'timeout', ms: performance.now() - started }), timeoutMs);
      worker.once('message', (m: { ok: boolean; problems: string[]; code?: string; schema?: number | null }) => {
        clearTimeout(timer);
        const ms = performance.now() - started;
        if (m.ok) resolve({ status: 'ok', ms, schemaVersion: m.schema ?? null });
        else if (m.code && !DAMAGE.has(m.code)) resolve({ status: 'unreadable', problems: m.problems, code: m.code, ms });
        else resolve({ status: 'corrupt', problems: m.problems, ms });
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        resolve({ status: 'corrupt', problems: [err.message], ms: performance.now() - started });
      });
    });
  } finally {
    await worker.terminate();
    for (const f of sidecars) {
      try {
        // The -shm is only an index SQLite rebuilds; a -wal we created holds nothing unless it has bytes.
        if (existsSync(f) && (f.endsWith('-shm') || statSync(f).size === 0)) rmSync(f);
      } catch {
        // best effort: an empty sidecar file is harmless
      }
    }
  }
}
