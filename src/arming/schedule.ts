// The weekly arming schedule in a configured time zone: the mode it gives at an instant, and
// the next instant that mode changes (a "boundary"). Wall-clock local time comes from Intl, so
// DST is the zone's own: on a spring-forward day a slot starting in the skipped hour starts
// when the clock jumps past it; on a fall-back day the repeated hour is evaluated twice, as the
// clock on the wall shows it.
import { MINUTES_PER_DAY, weekRanges, type WeekRange } from '../config/arming.js';
import type { ArmingMode, GatewayConfig } from '../config/schema.js';

type ScheduleConfig = GatewayConfig['arming']['schedule'];

const MINUTE = 60_000;
/** Every zone's UTC offset changes only on a 15-minute boundary of UTC. */
const OFFSET_BLOCK = 15 * MINUTE;
/** How far ahead a boundary is looked for (a schedule may not change for a week). */
const HORIZON_MS = 8 * 24 * 60 * MINUTE;

export interface LocalTime {
  date: string; // YYYY-MM-DD
  weekday: number; // 0 = Monday
  minute: number; // minute of the day
}

export class WeeklySchedule {
  private readonly ranges: WeekRange[];
  private readonly holidays: ReadonlySet<string>;
  private readonly fmt: Intl.DateTimeFormat;
  private offsetCache: { block: number; offset: number } | null = null;

  constructor(readonly config: ScheduleConfig) {
    this.ranges = weekRanges(config.weekly);
    this.holidays = new Set(config.holidays);
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: config.time_zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** The zone's UTC offset (ms) at `ms`. */
  private offset(ms: number): number {
    const block = Math.floor(ms / OFFSET_BLOCK);
    if (this.offsetCache?.block === block) return this.offsetCache.offset;
    const at = block * OFFSET_BLOCK;
    const p = Object.fromEntries(this.fmt.formatToParts(at).map((x) => [x.type, x.value]));
    const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute));
    const offset = local - at;
    this.offsetCache = { block, offset };
    return offset;
  }

  local(ms: number): LocalTime {
    const d = new Date(Math.floor(ms / MINUTE) * MINUTE + this.offset(ms));
    return {
      date: d.toISOString().slice(0, 10),
      weekday: (d.getUTCDay() + 6) % 7,
      minute: d.getUTCHours() * 60 + d.getUTCMinutes(),
    };
  }

  /** The scheduled mode at `ms`: a holiday's mode all day, else the slot covering the minute, else the default. */
  modeAt(ms: number): ArmingMode {
    const t = this.local(ms);
    if (this.holidays.has(t.date)) return this.config.holiday_mode;
    const w = t.weekday * MINUTES_PER_DAY + t.minute;
    for (const r of this.ranges) {
      if (r.start > w) break;
      if (w < r.end) return r.mode;
    }
    return this.config.default_mode;
  }

  /** The first instant after `ms` at which the scheduled mode differs from the one at `ms`; null if none within 8 days. */
  nextBoundary(ms: number): number | null {
    const now = this.modeAt(ms);
    const end = ms + HORIZON_MS;
    for (let t = Math.floor(ms / MINUTE) * MINUTE + MINUTE; t <= end; t += MINUTE) {
      if (this.modeAt(t) !== now) return t;
    }
    return null;
  }
}
