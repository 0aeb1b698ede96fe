// `npm run train`: builds a training set (the seeded prior + this site's labelled
// incidents), fits an L2-regularised logistic regression by Newton's method, reports
// held-out AUC / Brier / log loss, and writes rescorer.onnx + rescorer.json.
//
// Deterministic: the prior, the train/held-out split and Newton's method depend only on
// the seed and the data, and the ONNX bytes carry no timestamp, so the same seed and the
// same labels give the same bytes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../../src/config/schema.js';
import { TrainingSource } from '../../src/store/training.js';
import { extractFeatures, FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION, type FeatureContext, type FeatureReport } from '../../src/scoring/features.js';
import { MANIFEST_FORMAT, type ModelManifest } from '../../src/scoring/manifest.js';
import { encodeLogisticModel, INPUT_NAME, OPSET, OUTPUT_NAME, referenceForward, type HeavyBranch, type LogisticWeights } from './onnx-graph.js';
import { zoneIndex } from '../../src/scoring/context.js';
import { generatePrior, PRIOR_GENERATOR, PRIOR_VERSION, rng } from './prior.js';

/**
 * Sign constraints that make the model monotone whatever the data: the probability may
 * only rise with camera score, weapons and corroboration, and only fall with the
 * false-alarm rate. A coefficient that would take the wrong sign is held at zero
 * (an active-set fit), so site labels can weaken these effects but never reverse them.
 */
export const MONOTONE: Partial<Record<(typeof FEATURE_NAMES)[number], 1 | -1>> = {
  camera_score: 1,
  weapon: 1,
  weapon_firearm: 1,
  weapon_blade: 1,
  weapon_other: 1,
  corroborating_cameras: 1,
  false_alarm_rate: -1,
};

/** Fits, then holds every coefficient that broke its sign constraint at zero and refits. */
export function fitMonotone(examples: Example[], mean: Float64Array, std: Float64Array, l2: number) {
  const fixed = new Set<number>();
  for (;;) {
    const fit = fitLogistic(examples, mean, std, l2, 50, fixed);
    const broken = FEATURE_NAMES.flatMap((name, j) => {
      const sign = MONOTONE[name];
      return sign && !fixed.has(j) && fit.weights[j]! * sign < 0 ? [j] : [];
    });
    if (broken.length === 0) return { ...fit, heldAtZero: [...fixed].sort((a, b) => a - b).map((j) => FEATURE_NAMES[j]!) };
    for (const j of broken) fixed.add(j);
  }
}

/** The shipped thresholds: logits -1.5, 0 and 1.5 (see prior.ts). */
export const THRESHOLDS = { MEDIUM: 0.1824, HIGH: 0.5, CRITICAL: 0.8176 } as const;

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
  /** How many prior samples one site label counts as. */
  siteWeight?: number;
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
}

// ------------------------------------------------------------------ site labels

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
    const iso = (ms: number) => new Date(ms).toISOString();
    const examples: Example[] = [];
    let confirmed = 0;
    let falseAlarm = 0;
    for (const row of rows) {
      const t = row.received_at_ms;
      const zone = row.camera_id ? zones.get(row.camera_id) : undefined;
      const others = new Set<string>();
      if (zone && row.camera_id) {
        for (const r of db.reportsBetween(iso(t - cw), iso(t))) {
          if (r.camera_id && r.camera_id !== row.camera_id && r.reported_level !== 'LOW' && zone.cameras.has(r.camera_id)) others.add(r.camera_id);
        }
      }
      const latest = new Map<string, string>();
      if (row.camera_id) {
        for (const l of db.cameraLabels(row.camera_id, iso(t - faw), iso(t), row.incident_id)) {
          latest.set(l.incident_id, l.label);
        }
      }
      const context: FeatureContext = {
        corroboratingCameras: others.size,
        cameraRepeats: row.camera_id ? db.cameraReports(row.camera_id, iso(t - rw), iso(t)) : 0,
        falseAlarms: [...latest.values()].filter((l) => l === 'false_alarm').length,
        labels: latest.size,
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
      examples.push({ x: extractFeatures(report, context), y, w: 1 });
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
  fixedAtZero: ReadonlySet<number> = new Set(),
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
    // Coefficients held at zero (sign constraints, see MONOTONE): no gradient, unit curvature.
    for (const j of fixedAtZero) {
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

// ------------------------------------------------------------------ the whole run

export function train(options: TrainOptions): TrainResult {
  const heldOutFraction = options.heldOutFraction ?? 0.2;
  const l2 = options.l2 ?? 1e-4;
  const siteWeight = options.siteWeight ?? 1;

  const prior = generatePrior(options.priorSamples, options.seed).map(
    (s): Example => ({ x: extractFeatures(s.report, s.context), y: s.label, w: 1 }),
  );
  const site =
    options.dbFile && existsSync(options.dbFile)
      ? siteExamples(options.dbFile, options.config)
      : { examples: [], confirmed: 0, falseAlarm: 0 };
  for (const e of site.examples) e.w = siteWeight;

  // Seeded split, prior and site rows alike.
  const all = [...prior, ...site.examples];
  const r = rng(options.seed ^ 0x5eed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const cut = Math.floor(all.length * (1 - heldOutFraction));
  const trainSet = all.slice(0, cut);
  const heldOut = all.slice(cut);

  const F = FEATURE_COUNT;
  const mean = new Float64Array(F);
  const std = new Float64Array(F);
  const tw = trainSet.reduce((s, e) => s + e.w, 0);
  for (const e of trainSet) for (let j = 0; j < F; j++) mean[j]! += (e.w * e.x[j]!) / tw;
  for (const e of trainSet) for (let j = 0; j < F; j++) std[j]! += (e.w * (e.x[j]! - mean[j]!) ** 2) / tw;
  for (let j = 0; j < F; j++) std[j] = Math.sqrt(std[j]!) || 1;

  const fit = fitMonotone(trainSet, mean, std, l2);
  const weights: LogisticWeights = {
    mean: Float32Array.from(mean),
    std: Float32Array.from(std),
    weights: Float32Array.from(fit.weights),
    bias: Math.fround(fit.bias),
  };

  // Held-out metrics, computed on exactly what will ship (float32 weights).
  const hx = new Float32Array(heldOut.length * F);
  heldOut.forEach((e, i) => hx.set(e.x, i * F));
  const hp = Array.from(referenceForward(weights, hx, heldOut.length));
  const hy = heldOut.map((e) => e.y);
  const brier = hp.reduce((s, p, i) => s + (p - hy[i]!) ** 2, 0) / Math.max(1, hp.length);
  const logLoss =
    -hp.reduce((s, p, i) => s + (hy[i] ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12))), 0) / Math.max(1, hp.length);

  const producerVersion = options.producerVersion ?? '0';
  const doc =
    `SafeSphere Edge re-scorer: logistic regression on ${F} features (${FEATURE_VERSION}), ` +
    `trained by npm run train with seed ${options.seed} on ${prior.length} synthetic prior samples (${PRIOR_VERSION}) ` +
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
    },
    feature_version: FEATURE_VERSION,
    features: [...FEATURE_NAMES],
    input: { name: INPUT_NAME, shape: [-1, F], dtype: 'float32' },
    output: {
      name: OUTPUT_NAME,
      shape: [-1, 1],
      meaning: 'calibrated probability that an operator would confirm the report as a real threat',
    },
    normalization: { applied: 'in_graph', mean: Array.from(weights.mean), std: Array.from(weights.std) },
    thresholds: { ...THRESHOLDS },
    training_data: {
      seed: options.seed,
      prior: {
        generator: PRIOR_GENERATOR,
        version: PRIOR_VERSION,
        samples: prior.length,
        note: 'SYNTHETIC prior from a seeded generator encoding design assumptions; not field data.',
      },
      site: {
        source: site.examples.length ? 'labels table of the gateway database' : null,
        labelled_incidents: site.examples.length,
        confirmed: site.confirmed,
        false_alarm: site.falseAlarm,
        weight: siteWeight,
      },
      held_out_fraction: heldOutFraction,
    },
    metrics: {
      held_out: {
        samples: heldOut.length,
        positives: hy.filter((y) => y === 1).length,
        auc: round(auc(hp, hy)),
        brier: round(brier),
        log_loss: round(logLoss),
      },
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
