// No orphans from `npm start`: SIGTERM or SIGINT to npm reaches the daemon (the start script
// execs node, and npm forwards both), and a parent killed outright is noticed by the daemon
// itself. Either way no daemon is left and its ports are free within the shutdown deadline.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { shippedNodeFlags, waitFor } from './daemon.js';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHUTDOWN_MS = 5000; // shutdown.timeout_ms's default
const started: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The pids whose parent is `ppid` (from /proc). */
function children(ppid: number): { pid: number; cmd: string }[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .flatMap((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === ppid ? [{ pid: Number(n), cmd: readFileSync(`/proc/${n}/cmdline`, 'utf8').replace(/\0/g, ' ') }] : [];
      } catch {
        return [];
      }
    });
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const poll = (async () => {
    while (!(await check())) await new Promise((r) => setTimeout(r, 50));
  })();
  await waitFor(poll, ms, what);
}

async function npmStart(): Promise<{ npm: ChildProcess; daemon: number; ports: number[] }> {
  const data = tempDir('safesphere-npm-');
  dirs.push(data);
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: {
      ...process.env,
      SAFESPHERE_DATA_DIR: data,
      SAFESPHERE_HTTP_PORT: '0',
      SAFESPHERE_MQTT_PORT: '0',
      SAFESPHERE_HTTP_HOST: '127.0.0.1',
      SAFESPHERE_MQTT_HOST: '127.0.0.1',
      SAFESPHERE_NODERED_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(npm);
  npm.stderr!.resume();
  const line = await waitFor(
    new Promise<Record<string, number>>((resolve, reject) => {
      createInterface({ input: npm.stdout! }).on('line', (l) => {
        if (l.includes('"gateway started"')) resolve(JSON.parse(l) as Record<string, number>);
      });
      npm.once('exit', (code) => reject(new Error(`npm start exited (${code}) before the gateway started`)));
    }),
    180_000, // prestart builds the TypeScript first
    'npm start to start the gateway',
  );
  const daemon = children(npm.pid!).find((c) => c.cmd.includes('dist/bin/safesphere-edge.js'));
  expect(daemon, 'the daemon is npm\'s direct child (the start script execs node)').toBeDefined();
  return { npm, daemon: daemon!.pid, ports: [line.http_port!, line.mqtt_port!] };
}

describe('npm start leaves no orphan', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
    it(`${signal} to npm: the daemon stops and its ports are free within the shutdown deadline`, async () => {
      const { npm, daemon, ports } = await npmStart();
      for (const p of ports) expect(await portFree(p)).toBe(false);
      npm.kill(signal);
      // SIGKILL cannot be passed on: the daemon notices its parent is gone (polled every 0.5 s).
      const deadline = SHUTDOWN_MS + (signal === 'SIGKILL' ? 1000 : 0) + 1000;
      await until(() => !alive(daemon), deadline, `daemon ${daemon} to exit after ${signal} to npm`);
      for (const p of ports) await until(() => portFree(p), 1000, `port ${p} to be free`);
    }, 240_000);
  }
});

describe('npm start builds only when the sources changed', () => {
  /** A copy of what the build reads (src/, tsconfig.json, package.json), so this test's builds never race the others' dist/. */
  function copy(): string {
    const dir = tempDir('safesphere-build-');
    dirs.push(dir);
    cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
    for (const f of ['tsconfig.json', 'package.json']) cpSync(join(ROOT, f), join(dir, f));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    return dir;
  }
  const build = (dir: string) => spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-if-changed.mjs'), dir], { encoding: 'utf8' });
  const entry = (dir: string) => statSync(join(dir, 'dist', 'bin', 'safesphere-edge.js')).mtimeMs;

  it('is the prestart script, and the systemd unit runs dist/ without npm or tsc', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prestart).toBe('node scripts/build-if-changed.mjs');
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(join(ROOT, 'systemd', 'safesphere-edge.service'), 'utf8'))![1]!;
    // The same node flags as npm start (test/daemon.ts runs the daemon with them too).
    expect(exec.startsWith(`/usr/bin/node ${shippedNodeFlags().join(' ')} /opt/safesphere-edge/dist/bin/safesphere-edge.js `), exec).toBe(true);
    expect(shippedNodeFlags()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50']);
    expect(exec).not.toMatch(/npm|tsc|tsx/);
  });

  it('compiles on the first start, not on the next, and again after a source edit', () => {
    const dir = copy();
    const first = build(dir);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toContain('compiling dist/');
    const builtAt = entry(dir);

    const second = build(dir);
    expect(second.status).toBe(0);
    expect(second.stderr).toContain('dist/ is current');
    expect(entry(dir)).toBe(builtAt); // dist/ untouched: tsc did not run

    const file = join(dir, 'src', 'levels.ts');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n// edited\n`);
    const third = build(dir);
    expect(third.status, third.stderr).toBe(0);
    expect(third.stderr).toContain('compiling dist/');
    expect(readFileSync(join(dir, 'dist', 'levels.js'), 'utf8')).toContain('// edited');
  }, 600_000);
});
