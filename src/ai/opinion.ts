// The Gemini second opinion. Never on the critical path:
//
//   report ─▶ commit ─▶ ack ─▶ actions dispatched (automation)
//   snapshot ─▶ attached ─▶ image model ─▶ "evidence ready" ─▶ queue ─▶ [wait: every action of
//   the incident dispatched] ─▶ budget / cap ─▶ Gemini ─▶ annotation + outbox (ONE transaction)
//
// The queue is bounded (ai.queue_max, oldest dropped and counted). A 429, 5xx, timeout or
// network error backs off exponentially with jitter (a network error also marks the site
// offline: queued requests wait for the next probe). The per-day budget and per-incident cap
// are counted in SQLite (table ai_requests), so a restart does not reset them. The AI never
// changes a level: a disagreement only sets needs_review on the annotation.
import { loadSharp } from '../evidence/sharp.js';
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import { levelIndex } from '../levels.js';
import type { EventBus } from '../events/bus.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { SnapshotService } from '../evidence/snapshots.js';
import type { AnnotationRepository } from '../store/annotations.js';
import type { Store } from '../store/store.js';
import type { StoredIncident } from '../store/types.js';
import { GeminiFailure, type GeminiClient, type SecondOpinionAnswer } from './gemini.js';

const utcDay = (ms = Date.now()) => new Date(ms).toISOString().slice(0, 10);
const IMAGE_MAX_PX = 1024;

/** Why an incident got no opinion (counted in health). */
export interface OpinionCounters {
  queued: number;
  requests: number;
  stored: number;
  needs_review: number;
  rate_limited: number;
  server_errors: number;
  timeouts: number;
  network_errors: number;
  rejected: number;
  invalid_responses: number;
  dropped_queue_full: number;
  skipped_budget: number;
  skipped_cap: number;
  dispatch_wait_timeouts: number;
}

/** The disagreement rule: the AI doubts a serious incident, or puts it two or more levels lower. */
export function reviewReason(level: ThreatLevel, answer: SecondOpinionAnswer): string | null {
  if (!answer.threat_confirmed && levelIndex(level) >= levelIndex('HIGH')) {
    return `AI does not confirm a threat (confidence ${answer.confidence}) but the incident is ${level}`;
  }
  if (levelIndex(answer.potential_threat_level) <= levelIndex(level) - 2) {
    return `AI suggests ${answer.potential_threat_level}, the incident is ${level}`;
  }
  return null;
}

export class SecondOpinion {
  private readonly queue: string[] = [];
  private readonly rows: AnnotationRepository;
  private running = false;
  private stopped = true;
  private pauseTimer: NodeJS.Timeout | null = null;
  private pausedUntil = 0;
  private consecutiveFailures = 0;
  private offline = false;
  private budgetLoggedFor = '';
  private lastError: { at: string; kind: string; message: string } | null = null;
  private unsubscribe: (() => void) | null = null;
  private current: Promise<void> | null = null;
  private readonly idleWaiters: (() => void)[] = [];
  readonly counters: OpinionCounters = {
    queued: 0,
    requests: 0,
    stored: 0,
    needs_review: 0,
    rate_limited: 0,
    server_errors: 0,
    timeouts: 0,
    network_errors: 0,
    rejected: 0,
    invalid_responses: 0,
    dropped_queue_full: 0,
    skipped_budget: 0,
    skipped_cap: 0,
    dispatch_wait_timeouts: 0,
  };

  constructor(
    private readonly config: GatewayConfig['ai'],
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly snapshots: SnapshotService,
    private readonly client: GeminiClient,
    /** Whether an automation stage dispatches actions (nodered.enabled). Off: actions stay pending by design. */
    private readonly automationOn: boolean,
    private readonly log: Logger,
  ) {
    this.rows = store.annotations;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.snapshots.onEvidenceReady((id) => this.consider(id));
    this.log.info(
      { model: this.client.model, min_level: this.config.min_level, send_images: this.config.send_images, daily_budget: this.config.daily_budget },
      'AI second opinion on',
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    await this.current;
  }

  /** Budget bookkeeping shared with the chat: logs one request, or returns null when the day's budget is spent. */
  takeBudget(purpose: 'opinion' | 'chat', incidentId: string | null): number | null {
    const day = utcDay();
    const used = this.rows.requestsOn(day);
    if (used >= this.config.daily_budget) {
      if (this.budgetLoggedFor !== day) {
        this.budgetLoggedFor = day;
        this.log.warn({ day, daily_budget: this.config.daily_budget }, 'AI daily budget spent; no more Gemini requests today');
      }
      return null;
    }
    return this.rows.logRequest(day, purpose, incidentId, new Date().toISOString());
  }

  recordOutcome(requestId: number, outcome: string): void {
    if (this.stopped) return;
    // A request that never reached Gemini (offline) costs no quota: it does not count
    // against the day's budget or the incident's cap, so an outage cannot use them up.
    if (outcome === 'network') this.rows.forgetRequest(requestId);
    else this.rows.setOutcome(requestId, outcome);
  }

  budgetLeft(): number {
    return Math.max(0, this.config.daily_budget - this.rows.requestsOn(utcDay()));
  }

  /** An incident with its snapshot (and detections) ready: queue it if it qualifies. */
  consider(incidentId: string): void {
    if (this.stopped) return;
    const incident = this.store.getIncident(incidentId);
    if (!incident || levelIndex(incident.threat_level) < levelIndex(this.config.min_level)) return;
    if (this.rows.hasOpinion(incidentId) || this.queue.includes(incidentId)) return;
    if (this.queue.length >= this.config.queue_max) {
      const dropped = this.queue.shift();
      this.counters.dropped_queue_full++;
      this.log.warn(
        { dropped, queue_max: this.config.queue_max, dropped_total: this.counters.dropped_queue_full },
        'AI queue full; oldest request dropped',
      );
    }
    this.queue.push(incidentId);
    this.counters.queued++;
    this.pump();
  }

  get queueLength(): number {
    return this.queue.length;
  }

  get isOffline(): boolean {
    return this.offline;
  }

  /** Resolves when the queue is empty and nothing is in flight (tests, bench). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    if (this.running || this.stopped || this.queue.length === 0) return;
    if (Date.now() < this.pausedUntil) return; // the pause timer pumps again
    this.running = true;
    this.current = this.next()
      .catch((err: unknown) => this.log.error({ err }, 'AI second opinion failed unexpectedly'))
      .finally(() => {
        this.running = false;
        this.current = null;
        if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        else this.pump();
      });
  }

  private pause(failure: GeminiFailure): void {
    this.consecutiveFailures++;
    const exp = Math.min(this.config.backoff_max_ms, this.config.backoff_base_ms * 2 ** (this.consecutiveFailures - 1));
    const delay = Math.round(exp / 2 + Math.random() * (exp / 2)); // "equal jitter": at least half the step
    this.pausedUntil = Date.now() + delay;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.pausedUntil = 0;
      this.pump();
    }, delay);
    this.pauseTimer.unref();
    this.log.warn({ kind: failure.kind, status: failure.status, retry_in_ms: delay, queued: this.queue.length }, 'Gemini unavailable; backing off');
  }

  /** Resolves once no action of the incident is pending (or after ai.dispatch_wait_ms). */
  private async actionsDispatched(incidentId: string): Promise<void> {
    if (!this.automationOn) return;
    const pending = () => this.store.actions.pendingCount(incidentId);
    if (pending() === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        off();
        this.counters.dispatch_wait_timeouts++;
        this.log.warn({ incident_id: incidentId, waited_ms: this.config.dispatch_wait_ms }, 'actions still pending; AI request goes ahead');
        resolve();
      }, this.config.dispatch_wait_ms);
      const off = this.bus.on('action.updated', (e) => {
        if (e.incident_id !== incidentId || this.stopped || pending() > 0) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  private async next(): Promise<void> {
    const incidentId = this.queue[0]!;
    const incident = this.store.getIncident(incidentId);
    if (!incident || this.rows.hasOpinion(incidentId)) {
      this.queue.shift();
      return;
    }
    if (this.rows.opinionRequestsFor(incidentId) >= this.config.per_incident_cap) {
      this.queue.shift();
      this.counters.skipped_cap++;
      this.log.warn({ incident_id: incidentId, per_incident_cap: this.config.per_incident_cap }, 'AI per-incident cap reached; no second opinion');
      return;
    }
    await this.actionsDispatched(incidentId);
    if (this.stopped) return;

    const requestId = this.takeBudget('opinion', incidentId);
    if (requestId === null) {
      this.queue.shift();
      this.counters.skipped_budget++;
      return;
    }
    const jpeg = this.config.send_images ? await this.image(incidentId) : null;
    const prompt = this.prompt(incident);
    this.counters.requests++;
    let answer: SecondOpinionAnswer;
    try {
      answer = await this.client.secondOpinion(prompt, jpeg);
    } catch (err) {
      const failure = err instanceof GeminiFailure ? err : new GeminiFailure('network', (err as Error).message);
      this.recordOutcome(requestId, failure.kind);
      this.countFailure(failure);
      this.lastError = { at: new Date().toISOString(), kind: failure.kind, message: failure.message };
      if (failure.transient) {
        if (failure.kind === 'network') this.offline = true;
        this.pause(failure); // the incident stays first in the queue
      } else {
        this.queue.shift();
        this.log.warn({ incident_id: incidentId, kind: failure.kind, status: failure.status, err: failure.message }, 'Gemini refused the request; no second opinion');
      }
      return;
    }
    this.consecutiveFailures = 0;
    if (this.offline) this.log.info('Gemini reachable again');
    this.offline = false;
    this.recordOutcome(requestId, 'ok');
    this.queue.shift();
    if (!this.stopped) this.storeAnnotation(incident, answer, jpeg !== null);
  }

  private countFailure(f: GeminiFailure): void {
    const key = ({
      rate_limited: 'rate_limited',
      server: 'server_errors',
      timeout: 'timeouts',
      network: 'network_errors',
      rejected: 'rejected',
      invalid_response: 'invalid_responses',
    } as const)[f.kind];
    this.counters[key]++;
  }

  /** The stored (metadata-free) JPEG, at most 1024 px on its longest side. */
  private async image(incidentId: string): Promise<Buffer | null> {
    const file = this.snapshots.file(incidentId, 'full');
    if (!file) return null;
    try {
      const sharp = await loadSharp();
      return await sharp(file).resize(IMAGE_MAX_PX, IMAGE_MAX_PX, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer();
    } catch (err) {
      this.log.warn({ err: (err as Error).message, incident_id: incidentId }, 'snapshot unreadable; asking with telemetry only');
      return null;
    }
  }

  /** A compact telemetry summary: what the gateway knows, never the raw telemetry blob. */
  prompt(i: StoredIncident): string {
    const weaponTypes = (() => {
      try {
        return (JSON.parse(i.weapon_types) as string[]).join(', ');
      } catch {
        return '';
      }
    })();
    const det = this.snapshots.detection(i.incident_id);
    const lines = [
      `Incident ${i.incident_id} from camera ${i.camera_id ?? 'unknown'} at ${i.timestamp}.`,
      `Gateway level: ${i.threat_level} (score ${i.threat_score.toFixed(2)}); the camera reported ${i.reported_level} (${i.reported_score.toFixed(2)}).`,
      `People: ${i.people_count ?? 'unknown'}. Weapon detected: ${i.weapon_detected ? `yes${weaponTypes ? ` (${weaponTypes})` : ''}` : 'no'}.`,
      i.behavior_summary ? `Behaviour: ${i.behavior_summary.slice(0, 300)}` : 'Behaviour: not described.',
      det
        ? `On-site image model: person ${det.person_conf.toFixed(2)}, weapon ${det.weapon_conf.toFixed(2)}` +
          (det.boxes.length ? `; boxes: ${det.boxes.slice(0, 8).map((b) => `${b.label} ${b.confidence.toFixed(2)}`).join(', ')}` : '') +
          '.'
        : 'No on-site image model result.',
      this.config.send_images ? 'The camera snapshot is attached.' : 'No image is sent (privacy setting); judge from the telemetry only.',
      'Does the evidence support a real threat? Answer with the JSON schema.',
    ];
    return lines.join('\n');
  }

  private storeAnnotation(incident: StoredIncident, a: SecondOpinionAnswer, imagesSent: boolean): void {
    const reason = reviewReason(incident.threat_level, a);
    const createdAt = new Date().toISOString();
    const id = this.rows.addOpinion(
      {
        incident_id: incident.incident_id,
        model: this.client.model,
        summary: a.summary,
        threat_confirmed: a.threat_confirmed,
        confidence: a.confidence,
        potential_threat_level: a.potential_threat_level,
        recommended_actions: a.recommended_actions,
        needs_review: reason !== null,
        review_reason: reason,
        images_sent: imagesSent,
        created_at: createdAt,
      },
      (annotationId) => ({ annotation: 'ai_second_opinion', annotation_id: annotationId, model: this.client.model, ...a, needs_review: reason !== null, review_reason: reason, images_sent: imagesSent, created_at: createdAt }),
    );
    this.counters.stored++;
    if (reason) this.counters.needs_review++;
    this.log.info(
      { incident_id: incident.incident_id, model: this.client.model, threat_confirmed: a.threat_confirmed, confidence: a.confidence, needs_review: reason !== null, review_reason: reason },
      'AI second opinion stored',
    );
    this.bus.emit('annotation.stored', {
      incident_id: incident.incident_id,
      annotation_id: id,
      model: this.client.model,
      threat_confirmed: a.threat_confirmed,
      needs_review: reason !== null,
    });
  }

  health(): ComponentHealth {
    return {
      status: this.offline ? 'degraded' : 'up',
      model: this.client.model,
      online: !this.offline,
      queue: this.queue.length,
      budget_left_today: this.stopped ? null : this.budgetLeft(),
      backing_off_ms: Math.max(0, this.pausedUntil - Date.now()),
      ...this.counters,
      last_error: this.lastError,
    };
  }
}
