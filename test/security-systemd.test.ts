// systemd integration against real things: sd_notify through systemd-notify to a unix
// datagram socket we bind (python3's socket module, test/faults/notify_listener.py), the
// real daemon's READY=1 / WATCHDOG=1 / STOPPING=1, and `systemd-analyze security` on the unit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { SdNotify, Watchdog } from '../src/systemd/notify.js';
import { Daemon, reapDaemons } from './daemon.js';
import { LogCapture, tempDir } from './helpers.js';

const LISTENER = fileURLToPath(new URL('./faults/notify_listener.py', import.meta.url));
const UNIT = fileURLToPath(new URL('../systemd/safesphere-edge.service', import.meta.url));
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

interface Datagram {
  pid: number | null;
  message: string;
  at: number;
}

class NotifyListener {
  readonly messages: Datagram[] = [];
  private constructor(
    readonly child: ChildProcess,
    readonly path: string,
  ) {}
  static async start(dir: string): Promise<NotifyListener> {
    const path = join(dir, 'notify.sock');
    const child = spawn('python3', [LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const l = new NotifyListener(child, path);
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        const m = JSON.parse(line) as { listening?: string; pid?: number; message?: string };
        if (m.listening) resolve();
        else l.messages.push({ pid: m.pid ?? null, message: m.message ?? '', at: Date.now() });
      });
      child.once('exit', () => reject(new Error('notify listener exited')));
    });
    return l;
  }
  has(fragment: string): Datagram | undefined {
    return this.messages.find((m) => m.message.split('\n').includes(fragment));
  }
  async waitFor(fragment: string, ms = 10_000): Promise<Datagram> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const m = this.has(fragment);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no ${fragment} within ${ms} ms; got ${JSON.stringify(this.messages.map((m) => m.message))}`);
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

const canRun = have('systemd-notify') && have('python3');

describe.skipIf(!canRun)('sd_notify through systemd-notify to a real datagram socket', () => {
  const cleanup: (() => void)[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const c of cleanup.splice(0)) c();
  });

  it('the daemon sends READY=1 only once HTTP and MQTT accept connections, WATCHDOG=1 while alive, STOPPING=1 on SIGTERM', async () => {
    const dir = tempDir('safesphere-notify-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const listener = await NotifyListener.start(dir);
    cleanup.push(() => listener.stop());
    const daemon = await Daemon.start(join(dir, 'data'), { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '1000000' });
    const ready = await listener.waitFor('READY=1');
    // MAINPID names the daemon, and READY came after the "gateway started" line (every component up).
    expect(ready.message).toContain(`MAINPID=${daemon.pid}`);
    const startedAt = daemon.lines.findIndex((l) => l.msg === 'gateway started');
    expect(startedAt).toBeGreaterThanOrEqual(0);
    for (const port of [daemon.httpPort, daemon.mqttPort]) {
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
    }
    // WatchdogSec=1 s: a ping every 500 ms.
    await new Promise((r) => setTimeout(r, 2200));
    const pings = listener.messages.filter((m) => m.message.includes('WATCHDOG=1'));
    expect(pings.length).toBeGreaterThanOrEqual(3);
    // A stopped process sends nothing: the watchdog only runs while the event loop turns.
    daemon.child.kill('SIGSTOP');
    const before = listener.messages.filter((m) => m.message.includes('WATCHDOG=1')).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(listener.messages.filter((m) => m.message.includes('WATCHDOG=1')).length).toBe(before);
    daemon.child.kill('SIGCONT');
    expect(await daemon.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    await listener.waitFor('STOPPING=1', 3000);
    // The child processes cannot speak for the service: NOTIFY_SOCKET is gone from the environment.
  }, 40_000);

  it('the watchdog withholds WATCHDOG=1 while the db does not answer, and resumes when it does', async () => {
    const dir = tempDir('safesphere-notify-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const listener = await NotifyListener.start(dir);
    cleanup.push(() => listener.stop());
    const log = createLogger('info', new LogCapture());
    const notify = new SdNotify(log, { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '400000' });
    expect(notify.watchdogMs).toBe(400);
    let dbUp = true;
    const wd = new Watchdog(notify, () => dbUp, log);
    wd.start();
    try {
      await new Promise((r) => setTimeout(r, 700));
      const upPings = listener.messages.filter((m) => m.message.includes('WATCHDOG=1')).length;
      expect(upPings).toBeGreaterThanOrEqual(2);
      dbUp = false;
      await new Promise((r) => setTimeout(r, 250));
      const atDown = listener.messages.length;
      await new Promise((r) => setTimeout(r, 800));
      expect(listener.messages.length).toBe(atDown);
      expect(wd.skipped).toBeGreaterThanOrEqual(3);
      dbUp = true;
      await new Promise((r) => setTimeout(r, 600));
      expect(listener.messages.length).toBeGreaterThan(atDown);
      // A blocked event loop: the tick after it is late and skipped too.
      const skippedBefore = wd.skipped;
      const until = Date.now() + 700;
      while (Date.now() < until);
      await new Promise((r) => setTimeout(r, 50));
      expect(wd.skipped).toBeGreaterThan(skippedBefore);
    } finally {
      wd.stop();
    }
  });

  it('without NOTIFY_SOCKET nothing is sent and nothing fails', async () => {
    const notify = new SdNotify(createLogger('silent'), {});
    expect(notify.enabled).toBe(false);
    expect(await notify.send('READY=1')).toBe(false);
  });
});

describe.skipIf(!have('systemd-analyze'))('the unit file', () => {
  it('has the required settings and a systemd-analyze security exposure of 2.5 or lower', () => {
    const res = spawnSync('systemd-analyze', ['security', '--offline=yes', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for safesphere-edge\.service: ([\d.]+)/.exec(res.stdout + res.stderr);
    expect(m, res.stdout + res.stderr).not.toBeNull();
    const exposure = Number(m![1]);
    console.log(`systemd-analyze security exposure: ${exposure}`);
    expect(exposure).toBeLessThanOrEqual(2.5);
  });
});
afterAll(() => undefined);
