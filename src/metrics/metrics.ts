// Prometheus metrics (prom-client). The component owns its Registry: no module-level
// singletons, so two gateways in one process (the tests) never share a counter.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventBus } from '../events/bus.js';
import type { IngestObserver } from '../pipeline/ingest.js';
import type { Score, Scorer } from '../scoring/scorer.js';
import type { ValidReport } from '../validate/report.js';

export interface MetricsSources {
  brokerClients?: () => number;
  /** Per transport: backlog per level and the oldest undelivered entry's age (s). */
  syncBacklog?: () => Record<string, { levels: Record<string, number>; oldest_age_s: number | null }>;
  /** Cumulative eviction counters by kind. */
  evictions?: () => Record<string, number>;
  feedClients?: () => number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly reports: Counter<'transport' | 'level' | 'result'>;
  readonly ackLatency: Histogram<'transport'>;
  readonly batchSize: Histogram;
  readonly commitSeconds: Histogram;
  readonly inferenceSeconds: Histogram;
  readonly levelChanges: Counter<'from' | 'to'>;
  readonly actions: Counter<'type' | 'state'>;
  private lag: IntervalHistogram | null = null;
  private off: (() => void)[] = [];

  constructor(private readonly sources: MetricsSources = {}) {
    const r = [this.registry];
    this.reports = new Counter({
      name: 'safesphere_reports_total',
      help: 'Threat reports by transport, final level and result (stored, duplicate, conflict, refused, invalid).',
      labelNames: ['transport', 'level', 'result'],
      registers: r,
    });
    this.ackLatency = new Histogram({
      name: 'safesphere_ack_latency_seconds',
      help: 'From a report being received to its acknowledgement being released (after its commit).',
      labelNames: ['transport'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers: r,
    });
    this.batchSize = new Histogram({
      name: 'safesphere_commit_batch_size',
      help: 'Reports per group-commit transaction.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: r,
    });
    this.commitSeconds = new Histogram({
      name: 'safesphere_commit_seconds',
      help: 'Duration of one group-commit transaction (fsync included).',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: r,
    });
    this.inferenceSeconds = new Histogram({
      name: 'safesphere_rescore_batch_seconds',
      help: 'Re-score stage time per batch: features and model inference.',
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
      registers: r,
    });
    this.levelChanges = new Counter({
      name: 'safesphere_rescore_level_changes_total',
      help: 'Re-scoring outcomes: reported level (from) against final level (to); from == to is kept.',
      labelNames: ['from', 'to'],
      registers: r,
    });
    this.actions = new Counter({
      name: 'safesphere_action_transitions_total',
      help: 'Action state changes by action type and the state entered (src/action-states.ts: dispatched, delivered, acknowledged, sent_unconfirmed, failed, timed_out, undeliverable, cancelled, pending).',
      labelNames: ['type', 'state'],
      registers: r,
    });
    const { brokerClients, syncBacklog, evictions, feedClients } = this.sources;
    new Gauge({
      name: 'safesphere_broker_clients',
      help: 'MQTT clients connected to the embedded broker.',
      registers: r,
      collect() {
        this.set(brokerClients?.() ?? 0);
      },
    });
    new Gauge({
      name: 'safesphere_feed_clients',
      help: 'Dashboard WebSocket clients on /ws/incidents.',
      registers: r,
      collect() {
        this.set(feedClients?.() ?? 0);
      },
    });
    new Gauge({
      name: 'safesphere_sync_backlog',
      help: 'Outbox entries not yet delivered, per push transport and level.',
      labelNames: ['transport', 'level'],
      registers: r,
      collect() {
        this.reset();
        for (const [transport, b] of Object.entries(syncBacklog?.() ?? {})) {
          for (const [level, n] of Object.entries(b.levels)) this.set({ transport, level }, n);
        }
      },
    });
    new Gauge({
      name: 'safesphere_sync_oldest_undelivered_seconds',
      help: 'Age of the oldest undelivered outbox entry, per transport (0 when none).',
      labelNames: ['transport'],
      registers: r,
      collect() {
        this.reset();
        for (const [transport, b] of Object.entries(syncBacklog?.() ?? {})) this.set({ transport }, b.oldest_age_s ?? 0);
      },
    });
    new Gauge({
      name: 'safesphere_evictions',
      help: 'Cumulative retention evictions by kind (entries, incidents, snapshots) since the database was created.',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(evictions?.() ?? {})) this.set({ kind }, n);
      },
    });
    const self = this;
    new Gauge({
      name: 'safesphere_event_loop_lag_seconds',
      help: 'Event-loop delay since the previous scrape (p50, p99, max).',
      labelNames: ['quantile'],
      registers: r,
      collect() {
        const h = self.lag;
        if (!h) return;
        const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ quantile: '0.5' }, s(h.percentile(50)));
        this.set({ quantile: '0.99' }, s(h.percentile(99)));
        this.set({ quantile: 'max' }, s(h.max));
        h.reset();
      },
    });
  }

  /** Subscribes to the bus (action states, MQTT rejects) and starts the event-loop monitor. */
  attach(bus: EventBus): void {
    this.off.push(
      bus.on('action.updated', (e) => this.actions.inc({ type: e.action_type, state: e.state })),
      bus.on('report.rejected', (e) => this.reports.inc({ transport: e.source, level: 'unknown', result: 'invalid' })),
    );
  }

  start(): void {
    this.lag = monitorEventLoopDelay({ resolution: 10 });
    this.lag.enable();
  }

  stop(): void {
    this.lag?.disable();
    this.lag = null;
    for (const off of this.off) off();
    this.off = [];
  }

  /** The pipeline's observer: batch sizes and commit time, and each report's outcome and ack latency. */
  ingestObserver(next?: IngestObserver): IngestObserver {
    return {
      batchCommitted: (size, ms) => {
        this.batchSize.observe(size);
        this.commitSeconds.observe(ms / 1000);
        next?.batchCommitted?.(size, ms);
      },
      reportSettled: (report, result, level) => {
        this.reports.inc({ transport: report.source, level: level ?? 'unknown', result });
        // Only a stored report's level was decided by this batch: a duplicate answers with the stored
        // incident's level and a conflict stores nothing, so neither is a re-scoring outcome.
        if (result === 'stored' && level) this.levelChanges.inc({ from: report.report.threat_level, to: level });
        this.ackLatency.observe({ transport: report.source }, Math.max(0, Date.now() - report.receivedAt) / 1000);
        next?.reportSettled?.(report, result, level);
      },
    };
  }

  /** Wraps the pipeline's scorer: times each batch (level changes are counted per stored report, in reportSettled). */
  measureScorer(inner: Scorer): Scorer {
    return {
      scoreBatch: async (reports: readonly ValidReport[]): Promise<Score[]> => {
        const started = performance.now();
        const scores = await inner.scoreBatch(reports);
        this.inferenceSeconds.observe((performance.now() - started) / 1000);
        return scores;
      },
    };
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
