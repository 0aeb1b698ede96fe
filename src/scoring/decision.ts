// The decision: the model's calibrated probability and the manifest's thresholds give a
// level, then the safety floor (scoring.floor) limits what the model may change.
//
// The floor's rules, applied in this order (a later rule wins over an earlier one):
//   1. max_drop_levels      the level is at least reported − max_drop_levels;
//   2. max_raise_levels     the level is at most reported + max_raise_levels;
//   3. critical_without_false_alarms  a CRITICAL from a camera with no false-alarm label in
//                           the window stays CRITICAL;
//   4. firearm              a firearm report (WeaponFacts.floorFirearm) ends at least HIGH and
//                           never below its reported level, whatever rule 2 said: the
//                           firearm floor wins over "raise at most one level".
import { LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import { levelFor, type ModelManifest } from './manifest.js';

export type FloorConfig = GatewayConfig['scoring']['floor'];

export interface DecisionInput {
  reportedLevel: ThreatLevel;
  probability: number;
  /** A firearm for the floor: a named firearm, or weapon_detected with no clear blade/blunt type. */
  firearm: boolean;
  /** False-alarm labels of the camera within scoring.false_alarm_window_days. */
  cameraFalseAlarms: number;
}

export interface Decision {
  level: ThreatLevel;
  /** The level the model alone would give. */
  modelLevel: ThreatLevel;
  /** Which floor rule, if any, moved the level away from the model's (the last one that did). */
  heldBy: 'max_drop' | 'max_raise' | 'firearm' | 'critical_without_false_alarms' | null;
}

export function decide(input: DecisionInput, thresholds: ModelManifest['thresholds'], floor: FloorConfig): Decision {
  const reported = levelIndex(input.reportedLevel);
  const modelLevel = levelFor(input.probability, thresholds);
  let level = levelIndex(modelLevel);
  let heldBy: Decision['heldBy'] = null;
  if (level < reported - floor.max_drop_levels) {
    level = reported - floor.max_drop_levels;
    heldBy = 'max_drop';
  }
  if (level > reported + floor.max_raise_levels) {
    level = reported + floor.max_raise_levels;
    heldBy = 'max_raise';
  }
  if (floor.keep_critical_without_false_alarms && input.reportedLevel === 'CRITICAL' && input.cameraFalseAlarms === 0 && level < reported) {
    level = reported;
    heldBy = 'critical_without_false_alarms';
  }
  const firearmMin = Math.max(levelIndex('HIGH'), reported);
  if (floor.firearm_min_high && input.firearm && level < firearmMin) {
    level = firearmMin;
    heldBy = 'firearm';
  }
  return { level: LEVELS[level]!, modelLevel, heldBy };
}

/** The threat_cv score bands: the score range each level covers on the camera's scale. */
export const SCORE_BANDS: Record<ThreatLevel, readonly [number, number]> = {
  LOW: [0, 0.4],
  MEDIUM: [0.4, 0.6],
  HIGH: [0.6, 0.8],
  CRITICAL: [0.8, 1],
};

/**
 * The incident's `threat_score`: the camera's score moved into the final level's band, so a
 * stored score always agrees with the stored level (a final HIGH has 0.6 ≤ score < 0.8). The
 * model's own probability is stored beside it as `model_probability`.
 */
export function levelScore(level: ThreatLevel, cameraScore: number): number {
  const [lo, hi] = SCORE_BANDS[level];
  const top = level === 'CRITICAL' ? hi : hi - 0.001;
  return Math.round(Math.min(Math.max(cameraScore, lo), top) * 1e6) / 1e6;
}
