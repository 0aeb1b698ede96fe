// One gateway per data dir. The lock is SQLite's own file lock on <data_dir>/safesphere.lock
// (a POSIX fcntl lock, which the kernel drops when the holder dies, however it dies): the holder
// keeps a write transaction open (BEGIN IMMEDIATE: a RESERVED lock) for as long as it runs.
// Readers are not blocked by it, so a refused process can read the holder's PID from the file.
import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

export const LOCK_FILE = 'safesphere.lock';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** The data dir is held by another process (named when it recorded itself). */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    const who = holder
      ? `${holder.command} PID ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''}, since ${holder.since}`
      : 'another process that is starting';
    super(
      `data_dir ${dataDir} is in use by ${who}: only one gateway may use a data dir. ` +
        'Stop that one first (systemctl stop safesphere-edge, or Ctrl-C), or set data_dir (SAFESPHERE_DATA_DIR) to another directory',
    );
    this.name = 'DataDirLockedError';
  }
}

export class DataDirLock {
  private constructor(
    private db: Database.Database | null,
    readonly file: string,
    /** The previous holder, when it died without releasing (its lock was taken over). */
    readonly tookOverFrom: LockHolder | null,
    /** This acquire created the lock file. */
    private readonly created: boolean,
  ) {}

  /** Takes the lock or throws DataDirLockedError at once; `command` names the holder in a refusal. */
  static acquire(dataDir: string, command = 'gateway'): DataDirLock {
    const dir = resolve(dataDir);
    const file = join(dir, LOCK_FILE);
    // A short busy timeout only covers a refused process reading the holder's row at the moment we commit ours.
    const created = !existsSync(file);
    const db = new Database(file, { timeout: 250 });
    try {
      db.pragma('journal_mode = DELETE');
      const read = () => {
        try {
          return (db.prepare('SELECT pid, host, command, since FROM holder WHERE id = 1').get() as LockHolder | undefined) ?? null;
        } catch {
          return null; // a lock file that another process is creating right now
        }
      };
      let stale: LockHolder | null = null;
      const mine = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
      for (let attempt = 0; attempt < 20; attempt++) {
        if (!tryBegin(db)) {
          const holder = read();
          // Our own row means we lost the race after writing it: the winner has not written its row yet.
          throw new DataDirLockedError(dir, holder && !(holder.pid === mine.pid && holder.since === mine.since) ? holder : null);
        }
        db.exec(
          'CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, ' +
            'host TEXT NOT NULL, command TEXT NOT NULL, since TEXT NOT NULL)',
        );
        const current = read();
        if (attempt > 0 && current && current.pid === mine.pid && current.since === mine.since) {
          // Our own row, and we hold the write lock: nobody can change it until we release or exit.
          return new DataDirLock(db, file, stale, created);
        }
        // A release deletes the row: one left behind belongs to a holder that died without releasing.
        if (attempt === 0 && current) stale = current;
        db.prepare('INSERT OR REPLACE INTO holder (id, pid, host, command, since) VALUES (1, ?, ?, ?, ?)').run(
          mine.pid,
          mine.host,
          mine.command,
          mine.since,
        );
        // The row is readable only once committed; committing drops the lock for a moment, so
        // the next round takes it again and checks that the row it finds is still ours.
        db.exec('COMMIT');
      }
      throw new DataDirLockedError(dir, null);
    } catch (err) {
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
        db.close();
      } catch {
        // closing is best effort; the kernel drops the lock with the file descriptor anyway
      }
      throw err;
    }
  }

  /**
   * Drops the lock (a process that exits drops it anyway). `undo`: a start that failed removes
   * the lock file it created, leaving a refused data dir (a damaged database's evidence) as it was.
   */
  release(undo = false): void {
    if (!this.db) return;
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.db.prepare('DELETE FROM holder WHERE id = 1 AND pid = ?').run(process.pid);
    } catch {
      // the row is only for messages; a leftover one is reported as taken over, harmlessly
    } finally {
      this.db.close();
      this.db = null;
      if (undo && this.created) rmSync(this.file, { force: true });
    }
  }

  get held(): boolean {
    return this.db !== null;
  }
}

function tryBegin(db: Database.Database): boolean {
  try {
    db.exec('BEGIN IMMEDIATE');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return false;
    throw err;
  }
}
