// The arming schedule under fake timers, in Europe/Berlin: weekday boundaries before and after
// the spring-forward change (a slot starting in the skipped hour starts when the clock jumps
// past it), the fall-back day's repeated hour, a holiday, a manual change holding until the
// next boundary, the catch-up after a restart, and the PIN lockout running out.
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WeeklySchedule } from '../src/arming/schedule.js';
import { ArmingService } from '../src/arming/service.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logger.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';

const SCHEDULE = {
  enabled: true,
  time_zone: 'Europe/Berlin',
  default_mode: 'armed_home',
  weekly: [
    { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', mode: 'disarmed' },
    { days: ['sat', 'sun'], from: '02:30', to: '05:00', mode: 'armed_night' },
  ],
  holidays: ['2026-04-03'],
  holiday_mode: 'armed_vacation',
};
const armingConfig = (extra: Record<string, unknown> = {}) => loadConfig({ overrides: { arming: { schedule: SCHEDULE, ...extra } } }).arming;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const at = (s: string) => Date.parse(s);

describe('WeeklySchedule in Europe/Berlin', () => {
  const s = new WeeklySchedule(armingConfig().schedule);

  it('finds the weekday boundaries in local time on both sides of the spring-forward change', () => {
    // Friday 27 March, CET (UTC+1): 08:00 local is 07:00Z.
    expect(s.modeAt(at('2026-03-27T06:59:00Z'))).toBe('armed_home');
    expect(iso(s.nextBoundary(at('2026-03-27T06:30:00Z')))).toBe('2026-03-27T07:00:00.000Z');
    expect(s.modeAt(at('2026-03-27T07:00:00Z'))).toBe('disarmed');
    expect(iso(s.nextBoundary(at('2026-03-27T07:00:00Z')))).toBe('2026-03-27T17:00:00.000Z');
    // Monday 30 March, CEST (UTC+2): 08:00 local is 06:00Z.
    expect(iso(s.nextBoundary(at('2026-03-30T05:00:00Z')))).toBe('2026-03-30T06:00:00.000Z');
    expect(iso(s.nextBoundary(at('2026-03-30T06:00:00Z')))).toBe('2026-03-30T16:00:00.000Z');
  });

  it('starts a slot that begins in the skipped hour when the clock jumps past it (29 March 2026)', () => {
    // 02:00 CET becomes 03:00 CEST at 01:00Z; 02:30 never shows on the wall.
    expect(s.modeAt(at('2026-03-29T00:59:00Z'))).toBe('armed_home');
    expect(iso(s.nextBoundary(at('2026-03-28T20:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(s.local(at('2026-03-29T01:00:00Z'))).toEqual({ date: '2026-03-29', weekday: 6, minute: 180 });
    // 05:00 CEST is 03:00Z.
    expect(iso(s.nextBoundary(at('2026-03-29T01:00:00Z')))).toBe('2026-03-29T03:00:00.000Z');
  });

  it('evaluates the repeated hour of the fall-back day (25 October 2026) as the wall clock shows it', () => {
    // 02:30 CEST (00:30Z) starts the slot; at 01:00Z the clock shows 02:00 CET again (before 02:30),
    // at 01:30Z it shows 02:30 CET, and 05:00 CET is 04:00Z.
    const from = at('2026-10-25T00:00:00Z');
    const b1 = s.nextBoundary(from)!;
    const b2 = s.nextBoundary(b1)!;
    const b3 = s.nextBoundary(b2)!;
    const b4 = s.nextBoundary(b3)!;
    expect([b1, b2, b3, b4].map(iso)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T04:00:00.000Z']);
    expect([b1, b2, b3, b4].map((b) => s.modeAt(b))).toEqual(['armed_night', 'armed_home', 'armed_night', 'armed_home']);
  });

  it('holds the holiday mode from local midnight to local midnight', () => {
    expect(s.modeAt(at('2026-04-02T17:00:00Z'))).toBe('armed_home'); // Thursday 19:00 CEST
    expect(iso(s.nextBoundary(at('2026-04-02T17:00:00Z')))).toBe('2026-04-02T22:00:00.000Z');
    expect(s.modeAt(at('2026-04-03T08:00:00Z'))).toBe('armed_vacation'); // Friday 10:00, a weekday slot otherwise
    expect(iso(s.nextBoundary(at('2026-04-03T08:00:00Z')))).toBe('2026-04-03T22:00:00.000Z');
  });
});

describe('ArmingService with the schedule, under fake timers', () => {
  let store: Store;
  beforeEach(async () => {
    store = new Store(tempDir(), createLogger('silent'));
    await store.start();
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.stop();
  });

  it('follows the boundaries, holds a manual change until the next one, and catches up after a restart', async () => {
    vi.setSystemTime(at('2026-03-23T06:30:00Z')); // Monday 07:30 CET
    const arming = new ArmingService(armingConfig(), store, createLogger('silent'));
    await arming.start();
    expect(arming.status()).toMatchObject({ mode: 'armed_home', source: 'schedule', schedule: { scheduled_mode: 'armed_home', next_boundary: '2026-03-23T07:00:00.000Z' } });

    await vi.advanceTimersByTimeAsync(30 * 60_000 - 1);
    expect(arming.mode).toBe('armed_home');
    await vi.advanceTimersByTimeAsync(1);
    expect(arming.mode).toBe('disarmed');

    // 10:00 local: a manual arm holds until 18:00 local (17:00Z), the next boundary.
    await vi.advanceTimersByTimeAsync(2 * 3600_000);
    const manual = await arming.set('armed_away', { by: 'guard', via: 'http' });
    expect(manual).toMatchObject({ mode: 'armed_away', previous: 'disarmed', override_until: '2026-03-23T17:00:00.000Z' });
    await vi.advanceTimersByTimeAsync(8 * 3600_000 - 1);
    expect(arming.mode).toBe('armed_away');
    await vi.advanceTimersByTimeAsync(1);
    expect(arming.status()).toMatchObject({ mode: 'armed_home', source: 'schedule', by: 'schedule', override_until: null });
    await arming.stop();

    // Off across Tuesday 08:00: the next start catches up, audited as a restart.
    vi.setSystemTime(at('2026-03-24T07:30:00Z'));
    const restarted = new ArmingService(armingConfig(), store, createLogger('silent'));
    await restarted.start();
    expect(restarted.status()).toMatchObject({ mode: 'disarmed', via: 'restart', by: 'schedule' });

    // The week up to the spring-forward night: armed_night starts at 01:00Z on Sunday.
    await vi.advanceTimersByTimeAsync(at('2026-03-29T01:00:00Z') - Date.now() - 1);
    expect(restarted.mode).toBe('armed_home');
    await vi.advanceTimersByTimeAsync(1);
    expect(restarted.mode).toBe('armed_night');
    await restarted.stop();

    const changes = store.arming.changes(0, 100).map((c) => [c.data.mode, c.data.via, c.data.at]);
    expect(changes).toEqual([
      ['disarmed', 'schedule', '2026-03-23T07:00:00.000Z'],
      ['armed_away', 'http', '2026-03-23T09:00:00.000Z'],
      ['armed_home', 'schedule', '2026-03-23T17:00:00.000Z'],
      ['disarmed', 'restart', '2026-03-24T07:30:00.000Z'],
      // Tuesday to Friday 08:00-18:00 and the Saturday night slot, in order, then Sunday's.
      ...(['03-24T17', '03-25T07', '03-25T17', '03-26T07', '03-26T17', '03-27T07', '03-27T17'] as const).map((t, i) => [
        i % 2 === 0 ? 'armed_home' : 'disarmed',
        'schedule',
        `2026-${t}:00:00.000Z`,
      ]),
      ['armed_night', 'schedule', '2026-03-28T01:30:00.000Z'],
      ['armed_home', 'schedule', '2026-03-28T04:00:00.000Z'],
      ['armed_night', 'schedule', '2026-03-29T01:00:00.000Z'],
    ]);
  });

  it('refuses PINs for pin_lockout_s after pin_max_failures wrong ones, then takes the right one', async () => {
    vi.setSystemTime(at('2026-05-04T10:00:00Z'));
    const arming = new ArmingService(
      armingConfig({ pin_hash: bcrypt.hashSync('2468', 4), pin_max_failures: 2, pin_lockout_s: 60, schedule: { ...SCHEDULE, enabled: false } }),
      store,
      createLogger('silent'),
    );
    await arming.start();
    const disarm = (pin: string | null) => arming.set('disarmed', { by: 'pad', via: 'mqtt', pin }).then(() => 'ok', (e: { code: string }) => e.code);
    expect(await disarm(null)).toBe('ARMING_PIN_WRONG');
    expect(await disarm('1111')).toBe('ARMING_PIN_WRONG');
    expect(await disarm('2468')).toBe('ARMING_PIN_LOCKED');
    await vi.advanceTimersByTimeAsync(59_999);
    expect(await disarm('2468')).toBe('ARMING_PIN_LOCKED');
    await vi.advanceTimersByTimeAsync(1);
    expect(await disarm('2468')).toBe('ok');
    expect(arming.mode).toBe('disarmed');
    // Arming needs no PIN, and neither does the HTTP path (its bearer token is the credential).
    expect(await arming.set('armed_away', { by: 'pad', via: 'mqtt' })).toMatchObject({ mode: 'armed_away' });
    expect(await arming.set('disarmed', { by: 'desk', via: 'http' })).toMatchObject({ mode: 'disarmed' });
    await arming.stop();
  });
});
