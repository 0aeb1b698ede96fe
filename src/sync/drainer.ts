// One drain loop per push transport: take the next batch (most severe first), send it,
// record what was delivered or poisoned in one transaction, and back off (exponential,
// full jitter, honouring Retry-After) after a transient failure. After a failure the next
// round starts again from the oldest undelivered entry, so nothing overtakes it within its
// lane (level + camera).
import type { Logger } from '../logger.js';
import type { DocumentBuilder } from './document.js';
import type { OutboxRepository } from '../store/outbox.js';
import { backoffDelay, sleep, Waker } from './timing.js';
import type { PreparedEntry, PushTransport } from './transport.js';

export interface DrainerOptions {
  batchSize: number;
  retryBaseMs: number;
  retryMaxMs: number;
  pollIntervalMs: number;
}

export interface TransportStats {
  delivered: number;
  poisoned_now: number;
  failures: number;
  consecutive_failures: number;
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
  retry_at: string | null;
  batches: number;
}

export class Drainer {
  readonly stats: TransportStats = {
    delivered: 0,
    poisoned_now: 0,
    failures: 0,
    consecutive_failures: 0,
    last_success_at: null,
    last_error_at: null,
    last_error: null,
    retry_at: null,
    batches: 0,
  };
  private readonly waker = new Waker();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly roundListeners = new Set<() => void>();

  constructor(
    readonly transport: PushTransport,
    private readonly outbox: OutboxRepository,
    private readonly documents: DocumentBuilder,
    private readonly options: DrainerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop = this.supervise();
  }

  /** A round that throws (a bug, a database error) is logged and retried after a backoff, never fatal. */
  private async supervise(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.run();
      } catch (err) {
        this.stats.consecutive_failures++;
        this.stats.last_error = (err as Error).message;
        this.stats.last_error_at = new Date().toISOString();
        this.log.error({ err, transport: this.transport.name }, 'sync drain round failed; retrying');
        await sleep(backoffDelay(this.stats.consecutive_failures, this.options.retryBaseMs, this.options.retryMaxMs), signal);
      }
    }
  }

  /** New entries were queued. */
  wake(): void {
    this.waker.wake();
  }

  /** Stops taking batches; the batch in flight gets `graceMs` (the transport enforces it). */
  async stop(graceMs: number): Promise<void> {
    this.abort.abort();
    await this.transport.stop(graceMs);
    await this.loop;
  }

  /** Called after every round; tests and the bench wait on it instead of sleeping. */
  onRound(listener: () => void): () => void {
    this.roundListeners.add(listener);
    return () => this.roundListeners.delete(listener);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const name = this.transport.name;
    while (!signal.aborted) {
      await this.transport.ready(signal);
      if (signal.aborted) break;
      const entries = this.outbox.nextBatch(this.transport.bit, this.options.batchSize);
      if (entries.length === 0) {
        this.emitRound();
        await this.waker.wait(this.options.pollIntervalMs, signal);
        continue;
      }
      const cache = new Map<string, Record<string, unknown> | null>();
      const batch: PreparedEntry[] = entries.map((entry) => ({ entry, doc: this.documents.build(entry, cache) }));
      const outcomes = await this.transport.sendBatch(batch, signal);
      this.stats.batches++;

      const delivered: number[] = [];
      let retry: { error: string; retryAfterMs?: number | null | undefined } | null = null;
      outcomes.forEach((o, i) => {
        const entry = batch[i]!.entry;
        if (o.kind === 'delivered') delivered.push(entry.seq);
        else if (o.kind === 'poisoned') {
          this.outbox.markPoisoned(this.transport.bit, name, entry.seq, o.status, o.error);
          this.stats.poisoned_now++;
          this.log.error(
            { transport: name, seq: entry.seq, incident_id: entry.incident_id, kind: entry.kind, status: o.status, error: o.error },
            'upstream refused an outbox entry; it is kept and listed in /sync/status, and not retried',
          );
        } else if (o.kind === 'retry') retry ??= o;
      });
      this.outbox.markDelivered(this.transport.bit, delivered);
      this.stats.delivered += delivered.length;
      const now = new Date().toISOString();
      if (delivered.length > 0) this.stats.last_success_at = now;

      if (retry) {
        const r: { error: string; retryAfterMs?: number | null | undefined } = retry;
        this.stats.failures++;
        this.stats.consecutive_failures++;
        this.stats.last_error_at = now;
        this.stats.last_error = r.error;
        const jittered = backoffDelay(this.stats.consecutive_failures - 1, this.options.retryBaseMs, this.options.retryMaxMs);
        const delay = Math.max(jittered, r.retryAfterMs ?? 0);
        this.stats.retry_at = new Date(Date.now() + delay).toISOString();
        this.log.warn(
          { transport: name, error: r.error, delivered: delivered.length, retryInMs: delay, attempt: this.stats.consecutive_failures },
          'upstream send failed; retrying later',
        );
        this.emitRound();
        await sleep(delay, signal);
        this.stats.retry_at = null;
      } else {
        if (this.stats.consecutive_failures > 0) this.log.info({ transport: name }, 'upstream reachable again');
        this.stats.consecutive_failures = 0;
        this.emitRound();
      }
    }
  }

  private emitRound(): void {
    for (const l of this.roundListeners) {
      try {
        l();
      } catch (err) {
        this.log.error({ err }, 'sync round listener failed');
      }
    }
  }
}
