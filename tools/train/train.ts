// `npm run train`: builds a training set (the seeded prior + this site's labelled
// incidents), fits an L2-regularised logistic regression by Newton's method, reports
// held-out metrics against a camera-only baseline (the prior's held-out rows, and the
// site's most recent labels, per camera), refuses a model that does worse on the site's
// held-out labels than the current one, and writes rescorer.onnx + rescorer.json.
//
// Deterministic: the prior, the train/held-out split and Newton's method depend only on
// the seed and the data, and the ONNX bytes carry no timestamp, so the same seed and the
// same labels give the same bytes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../../src/config/schema.js';
import { TrainingSource } from '../../src/store/training.js';
import { corroborationWeight, extractFeatures, FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION, WeaponVocabulary, type FeatureContext, type FeatureReport } from '../../src/scoring/features.js';
import { MANIFEST_FORMAT, type ModelManifest } from '../../src/scoring/manifest.js';
import { decodeLogisticModel, encodeLogisticModel, INPUT_NAME, OPSET, OUTPUT_NAME, referenceForward, type HeavyBranch, type LogisticWeights } from './onnx-graph.js';
import { zoneIndex } from '../../src/scoring/context.js';
import { generatePrior, PRIOR_GENERATOR, PRIOR_VERSION, rng } from './prior.js';

/**
 * Sign constraints that make the model monotone whatever the data: the probability may
 * only rise with camera score and level, weapons, threat behaviours and corroboration, and
 * only fall with the false-alarm rate. A coefficient that would take the wrong sign is held at zero
 * (an active-set fit), so site labels can weaken these effects but never reverse them.
 */
export const MONOTONE: Partial<Record<(typeof FEATURE_NAMES)[number], 1 | -1>> = {
  camera_score: 1,
  // The camera's level, and the behaviours that make a threat: a site's labels may weaken
  // them, never reverse them. Without these, the site simulation's retrained model learnt
  // following/approaching as negative (they co-occur with nothing but real events there, so
  // their effect against "no behaviour" was not identified) and lowered 10 of 68 real reports.
  reported_level: 1,
  following: 1,
  approaching: 1,
  running: 1,
  fighting: 1,
  fallen: 1,
  weapon: 1,
  weapon_firearm: 1,
  weapon_blade: 1,
  weapon_other: 1,
  corroborating_cameras: 1,
  false_alarm_rate: -1,
};

/**
 * Fits, then holds every coefficient that broke its sign constraint at zero and refits.
 * `pinned` (feature index → standardised coefficient) are held at the given values.
 */
export function fitMonotone(examples: Example[], mean: Float64Array, std: Float64Array, l2: number, pinned: ReadonlyMap<number, number> = new Map()) {
  const fixed = new Map<number, number>(pinned);
  for (;;) {
    const fit = fitLogistic(examples, mean, std, l2, 50, fixed);
    const broken = FEATURE_NAMES.flatMap((name, j) => {
      const sign = MONOTONE[name];
      return sign && !fixed.has(j) && fit.weights[j]! * sign < 0 ? [j] : [];
    });
    if (broken.length === 0) {
      const heldAtZero = [...fixed.keys()].filter((j) => !pinned.has(j)).sort((a, b) => a - b).map((j) => FEATURE_NAMES[j]!);
      return { ...fit, heldAtZero };
    }
    for (const j of broken) fixed.set(j, 0);
  }
}

/** The hour-of-day features: learnt from a site's labels only once those cover the clock. */
const HOUR_FEATURES = [FEATURE_NAMES.indexOf('hour_sin'), FEATURE_NAMES.indexOf('hour_cos')];
/** Distinct hours of the day the site's training labels must cover before their hour effect is learnt. */
export const MIN_SITE_HOURS = 20;

/**
 * The prior's weight in pseudo-labels: the 60,000 synthetic rows together count as this many
 * site labels. 200 labels then move the fit by about a sixth of the way to what they alone
 * would say, and a site with thousands of labels is mostly its own model.
 */
export const PRIOR_STRENGTH = 1000;

/** At least this many held-out site labels before a new model is compared with the current one. */
export const MIN_SITE_HELD_OUT = 20;
/** A candidate whose held-out log loss is worse by more than this is refused. */
export const REFUSE_TOLERANCE = 0.002;

/**
 * The reference reports the thresholds are read from: a report with neutral context (no
 * weapon, behaviour, corroboration, repeat or label; neutral zone; 07:00, where the prior's
 * night term is 0) at the lower edge of its level's score band. A level's threshold is the
 * model's probability for it, so a neutral report keeps the camera's level and the context
 * alone moves it. The probabilities are low (the prior is ≈ 94 % false at HIGH+): a level is
 * a decision about whom to call, not "more likely real than not".
 */
export function thresholdsFor(w: LogisticWeights): ModelManifest['thresholds'] {
  const at = (level: 'MEDIUM' | 'HIGH' | 'CRITICAL', score: number) =>
    referenceForward(
      w,
      extractFeatures(
        { threat_level: level, threat_score: score, timestamp: '2026-01-01T07:00:00', weapon_detected: false, weapon_types: [], people_count: 1 },
        { corroboratingCameras: 0, cameraRepeats: 0, falseAlarms: 0, labels: 0, zoneRisk: 0.5 },
      ),
      1,
    )[0]!;
  const r = (v: number) => Math.round(v * 1e6) / 1e6;
  return { MEDIUM: r(at('MEDIUM', 0.4)), HIGH: r(at('HIGH', 0.6)), CRITICAL: r(at('CRITICAL', 0.8)) };
}

export class TrainingRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingRefused';
  }
}

export interface TrainOptions {
  seed: number;
  priorSamples: number;
  /** Gateway config: zones and the scoring windows used to rebuild each label's context. */
  config: Pick<GatewayConfig, 'zones' | 'scoring'>;
  /** The gateway's database, for its labelled incidents; null or missing file: prior only. */
  dbFile: string | null;
  outDir: string;
  heldOutFraction?: number;
  l2?: number;
  /** The prior's total weight in pseudo-labels (PRIOR_STRENGTH). */
  priorStrength?: number;
  /** Write even when the candidate does worse than the current model on the site's held-out labels. */
  force?: boolean;
  producerVersion?: string;
  /** Adds a zero-weighted compute branch to the graph: same answers, slow runs (tests). */
  heavy?: HeavyBranch;
}

export interface TrainResult {
  manifest: ModelManifest;
  onnx: Uint8Array;
  onnxFile: string;
  manifestFile: string;
}

interface Example {
  x: Float32Array;
  y: 0 | 1;
  w: number;
  camera?: string | null;
}

// ------------------------------------------------------------------ site labels

/** How much later than its arrival a report may have been committed (created_at). */
const COMMIT_SLACK_MS = 5000;

/**
 * This site's labelled incidents, each with the context it had when it arrived, rebuilt
 * with indexed range queries (created_at, camera_id+created_at, labels by camera).
 */
export function siteExamples(dbFile: string, config: TrainOptions['config']): { examples: Example[]; confirmed: number; falseAlarm: number } {
  const db = TrainingSource.open(dbFile);
  if (!db) return { examples: [], confirmed: 0, falseAlarm: 0 };
  try {
    const rows = db.labelled();
    const zones = zoneIndex(config.zones);
    const cw = config.scoring.corroboration_window_s * 1000;
    const rw = config.scoring.repeat_window_s * 1000;
    const faw = config.scoring.false_alarm_window_days * 86_400_000;
    const vocabulary = new WeaponVocabulary(config.scoring.firearm_terms);
    const iso = (ms: number) => new Date(ms).toISOString();
    const examples: Example[] = [];
    let confirmed = 0;
    let falseAlarm = 0;
    for (const row of rows) {
      const t = row.received_at_ms;
      const zone = row.camera_id ? zones.get(row.camera_id) : undefined;
      // As the live window sees it (context.ts): other cameras of the zone with a MEDIUM+
      // report received in [t − window, t), each weighted by its own labels at time t. The
      // created_at range is widened by the commit delay; the arrival time decides.
      const others = new Set<string>();
      if (zone && row.camera_id) {
        for (const r of db.reportsBetween(iso(t - cw - COMMIT_SLACK_MS), iso(t + COMMIT_SLACK_MS))) {
          if (r.received_at_ms < t - cw || r.received_at_ms >= t) continue;
          if (r.camera_id && r.camera_id !== row.camera_id && r.reported_level !== 'LOW' && zone.cameras.has(r.camera_id)) others.add(r.camera_id);
        }
      }
      const counts = (camera: string, except: string) => {
        const latest = new Map<string, string>();
        for (const l of db.cameraLabels(camera, iso(t - faw), iso(t), except)) latest.set(l.incident_id, l.label);
        return { falseAlarms: [...latest.values()].filter((l) => l === 'false_alarm').length, labels: latest.size };
      };
      let corroborating = 0;
      for (const other of others) {
        const c = counts(other, '');
        corroborating += corroborationWeight(c.falseAlarms, c.labels);
      }
      const own = row.camera_id ? counts(row.camera_id, row.incident_id) : { falseAlarms: 0, labels: 0 };
      const context: FeatureContext = {
        corroboratingCameras: corroborating,
        cameraRepeats: row.camera_id ? db.cameraReports(row.camera_id, iso(t - rw), iso(t)) : 0,
        falseAlarms: own.falseAlarms,
        labels: own.labels,
        zoneRisk: zone ? zone.risk : config.scoring.default_zone_risk,
      };
      const report: FeatureReport = {
        threat_level: row.reported_level,
        threat_score: row.reported_score,
        timestamp: row.timestamp,
        weapon_detected: row.weapon_detected === 1,
        weapon_types: JSON.parse(row.weapon_types) as string[],
        people_count: row.people_count,
        behavior_summary: row.behavior_summary,
        full_telemetry: row.full_telemetry ? (JSON.parse(row.full_telemetry) as Record<string, unknown>) : null,
      };
      const y = row.label === 'confirmed' ? 1 : 0;
      if (y) confirmed++;
      else falseAlarm++;
      examples.push({ x: extractFeatures(report, context, undefined, 0, vocabulary), y, w: 1, camera: row.camera_id });
    }
    return { examples, confirmed, falseAlarm };
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------ logistic regression

/** Solves A·x = b (A symmetric positive definite) by Cholesky. */
function choleskySolve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (s <= 0) throw new Error('Hessian is not positive definite');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Weighted L2-regularised logistic regression on standardised features, by Newton's
 * method (IRLS). The bias is not penalised. Returns weights on the standardised scale.
 */
export function fitLogistic(
  examples: Example[],
  mean: Float64Array,
  std: Float64Array,
  l2: number,
  maxIterations = 50,
  /** Feature index → standardised coefficient held at that value (sign constraints, pinned features). */
  fixed: ReadonlyMap<number, number> = new Map(),
): { weights: Float64Array; bias: number; iterations: number } {
  const F = FEATURE_COUNT;
  const D = F + 1; // + bias (last)
  const n = examples.length;
  const X = new Float64Array(n * D);
  examples.forEach((e, r) => {
    for (let j = 0; j < F; j++) X[r * D + j] = (e.x[j]! - mean[j]!) / std[j]!;
    X[r * D + F] = 1;
  });
  const beta = new Float64Array(D);
  for (const [j, v] of fixed) beta[j] = v;
  const totalWeight = examples.reduce((s, e) => s + e.w, 0);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const grad = new Float64Array(D);
    const H = new Float64Array(D * D);
    for (let r = 0; r < n; r++) {
      let z = 0;
      for (let j = 0; j < D; j++) z += X[r * D + j]! * beta[j]!;
      const p = sigmoid(z);
      const e = examples[r]!;
      const g = e.w * (p - e.y);
      const h = e.w * Math.max(p * (1 - p), 1e-12);
      for (let i = 0; i < D; i++) {
        const xi = X[r * D + i]!;
        grad[i]! += g * xi;
        for (let j = 0; j <= i; j++) H[i * D + j]! += h * xi * X[r * D + j]!;
      }
    }
    for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) H[j * D + i] = H[i * D + j]!;
    const lambda = l2 * totalWeight;
    for (let j = 0; j < F; j++) {
      grad[j]! += lambda * beta[j]!;
      H[j * D + j]! += lambda;
    }
    // Held coefficients (sign constraints, see MONOTONE; pinned features): no gradient, unit curvature.
    for (const j of fixed.keys()) {
      grad[j] = 0;
      for (let k = 0; k < D; k++) H[j * D + k] = H[k * D + j] = 0;
      H[j * D + j] = 1;
    }
    const step = choleskySolve(H, grad, D);
    let change = 0;
    for (let j = 0; j < D; j++) {
      beta[j]! -= step[j]!;
      change = Math.max(change, Math.abs(step[j]!));
    }
    if (change < 1e-10) {
      iterations++;
      break;
    }
  }
  return { weights: beta.slice(0, F), bias: beta[F]!, iterations };
}

// ------------------------------------------------------------------ metrics

/** Area under the ROC curve (Mann-Whitney U, ties averaged). */
export function auc(scores: number[], labels: (0 | 1)[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Float64Array(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = rank;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  labels.forEach((y, i) => {
    if (y) {
      pos++;
      rankSum += ranks[i]!;
    }
  });
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

const round = (v: number, digits = 4) => Math.round(v * 10 ** digits) / 10 ** digits;


export interface HeldOutMetrics {
  samples: number;
  positives: number;
  auc: number;
  brier: number;
  log_loss: number;
}

function metricsOf(p: ArrayLike<number>, y: readonly (0 | 1)[]): HeldOutMetrics {
  const n = y.length;
  let brier = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const q = p[i]!;
    brier += (q - y[i]!) ** 2;
    logLoss -= y[i] ? Math.log(Math.max(q, 1e-12)) : Math.log(Math.max(1 - q, 1e-12));
  }
  const a = auc(Array.from(p), [...y]);
  return {
    samples: n,
    positives: y.filter((v) => v === 1).length,
    auc: Number.isNaN(a) ? Number.NaN : round(a),
    brier: round(brier / Math.max(1, n)),
    log_loss: round(logLoss / Math.max(1, n)),
  };
}

/** The camera-only baseline sees the camera's score and level, nothing else. */
const cameraOnly = (e: Example): Example => {
  const x = new Float32Array(FEATURE_COUNT);
  x[0] = e.x[0]!;
  x[1] = e.x[1]!;
  return { ...e, x };
};

function fitWeights(trainSet: Example[], l2: number, monotone: boolean, pinnedRaw: ReadonlyMap<number, number> = new Map()) {
  const F = FEATURE_COUNT;
  const mean = new Float64Array(F);
  const std = new Float64Array(F);
  const tw = trainSet.reduce((s, e) => s + e.w, 0);
  for (const e of trainSet) for (let j = 0; j < F; j++) mean[j]! += (e.w * e.x[j]!) / tw;
  for (const e of trainSet) for (let j = 0; j < F; j++) std[j]! += (e.w * (e.x[j]! - mean[j]!) ** 2) / tw;
  for (let j = 0; j < F; j++) std[j] = Math.sqrt(std[j]!) || 1;
  // Pinned coefficients come on the raw feature scale; the fit works on the standardised one.
  const pinned = new Map([...pinnedRaw].map(([j, c]) => [j, c * std[j]!] as [number, number]));
  const fit = monotone ? fitMonotone(trainSet, mean, std, l2, pinned) : { ...fitLogistic(trainSet, mean, std, l2), heldAtZero: [] as string[] };
  const weights: LogisticWeights = {
    mean: Float32Array.from(mean),
    std: Float32Array.from(std),
    weights: Float32Array.from(fit.weights),
    bias: Math.fround(fit.bias),
  };
  return { weights, fit };
}

function predict(w: LogisticWeights, examples: Example[]): Float32Array {
  const F = FEATURE_COUNT;
  const x = new Float32Array(examples.length * F);
  examples.forEach((e, i) => x.set(e.x, i * F));
  return referenceForward(w, x, examples.length);
}

/** The model currently in outDir, if it reads this gateway's features. */
function currentModel(outDir: string): { version: string; weights: LogisticWeights } | { incompatible: string } | null {
  const onnxFile = join(outDir, 'rescorer.onnx');
  const manifestFile = join(outDir, 'rescorer.json');
  if (!existsSync(onnxFile) || !existsSync(manifestFile)) return null;
  const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as Partial<ModelManifest>;
  if (m.feature_version !== FEATURE_VERSION) return { incompatible: `the current model reads ${String(m.feature_version)}, not ${FEATURE_VERSION}` };
  return { version: String(m.version), weights: decodeLogisticModel(readFileSync(onnxFile)) };
}

// ------------------------------------------------------------------ the whole run

export function train(options: TrainOptions): TrainResult {
  const heldOutFraction = options.heldOutFraction ?? 0.2;
  const l2 = options.l2 ?? 1e-4;
  const priorStrength = options.priorStrength ?? PRIOR_STRENGTH;

  const prior = generatePrior(options.priorSamples, options.seed).map(
    (s): Example => ({ x: extractFeatures(s.report, s.context), y: s.label, w: 1 }),
  );
  const site =
    options.dbFile && existsSync(options.dbFile)
      ? siteExamples(options.dbFile, options.config)
      : { examples: [], confirmed: 0, falseAlarm: 0 };

  // The prior: a seeded random split. The site: time-ordered, its newest labels held out,
  // so the model is judged on reports that came after everything it learnt from.
  const r = rng(options.seed ^ 0x5eed);
  for (let i = prior.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [prior[i], prior[j]] = [prior[j]!, prior[i]!];
  }
  const priorCut = Math.floor(prior.length * (1 - heldOutFraction));
  const siteCut = site.examples.length - Math.ceil(site.examples.length * heldOutFraction);
  const priorTrain = prior.slice(0, priorCut);
  const siteTrain = site.examples.slice(0, siteCut);
  const priorHeld = prior.slice(priorCut);
  const siteHeld = site.examples.slice(siteCut);
  // The prior counts as `priorStrength` labels in all; each site label counts as one.
  for (const e of priorTrain) e.w = priorStrength / Math.max(1, priorTrain.length);
  const trainSet = [...priorTrain, ...siteTrain];

  // A site's first labels come from a few hours of the day: an hour effect learnt from them
  // is a guess about hours never seen (and the thresholds are read at 07:00). Until its labels
  // cover MIN_SITE_HOURS hours, the hour coefficients stay the prior's own.
  const hoursCovered = new Set(siteTrain.map((e) => Math.floor((((Math.atan2(e.x[16]!, e.x[17]!) * 12) / Math.PI + 24) % 24) + 1e-9))).size;
  const pinnedRaw = new Map<number, number>();
  if (siteTrain.length > 0 && hoursCovered < MIN_SITE_HOURS) {
    const priorOnly = fitWeights(priorTrain, l2, true).weights;
    for (const j of HOUR_FEATURES) pinnedRaw.set(j, priorOnly.weights[j]! / priorOnly.std[j]!);
  }
  const { weights, fit } = fitWeights(trainSet, l2, true, pinnedRaw);
  const baseline = fitWeights(trainSet.map(cameraOnly), l2, false).weights;
  const thresholds = thresholdsFor(weights);

  const ys = (es: Example[]) => es.map((e) => e.y);
  const priorMetrics = metricsOf(predict(weights, priorHeld), ys(priorHeld));
  const priorBaseline = metricsOf(predict(baseline, priorHeld.map(cameraOnly)), ys(priorHeld));

  let siteMetrics: ModelManifest['metrics']['site_held_out'] = null;
  const current = currentModel(options.outDir);
  let refusal: string | null = null;
  if (siteHeld.length > 0) {
    const pm = predict(weights, siteHeld);
    const pb = predict(baseline, siteHeld.map(cameraOnly));
    const byCamera: Record<string, { samples: number; positives: number; model_log_loss: number; baseline_log_loss: number }> = {};
    const cameras = [...new Set(siteHeld.map((e) => e.camera ?? '(none)'))].sort();
    for (const camera of cameras) {
      const idx = siteHeld.flatMap((e, i) => ((e.camera ?? '(none)') === camera ? [i] : []));
      const y = idx.map((i) => siteHeld[i]!.y);
      const m = metricsOf(idx.map((i) => pm[i]!), y);
      const b = metricsOf(idx.map((i) => pb[i]!), y);
      byCamera[camera] = { samples: m.samples, positives: m.positives, model_log_loss: m.log_loss, baseline_log_loss: b.log_loss };
    }
    const model = metricsOf(pm, ys(siteHeld));
    let currentMetrics: (HeldOutMetrics & { version: string }) | null = null;
    if (current && 'weights' in current) {
      currentMetrics = { version: current.version, ...metricsOf(predict(current.weights, siteHeld), ys(siteHeld)) };
      if (siteHeld.length >= MIN_SITE_HELD_OUT && model.log_loss > currentMetrics.log_loss + REFUSE_TOLERANCE) {
        refusal =
          `the new model does worse than the current one (${current.version}) on this site's ${siteHeld.length} most recent labels ` +
          `(held out, time-ordered): log loss ${model.log_loss} against ${currentMetrics.log_loss}, Brier ${model.brier} against ${currentMetrics.brier}`;
      }
    }
    siteMetrics = {
      split: 'time-ordered: the newest labels',
      model,
      baseline: metricsOf(pb, ys(siteHeld)),
      current: currentMetrics,
      by_camera: byCamera,
    };
  }
  if (refusal && !options.force) throw new TrainingRefused(`${refusal}. Nothing was written; --force writes it anyway.`);

  const F = FEATURE_COUNT;
  const producerVersion = options.producerVersion ?? '0';
  const doc =
    `SafeSphere Edge re-scorer: logistic regression on ${F} features (${FEATURE_VERSION}), ` +
    `trained by npm run train with seed ${options.seed} on ${prior.length} synthetic prior samples (${PRIOR_VERSION}, strength ${priorStrength}) ` +
    `and ${site.examples.length} site labels. See models/README.md.` +
    (options.heavy ? ` Plus a zero-weighted compute branch of ${options.heavy.layers} MatMuls (a deliberately slow model).` : '');
  const onnx = encodeLogisticModel(weights, doc, producerVersion, options.heavy);
  const sha = createHash('sha256').update(onnx).digest('hex');

  // A self-check vector for the loader: a HIGH report with one corroborating camera.
  const check = extractFeatures(
    {
      threat_level: 'HIGH',
      threat_score: 0.7,
      timestamp: '2026-02-10T23:15:00',
      weapon_detected: true,
      weapon_types: ['knife'],
      people_count: 2,
      behavior_summary: 'Following + approaching',
    },
    { corroboratingCameras: 1, cameraRepeats: 2, falseAlarms: 1, labels: 5, zoneRisk: 0.6 },
  );
  const checkP = referenceForward(weights, check, 1)[0]!;

  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    version: `lr-${FEATURE_VERSION}-${sha.slice(0, 12)}`,
    model: {
      type: 'logistic_regression',
      l2,
      iterations: fit.iterations,
      opset: OPSET,
      monotone: { ...MONOTONE },
      held_at_zero: fit.heldAtZero,
      pinned_to_prior: [...pinnedRaw.keys()].map((j) => FEATURE_NAMES[j]!),
    },
    feature_version: FEATURE_VERSION,
    features: [...FEATURE_NAMES],
    input: { name: INPUT_NAME, shape: [-1, F], dtype: 'float32' },
    output: {
      name: OUTPUT_NAME,
      shape: [-1, 1],
      meaning: 'probability that an operator would confirm the report as a real threat (calibrated to the prior and the site labels)',
    },
    normalization: { applied: 'in_graph', mean: Array.from(weights.mean), std: Array.from(weights.std) },
    thresholds,
    training_data: {
      seed: options.seed,
      prior: {
        generator: PRIOR_GENERATOR,
        version: PRIOR_VERSION,
        samples: prior.length,
        strength: priorStrength,
        note: 'SYNTHETIC prior from a seeded generator: the HIGH+ false share is anchored on POP Guide No. 5 (94–98 % of alarm calls false); everything else is a design assumption, not field data.',
      },
      site: {
        source: site.examples.length ? 'labels table of the gateway database' : null,
        labelled_incidents: site.examples.length,
        confirmed: site.confirmed,
        false_alarm: site.falseAlarm,
        held_out: siteHeld.length,
        hours_covered: hoursCovered,
      },
      held_out_fraction: heldOutFraction,
    },
    metrics: {
      held_out: priorMetrics,
      baseline_held_out: priorBaseline,
      site_held_out: siteMetrics,
      ...(current && 'incompatible' in current ? { not_compared: current.incompatible } : {}),
      ...(refusal ? { forced_over: refusal } : {}),
    },
    onnx_sha256: sha,
    check: { features: Array.from(check), probability: checkP },
  };

  // Atomic pair replacement for a running gateway's watcher: write both under temporary
  // names, then rename the ONNX first and the manifest last (the pair is checked by sha).
  mkdirSync(options.outDir, { recursive: true });
  const onnxFile = join(options.outDir, 'rescorer.onnx');
  const manifestFile = join(options.outDir, 'rescorer.json');
  writeFileSync(`${onnxFile}.tmp`, onnx);
  writeFileSync(`${manifestFile}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${onnxFile}.tmp`, onnxFile);
  renameSync(`${manifestFile}.tmp`, manifestFile);
  return { manifest, onnx, onnxFile, manifestFile };
}
