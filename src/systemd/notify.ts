// sd_notify for Type=notify services. Node has no unix datagram sockets, so each message
// is sent by systemd's own `systemd-notify` tool, which (systemd >= 246) also waits for the
// manager to process it (BARRIER), so the message cannot be lost to the sender exiting
// first. The unit sets NotifyAccess=all, since the sender is a child process; --pid names
// this process as the main PID.
//
// NOTIFY_SOCKET and the WATCHDOG_* variables are read once and removed from the environment,
// so no child process (Node-RED, exec nodes) can speak for the service.
import { spawn } from 'node:child_process';
import type { Logger } from '../logger.js';

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

export class SdNotify {
  readonly socket: string | null;
  /** The watchdog interval systemd expects (WatchdogSec), in ms; null when the watchdog is off. */
  readonly watchdogMs: number | null;
  sent = 0;
  failed = 0;

  constructor(
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
    private readonly command = 'systemd-notify',
  ) {
    this.socket = env.NOTIFY_SOCKET || null;
    const usec = Number(env.WATCHDOG_USEC);
    const pidOk = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogMs = this.socket && Number.isFinite(usec) && usec > 0 && pidOk ? usec / 1000 : null;
    if (env === process.env) {
      delete process.env.NOTIFY_SOCKET;
      delete process.env.WATCHDOG_USEC;
      delete process.env.WATCHDOG_PID;
    }
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  /** Sends `KEY=value` assignments; resolves true once systemd-notify reports success. Never rejects. */
  send(...assignments: string[]): Promise<boolean> {
    const socket = this.socket;
    if (!socket) return Promise.resolve(false);
    return new Promise((resolve) => {
      const child = spawn(this.command, [`--pid=${process.pid}`, ...assignments], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      // The barrier waits for the manager; never let a stuck manager hold us.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const finish = (ok: boolean, why?: string) => {
        clearTimeout(timer);
        if (ok) this.sent++;
        else {
          this.failed++;
          this.log.warn({ assignments, err: why }, 'sd_notify failed');
        }
        resolve(ok);
      };
      child.once('error', (err) => finish(false, err.message));
      child.once('exit', (code, signal) => (code === 0 ? finish(true) : finish(false, stderr.trim() || `exit ${code ?? signal}`)));
    });
  }
}

/**
 * Sends WATCHDOG=1 every half WatchdogSec while `alive()` (the db answers) holds. The timer
 * itself only fires while the event loop turns, and a tick that comes late by more than half
 * the interval (a stalled loop) is skipped, so a blocked loop or a dead db lets systemd's
 * watchdog fire and restart the service.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  skipped = 0;
  pings = 0;

  constructor(
    private readonly notify: SdNotify,
    private readonly alive: () => boolean,
    private readonly log: Logger,
    private readonly intervalMs = notify.watchdogMs ? notify.watchdogMs / 2 : 0,
  ) {}

  start(): void {
    if (!this.notify.enabled || this.intervalMs <= 0 || this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.log.info({ interval_ms: this.intervalMs }, 'systemd watchdog on');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = performance.now();
    const lag = now - this.last - this.intervalMs;
    this.last = now;
    if (lag > this.intervalMs / 2) {
      this.skipped++;
      this.log.warn({ lag_ms: Math.round(lag) }, 'event loop stalled; watchdog ping skipped');
      return;
    }
    if (!this.alive()) {
      this.skipped++;
      this.log.error('database does not answer; watchdog ping withheld');
      return;
    }
    this.pings++;
    void this.notify.send('WATCHDOG=1');
  }
}
