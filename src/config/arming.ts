// The checks of the arming section that a JSON schema cannot express, run by loadConfig so a
// bad schedule or mode policy stops the start with exit 78 naming the key: a time zone that
// does not exist, impossible dates, overlapping weekly slots, an action type a mode keeps that
// the policy never plans at that level. The weekly slot arithmetic lives here too, since the
// schedule (src/arming/schedule.ts) evaluates exactly what was checked.
import { ARMING_MODES, LEVELS, WEEKDAYS, type ArmingMode, type GatewayConfig } from './schema.js';

export const MINUTES_PER_DAY = 1440;
export const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

/** A weekly slot as half-open minute ranges of the week (Monday 00:00 = 0), split where it wraps. */
export interface WeekRange {
  start: number;
  end: number;
  mode: ArmingMode;
  /** Index in arming.schedule.weekly. */
  slot: number;
  day: (typeof WEEKDAYS)[number];
}

export const parseHhMm = (t: string): number => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

/** Every slot's ranges; a slot whose `to` is not after its `from` runs into the next day. */
export function weekRanges(weekly: GatewayConfig['arming']['schedule']['weekly'], skip: ReadonlySet<number> = new Set()): WeekRange[] {
  const out: WeekRange[] = [];
  weekly.forEach((s, slot) => {
    if (skip.has(slot)) return;
    const from = parseHhMm(s.from);
    const to = parseHhMm(s.to);
    const length = to > from ? to - from : to + MINUTES_PER_DAY - from;
    for (const day of new Set(s.days)) {
      const start = WEEKDAYS.indexOf(day) * MINUTES_PER_DAY + from;
      const end = start + length;
      if (end <= MINUTES_PER_WEEK) out.push({ start, end, mode: s.mode, slot, day });
      else {
        out.push({ start, end: MINUTES_PER_WEEK, mode: s.mode, slot, day });
        out.push({ start: 0, end: end - MINUTES_PER_WEEK, mode: s.mode, slot, day });
      }
    }
  });
  return out.sort((a, b) => a.start - b.start);
}

const hhmm = (weekMinute: number) => {
  const m = weekMinute % MINUTES_PER_DAY;
  return `${WEEKDAYS[Math.floor(weekMinute / MINUTES_PER_DAY) % 7]} ${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function validDate(d: string): boolean {
  const [y, m, day] = d.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, day));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === day;
}

/** Problems in the arming section, each starting with its key path (empty: fine). */
export function armingProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const { schedule, modes } = config.arming;
  if (!validTimeZone(schedule.time_zone)) problems.push(`arming.schedule.time_zone: "${schedule.time_zone}" is not an IANA time zone (e.g. Europe/Berlin)`);
  schedule.holidays.forEach((d, i) => {
    if (!validDate(d)) problems.push(`arming.schedule.holidays[${i}]: ${d} is not a calendar date`);
  });
  const bad = new Set<number>();
  schedule.weekly.forEach((s, i) => {
    if (s.from === s.to) problems.push(`arming.schedule.weekly[${i}]: from and to are both ${s.from}; a slot needs a length`);
    if (s.from === '24:00') problems.push(`arming.schedule.weekly[${i}].from: 24:00 is only valid as an end time`);
    if (s.from === s.to || s.from === '24:00') bad.add(i);
  });
  {
    const ranges = weekRanges(schedule.weekly, bad);
    const reported = new Set<string>();
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length && ranges[j]!.start < ranges[i]!.end; j++) {
        const a = ranges[i]!;
        const b = ranges[j]!;
        const [first, second] = a.slot <= b.slot ? [a, b] : [b, a];
        const key = `${first.slot}/${second.slot}`;
        if (reported.has(key)) continue;
        reported.add(key);
        problems.push(
          first.slot === second.slot
            ? `arming.schedule.weekly[${first.slot}]: its days overlap each other (from ${hhmm(b.start)})`
            : `arming.schedule.weekly[${second.slot}]: overlaps arming.schedule.weekly[${first.slot}] from ${hhmm(Math.max(a.start, b.start))}`,
        );
      }
    }
  }
  for (const mode of ARMING_MODES) {
    for (const level of LEVELS) {
      const rule = config.policy[level];
      const planned = new Set([...rule.actions, ...rule.weapon_actions].map((a) => a.type));
      modes[mode][level].forEach((type, i) => {
        if (type !== '*' && !planned.has(type)) {
          problems.push(
            `arming.modes.${mode}.${level}[${i}]: "${type}" is not an action the policy plans at ${level} (${[...planned].join(', ') || 'none'})`,
          );
        }
      });
    }
  }
  return problems;
}
