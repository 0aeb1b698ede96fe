// THE PRIOR. A seeded generator of SYNTHETIC labelled reports. It is not field data: no
// camera, site or operator produced these rows. It gives a fresh install a model before its
// operators have labelled anything; each site then retrains on its own labels
// (`npm run train`), weighed against this prior by a pseudo-count (train.ts PRIOR_STRENGTH).
//
// What is anchored on published figures, and what is assumed (models/README.md cites both):
//
// * ANCHORED: the share of real threats among alarm-level reports. Problem-Oriented Policing
//   Guide No. 5 (Sampson, "False Burglar Alarms", 2nd ed., 2011) puts 94–98 % of alarm calls
//   as false (Seattle 97.5 %, Chicago 98 %). The prior's reports rated HIGH or CRITICAL by the
//   camera are therefore ≈ 6 % real (LEVEL_TRUE_RATE: 3 % of HIGH, 10 % of CRITICAL), i.e.
//   94 % false, the generous end of that range; all reports together are ≈ 2.5 % real.
// * ASSUMED (design, not measured): the rates of LOW and MEDIUM, the feature distributions, and
//   the direction and size of every other effect in the logit below. The level intercepts
//   are solved (bisection, per level) so that each level's real share is LEVEL_TRUE_RATE.
//
//   z = a[level] + 2.5·(camera_score − band middle)
//       + 0.15·weapon + 0.20·firearm + 0.10·blade + 0.05·other     small: the camera already saw it
//       + 0.05·(following + approaching + running + loitering) + 0.10·fighting + 0.08·fallen
//       + 0.03·people_log
//       + 1.2·corroborating_cameras (reliability-weighted)  another camera in the zone agrees
//       + 0.15·camera_repeats
//       − 4.0·(false_alarm_rate − 0.1)                        the camera's label history
//       + 0.15·cos(2π(h − 1)/24) + 0.8·(zone_risk − 0.5)
//
// Monotone by construction: increasing in camera score, weapons and corroboration,
// decreasing in the false-alarm rate; the trainer keeps those signs (MONOTONE).
import { LEVELS, type ThreatLevel } from '../../src/config/schema.js';
import { extractFeatures, FEATURE_COUNT, type FeatureContext, type FeatureReport } from '../../src/scoring/features.js';

export const PRIOR_VERSION = 'prior-v2';
export const PRIOR_GENERATOR = 'tools/train/prior.ts';

/** mulberry32: a small, fast, seedable PRNG with a full 2^32 period. Deterministic everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, items: readonly T[], weights: readonly number[]): T => {
  let u = r() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < items.length; i++) {
    u -= weights[i]!;
    if (u < 0) return items[i]!;
  }
  return items[items.length - 1]!;
};

export const PRIOR_COEFFICIENTS = {
  camera_score: 2.5,
  weapon: 0.15,
  weapon_firearm: 0.2,
  weapon_blade: 0.1,
  weapon_other: 0.05,
  mild_behaviour: 0.05,
  fighting: 0.1,
  fallen: 0.08,
  people_log: 0.03,
  corroborating_cameras: 1.2,
  camera_repeats: 0.15,
  false_alarm_rate: -4.0,
  night: 0.15,
  zone_risk: 0.8,
} as const;

/** The real share of each camera level in the prior: HIGH+ ≈ 94 % false (POP Guide No. 5). */
export const LEVEL_TRUE_RATE = [0.002, 0.01, 0.03, 0.1] as const;
const LEVEL_SHARE = [0.35, 0.3, 0.2, 0.15] as const;

const SCORE_BANDS: Record<ThreatLevel, [number, number]> = {
  LOW: [0.02, 0.4],
  MEDIUM: [0.4, 0.6],
  HIGH: [0.6, 0.8],
  CRITICAL: [0.8, 1.0],
};
const WEAPON_P = [0.02, 0.08, 0.3, 0.6];
const BEHAVIOUR_P: Record<string, number[]> = {
  following: [0.05, 0.2, 0.35, 0.4],
  approaching: [0.05, 0.2, 0.35, 0.45],
  running: [0.1, 0.15, 0.25, 0.3],
  fighting: [0.01, 0.05, 0.2, 0.35],
  loitering: [0.15, 0.2, 0.1, 0.05],
  fallen: [0.02, 0.05, 0.1, 0.15],
};

export interface PriorSample {
  report: FeatureReport;
  context: FeatureContext;
  label: 0 | 1;
}

/** The prior's own logit for a feature vector (the truth the synthetic labels are drawn from). */
export function priorLogit(x: Float32Array | number[], offset = 0, intercepts: readonly number[] = [0, 0, 0, 0]): number {
  const c = PRIOR_COEFFICIENTS;
  const f = (i: number) => x[offset + i]!;
  const hourSin = f(16);
  const hourCos = f(17);
  // cos(2π(h-1)/24) = cos(2πh/24)cos(2π/24) + sin(2πh/24)sin(2π/24)
  const night = hourCos * Math.cos(Math.PI / 12) + hourSin * Math.sin(Math.PI / 12);
  const k = Math.round(f(1));
  const [lo, hi] = SCORE_BANDS[LEVELS[k]!];
  return (
    intercepts[k]! +
    c.camera_score * (f(0) - (lo + hi) / 2) +
    c.weapon * f(2) +
    c.weapon_firearm * f(3) +
    c.weapon_blade * f(4) +
    c.weapon_other * f(5) +
    c.people_log * f(6) +
    c.mild_behaviour * (f(7) + f(8) + f(9) + f(11)) +
    c.fighting * f(10) +
    c.fallen * f(12) +
    c.corroborating_cameras * f(13) +
    c.camera_repeats * f(14) +
    c.false_alarm_rate * (f(15) - 0.1) +
    c.night * night +
    c.zone_risk * (f(18) - 0.5)
  );
}

/** `count` synthetic samples from `seed`. Same seed, same samples, bit for bit. */
export function generatePrior(count: number, seed: number): PriorSample[] {
  const r = rng(seed);
  const drafts: { report: FeatureReport; context: FeatureContext; k: number; z: number }[] = [];
  const x = new Float32Array(FEATURE_COUNT);
  for (let n = 0; n < count; n++) {
    const k = pick(r, [0, 1, 2, 3], LEVEL_SHARE);
    const level = LEVELS[k]!;
    const [lo, hi] = SCORE_BANDS[level];
    // One report in ten comes from a camera whose score disagrees with its level.
    const score = Math.round((r() < 0.1 ? r() : lo + (hi - lo) * r()) * 1000) / 1000;
    const weaponTypes: string[] = [];
    let weaponDetected = false;
    if (r() < WEAPON_P[k]!) {
      weaponDetected = true;
      if (r() < 0.9) weaponTypes.push(pick(r, ['gun', 'pistols', 'rifle', 'glock', 'knife', 'machete', 'bat', 'bottle'], [0.25, 0.05, 0.05, 0.05, 0.3, 0.1, 0.15, 0.05]));
    }
    const behaviours = Object.entries(BEHAVIOUR_P)
      .filter(([, p]) => r() < p[k]!)
      .map(([b]) => b);
    const people = Math.min(20, Math.floor(Math.exp(r() * 2.2)) - (r() < 0.2 ? 1 : 0));
    const hour = Math.floor(r() * 24);
    const minute = Math.floor(r() * 60);
    // Agreeing cameras, each counted by its reliability (most are reliable, some are noisy).
    const agreeing = pick(r, [0, 1, 2, 3], [0.7, 0.18, 0.08, 0.04]);
    let corroborating = 0;
    for (let i = 0; i < agreeing; i++) corroborating += r() < 0.8 ? 1 : Math.round(r() * 100) / 100;
    const repeats = pick(r, [0, 1, 2, 3, 5, 8, 10], [0.5, 0.2, 0.1, 0.08, 0.06, 0.03, 0.03]);
    // Cameras: most are reliable, some are noisy; label counts vary from none to 40.
    const labels = Math.floor(r() * 41);
    const q = r() < 0.7 ? 0.02 + 0.18 * r() : 0.3 + 0.65 * r();
    let falseAlarms = 0;
    for (let i = 0; i < labels; i++) if (r() < q) falseAlarms++;
    const zoneRisk = r() < 0.5 ? 0.5 : Math.round(r() * 100) / 100;
    const report: FeatureReport = {
      threat_level: level,
      threat_score: score,
      timestamp: `2026-01-01T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00`,
      weapon_detected: weaponDetected,
      weapon_types: weaponTypes,
      people_count: Math.max(0, people),
      behavior_summary: behaviours.join(' + ') || null,
      full_telemetry: null,
    };
    const context: FeatureContext = { corroboratingCameras: corroborating, cameraRepeats: repeats, falseAlarms, labels, zoneRisk };
    extractFeatures(report, context, x);
    drafts.push({ report, context, k, z: priorLogit(x) });
  }
  const intercepts = LEVEL_TRUE_RATE.map((rate, k) => solveIntercept(drafts.filter((d) => d.k === k).map((d) => d.z), rate));
  return drafts.map((d) => ({ report: d.report, context: d.context, label: r() < sigmoid(d.z + intercepts[d.k]!) ? 1 : 0 }));
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The intercept a at which the mean of sigmoid(z + a) over `zs` is `rate` (bisection). */
export function solveIntercept(zs: readonly number[], rate: number): number {
  if (zs.length === 0) return 0;
  let lo = -20;
  let hi = 20;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    let m = 0;
    for (const z of zs) m += sigmoid(z + mid);
    if (m / zs.length < rate) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
