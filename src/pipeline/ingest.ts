// The pipeline both transports share: validated report -> re-score -> policy -> one
// SQLite transaction per batch (group commit) -> ack -> events for the act stage.
//
// Reports that arrive within `commit_window_ms` of each other share one transaction and
// one fsync, and are all acknowledged when it returns; so do reports that arrive while
// an asynchronous scorer works on the previous batch. Nothing is acknowledged before
// its commit.
import { ERRORS, GatewayError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { byLevel } from '../levels.js';
import type { ActionPolicy } from '../policy/policy.js';
import { reportedScore, type Score, type Scorer } from '../scoring/scorer.js';
import type { Store } from '../store/store.js';
import type { CommitResult, IncidentDraft } from '../store/types.js';
import { REPORT_FIELDS, type ThreatReport, type ValidReport } from '../validate/report.js';

export type IngestOutcome = Exclude<CommitResult, { kind: 'conflict' }>;

interface Pending {
  report: ValidReport;
  resolve: (outcome: IngestOutcome) => void;
  reject: (err: Error) => void;
}

export interface IngestObserver {
  batchCommitted?(size: number, durationMs: number): void;
  /** Each report's outcome as its ack (or refusal) is released; `level` is the final level when stored. */
  reportSettled?(report: ValidReport, result: 'stored' | 'duplicate' | 'conflict' | 'refused', level: ThreatLevel | null): void;
}


function extraFields(report: ThreatReport): Record<string, unknown> | null {
  const extra = Object.entries(report).filter(([k]) => !REPORT_FIELDS.has(k));
  return extra.length ? Object.fromEntries(extra) : null;
}

/** SQLite's "disk full" and "I/O error" families: the camera should retry, not give up. */
function classifyStorageError(err: unknown): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) return new GatewayError(ERRORS.STORAGE_FULL);
  return new GatewayError(ERRORS.STORAGE_FAILED);
}

export class IngestPipeline {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private running: Promise<void> | null = null;
  private accepting = false;
  private idleWaiters: (() => void)[] = [];
  /** Stored since the last hand-over to the act stage: emitted together, CRITICAL first. */
  private stored: Extract<CommitResult, { kind: 'stored' }>[] = [];
  private announce: NodeJS.Immediate | null = null;

  constructor(
    private readonly config: GatewayConfig['ingest'],
    private readonly store: Store,
    private readonly scorer: Scorer,
    private readonly policy: ActionPolicy,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly observer: IngestObserver = {},
  ) {}

  async start(): Promise<void> {
    this.accepting = true;
  }

  /** Refuses new reports, then commits everything already queued. */
  async stop(): Promise<void> {
    this.accepting = false;
    await this.drain();
  }

  /** Resolves once nothing is queued or being committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    if (this.timer || this.immediate) this.kick();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Queues a validated report; resolves after its transaction has committed. */
  submit(report: ValidReport): Promise<IngestOutcome> {
    if (!this.accepting || this.queue.length >= this.config.max_pending) {
      this.observer.reportSettled?.(report, 'refused', null);
      return Promise.reject(new GatewayError(this.accepting ? ERRORS.OVERLOADED : ERRORS.SHUTTING_DOWN));
    }
    return new Promise<IngestOutcome>((resolve, reject) => {
      this.queue.push({ report, resolve, reject });
      if (this.running) return; // the batch in flight picks these up when it finishes
      if (this.queue.length >= this.config.commit_max_batch) {
        this.kick();
      } else if (this.config.commit_window_ms === 0) {
        // No window: still let the reports already read from the sockets join the batch.
        this.immediate ??= setImmediate(() => {
          this.immediate = null;
          this.kick();
        });
      } else {
        this.timer ??= setTimeout(() => {
          this.timer = null;
          this.kick();
        }, this.config.commit_window_ms);
      }
    });
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    const batch = this.queue.splice(0, this.config.commit_max_batch);
    this.running = this.runBatch(batch).finally(() => {
      this.running = null;
      if (this.queue.length > 0) {
        this.kick();
      } else {
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    });
  }

  private async score(batch: Pending[]): Promise<Score[]> {
    const reports = batch.map((p) => p.report);
    try {
      const scores = await this.scorer.scoreBatch(reports);
      if (scores.length === reports.length) return scores;
      this.log.error({ expected: reports.length, got: scores.length }, 'scorer returned the wrong number of scores');
    } catch (err) {
      this.log.error({ err }, 'scorer failed; using the reported levels');
    }
    return reports.map(reportedScore);
  }

  private draft(p: Pending, score: Score): IncidentDraft {
    const { report, cameraId, source, sourceKey, sourceRef, contentHash, receivedAt } = p.report;
    const weaponDetected = report.weapon_detected ?? false;
    const plan = this.policy.plan(score.level, weaponDetected, report.weapon_types ?? []);
    return {
      incidentId: report.incident_id,
      timestamp: report.timestamp,
      level: score.level,
      score: score.score,
      reportedLevel: report.threat_level,
      reportedScore: report.threat_score,
      modelVersion: score.modelVersion,
      modelProbability: score.modelProbability ?? null,
      modelLevel: score.modelLevel ?? null,
      peopleCount: report.people_count ?? null,
      weaponDetected,
      weaponTypes: report.weapon_types ?? [],
      behaviorSummary: report.behavior_summary ?? null,
      isCritical: report.is_critical ?? false,
      fullTelemetry: (report.full_telemetry as Record<string, unknown> | undefined) ?? null,
      extraFields: extraFields(report),
      cameraId,
      source,
      sourceKey,
      sourceRef,
      contentHash,
      receivedAtMs: receivedAt,
      actionTaken: plan.status,
      actions: plan.actions,
    };
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const scores = await this.score(batch);
    const drafts = batch.map((p, i) => this.draft(p, scores[i]!));
    const started = performance.now();
    let results: CommitResult[];
    try {
      results = this.store.commitBatch(drafts);
    } catch (err) {
      const failure = classifyStorageError(err);
      if (batch.length > 1 && failure.code === ERRORS.STORAGE_FAILED.code) {
        // One bad row must not sink its batch-mates: retry each on its own.
        this.log.warn({ err, size: batch.length }, 'batch commit failed; retrying reports one by one');
        batch.forEach((p, i) => this.commitAlone(p, drafts[i]!));
        return;
      }
      this.log.error({ err, size: batch.length }, 'commit failed; reports refused');
      for (const p of batch) {
        this.observer.reportSettled?.(p.report, 'refused', null);
        p.reject(failure);
      }
      return;
    }
    this.observer.batchCommitted?.(batch.length, performance.now() - started);
    batch.forEach((p, i) => this.settle(p, results[i]!));
  }

  private commitAlone(p: Pending, draft: IncidentDraft): void {
    try {
      this.settle(p, this.store.commitBatch([draft])[0]!);
    } catch (err) {
      this.log.error({ err, incident_id: draft.incidentId }, 'commit failed; report refused');
      this.observer.reportSettled?.(p.report, 'refused', null);
      p.reject(classifyStorageError(err));
    }
  }

  private settle(p: Pending, result: CommitResult): void {
    this.observer.reportSettled?.(p.report, result.kind, result.kind === 'conflict' ? null : result.incident.threat_level);
    if (result.kind === 'conflict') {
      p.reject(
        new GatewayError(ERRORS.INCIDENT_CONFLICT, [
          { path: 'incident_id', message: `"${result.incident.incident_id}" is already stored with different content` },
        ]),
      );
      return;
    }
    p.resolve(result);
    if (result.kind === 'stored') {
      // After the ack has been queued: the act stage never delays an acknowledgement.
      this.stored.push(result);
      this.announce ??= setImmediate(() => this.announceStored());
    }
  }

  /** Hands the batch's incidents to the act stage, CRITICAL responses first (the sort is stable: arrival order within a level). */
  private announceStored(): void {
    this.announce = null;
    const stored = this.stored;
    this.stored = [];
    // By the level whose response runs: a HIGH report naming a firearm gets CRITICAL's, and goes with them.
    const rank = new Map(stored.map((r) => [r, this.policy.responseOf(r.incident)]));
    stored.sort((a, b) => byLevel(rank.get(a)!, rank.get(b)!));
    for (const result of stored) {
      this.bus.emit('incident.stored', { incident: result.incident, actions: result.actions });
      for (const action of result.actions) this.bus.emit('action.planned', { incident: result.incident, action });
    }
  }
}
