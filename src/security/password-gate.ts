// Password checks that cost the attacker, not the cameras. Every check (MQTT accounts, the
// Node-RED editor's login) goes through one gate per listener kind:
//   - bcrypt runs off the event loop (@node-rs/bcrypt: native, on libuv's thread pool), at most
//     `auth_max_concurrent` at once, `auth_max_queued` waiting; beyond that a login is refused
//     at once, unchecked;
//   - wrong passwords are counted per client address and per username; past
//     `auth_free_failures`, each further check from that address (or for that username) waits
//     a delay that doubles per failure up to `auth_delay_max_ms`, counted from the last one.
//     MQTT holds the CONNACK for the wait, so the right password still gets in, later (nobody
//     can lock a camera out by failing on its username); the editor answers 429 instead, per
//     address only (so nobody can lock the installer out from another address);
//   - one address may have at most `auth_max_pending_per_address` logins waiting, so delayed
//     connections cannot fill the connection cap.
import { verify } from '@node-rs/bcrypt';
import type { GatewayConfig } from '../config/schema.js';

/** A cost-10 hash of a password nobody has: an unknown username costs one real check too. */
const NO_ACCOUNT_HASH = '$2b$10$2MfvejJDc5bDHl2CE4wHa.ECK3Nd90rZCw0CeAm2NPFhWzpIaKBZW';
const MAX_KEYS = 20_000;

export type GateOutcome =
  | { kind: 'ok' }
  | { kind: 'wrong'; delayedMs: number }
  | { kind: 'busy'; reason: string }
  /** Only without `hold`: the address must wait `retryMs` before its next check. */
  | { kind: 'throttled'; retryMs: number };

export interface GateCounters {
  checks: number;
  failures: number;
  delayed: number;
  refused_busy: number;
}

interface Failures {
  count: number;
  last: number;
}

export class PasswordGate {
  private readonly failures = new Map<string, Failures>();
  private readonly pendingByAddress = new Map<string, number>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  readonly counters: GateCounters = { checks: 0, failures: 0, delayed: 0, refused_busy: 0 };

  constructor(
    private readonly limits: Pick<
      GatewayConfig['limits'],
      | 'auth_free_failures'
      | 'auth_delay_base_ms'
      | 'auth_delay_max_ms'
      | 'auth_failure_window_s'
      | 'auth_max_concurrent'
      | 'auth_max_queued'
      | 'auth_max_pending_per_address'
    >,
    /** Count failures per username too (MQTT). The editor's login counts per address only: a username's count would let anyone lock the installer out. */
    private readonly perUsername = true,
    private readonly now: () => number = Date.now,
  ) {}

  private count(key: string, now: number): number {
    const f = this.failures.get(key);
    if (!f) return 0;
    if (now - f.last > this.limits.auth_failure_window_s * 1000) {
      this.failures.delete(key);
      return 0;
    }
    return f.count;
  }

  /** The delay `count` failures earn, measured from the last of them. */
  private delayAfter(count: number): number {
    const over = count - this.limits.auth_free_failures;
    if (over < 0) return 0;
    return Math.min(this.limits.auth_delay_max_ms, this.limits.auth_delay_base_ms * 2 ** Math.min(over, 30));
  }

  /** How long the next check from `address` for `username` must wait (0: now). */
  waitMs(address: string, username: string): number {
    const now = this.now();
    let wait = 0;
    for (const key of this.perUsername ? [`a:${address}`, `u:${username}`] : [`a:${address}`]) {
      const n = this.count(key, now);
      if (n === 0) continue;
      wait = Math.max(wait, this.failures.get(key)!.last + this.delayAfter(n) - now);
    }
    return Math.max(0, wait);
  }

  private fail(key: string, now: number): void {
    const count = this.count(key, now) + 1;
    this.failures.delete(key); // re-inserted last: the map's order is oldest failure first
    this.failures.set(key, { count, last: now });
    if (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }

  /**
   * Checks `password` against `hash` (null: no such user; it costs the same and fails) for a
   * login from `address` as `username`, after the delay the earlier failures earned: held for
   * it (`hold`, MQTT: the CONNACK simply comes later), or answered `throttled` (HTTP: 429).
   */
  async check(address: string, username: string, password: string | Buffer, hash: string | null, hold = true): Promise<GateOutcome> {
    const wait = this.waitMs(address, username);
    if (wait > 0 && !hold) {
      this.counters.delayed++;
      return { kind: 'throttled', retryMs: wait };
    }
    const pending = this.pendingByAddress.get(address) ?? 0;
    if (pending >= this.limits.auth_max_pending_per_address) {
      this.counters.refused_busy++;
      return { kind: 'busy', reason: `${pending} logins from this address are already waiting` };
    }
    this.pendingByAddress.set(address, pending + 1);
    try {
      const delayedMs = wait;
      if (delayedMs > 0) {
        this.counters.delayed++;
        await new Promise<void>((resolve) => setTimeout(resolve, delayedMs).unref());
      }
      if (this.running >= this.limits.auth_max_concurrent) {
        if (this.queue.length >= this.limits.auth_max_queued) {
          this.counters.refused_busy++;
          return { kind: 'busy', reason: 'too many password checks are waiting' };
        }
        await new Promise<void>((resolve) => this.queue.push(resolve));
      } else {
        this.running++;
      }
      let ok = false;
      try {
        this.counters.checks++;
        const secret = typeof password === 'string' ? password : password.toString('utf8');
        ok = (await verify(secret, hash ?? NO_ACCOUNT_HASH).catch(() => false)) && hash !== null;
      } finally {
        // Hand the slot straight to the next waiter (running stays the same), else free it.
        const next = this.queue.shift();
        if (next) next();
        else this.running--;
      }
      const now = this.now();
      if (ok) {
        // The username's count only: a success proves nothing about the address's other guesses.
        this.failures.delete(`u:${username}`);
        return { kind: 'ok' };
      }
      this.counters.failures++;
      this.fail(`a:${address}`, now);
      if (this.perUsername) this.fail(`u:${username}`, now);
      return { kind: 'wrong', delayedMs };
    } finally {
      const left = (this.pendingByAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.pendingByAddress.delete(address);
      else this.pendingByAddress.set(address, left);
    }
  }

  /** Checks running and waiting, for health. */
  get load(): { running: number; queued: number; tracked: number } {
    return { running: this.running, queued: this.queue.length, tracked: this.failures.size };
  }
}
