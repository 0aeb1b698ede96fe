// Test harness for the real daemon: `node --import tsx src/bin/safesphere-edge.ts` in a
// child process, on loopback port 0, reading its ports from the "gateway started" log line.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The node flags of package.json's start script (the V8 memory settings, README "Memory"):
 * every daemon a test or bench starts runs with them, as `npm start` and the unit do.
 */
export function shippedNodeFlags(): string[] {
  const start = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const m = /^exec node ((?:--\S+ )*)dist\/bin\/safesphere-edge\.js$/.exec(start);
  if (!m) throw new Error(`package.json's start script is not "exec node [flags] dist/bin/safesphere-edge.js": ${start}`);
  return m[1]!.trim().split(' ').filter(Boolean);
}

/** The env that gives the daemon the shipped notify.action_types (test/daemon.ts turns them off by default). */
export const NOTIFY_AS_SHIPPED = {
  SAFESPHERE_NOTIFY_ACTION_TYPES: JSON.stringify([
    'alert_user',
    'notify_police',
    'police_dispatch',
    'notify_emergency_contacts',
    'notify_all_contacts',
    'share_location',
    'live_location',
    'armed_threat_escalation',
  ]),
};

export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every daemon started and not yet reaped, so a failing test cannot leak one. */
const live = new Set<Daemon>();

export class Daemon {
  readonly lines: LogLine[] = [];
  stderr = '';
  httpPort = 0;
  mqttPort = 0;
  noderedPort = 0;
  exitStatus: ExitStatus | null = null;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private readonly lineWaiters = new Set<() => void>();
  private readonly killOnParentExit = () => this.child.kill('SIGKILL');

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(this);
        process.off('exit', this.killOnParentExit);
        for (const wake of this.lineWaiters) wake();
        resolve(this.exitStatus);
      });
    });
    live.add(this);
    process.once('exit', this.killOnParentExit);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: line, unparsed: true };
      }
      this.lines.push(parsed);
      for (const wake of this.lineWaiters) wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  /** Spawns the daemon on `dataDir` and resolves once it has logged "gateway started". */
  static async start(
    dataDir: string,
    env: Record<string, string> = {},
    timeoutMs = 20_000,
    /** Run the compiled dist/ (as deployed; `npm run build` first) instead of the sources through tsx. */
    options: { built?: boolean; nodeArgs?: string[] } = {},
  ): Promise<Daemon> {
    // nodeArgs: flags for node itself (e.g. --cpu-prof, which NODE_OPTIONS does not take); also
    // DAEMON_NODE_ARGS, to profile the daemon a bench spawns: "--cpu-prof --cpu-prof-dir=/tmp/p".
    const nodeArgs = [...shippedNodeFlags(), ...(options.nodeArgs ?? []), ...(process.env.DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const args = [...nodeArgs, ...(options.built ? ['dist/bin/safesphere-edge.js'] : ['--import', 'tsx', 'src/bin/safesphere-edge.ts'])];
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        SAFESPHERE_DATA_DIR: dataDir,
        SAFESPHERE_HTTP_PORT: '0',
        SAFESPHERE_MQTT_PORT: '0',
        SAFESPHERE_HTTP_HOST: '127.0.0.1',
        SAFESPHERE_MQTT_HOST: '127.0.0.1',
        SAFESPHERE_LOG_LEVEL: 'info',
        // Node-RED boots in about a second; on only for the tests that pass SAFESPHERE_NODERED_ENABLED=true.
        SAFESPHERE_NODERED_ENABLED: 'false',
        SAFESPHERE_NODERED_PORT: '0',
        SAFESPHERE_NODERED_HOST: '127.0.0.1',
        // As in test/helpers.ts: contacts and escalation carry nothing unless a test asks (NOTIFY_AS_SHIPPED).
        SAFESPHERE_NOTIFY_ACTION_TYPES: '[]',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon = new Daemon(child, dataDir);
    try {
      const started = await daemon.waitForLog((l) => l.msg === 'gateway started', timeoutMs);
      daemon.httpPort = started.http_port as number;
      daemon.mqttPort = started.mqtt_port as number;
      daemon.noderedPort = (started.nodered_port as number | null) ?? 0;
    } catch (err) {
      await daemon.kill('SIGKILL');
      throw err;
    }
    return daemon;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line (past or future) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < this.lines.length; seen++) {
          const line = this.lines[seen]!;
          if (predicate(line)) return done(() => resolve(line));
        }
        if (this.exitStatus) {
          const status = JSON.stringify(this.exitStatus);
          return done(() => reject(new Error(`daemon exited (${status}) before the awaited log line\n${this.stderr.slice(-2000)}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching daemon log line within ${timeoutMs} ms\n${this.stderr.slice(-2000)}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.lineWaiters.delete(check);
        settle();
      };
      this.lineWaiters.add(check);
      check();
    });
  }

  /** Sends `signal` (if still running) and resolves with the exit status, or rejects after `timeoutMs`. */
  async kill(signal: NodeJS.Signals, timeoutMs = 10_000): Promise<ExitStatus> {
    if (!this.exitStatus) this.child.kill(signal);
    return waitFor(this.exited, timeoutMs, `daemon pid ${this.pid} to exit after ${signal}`);
  }
}

/** SIGKILLs every daemon still running and waits for each to exit: for afterEach/afterAll. */
export async function reapDaemons(): Promise<void> {
  await Promise.all([...live].map((d) => d.kill('SIGKILL').catch(() => undefined)));
}

/** Resolves with `work`, or rejects naming `what` after `ms`. */
export async function waitFor<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
