// The "re-score" stage's contract. Scorers see a whole commit batch at once, so a
// model can run batched inference in step with group commit.
import type { ThreatLevel } from '../config/schema.js';
import type { ValidReport } from '../validate/report.js';

export interface Score {
  level: ThreatLevel;
  score: number;
  /** Null when no model ran. */
  modelVersion: string | null;
  /** The model's probability; null when no model ran. */
  modelProbability?: number | null;
  /** The level the model decided, floor applied (in shadow mode not the final level). */
  modelLevel?: ThreatLevel | null;
}

export interface Scorer {
  scoreBatch(reports: readonly ValidReport[]): Promise<Score[]>;
}

/** The camera's own judgement, unchanged: the behaviour when no model is loaded. */
export const reportedScore = (r: ValidReport): Score => ({
  level: r.report.threat_level,
  score: r.report.threat_score,
  modelVersion: null,
});

export class ReportedLevelScorer implements Scorer {
  async scoreBatch(reports: readonly ValidReport[]): Promise<Score[]> {
    return reports.map(reportedScore);
  }
}
