// The data dir before anything opens in it: created private (0700), tightened if an older
// release left it open, and proven writable, so a read-only mount or a wrong owner is named as
// such instead of surfacing later as a "damaged database".
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The data dir (or a file the gateway must write in it) cannot be written. */
export class DataDirError extends Error {
  constructor(
    readonly dataDir: string,
    detail: string,
  ) {
    super(
      `data_dir ${dataDir} is not writable (${detail}): give the gateway's user write access to it, ` +
        'or set data_dir (SAFESPHERE_DATA_DIR) to a writable directory',
    );
    this.name = 'DataDirError';
  }
}

const reason = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, '')}` : String((err as Error).message ?? err);
};

/** Creates `dataDir` 0700 if missing, makes it 0700 if we own it, and checks that it and `files` in it can be written. */
export function prepareDataDir(dataDir: string, files: readonly string[] = []): string {
  const dir = resolve(dataDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new DataDirError(dir, reason(err));
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new DataDirError(dir, 'it is not a directory');
  if ((st.mode & 0o077) !== 0 && typeof process.getuid === 'function' && st.uid === process.getuid()) {
    try {
      chmodSync(dir, 0o700);
    } catch {
      // a read-only mount: the write probe below says so
    }
  }
  // access(W_OK) is not enough on a read-only mount for root; a real create is.
  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    const fd = openSync(probe, 'wx', 0o600);
    try {
      writeSync(fd, 'ok');
    } finally {
      closeSync(fd);
    }
    rmSync(probe, { force: true });
  } catch (err) {
    throw new DataDirError(dir, reason(err));
  }
  for (const name of files) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new DataDirError(dir, `${name}: ${reason(err)}`);
    }
  }
  return dir;
}
