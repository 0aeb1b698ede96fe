// The site evaluation: from this site's own labels, what the camera's levels did against
// what the re-scorer decided (model_level, floor applied; in shadow mode never acted on).
// It is the evidence for switching scoring.mode from shadow to active (models/README.md).
import type { ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import type { EvaluationRow } from '../store/evaluation.js';
import { weaponFacts, type WeaponVocabulary } from './vocabulary.js';

const HIGH = levelIndex('HIGH');
const highPlus = (l: ThreatLevel) => levelIndex(l) >= HIGH;

/** Clopper–Pearson upper bound (two-sided 95 %: the 97.5 % quantile) of a binomial share k/n. */
export function upperBound95(k: number, n: number): number {
  if (n === 0) return 1;
  if (k >= n) return 1;
  // P(X ≤ k | n, p) falls as p rises: find p where it is 0.025.
  const cdf = (p: number) => {
    let term = Math.pow(1 - p, n); // P(X = 0)
    let sum = term;
    for (let i = 1; i <= k; i++) {
      term *= ((n - i + 1) / i) * (p / (1 - p));
      sum += term;
    }
    return sum;
  };
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) > 0.025) lo = mid;
    else hi = mid;
  }
  return Math.round(hi * 1e4) / 1e4;
}

export interface EvaluationReport {
  window: { from: string | null; to: string | null; days: number; cameras: number; camera_days: number };
  reports: number;
  labelled: { total: number; confirmed: number; false_alarm: number };
  /** HIGH or CRITICAL labelled false alarm: a call that sent someone for nothing. */
  false_police_calls: {
    camera: { count: number; per_camera_day: number };
    model: { count: number; per_camera_day: number };
    by_camera: Record<string, { camera: number; model: number }>;
  };
  confirmed_lowered: { count: number; of: number; share: number; upper_95: number };
  /** Over every re-scored report, labelled or not: the floor makes this 0. */
  firearm_lowered: { count: number; of: number };
  /** Expected calibration error of model_probability on the labelled reports (10 equal-width bins). */
  calibration: { ece: number; bins: { from: number; to: number; samples: number; mean_probability: number; confirmed_share: number }[] };
  label_sampling: string;
}

export const LABEL_SAMPLING =
  'Label every report that ended HIGH or above (camera or model), and a random share (at least 1 in 10) of the reports ' +
  'the model lowered: without labels on lowered reports the misses are never seen.';

export function evaluate(rows: readonly EvaluationRow[], vocabulary: WeaponVocabulary): EvaluationReport {
  const cameras = new Set<string>();
  let first = Infinity;
  let last = -Infinity;
  const byCamera: Record<string, { camera: number; model: number }> = {};
  let cameraCalls = 0;
  let modelCalls = 0;
  let confirmed = 0;
  let falseAlarm = 0;
  let confirmedLowered = 0;
  let firearms = 0;
  let firearmLowered = 0;
  const bins = Array.from({ length: 10 }, () => ({ n: 0, p: 0, y: 0 }));
  for (const r of rows) {
    const camera = r.camera_id ?? '(none)';
    cameras.add(camera);
    first = Math.min(first, r.received_at_ms);
    last = Math.max(last, r.received_at_ms);
    const lowered = levelIndex(r.model_level) < levelIndex(r.reported_level);
    const facts = weaponFacts({ weapon_detected: r.weapon_detected === 1, weapon_types: JSON.parse(r.weapon_types) as string[] }, vocabulary);
    if (facts.floorFirearm) {
      firearms++;
      if (lowered) firearmLowered++;
    }
    if (!r.label) continue;
    const bin = bins[Math.min(9, Math.floor(r.model_probability * 10))]!;
    bin.n++;
    bin.p += r.model_probability;
    if (r.label === 'confirmed') {
      confirmed++;
      bin.y++;
      if (lowered) confirmedLowered++;
      continue;
    }
    falseAlarm++;
    const c = (byCamera[camera] ??= { camera: 0, model: 0 });
    if (highPlus(r.reported_level)) {
      cameraCalls++;
      c.camera++;
    }
    if (highPlus(r.model_level)) {
      modelCalls++;
      c.model++;
    }
  }
  const labelled = confirmed + falseAlarm;
  const days = rows.length ? Math.max((last - first) / 86_400_000, 1 / 24) : 0;
  const cameraDays = days * cameras.size;
  const perDay = (n: number) => (cameraDays > 0 ? Math.round((n / cameraDays) * 1e4) / 1e4 : 0);
  const ece = labelled ? bins.reduce((s, b) => s + (b.n ? (b.n / labelled) * Math.abs(b.p / b.n - b.y / b.n) : 0), 0) : 0;
  return {
    window: {
      from: rows.length ? new Date(first).toISOString() : null,
      to: rows.length ? new Date(last).toISOString() : null,
      days: Math.round(days * 1e4) / 1e4,
      cameras: cameras.size,
      camera_days: Math.round(cameraDays * 1e4) / 1e4,
    },
    reports: rows.length,
    labelled: { total: labelled, confirmed, false_alarm: falseAlarm },
    false_police_calls: {
      camera: { count: cameraCalls, per_camera_day: perDay(cameraCalls) },
      model: { count: modelCalls, per_camera_day: perDay(modelCalls) },
      by_camera: byCamera,
    },
    confirmed_lowered: {
      count: confirmedLowered,
      of: confirmed,
      share: confirmed ? Math.round((confirmedLowered / confirmed) * 1e4) / 1e4 : 0,
      upper_95: upperBound95(confirmedLowered, confirmed),
    },
    firearm_lowered: { count: firearmLowered, of: firearms },
    calibration: {
      ece: Math.round(ece * 1e4) / 1e4,
      bins: bins.map((b, i) => ({
        from: i / 10,
        to: (i + 1) / 10,
        samples: b.n,
        mean_probability: b.n ? Math.round((b.p / b.n) * 1e4) / 1e4 : 0,
        confirmed_share: b.n ? Math.round((b.y / b.n) * 1e4) / 1e4 : 0,
      })),
    },
    label_sampling: LABEL_SAMPLING,
  };
}
