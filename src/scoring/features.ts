// The re-scorer's input: ONE function from a report plus what the gateway knows around it
// to a fixed-order Float32 vector. The trainer (tools/train/) and the live scorer
// both call `extractFeatures`, so a model is always fed what it was trained on.
//
// Versioning: FEATURE_VERSION names the layout below. Any change to a feature's meaning,
// order or scaling must bump it; a model's manifest records the version it was trained
// on and the scorer refuses a model whose version or names differ.
import type { ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import { BUILTIN_VOCABULARY, weaponFacts, type WeaponVocabulary } from './vocabulary.js';

export const FEATURE_VERSION = 'features-v2';

/**
 * The vector layout, in order. Every value is raw (not normalised): the model graph
 * normalises with the mean/std stored in its manifest.
 */
export const FEATURES = [
  ['camera_score', "the camera's threat_score, 0..1"],
  ['reported_level', "the camera's threat_level as 0 (LOW) .. 3 (CRITICAL)"],
  ['weapon', '1 if weapon_detected or any weapon_types entry'],
  ['weapon_firearm', '1 if a weapon_types entry names a firearm (vocabulary.ts: plurals, brands, models, site terms)'],
  ['weapon_blade', '1 if a weapon_types entry is a blade (knife, machete, …)'],
  ['weapon_other', '1 if a weapon_types entry is neither (blunt or unrecognised)'],
  ['people_log', 'ln(1 + people_count), people_count capped at 100; 0 when absent'],
  ['following', 'behaviour flag from behavior_summary / full_telemetry'],
  ['approaching', 'behaviour flag'],
  ['running', 'behaviour flag (running, fleeing, chasing)'],
  ['fighting', 'behaviour flag (fighting, assault, attack, punching)'],
  ['loitering', 'behaviour flag'],
  ['fallen', 'behaviour flag (fallen, fell, collapsed, lying on the ground)'],
  ['corroborating_cameras', 'OTHER cameras in the same zone that reported MEDIUM or above within scoring.corroboration_window_s, each counted by its reliability weight (corroborationWeight), summed, capped at 3'],
  ['camera_repeats', 'earlier reports from the same camera within scoring.repeat_window_s, capped at 10, divided by 10'],
  ['false_alarm_rate', "the camera's smoothed false-alarm rate over scoring.false_alarm_window_days: (false_alarms + 1) / (labels + 10), so 0.1 with no labels"],
  ['hour_sin', 'sin(2π·h/24), h = hour of day (with minutes) in the report timestamp as the camera wrote it'],
  ['hour_cos', 'cos(2π·h/24)'],
  ['zone_risk', "the camera's zone risk from config (0..1); scoring.default_zone_risk for a camera in no zone"],
] as const;

export type FeatureName = (typeof FEATURES)[number][0];
export const FEATURE_NAMES: readonly FeatureName[] = FEATURES.map(([name]) => name);
export const FEATURE_COUNT = FEATURES.length;
export const FEATURE_INDEX = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, i])) as Record<FeatureName, number>;

/** Prior pseudo-counts of the false-alarm rate: a camera with no labels sits at 1/10. */
export const FALSE_ALARM_PRIOR = { falseAlarms: 1, labels: 10 } as const;
export const CORROBORATION_CAP = 3;
export const REPEAT_CAP = 10;

/** The report fields the features read (a subset of the threat_cv report). */
export interface FeatureReport {
  threat_level: ThreatLevel;
  threat_score: number;
  timestamp: string;
  weapon_detected?: boolean | undefined;
  weapon_types?: readonly string[] | undefined;
  people_count?: number | null | undefined;
  behavior_summary?: string | null | undefined;
  full_telemetry?: Record<string, unknown> | null | undefined;
}

/** What the gateway knows around the report, from its window and label aggregates. */
export interface FeatureContext {
  /** Other cameras in the zone reporting MEDIUM+ within the window, each weighted by corroborationWeight. */
  corroboratingCameras: number;
  /** Earlier reports from this camera within the repeat window. */
  cameraRepeats: number;
  /** Labels of this camera's incidents within the false-alarm window (latest label per incident). */
  falseAlarms: number;
  labels: number;
  zoneRisk: number;
}


export { weaponFamily, weaponFacts, WeaponVocabulary, BUILTIN_VOCABULARY, type WeaponFamily, type WeaponFacts } from './vocabulary.js';

export const BEHAVIOURS = ['following', 'approaching', 'running', 'fighting', 'loitering', 'fallen'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

const BEHAVIOUR_PATTERNS: Record<Behaviour, RegExp> = {
  following: /\b(follow(s|ed|ing)?|stalk(s|ed|ing)?|tailing)\b/i,
  approaching: /\b(approach(es|ed|ing)?|closing in|advancing)\b/i,
  running: /\b(run(s|ning)?|ran|sprint(s|ed|ing)?|flee(s|ing)?|fled|chas(e|es|ed|ing))\b/i,
  fighting: /\b(fight(s|ing)?|fought|assault(s|ed|ing)?|attack(s|ed|ing)?|punch(es|ed|ing)?|kick(s|ed|ing)?|brawl(ing)?|struggl(e|es|ed|ing))\b/i,
  loitering: /\b(loiter(s|ed|ing)?|lingering|idling)\b/i,
  fallen: /\b(fall(s|en|ing)?|fell|collaps(e|ed|ing)|on the (ground|floor)|lying|man[ _-]?down|person[ _-]?down)\b/i,
};

/** Telemetry keys whose string values (or string arrays) describe behaviour. */
const TELEMETRY_TEXT_KEYS = /^(behaviou?rs?|behaviou?r_summary|actions?|activit(y|ies)|events?|labels?|pose|state)$/i;
const TELEMETRY_MAX_NODES = 256;

/** Behaviour flags from the free-text summary and from full_telemetry (bounded walk). */
export function behaviourFlags(summary: string | null | undefined, telemetry: Record<string, unknown> | null | undefined): Set<Behaviour> {
  const found = new Set<Behaviour>();
  const scanText = (text: string) => {
    for (const b of BEHAVIOURS) if (!found.has(b) && BEHAVIOUR_PATTERNS[b].test(text)) found.add(b);
  };
  if (summary) scanText(summary);
  if (telemetry) {
    // Breadth-first over at most TELEMETRY_MAX_NODES nodes: a hostile telemetry blob cannot
    // make feature extraction expensive. `{following: true}` and `{behaviors: ["running"]}`
    // both count, at any depth reached.
    const queue: unknown[] = [telemetry];
    let visited = 0;
    while (queue.length > 0 && visited < TELEMETRY_MAX_NODES) {
      const node = queue.shift();
      visited++;
      if (Array.isArray(node)) {
        for (const v of node) if (v !== null && typeof v === 'object') queue.push(v);
        continue;
      }
      if (node === null || typeof node !== 'object') continue;
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        const k = key.toLowerCase();
        if (value === true && (BEHAVIOURS as readonly string[]).includes(k)) found.add(k as Behaviour);
        else if (TELEMETRY_TEXT_KEYS.test(key)) {
          if (typeof value === 'string') scanText(value);
          else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') scanText(v);
        }
        if (value !== null && typeof value === 'object') queue.push(value);
      }
    }
  }
  return found;
}

/** Hour of day with minutes, as the camera wrote it (threat_cv sends local time without offset). */
export function hourOfDay(timestamp: string): number {
  const m = /[T ](\d{2}):(\d{2})/.exec(timestamp);
  if (!m) return 12;
  return (Number(m[1]) % 24) + Number(m[2]) / 60;
}

export function smoothedFalseAlarmRate(falseAlarms: number, labels: number): number {
  return (falseAlarms + FALSE_ALARM_PRIOR.falseAlarms) / (labels + FALSE_ALARM_PRIOR.labels);
}

/**
 * How much a corroborating camera counts: 1 for a camera at the unlabelled prior (false-alarm
 * rate 0.1) or better, falling linearly to 0 at a rate of 0.5, and 0 beyond. A camera whose
 * labels are mostly false alarms agrees with its neighbours by chance, so it adds nothing.
 */
export function corroborationWeight(falseAlarms: number, labels: number): number {
  const q = smoothedFalseAlarmRate(falseAlarms, labels);
  const prior = FALSE_ALARM_PRIOR.falseAlarms / FALSE_ALARM_PRIOR.labels;
  return Math.min(1, Math.max(0, (0.5 - q) / (0.5 - prior)));
}

/**
 * The feature vector of one report, written into `out` at `offset` (so a batch fills one
 * Float32Array without copies). Returns `out`.
 */
export function extractFeatures(
  report: FeatureReport,
  context: FeatureContext,
  out: Float32Array = new Float32Array(FEATURE_COUNT),
  offset = 0,
  vocabulary: WeaponVocabulary = BUILTIN_VOCABULARY,
): Float32Array {
  const weapons = weaponFacts(report, vocabulary);
  const behaviours = behaviourFlags(report.behavior_summary, report.full_telemetry);
  const hour = hourOfDay(report.timestamp);
  const people = Math.min(Math.max(report.people_count ?? 0, 0), 100);
  const v = out;
  let i = offset;
  v[i++] = report.threat_score;
  v[i++] = levelIndex(report.threat_level);
  v[i++] = weapons.weapon ? 1 : 0;
  v[i++] = weapons.firearm ? 1 : 0;
  v[i++] = weapons.blade ? 1 : 0;
  v[i++] = weapons.other ? 1 : 0;
  v[i++] = Math.log1p(people);
  for (const b of BEHAVIOURS) v[i++] = behaviours.has(b) ? 1 : 0;
  v[i++] = Math.min(context.corroboratingCameras, CORROBORATION_CAP);
  v[i++] = Math.min(context.cameraRepeats, REPEAT_CAP) / REPEAT_CAP;
  v[i++] = smoothedFalseAlarmRate(context.falseAlarms, context.labels);
  v[i++] = Math.sin((2 * Math.PI * hour) / 24);
  v[i++] = Math.cos((2 * Math.PI * hour) / 24);
  v[i++] = context.zoneRisk;
  return out;
}
