// Safe to run, against the real daemon: one gateway per data dir (the lock names the holder,
// every writing command refuses, a dead holder's lock is taken over), start-up errors that tell
// the truth (one line, the key and its variable, a distinct exit code), private file modes,
// and the README's exit-code table matching src/errors.ts and the systemd unit.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, EXIT_NO_RESTART } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { DataDirLockedError } from '../src/store/lock.js';
import { Store } from '../src/store/store.js';
import { Daemon, reapDaemons } from './daemon.js';
import { tempDir } from './helpers.js';
import { solidImage, uploadSnapshot } from './evidence-fixtures.js';
import { reportFor } from './faults/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
const dir = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(async () => {
  await reapDaemons();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const BASE_ENV = {
  SAFESPHERE_HTTP_PORT: '0',
  SAFESPHERE_MQTT_PORT: '0',
  SAFESPHERE_HTTP_HOST: '127.0.0.1',
  SAFESPHERE_MQTT_HOST: '127.0.0.1',
  SAFESPHERE_NODERED_ENABLED: 'false',
  SAFESPHERE_NODERED_PORT: '0',
};

/** Runs the CLI to its exit (the sources through tsx, as test/daemon.ts does). */
function cli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...BASE_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
/** One line and no stack trace on stderr. */
const oneLine = (stderr: string) => {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
};

describe('one gateway per data dir', () => {
  it('refuses a second gateway and every writing command, naming the PID; takes over a dead holder\'s lock', async () => {
    const data = dir('safesphere-lock-');
    const first = await Daemon.start(data);
    const env = { SAFESPHERE_DATA_DIR: data };

    const second = await cli([], env);
    expect(second.code).toBe(EXIT.DATA_DIR_LOCKED);
    expect(second.stderr).toContain(`data_dir ${data} is in use by gateway PID ${first.pid}`);
    expect(second.stderr).toContain('SAFESPHERE_DATA_DIR');
    oneLine(second.stderr);
    expect(second.stdout).not.toContain('gateway started');

    const flowsBefore = existsSync(join(data, 'node-red')) ? readdirSync(join(data, 'node-red')).sort() : [];
    const reset = await cli(['--reset-flows'], env);
    expect(reset.code).toBe(EXIT.DATA_DIR_LOCKED);
    expect(reset.stderr).toContain(`PID ${first.pid}`);
    oneLine(reset.stderr);
    expect(existsSync(join(data, 'node-red')) ? readdirSync(join(data, 'node-red')).sort() : []).toEqual(flowsBefore);

    writeFileSync(join(data, '..', `${data.split('/').pop()}.tar.gz`), 'not even an archive');
    const restore = await cli(['restore', join(data, '..', `${data.split('/').pop()}.tar.gz`)], env);
    expect(restore.code).toBe(EXIT.DATA_DIR_LOCKED);
    oneLine(restore.stderr);
    rmSync(join(data, '..', `${data.split('/').pop()}.tar.gz`));

    // The first one still serves: the refused ones touched nothing.
    expect((await fetch(`${first.httpUrl}/health`)).status).toBe(200);

    // Killed outright, it cannot release: the kernel drops the lock and the next start takes over.
    await first.kill('SIGKILL');
    const next = await Daemon.start(data);
    const took = await next.waitForLog((l) => l.msg === 'took over the data-dir lock of a process that ended without releasing it');
    expect((took.previous as { pid: number }).pid).toBe(first.pid);
    expect(await next.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // A clean stop releases: no takeover next time.
    const third = await Daemon.start(data);
    await new Promise((r) => setTimeout(r, 50));
    expect(third.lines.some((l) => l.msg?.startsWith('took over'))).toBe(false);
    await third.kill('SIGTERM');
  }, 90_000);

  it('refuses a second Store on the same dir within one process too', async () => {
    const data = dir('safesphere-lock-inproc-');
    const a = new Store(data, createLogger('silent'));
    await a.start();
    const b = new Store(data, createLogger('silent'));
    const err = await b.start().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err!.message).toContain(`PID ${process.pid}`);
    await a.stop();
    await b.start(); // released by the stop
    await b.stop();
  });
});

describe('start-up errors that tell the truth', () => {
  let healthy: string;
  it('a read-only data dir holding a healthy database: "not writable", exit 73, never "damaged"', async () => {
    const src = dir('safesphere-ro-src-');
    const d = await Daemon.start(src);
    await fetch(`${d.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: reportFor('ro-1', 1, 'ro', 'http') });
    expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    healthy = join(src, 'safesphere.db');

    const data = dir('safesphere-ro-');
    copyFileSync(healthy, join(data, 'safesphere.db'));
    const before = sha(join(data, 'safesphere.db'));
    let undo: () => void;
    if (process.getuid?.() === 0) {
      // root writes through file modes: a read-only mount is the real thing.
      const mnt = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', data]);
      expect(mnt.status, String(mnt.stderr)).toBe(0);
      copyFileSync(healthy, join(data, 'safesphere.db'));
      expect(spawnSync('mount', ['-o', 'remount,ro', data]).status).toBe(0);
      undo = () => spawnSync('umount', [data]);
    } else {
      chmodSync(data, 0o555);
      undo = () => chmodSync(data, 0o700);
    }
    try {
      const run = await cli([], { SAFESPHERE_DATA_DIR: data });
      expect(run.code).toBe(EXIT.DATA_DIR_UNWRITABLE);
      expect(run.stderr).toContain(`data_dir ${data} is not writable (`);
      expect(run.stderr).toContain('SAFESPHERE_DATA_DIR');
      expect(run.stderr).not.toMatch(/damaged|integrity|move it/);
      oneLine(run.stderr);
      expect(sha(join(data, 'safesphere.db'))).toBe(before);
    } finally {
      undo();
    }
  }, 60_000);

  it('a port in use names the port, its key and variable, and asks whether another gateway runs: exit 69', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const run = await cli([], { SAFESPHERE_DATA_DIR: dir('safesphere-port-'), SAFESPHERE_MQTT_PORT: String(port) });
      expect(run.code).toBe(EXIT.PORT_IN_USE);
      expect(run.stderr).toContain(`port ${port} (mqtt.port, SAFESPHERE_MQTT_PORT) is in use: is another gateway running?`);
      oneLine(run.stderr);
      const http = await cli([], { SAFESPHERE_DATA_DIR: dir('safesphere-port-'), SAFESPHERE_HTTP_PORT: String(port) });
      expect(http.code).toBe(EXIT.PORT_IN_USE);
      expect(http.stderr).toContain(`port ${port} (http.port, SAFESPHERE_HTTP_PORT) is in use`);
      oneLine(http.stderr);
    } finally {
      busy.close();
    }
  }, 60_000);

  it('a bad environment value names the variable, its value and the rule: exit 78', async () => {
    const run = await cli([], { SAFESPHERE_DATA_DIR: dir('safesphere-env-'), SAFESPHERE_HTTP_PORT: 'abc' });
    expect(run.code).toBe(EXIT.CONFIG);
    expect(run.stderr).toContain('http.port: must be integer (SAFESPHERE_HTTP_PORT="abc")');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    // A secret's value is never echoed.
    const secret = await cli([], { SAFESPHERE_DATA_DIR: dir('safesphere-env-'), SAFESPHERE_AUTH_TOKENS: '[{"name":"ops","role":"admin","sha256":"s3cr3t"}]' });
    expect(secret.code).toBe(EXIT.CONFIG);
    expect(secret.stderr).toContain('(SAFESPHERE_AUTH_TOKENS=<hidden>)');
    expect(secret.stderr).not.toContain('s3cr3t');
  }, 30_000);

  it('a database from a newer release: exit 79, the file untouched', async () => {
    const data = dir('safesphere-newer-');
    copyFileSync(healthy, join(data, 'safesphere.db'));
    const db = (await import('better-sqlite3')).default(join(data, 'safesphere.db'));
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01')").run();
    db.close();
    const before = sha(join(data, 'safesphere.db'));
    const files = readdirSync(data).sort();
    const run = await cli([], { SAFESPHERE_DATA_DIR: data });
    expect(run.code).toBe(EXIT.SCHEMA_TOO_NEW);
    expect(run.stderr).toContain('has schema version 999, newer than this release knows');
    oneLine(run.stderr);
    expect(sha(join(data, 'safesphere.db'))).toBe(before);
    expect(readdirSync(data).sort()).toEqual(files);
  }, 30_000);

  it('the README lists every exit code, and the unit does not restart on exactly those a restart cannot fix', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Troubleshooting'));
    for (const code of Object.values(EXIT)) expect(table, `exit ${code}`).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
    const unit = readFileSync(join(ROOT, 'systemd/safesphere-edge.service'), 'utf8');
    const prevent = /^RestartPreventExitStatus=(.*)$/m.exec(unit)![1]!.trim().split(/\s+/).map(Number).sort((a, b) => a - b);
    expect(prevent).toEqual([...EXIT_NO_RESTART].sort((a, b) => a - b));
  });
});

describe('private files', () => {
  it('the data dir is 0700 and every file the daemon creates is 0600, whatever the umask it was started with', async () => {
    const data = dir('safesphere-modes-');
    chmodSync(data, 0o755); // as an older release (or mkdir) left it
    const previous = process.umask(0o022);
    let d: Daemon;
    try {
      d = await Daemon.start(data, { SAFESPHERE_NODERED_ENABLED: 'true', SAFESPHERE_BACKUP_INTERVAL_H: '0.0003' }, 60_000);
    } finally {
      process.umask(previous);
    }
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${d.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: reportFor(`mode-${i}`, i, 'modes', 'http') });
      expect(res.status).toBe(200);
    }
    const up = await uploadSnapshot(d.httpUrl, 'mode-1', await solidImage('jpeg', 64, 48));
    expect(up.status).toBe(200);
    await uploadSnapshot(d.httpUrl, 'mode-held', await solidImage('png', 64, 48)); // held: no report yet
    // A scheduled backup (interval about a second) is written into <data_dir>/backups.
    await d.waitForLog((l) => l.msg === 'backup written', 30_000);
    expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    const wrong: string[] = [];
    const walk = (p: string) => {
      const st = lstatSync(p);
      const mode = st.mode & 0o777;
      if (st.isDirectory()) {
        if (mode !== 0o700) wrong.push(`${p}/ ${mode.toString(8)}`);
        for (const e of readdirSync(p)) walk(join(p, e));
      } else if (!st.isSymbolicLink() && mode !== 0o600) wrong.push(`${p} ${mode.toString(8)}`);
    };
    walk(data);
    expect(wrong).toEqual([]);
    const names = readdirSync(data);
    expect(names).toEqual(expect.arrayContaining(['safesphere.db', 'admin-token', 'operator-token', 'node-red-admin-password', 'node-red', 'snapshots', 'backups']));
    expect(readdirSync(join(data, 'backups')).some((f) => f.endsWith('.tar.gz'))).toBe(true);
    expect(readdirSync(join(data, 'snapshots')).length).toBeGreaterThanOrEqual(4);
  }, 120_000);
});
