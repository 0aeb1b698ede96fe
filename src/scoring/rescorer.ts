// The re-score stage: context window → features → ONNX (worker thread) → decision with
// the safety floor. Implements the pipeline's `Scorer`, so each group-commit batch is
// one batched inference. Never drops or delays a report: without a usable model, or
// when inference fails, is late or is still busy, the batch keeps the reported levels.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { LabelRepository } from '../store/labels.js';
import type { Store } from '../store/store.js';
import type { ValidReport } from '../validate/report.js';
import { ContextWindow } from './context.js';
import { evaluate, type EvaluationReport } from './evaluation.js';
import { decide, levelScore } from './decision.js';
import { extractFeatures, FEATURE_COUNT, weaponFacts, WeaponVocabulary } from './features.js';
import { InferenceBusy, InferenceTimeout, InferenceWorker, type TensorInfo } from './inference.js';
import { validateManifest, type ModelManifest } from './manifest.js';
import { reportedScore, type Score, type Scorer } from './scorer.js';

export const MODEL_FILE = 'rescorer.onnx';
export const MANIFEST_FILE = 'rescorer.json';
const WATCH_DEBOUNCE_MS = 250;
const CHECK_TOLERANCE = 1e-5;

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

interface ActiveModel {
  id: number;
  manifest: ModelManifest;
  sha256: string;
  bytes: Uint8Array;
  loadedAt: string;
  source: string;
}

export interface RescoreStats {
  batches: number;
  reports: number;
  rescored: number;
  fallbacks: number;
  timeouts: number;
  busy: number;
  errors: number;
  changed: { raised: number; lowered: number; held_by_floor: number };
}

export class RescoreStage implements Scorer {
  readonly context: ContextWindow;
  readonly vocabulary: WeaponVocabulary;
  private readonly worker: InferenceWorker;
  private active: ActiveModel | null = null;
  private nextModelId = 1;
  private loading: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastRunError: { at: string; message: string } | null = null;
  private lastLoadError: { at: string; message: string } | null = null;
  private restarting = false;
  private started = false;
  readonly modelDir: string;
  readonly stats: RescoreStats = {
    batches: 0,
    reports: 0,
    rescored: 0,
    fallbacks: 0,
    timeouts: 0,
    busy: 0,
    errors: 0,
    changed: { raised: 0, lowered: 0, held_by_floor: 0 },
  };
  /** Listeners waiting for the next load attempt to finish (nextLoad; only the tests wait on it). */
  private loadWaiters: ((r: { ok: boolean; error?: string }) => void)[] = [];

  constructor(
    private readonly config: Pick<GatewayConfig, 'scoring' | 'zones'>,
    private readonly store: Store,
    private readonly labels: LabelRepository | null,
    private readonly log: Logger,
  ) {
    const s = config.scoring;
    this.modelDir = resolve(s.model_dir);
    this.context = new ContextWindow(config.zones, {
      corroborationWindowMs: s.corroboration_window_s * 1000,
      repeatWindowMs: s.repeat_window_s * 1000,
      falseAlarmWindowMs: s.false_alarm_window_days * 86_400_000,
      defaultZoneRisk: s.default_zone_risk,
    });
    this.worker = new InferenceWorker({ intraOpThreads: s.intra_op_threads });
    this.vocabulary = new WeaponVocabulary(s.firearm_terms);
  }

  async start(): Promise<void> {
    const primed = this.context.prime(this.store);
    this.labels?.afterCommit((l) => {
      if (l.camera_id) this.context.addLabel(l.camera_id, l.incident_id, l.label, Date.parse(l.created_at));
    });
    this.started = true;
    this.log.info({ ...primed, cameras: this.context.cameraCount }, 're-score context primed');
    if (!this.config.scoring.enabled) {
      this.log.info('re-scoring disabled (scoring.enabled=false): reported levels are final');
      return;
    }
    this.worker.start();
    await this.reload('start');
    if (this.config.scoring.watch) this.watch();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = null;
    await this.loading.catch(() => undefined);
    await this.worker.stop();
  }

  // ---------------------------------------------------------------- scoring

  async scoreBatch(reports: readonly ValidReport[]): Promise<Score[]> {
    const n = reports.length;
    const F = FEATURE_COUNT;
    const data = new Float32Array(n * F);
    const facts: { firearm: boolean; falseAlarms: number }[] = [];
    // Sequential on purpose: each report sees the ones before it, in this batch too.
    for (let i = 0; i < n; i++) {
      const r = reports[i]!;
      const ctx = this.context.contextFor(r.cameraId, r.receivedAt);
      extractFeatures(r.report as Parameters<typeof extractFeatures>[0], ctx, data, i * F, this.vocabulary);
      facts.push({ firearm: weaponFacts(r.report, this.vocabulary).floorFirearm, falseAlarms: ctx.falseAlarms });
      this.context.add(r.report.incident_id, r.cameraId, r.report.threat_level, r.receivedAt);
    }
    this.stats.batches++;
    this.stats.reports += n;
    const model = this.active;
    if (!this.config.scoring.enabled || !model) {
      this.stats.fallbacks += n;
      return reports.map(reportedScore);
    }
    let probabilities: Float32Array;
    try {
      probabilities = await this.worker.run(
        model.id,
        model.manifest.input.name,
        model.manifest.output.name,
        data,
        n,
        F,
        this.config.scoring.timeout_ms,
      );
      if (probabilities.length !== n) throw new Error(`model returned ${probabilities.length} values for ${n} reports`);
      this.lastRunError = null;
    } catch (err) {
      this.onRunFailure(err as Error, n);
      return reports.map(reportedScore);
    }
    const { thresholds } = model.manifest;
    const floor = this.config.scoring.floor;
    const shadow = this.config.scoring.mode === 'shadow';
    this.stats.rescored += n;
    return reports.map((r, i) => {
      const p = probabilities[i]!;
      const d = decide(
        { reportedLevel: r.report.threat_level, probability: p, firearm: facts[i]!.firearm, cameraFalseAlarms: facts[i]!.falseAlarms },
        thresholds,
        floor,
      );
      this.countChange(r.report.threat_level, d.level, d.heldBy !== null);
      const probability = Math.round(p * 1e6) / 1e6;
      const version = model.manifest.version;
      // Shadow: the camera's level and score are final; the model's answer is only stored.
      if (shadow) return { ...reportedScore(r), modelVersion: version, modelProbability: probability, modelLevel: d.level };
      return { level: d.level, score: levelScore(d.level, r.report.threat_score), modelVersion: version, modelProbability: probability, modelLevel: d.level };
    });
  }

  private countChange(reported: ThreatLevel, final: ThreatLevel, held: boolean): void {
    const delta = levelIndex(final) - levelIndex(reported);
    if (delta > 0) this.stats.changed.raised++;
    else if (delta < 0) this.stats.changed.lowered++;
    if (held) this.stats.changed.held_by_floor++;
  }

  private onRunFailure(err: Error, n: number): void {
    this.stats.fallbacks += n;
    if (err instanceof InferenceBusy) {
      this.stats.busy++;
      // A run that never answers would keep the model out for good: restart the worker.
      const limit = Math.max(2000, 20 * this.config.scoring.timeout_ms);
      if (this.worker.overdueMs > limit && !this.restarting) void this.restartWorker(limit);
    } else if (err instanceof InferenceTimeout) {
      this.stats.timeouts++;
      this.log.warn({ timeout_ms: this.config.scoring.timeout_ms, reports: n }, 'inference too slow; this batch keeps the reported levels');
    } else {
      this.stats.errors++;
      this.log.error({ err, reports: n }, 'inference failed; this batch keeps the reported levels');
    }
    this.lastRunError = { at: new Date().toISOString(), message: err.message };
  }

  private async restartWorker(limit: number): Promise<void> {
    this.restarting = true;
    this.log.error({ overdue_ms: this.worker.overdueMs, limit_ms: limit }, 'inference worker stuck; restarting it');
    try {
      // No drain: this run is already overdue. Terminating a thread inside onnxruntime's run
      // aborts the process (InferenceWorker.stop), so a model truly stuck in native code ends the
      // daemon here and systemd restarts it; nothing acknowledged is lost (commits come first).
      await this.worker.stop(0);
      this.worker.start();
      const model = this.active;
      if (model) await this.worker.load(model.id, model.bytes);
    } catch (err) {
      this.log.error({ err }, 'inference worker restart failed');
      this.active = null;
    } finally {
      this.restarting = false;
    }
  }

  // ---------------------------------------------------------------- loading and hot swap

  /** Loads the pair in model_dir if it differs from the active model. Loads never overlap. */
  reload(reason: string): Promise<void> {
    const next = this.loading.then(() => this.loadPair(reason));
    this.loading = next.catch(() => undefined);
    return this.loading;
  }

  /** Resolves after the next load attempt finishes (successful or refused). */
  nextLoad(): Promise<{ ok: boolean; error?: string }> {
    return new Promise((resolve) => this.loadWaiters.push(resolve));
  }

  private async loadPair(reason: string): Promise<void> {
    const onnxFile = join(this.modelDir, MODEL_FILE);
    const manifestFile = join(this.modelDir, MANIFEST_FILE);
    let result: { ok: boolean; error?: string } = { ok: true };
    try {
      if (!existsSync(onnxFile) || !existsSync(manifestFile)) {
        throw new ModelLoadError(`no model: ${MODEL_FILE} and ${MANIFEST_FILE} are both needed in ${this.modelDir}`);
      }
      const candidate = await this.validatePair(readFileSync(onnxFile), readFileSync(manifestFile, 'utf8'));
      if (!candidate) return; // the active model already
      const old = this.active;
      this.active = { ...candidate, loadedAt: new Date().toISOString(), source: this.modelDir };
      this.lastLoadError = null;
      this.log.info(
        { version: candidate.manifest.version, previous: old?.manifest.version ?? null, reason, dir: this.modelDir },
        old ? 'model hot-swapped' : 'model loaded',
      );
      if (old) await this.worker.dispose(old.id).catch(() => undefined);
    } catch (err) {
      const message = (err as Error).message;
      result = { ok: false, error: message };
      this.lastLoadError = { at: new Date().toISOString(), message };
      if (this.active) {
        this.log.error({ err, reason, kept: this.active.manifest.version }, 'model pair refused; keeping the active model');
      } else {
        this.log.error({ err, reason }, 'no usable model; reports keep their reported levels');
      }
    } finally {
      for (const wake of this.loadWaiters.splice(0)) wake(result);
    }
  }

  /**
   * Checks a candidate pair end to end: manifest schema and feature layout, sha256 of the
   * ONNX bytes, the session's input/output names and shape, and the manifest's check vector.
   * Returns null when it is the active model already.
   */
  private async validatePair(bytes: Uint8Array, manifestText: string): Promise<Omit<ActiveModel, 'loadedAt' | 'source'> | null> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(manifestText);
    } catch (err) {
      throw new ModelLoadError(`${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
    }
    const manifest = validateManifest(parsed);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== manifest.onnx_sha256) {
      throw new ModelLoadError(
        `${MODEL_FILE} (sha256 ${sha256.slice(0, 12)}…) is not the model ${MANIFEST_FILE} describes (${manifest.onnx_sha256.slice(0, 12)}…); replace both files together`,
      );
    }
    if (this.active && this.active.sha256 === sha256 && this.active.manifest.version === manifest.version) return null;
    const id = this.nextModelId++;
    let meta: { inputs: TensorInfo[]; outputs: TensorInfo[] };
    try {
      meta = await this.worker.load(id, bytes);
    } catch (err) {
      throw new ModelLoadError(`onnxruntime cannot load ${MODEL_FILE}: ${(err as Error).message}`);
    }
    try {
      checkShapes(meta, manifest);
      const p = (await this.worker.run(id, manifest.input.name, manifest.output.name, Float32Array.from(manifest.check.features), 1, FEATURE_COUNT, 5000, false))[0]!;
      if (!(Math.abs(p - manifest.check.probability) <= CHECK_TOLERANCE)) {
        throw new ModelLoadError(`self-check failed: the model gives ${p} for the manifest's check vector, the manifest expects ${manifest.check.probability}`);
      }
    } catch (err) {
      await this.worker.dispose(id).catch(() => undefined);
      throw err;
    }
    return { id, manifest, sha256, bytes };
  }

  private watch(): void {
    try {
      this.watcher = watch(this.modelDir, { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        if (name && name !== MODEL_FILE && name !== MANIFEST_FILE) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => {
          this.debounce = null;
          if (this.started) void this.reload('model_dir changed');
        }, WATCH_DEBOUNCE_MS);
      });
      this.watcher.on('error', (err) => this.log.error({ err, dir: this.modelDir }, 'watching the model dir failed'));
    } catch (err) {
      this.log.warn({ err, dir: this.modelDir }, 'cannot watch the model dir; a new model needs a restart');
    }
  }

  // ---------------------------------------------------------------- visibility

  /** The site evaluation over the last `days` days (GET /model/evaluation). */
  evaluation(days: number, now = Date.now()): EvaluationReport & { mode: string; model: string | null } {
    const rows = this.store.evaluation.since(new Date(now - days * 86_400_000).toISOString());
    return { mode: this.config.scoring.mode, model: this.active?.manifest.version ?? null, ...evaluate(rows, this.vocabulary) };
  }

  get activeManifest(): ModelManifest | null {
    return this.active?.manifest ?? null;
  }

  health(): ComponentHealth {
    if (!this.config.scoring.enabled) return { status: 'up', enabled: false };
    const base = {
      version: this.active?.manifest.version ?? null,
      loaded_at: this.active?.loadedAt ?? null,
      ...(this.lastLoadError ? { last_refused: this.lastLoadError } : {}),
    };
    if (!this.active) return { status: 'degraded', reason: this.lastLoadError?.message ?? 'no model loaded', ...base };
    if (!this.worker.alive) return { status: 'degraded', reason: 'inference worker is not running', ...base };
    if (this.lastRunError) return { status: 'degraded', reason: `last inference failed: ${this.lastRunError.message}`, since: this.lastRunError.at, ...base };
    return { status: 'up', ...base };
  }

  info(): Record<string, unknown> {
    const h = this.health();
    return {
      enabled: this.config.scoring.enabled,
      status: h.status,
      ...(h.reason ? { reason: h.reason } : {}),
      model_dir: this.modelDir,
      active: this.active
        ? { version: this.active.manifest.version, loaded_at: this.active.loadedAt, onnx_sha256: this.active.sha256, manifest: this.active.manifest }
        : null,
      last_refused: this.lastLoadError,
      mode: this.config.scoring.mode,
      intra_op_threads: this.config.scoring.intra_op_threads,
      timeout_ms: this.config.scoring.timeout_ms,
      floor: this.config.scoring.floor,
      stats: this.stats,
    };
  }
}

function checkShapes(meta: { inputs: TensorInfo[]; outputs: TensorInfo[] }, manifest: ModelManifest): void {
  const F = FEATURE_COUNT;
  if (meta.inputs.length !== 1) throw new ModelLoadError(`the model has ${meta.inputs.length} inputs; the re-scorer feeds exactly 1`);
  const input = meta.inputs[0]!;
  const shape = input.shape ?? [];
  const shown = `[${shape.join(', ')}]`;
  if (input.name !== manifest.input.name) throw new ModelLoadError(`the model's input is "${input.name}" but the manifest says "${manifest.input.name}"`);
  if (input.type !== 'float32') throw new ModelLoadError(`the model's input "${input.name}" is ${input.type}; it must be float32`);
  if (shape.length !== 2 || shape[1] !== F || typeof shape[0] === 'number' && shape[0] !== -1) {
    throw new ModelLoadError(
      `input shape mismatch: the model's input "${input.name}" is ${shown} but the manifest and this gateway's ${F} features need [batch, ${F}]`,
    );
  }
  if (!meta.outputs.some((o) => o.name === manifest.output.name)) {
    throw new ModelLoadError(`the model has no output "${manifest.output.name}" (it has ${meta.outputs.map((o) => o.name).join(', ')})`);
  }
}
