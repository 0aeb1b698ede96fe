// The one definition of threat-level order. LEVELS (config/schema.ts) lists the levels from
// least to most severe; everything that compares, ranks or sorts levels derives from it.
import { LEVELS, type ThreatLevel } from './config/schema.js';

export { LEVELS, type ThreatLevel };

const INDEX = Object.fromEntries(LEVELS.map((l, i) => [l, i])) as Record<ThreatLevel, number>;

/**
 * Severity index: LOW 0, MEDIUM 1, HIGH 2, CRITICAL 3. Also a model feature
 * (scoring/features.ts): the ONNX models were trained on exactly these numbers.
 */
export const levelIndex = (level: ThreatLevel): number => INDEX[level];

/** Levels from most to least severe: the outbox drain order. */
export const RANK_LEVEL: readonly ThreatLevel[] = [...LEVELS].reverse();

/** Drain rank: CRITICAL 0, HIGH 1, MEDIUM 2, LOW 3 (outbox.rank). */
export const levelRank = (level: ThreatLevel): number => LEVELS.length - 1 - INDEX[level];

/** The level of a drain rank. */
export const rankLevel = (rank: number): ThreatLevel => {
  const level = RANK_LEVEL[rank];
  if (!level) throw new RangeError(`no threat level has rank ${rank}`);
  return level;
};

/** A SQL expression giving levelRank(column); anything unknown ranks as the least severe. */
export function levelRankSql(column: string): string {
  const whens = RANK_LEVEL.slice(0, -1).map((l, rank) => `WHEN '${l}' THEN ${rank}`);
  return `CASE ${column} ${whens.join(' ')} ELSE ${RANK_LEVEL.length - 1} END`;
}

/** Sort order CRITICAL first (stable: arrival order within a level). */
export const byLevel = (a: ThreatLevel, b: ThreatLevel): number => levelRank(a) - levelRank(b);
