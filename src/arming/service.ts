// The arming mode: what the policy asks for each report (ModeSource), who may change it and
// how, the weekly schedule, and the audit of every change (src/store/arming.ts: state, audit
// row for upstream and feed row in one transaction). The mode is read on the report path, so
// it lives in memory and is loaded from the store on first use, before any report can plan.
import bcrypt from 'bcryptjs';
import { ARMING_MODES, type ArmingMode, type GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { ModeSource } from '../policy/policy.js';
import type { ArmingChange, ArmingStateRow, SiteEvent } from '../store/arming.js';
import type { Store } from '../store/store.js';
import { WeeklySchedule } from './schedule.js';

export type ArmingVia = 'http' | 'dashboard' | 'mqtt' | 'homeassistant' | 'node-red' | 'schedule' | 'restart';

export interface SetRequest {
  by: string;
  via: ArmingVia;
  /** Required to disarm over MQTT / Home Assistant when arming.pin_hash is set. */
  pin?: string | null;
  reason?: string;
}

export interface ArmingStatus {
  mode: ArmingMode;
  source: ArmingStateRow['source'];
  since: string;
  by: string;
  via: string;
  override_until: string | null;
  schedule: { enabled: boolean; time_zone: string; scheduled_mode: ArmingMode | null; next_boundary: string | null };
  pin: { configured: boolean; locked_until: string | null };
}

/** Where a PIN is asked for: the remote paths without a bearer token. */
const PIN_VIA: ReadonlySet<ArmingVia> = new Set(['mqtt', 'homeassistant']);
/** Re-evaluate at least this often, so a clock set late (a Pi without RTC, NTP) cannot hold a stale mode. */
const MAX_TICK_MS = 60 * 60_000;

export const isArmingMode = (m: unknown): m is ArmingMode => typeof m === 'string' && (ARMING_MODES as readonly string[]).includes(m);

export class ArmingService implements ModeSource {
  readonly schedule: WeeklySchedule;
  private current: { mode: ArmingMode; source: ArmingStateRow['source']; overrideUntilMs: number | null; since: string; by: string; via: string } | null =
    null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(change: ArmingChange) => void>();
  private pinFailures = 0;
  private pinLockedUntil = 0;
  /** A PIN check in flight: checks run one at a time, so a burst cannot outrun the failure count. */
  private pinQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: GatewayConfig['arming'],
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.schedule = new WeeklySchedule(config.schedule);
  }

  get mode(): ArmingMode {
    return this.load().mode;
  }

  /** Loads the stored mode (first start: the schedule's or initial_mode) and applies the schedule once. */
  private load(): NonNullable<ArmingService['current']> {
    if (this.current) return this.current;
    const now = Date.now();
    const row = this.store.arming.state();
    if (!row) {
      const scheduled = this.schedule.enabled;
      const mode = scheduled ? this.schedule.modeAt(now) : this.config.initial_mode;
      const at = new Date(now).toISOString();
      this.store.arming.saveState(mode, scheduled ? 'schedule' : 'initial', null, at);
      this.current = { mode, source: scheduled ? 'schedule' : 'initial', overrideUntilMs: null, since: at, by: scheduled ? 'schedule' : 'config', via: scheduled ? 'schedule' : 'initial' };
      this.log.info({ mode, source: this.current.source }, 'arming mode set for the first time');
      return this.current;
    }
    const last = row.event_seq === null ? undefined : this.store.arming.changes(row.event_seq - 1, 1)[0];
    const change = last?.data as Partial<ArmingChange> | undefined;
    this.current = {
      mode: row.mode,
      source: row.source,
      overrideUntilMs: row.override_until_ms,
      since: change?.at ?? row.updated_at,
      by: change?.by ?? (row.source === 'initial' ? 'config' : row.source),
      via: change?.via ?? row.source,
    };
    // The gateway may have been off across a boundary: the schedule catches up now, audited as "restart".
    this.applySchedule(now, 'restart');
    return this.current;
  }

  async start(): Promise<void> {
    const c = this.load();
    this.log.info({ mode: c.mode, source: c.source, since: c.since, schedule: this.schedule.enabled }, 'arming mode');
    this.arm();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  onChange(listener: (change: ArmingChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Changes the mode. Refuses an unknown mode (INVALID_ARMING), and a disarm over MQTT or Home
   * Assistant without the right PIN when one is configured (ARMING_PIN_WRONG; after
   * pin_max_failures wrong ones, ARMING_PIN_LOCKED for pin_lockout_s). Resolves with the audited
   * change, or null when the mode already was `mode` (nothing to audit).
   */
  async set(mode: unknown, request: SetRequest): Promise<ArmingChange | null> {
    if (!isArmingMode(mode)) {
      throw new GatewayError(ERRORS.INVALID_ARMING, [{ path: 'mode', message: `must be one of ${ARMING_MODES.join(', ')}` }]);
    }
    if (this.config.pin_hash && mode === 'disarmed' && PIN_VIA.has(request.via)) await this.checkPin(request);
    const now = Date.now();
    const c = this.load();
    // A manual change under a schedule holds until the schedule's next boundary.
    const until = this.schedule.enabled ? (this.schedule.nextBoundary(now) ?? now + 8 * 24 * 3600_000) : null;
    if (c.mode === mode) {
      if (this.schedule.enabled) {
        c.source = 'manual';
        c.overrideUntilMs = until;
        this.store.arming.saveState(mode, 'manual', until, new Date(now).toISOString());
        this.arm();
      }
      return null;
    }
    return this.change(mode, request.by, request.via, 'manual', until, now, request.reason);
  }

  private async checkPin(request: SetRequest): Promise<void> {
    const run = this.pinQueue.then(async () => {
      const now = Date.now();
      if (now < this.pinLockedUntil) {
        this.log.warn({ by: request.by, via: request.via, locked_until: new Date(this.pinLockedUntil).toISOString() }, 'disarm refused: PINs are locked out');
        throw new GatewayError(ERRORS.ARMING_PIN_LOCKED, [{ path: 'code', message: `refused until ${new Date(this.pinLockedUntil).toISOString()}` }]);
      }
      const ok = typeof request.pin === 'string' && request.pin.length > 0 && request.pin.length <= 64 && (await bcrypt.compare(request.pin, this.config.pin_hash));
      if (ok) {
        this.pinFailures = 0;
        return;
      }
      this.pinFailures++;
      if (this.pinFailures >= this.config.pin_max_failures) {
        this.pinLockedUntil = Date.now() + this.config.pin_lockout_s * 1000;
        this.pinFailures = 0;
      }
      this.log.warn({ by: request.by, via: request.via, failures: this.pinFailures, locked: this.pinLockedUntil > Date.now() }, 'disarm refused: wrong or missing PIN');
      throw new GatewayError(ERRORS.ARMING_PIN_WRONG, [{ path: 'code', message: request.pin ? 'is not the PIN' : 'is required to disarm' }]);
    });
    this.pinQueue = run.catch(() => undefined);
    await run;
  }

  private change(mode: ArmingMode, by: string, via: string, source: ArmingStateRow['source'], overrideUntilMs: number | null, now: number, reason?: string): ArmingChange {
    const c = this.current!;
    const change: ArmingChange = {
      mode,
      previous: c.mode,
      by,
      via,
      at: new Date(now).toISOString(),
      override_until: overrideUntilMs === null ? null : new Date(overrideUntilMs).toISOString(),
      ...(reason ? { reason } : {}),
    };
    this.store.arming.recordChange(change, source, overrideUntilMs);
    this.current = { mode, source, overrideUntilMs, since: change.at, by, via };
    this.log.info(change, 'arming mode changed');
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.error({ err }, 'arming listener failed');
      }
    }
    this.arm();
    return change;
  }

  /** Follows the schedule at `now` unless a manual change still holds. */
  private applySchedule(now: number, via: 'schedule' | 'restart'): void {
    const c = this.current;
    if (!c || !this.schedule.enabled) return;
    if (c.source === 'manual' && c.overrideUntilMs !== null && now < c.overrideUntilMs) return;
    const target = this.schedule.modeAt(now);
    if (target !== c.mode) {
      this.change(target, 'schedule', via, 'schedule', null, now, c.source === 'manual' ? 'the manual change held until this boundary' : undefined);
    } else if (c.source !== 'schedule') {
      c.source = 'schedule';
      c.overrideUntilMs = null;
      this.store.arming.saveState(c.mode, 'schedule', null, new Date(now).toISOString());
    }
  }

  /** Sets the timer for the next boundary (or the end of an override), at most an hour away. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.schedule.enabled || !this.current) return;
    const now = Date.now();
    const c = this.current;
    const next = c.source === 'manual' && c.overrideUntilMs !== null && c.overrideUntilMs > now ? c.overrideUntilMs : this.schedule.nextBoundary(now);
    const delay = Math.max(0, Math.min(MAX_TICK_MS, (next ?? now + MAX_TICK_MS) - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      try {
        this.applySchedule(Date.now(), 'schedule');
      } catch (err) {
        this.log.error({ err }, 'applying the arming schedule failed');
      }
      this.arm();
    }, delay);
    this.timer.unref();
  }

  status(): ArmingStatus {
    const c = this.load();
    const now = Date.now();
    const next = this.schedule.enabled ? this.schedule.nextBoundary(now) : null;
    return {
      mode: c.mode,
      source: c.source,
      since: c.since,
      by: c.by,
      via: c.via,
      override_until: c.source === 'manual' && c.overrideUntilMs !== null ? new Date(c.overrideUntilMs).toISOString() : null,
      schedule: {
        enabled: this.schedule.enabled,
        time_zone: this.config.schedule.time_zone,
        scheduled_mode: this.schedule.enabled ? this.schedule.modeAt(now) : null,
        next_boundary: next === null ? null : new Date(next).toISOString(),
      },
      pin: { configured: this.config.pin_hash !== '', locked_until: this.pinLockedUntil > now ? new Date(this.pinLockedUntil).toISOString() : null },
    };
  }

  changes(after: number, limit: number): SiteEvent[] {
    return this.store.arming.changes(after, limit);
  }

  health(): ComponentHealth {
    const c = this.load();
    return { status: 'up', mode: c.mode, source: c.source, since: c.since };
  }
}
