// rescorer.json: what a rescorer.onnx was trained on and how its output is read. The
// scorer refuses a pair whose manifest does not validate, does not match the ONNX bytes
// (sha256) or the ONNX input shape, or whose self-check vector gives another answer.
import type { ThreatLevel } from '../config/schema.js';
import { FEATURE_NAMES, FEATURE_VERSION } from './features.js';

export const MANIFEST_FORMAT = 'safesphere-rescorer/1';

export interface ModelManifest {
  format: typeof MANIFEST_FORMAT;
  version: string;
  model: {
    type: 'logistic_regression';
    l2: number;
    iterations: number;
    opset: number;
    /** +1: the probability never falls as the feature rises; -1: never rises. */
    monotone: Record<string, 1 | -1>;
    /** Constrained coefficients the data would have reversed, held at zero instead. */
    held_at_zero: string[];
    /** Coefficients kept at the prior-only fit's values (the hour, until site labels cover the clock). */
    pinned_to_prior: string[];
  };
  feature_version: string;
  features: string[];
  input: { name: string; shape: [number, number]; dtype: 'float32' };
  output: { name: string; shape: [number, number]; meaning: string };
  normalization: { applied: 'in_graph'; mean: number[]; std: number[] };
  /** Lower bound of each level on the model's probability; LOW is everything below MEDIUM. */
  thresholds: { MEDIUM: number; HIGH: number; CRITICAL: number };
  training_data: {
    seed: number;
    prior: { generator: string; version: string; samples: number; strength: number; note: string };
    site: { source: string | null; labelled_incidents: number; confirmed: number; false_alarm: number; held_out: number; hours_covered: number };
    held_out_fraction: number;
  };
  metrics: {
    /** The prior's held-out rows: shows the fit, not field performance (the prior is synthetic). */
    held_out: HeldOut;
    /** The same rows, a camera-only model (camera_score and reported_level). */
    baseline_held_out: HeldOut;
    /** The site's newest labels, held out: the metric that matters. */
    site_held_out: {
      split: string;
      model: HeldOut;
      baseline: HeldOut;
      current: (HeldOut & { version: string }) | null;
      by_camera: Record<string, { samples: number; positives: number; model_log_loss: number; baseline_log_loss: number }>;
    } | null;
    not_compared?: string;
    forced_over?: string;
  };
  onnx_sha256: string;
  /** One feature vector and the probability the ONNX graph must give for it (±1e-5). */
  check: { features: number[]; probability: number };
}

interface HeldOut {
  samples: number;
  positives: number;
  auc: number;
  brier: number;
  log_loss: number;
}

export class ManifestError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid model manifest: ${problems.join('; ')}`);
    this.name = 'ManifestError';
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Validates a parsed rescorer.json against this gateway's feature layout. */
export function validateManifest(raw: unknown): ModelManifest {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ManifestError(['must be a JSON object']);
  const m = raw as Partial<ModelManifest> & Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) problems.push(`format must be "${MANIFEST_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (typeof m.version !== 'string' || !/^[A-Za-z0-9_.:+-]{1,64}$/.test(m.version)) problems.push('version must be 1-64 characters of A-Z a-z 0-9 _ . : + -');
  if (m.feature_version !== FEATURE_VERSION) {
    problems.push(`feature_version is ${JSON.stringify(m.feature_version)} but this gateway computes ${FEATURE_VERSION}`);
  }
  const F = FEATURE_NAMES.length;
  if (!Array.isArray(m.features) || m.features.join(',') !== FEATURE_NAMES.join(',')) {
    problems.push(`features must be exactly [${FEATURE_NAMES.join(', ')}] in this order`);
  }
  if (!m.input || typeof m.input.name !== 'string' || !Array.isArray(m.input.shape) || m.input.shape.length !== 2 || m.input.shape[1] !== F) {
    problems.push(`input must be {name, shape: [-1, ${F}]}`);
  }
  if (!m.output || typeof m.output.name !== 'string') problems.push('output.name is required');
  const norm = m.normalization;
  if (!norm || !Array.isArray(norm.mean) || !Array.isArray(norm.std) || norm.mean.length !== F || norm.std.length !== F || ![...norm.mean, ...norm.std].every(isNum)) {
    problems.push(`normalization.mean and .std must be ${F} numbers each`);
  }
  const t = m.thresholds;
  if (!t || !isNum(t.MEDIUM) || !isNum(t.HIGH) || !isNum(t.CRITICAL) || !(0 < t.MEDIUM && t.MEDIUM < t.HIGH && t.HIGH < t.CRITICAL && t.CRITICAL < 1)) {
    problems.push('thresholds must be 0 < MEDIUM < HIGH < CRITICAL < 1');
  }
  if (typeof m.onnx_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.onnx_sha256)) problems.push('onnx_sha256 must be a hex SHA-256');
  if (!m.check || !Array.isArray(m.check.features) || m.check.features.length !== F || !m.check.features.every(isNum) || !isNum(m.check.probability)) {
    problems.push(`check must be {features: ${F} numbers, probability}`);
  }
  if (problems.length) throw new ManifestError(problems);
  return m as ModelManifest;
}

/** The level a probability falls in, by the manifest's thresholds. */
export function levelFor(probability: number, thresholds: ModelManifest['thresholds']): ThreatLevel {
  if (probability >= thresholds.CRITICAL) return 'CRITICAL';
  if (probability >= thresholds.HIGH) return 'HIGH';
  if (probability >= thresholds.MEDIUM) return 'MEDIUM';
  return 'LOW';
}
