// No orphans from `npm start`: SIGTERM or SIGINT to npm reaches the daemon (the start script
// execs node, and npm forwards both), and a parent killed outright is noticed by the daemon
// itself. Either way no daemon is left and its ports are free within the shutdown deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from './daemon.js';
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
