// The decision: the model's calibrated probability and the manifest's thresholds give a
// level, then the safety floor (scoring.floor) limits what the model may change.
import { LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import { levelFor, type ModelManifest } from './manifest.js';

export type FloorConfig = GatewayConfig['scoring']['floor'];

export interface DecisionInput {
  reportedLevel: ThreatLevel;
  probability: number;
  /** A weapon_types entry names a firearm. */
  firearm: boolean;
  /** False-alarm labels of the camera within scoring.false_alarm_window_days. */
  cameraFalseAlarms: number;
}

export interface Decision {
  level: ThreatLevel;
  /** The level the model alone would give. */
  modelLevel: ThreatLevel;
  /** Which floor rule, if any, moved the level away from the model's. */
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
  const high = levelIndex('HIGH');
  if (floor.firearm_min_high && input.firearm && level < high) {
    level = high;
    heldBy = 'firearm';
  }
  return { level: LEVELS[level]!, modelLevel, heldBy };
}
