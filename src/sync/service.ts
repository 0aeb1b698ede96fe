// The sync component: owns the push transports and their drain loops, the pull API's
// cursor and ack, retention, and what /sync/status and /health show. Constructed without
// I/O; start() runs after the store has opened (it needs the outbox) and before the
// pipeline accepts reports; stop() runs after the pipeline has committed its queue.
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { AccessControl } from '../security/access.js';
import { readSecret } from '../security/secrets.js';
import type { Store } from '../store/store.js';
import { DocumentBuilder, type IncidentDocument } from './document.js';
import { Drainer, type TransportStats } from './drainer.js';
import { HttpPushTransport } from './http-push.js';
import { MqttBridgeTransport } from './mqtt-bridge.js';
import { CONSUMER, type Backlog, type OutboxRepository, type PoisonedEntry, type PushTransportName } from '../store/outbox.js';
import { Retention, type RetentionReport } from './retention.js';
import { ByteBucket } from './timing.js';
import type { HealthRegistry } from '../health.js';
import { httpSiteSender, mqttSiteSender, SiteSync, type Heartbeat, type SiteSender, type SiteSyncStats } from './site.js';
import type { UpstreamMqtt } from './mqtt-bridge.js';

export const MAX_PULL_LIMIT = 1000;

export interface TransportStatus extends TransportStats {
  enabled: true;
  /** Heartbeats and site events (src/sync/site.ts). */
  site?: SiteSyncStats;
  connected: boolean;
  backlog: Backlog['per_level'] & { total: number };
  oldest_undelivered_age_s: number | null;
  poisoned: number;
  evicted_undelivered: number;
}

export interface SyncStatus {
  site_id: string;
  last_seq: number;
  transports: Partial<Record<PushTransportName, TransportStatus>>;
  pull: {
    enabled: boolean;
    served_upto: number;
    acked_upto: number;
    backlog: number;
    oldest_unacked_age_s: number | null;
  };
  retention: {
    max_age_days: number;
    max_db_mb: number;
    max_snapshot_mb: number;
    db_bytes: number;
    last_run: (RetentionReport & { at: string }) | null;
    evictions: Record<string, number>;
  };
}


export class SyncService {
  /** The store's outbox while started (null: every call answers SHUTTING_DOWN). */
  private queue: OutboxRepository | null = null;
  private documents: DocumentBuilder | null = null;
  private retention: Retention | null = null;
  private readonly drainers = new Map<PushTransportName, Drainer>();
  private unsubscribe: (() => void) | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private retentionRun: Promise<unknown> | null = null;
  private statusCache: { at: number; value: SyncStatus } | null = null;
  private readonly sites = new Map<PushTransportName, SiteSync>();
  private bridge: MqttBridgeTransport | null = null;
  private readonly startedAt = Date.now();
  /** Consumers every new outbox entry waits for. */
  readonly consumers: number;

  constructor(
    private readonly config: GatewayConfig,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly access: Pick<AccessControl, 'hasRoleToken'>,
    /** For the upstream heartbeat's health summary (every module's /health entries) and version. */
    private readonly site: { health?: HealthRegistry; version?: string } = {},
  ) {
    const up = config.upstream;
    let push = 0;
    if (up.http.enabled) push |= CONSUMER.http;
    if (up.mqtt.enabled) push |= CONSUMER.mqtt;
    const pull = !!(config.sync.token || config.sync.token_file);
    // With a push transport, a push (or a pull-and-ack) delivers an entry. With pull only,
    // the ack does. With neither, the gateway is local-only and nothing waits.
    this.consumers = push || (pull ? CONSUMER.pull : 0);
    store.outbox.consumers = this.consumers;
  }

  /** The pull API is on while any token has the sync role (sync.token is one). */
  private get pullEnabled(): boolean {
    return this.access.hasRoleToken('sync');
  }

  private get q(): OutboxRepository {
    if (!this.queue) throw new GatewayError(ERRORS.SHUTTING_DOWN);
    return this.queue;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    const up = config.upstream;
    if (up.http.enabled && !/^https?:\/\//.test(up.http.url)) {
      throw new Error('upstream.http.url: must be an http:// or https:// URL when upstream.http.enabled is true');
    }
    if (up.mqtt.enabled && !/^(mqtts?|wss?|tcp|ssl):\/\//.test(up.mqtt.url)) {
      throw new Error('upstream.mqtt.url: must be an mqtt:// or mqtts:// URL when upstream.mqtt.enabled is true');
    }
    const httpToken = readSecret(up.http.token, up.http.token_file, 'upstream.http.token_file');
    const mqttPassword = readSecret(up.mqtt.password, up.mqtt.password_file, 'upstream.mqtt.password_file');

    const queue = this.store.outbox;
    this.queue = queue;
    const cleared = queue.setConsumers(this.consumers);
    if (cleared > 0) log.info({ cleared }, 'outbox entries released from consumers that are no longer enabled');
    this.documents = new DocumentBuilder(this.store, config.site_id);
    this.retention = new Retention(
      this.store,
      {
        maxAgeDays: config.retention.max_age_days,
        maxDbMb: config.retention.max_db_mb,
        maxSnapshotMb: config.retention.max_snapshot_mb,
        dataDir: config.data_dir,
      },
      log.child({ component: 'retention' }),
    );

    const bucket = new ByteBucket(up.max_bytes_per_s);
    const drainerOptions = {
      batchSize: up.batch_size,
      retryBaseMs: up.retry_base_ms,
      retryMaxMs: up.retry_max_ms,
      pollIntervalMs: up.poll_interval_ms,
    };
    if (up.http.enabled) {
      const t = new HttpPushTransport(
        {
          url: up.http.url,
          token: () => httpToken,
          timeoutMs: up.http.timeout_ms,
          concurrency: up.http.concurrency,
          dataDir: config.data_dir,
          siteId: config.site_id,
        },
        bucket,
        log.child({ component: 'sync-http' }),
      );
      this.drainers.set('http', new Drainer(t, queue, this.documents, drainerOptions, log.child({ component: 'sync-http' })));
      this.sites.set('http', new SiteSync(httpSiteSender(t, config.site_id), this.store, up.http.heartbeat_s * 1000, (s) => this.heartbeat(s), log.child({ component: 'sync-http' })));
    }
    if (up.mqtt.enabled) {
      const t = new MqttBridgeTransport(
        {
          url: up.mqtt.url,
          clientId: up.mqtt.client_id || `safesphere-edge-${config.site_id}`,
          username: up.mqtt.username,
          password: () => mqttPassword,
          caFile: up.mqtt.ca_file,
          certFile: up.mqtt.cert_file,
          keyFile: up.mqtt.key_file,
          rejectUnauthorized: up.mqtt.reject_unauthorized,
          keepaliveS: up.mqtt.keepalive_s,
          topicPrefix: up.mqtt.topic_prefix,
          siteId: config.site_id,
          reconnectMs: Math.min(Math.max(up.retry_base_ms, 100), 5000),
        },
        bucket,
        log.child({ component: 'sync-mqtt' }),
      );
      this.drainers.set('mqtt', new Drainer(t, queue, this.documents, drainerOptions, log.child({ component: 'sync-mqtt' })));
      const site = new SiteSync(mqttSiteSender(t, config.site_id), this.store, up.mqtt.heartbeat_s * 1000, (s) => this.heartbeat(s), log.child({ component: 'sync-mqtt' }));
      this.sites.set('mqtt', site);
      // On every connect: online (the bridge publishes it), then a heartbeat and what waited.
      t.onConnect(() => site.wake(true));
      this.bridge = t;
    }
    for (const d of this.drainers.values()) {
      await d.transport.start();
      d.start();
    }
    const released = this.store.arming.releaseExcept(this.consumers & (CONSUMER.http | CONSUMER.mqtt));
    if (released > 0) log.info({ released }, 'site events released from push transports that are no longer enabled');
    for (const s of this.sites.values()) s.start();
    const offEnqueue = this.store.outbox.onEnqueue(() => {
      for (const d of this.drainers.values()) d.wake();
    });
    const offSite = this.store.arming.onChange(() => {
      for (const s of this.sites.values()) s.wake();
    });
    this.unsubscribe = () => {
      offEnqueue();
      offSite();
    };

    const r = config.retention;
    if (r.max_age_days > 0 || r.max_db_mb > 0 || r.max_snapshot_mb > 0) {
      this.retentionTimer = setInterval(() => void this.runRetention(), r.interval_s * 1000);
      this.retentionTimer.unref();
    }
    log.info(
      {
        transports: [...this.drainers.keys()],
        pull: this.pullEnabled,
        consumers: this.consumers,
        last_seq: queue.lastSeq(),
      },
      'sync started',
    );
  }

  async stop(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await Promise.all([...this.sites.values()].map((s) => s.stop()));
    this.sites.clear();
    await Promise.all([...this.drainers.values()].map((d) => d.stop(this.config.upstream.stop_grace_ms)));
    this.drainers.clear();
    this.bridge = null;
    await this.retentionRun;
    this.queue = null;
  }

  /** One retention pass (also run by the timer); concurrent calls share the pass in progress. */
  runRetention(): Promise<RetentionReport | null> {
    if (!this.retention) return Promise.resolve(null);
    if (this.retentionRun) return this.retentionRun as Promise<RetentionReport | null>;
    const run = this.retention.runOnce().catch((err: unknown) => {
      this.log.error({ err }, 'retention pass failed');
      return null;
    });
    this.retentionRun = run.finally(() => {
      this.retentionRun = null;
    });
    return run;
  }

  /** Entries were queued outside OutboxRepository.enqueue (by a trigger): let the drainers look. */
  wake(): void {
    for (const d of this.drainers.values()) d.wake();
  }

  drainer(name: PushTransportName): Drainer | undefined {
    return this.drainers.get(name);
  }

  /** The MQTT bridge's connection for other components (Home Assistant upstream), or null without it. */
  upstreamMqtt(): UpstreamMqtt | null {
    return this.bridge;
  }

  siteSync(name: PushTransportName): SiteSync | undefined {
    return this.sites.get(name);
  }

  /**
   * The heartbeat both push transports send: the components' states, this transport's backlog
   * and oldest undelivered entry, the arming mode and the model version (from /health's entries).
   */
  heartbeat(sender: Pick<SiteSender, 'bit' | 'name'>): Heartbeat {
    const now = Date.now();
    const snapshot = this.site.health?.snapshot() ?? { status: 'healthy' as const, components: {} };
    const components = Object.fromEntries(Object.entries(snapshot.components).map(([k, v]) => [k, v.status]));
    const b = this.queue ? this.queue.backlog(sender.bit) : { total: 0, per_level: { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0 }, oldest_ms: null };
    const model = snapshot.components.model;
    const arming = snapshot.components.arming;
    return {
      site_id: this.config.site_id,
      status: 'online',
      at: new Date(now).toISOString(),
      transport: sender.name,
      version: this.site.version ?? null,
      uptime_s: Math.round((now - this.startedAt) / 1000),
      health: snapshot.status,
      components,
      backlog: { ...b.per_level, total: b.total },
      oldest_undelivered_age_s: b.oldest_ms === null ? null : Math.max(0, Math.round((now - b.oldest_ms) / 1000)),
      arming_mode: typeof arming?.mode === 'string' ? arming.mode : null,
      model_version: typeof model?.version === 'string' ? model.version : null,
    };
  }

  // --- pull API --------------------------------------------------------------------------

  /** One page of outbox entries after `after`, each as the full incident document. */
  /**
   * A page of entries after `after`. With `sources`, only entries of incidents of those sources
   * (the others are skipped over, and an ack up to next_after acknowledges them too).
   */
  pull(after: number, limit: number, sources?: readonly string[]): { incidents: IncidentDocument[]; next_after: number; more: boolean } {
    const q = this.q;
    const last = q.lastSeq();
    if (after > last) {
      throw new GatewayError(ERRORS.BAD_CURSOR, [{ path: 'after', message: `is ahead of the newest entry (${last})` }]);
    }
    const entries = q.page(after, limit + 1, sources);
    const more = entries.length > limit;
    const page = more ? entries.slice(0, limit) : entries;
    const cache = new Map<string, Record<string, unknown> | null>();
    const incidents: IncidentDocument[] = [];
    for (const e of page) {
      const doc = this.documents!.build(e, cache);
      if (doc) incidents.push(doc);
    }
    const nextAfter = page.length ? page[page.length - 1]!.seq : after;
    const state = this.store.syncState;
    if (nextAfter > state.get('pull.served', 0)) state.set('pull.served', nextAfter);
    return { incidents, next_after: nextAfter, more };
  }

  ack(upto: number): { acked_upto: number; changed: boolean } {
    const q = this.q;
    const served = this.store.syncState.get('pull.served', 0);
    if (upto > served) {
      throw new GatewayError(ERRORS.SYNC_ACK_AHEAD, [
        { path: 'upto', message: `${upto} is ahead of the last seq served (${served}); ack only what GET /sync/incidents returned` },
      ]);
    }
    const { acked, changed } = q.ackPull(upto);
    return { acked_upto: acked, changed };
  }

  poisoned(name: PushTransportName, limit?: number): PoisonedEntry[] {
    return this.q.poisoned(name, limit);
  }

  retryPoisoned(name: PushTransportName): number {
    const d = this.drainers.get(name);
    if (!d) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'transport', message: `${name} is not enabled` }]);
    const n = this.q.retryPoisoned(d.transport.bit, name);
    d.stats.poisoned_now = 0;
    d.wake();
    this.statusCache = null;
    return n;
  }

  // --- visibility ------------------------------------------------------------------------

  /** Counts are cached for `maxAgeMs`: /health may be polled often, and backlogs can be large. */
  status(maxAgeMs = 1000): SyncStatus {
    const now = Date.now();
    if (this.statusCache && now - this.statusCache.at < maxAgeMs) return this.statusCache.value;
    const q = this.q;
    const state = this.store.syncState.all();
    const age = (ms: number | null) => (ms === null ? null : Math.max(0, Math.round((now - ms) / 1000)));
    const transports: SyncStatus['transports'] = {};
    for (const [name, d] of this.drainers) {
      const b = q.backlog(d.transport.bit);
      transports[name] = {
        enabled: true,
        connected: d.transport.connected,
        backlog: { ...b.per_level, total: b.total },
        oldest_undelivered_age_s: age(b.oldest_ms),
        poisoned: q.poisonedCount(name),
        evicted_undelivered: state[`evicted.entries.${name}`] ?? 0,
        ...d.stats,
        ...(this.sites.get(name) ? { site: this.sites.get(name)!.stats } : {}),
      };
    }
    const pb = q.pullBacklog();
    const value: SyncStatus = {
      site_id: this.config.site_id,
      last_seq: q.lastSeq(),
      transports,
      pull: {
        enabled: this.pullEnabled,
        served_upto: state['pull.served'] ?? 0,
        acked_upto: state['pull.acked'] ?? 0,
        backlog: pb.total,
        oldest_unacked_age_s: age(pb.oldest_ms),
      },
      retention: {
        max_age_days: this.config.retention.max_age_days,
        max_db_mb: this.config.retention.max_db_mb,
        max_snapshot_mb: this.config.retention.max_snapshot_mb,
        db_bytes: this.retention!.dbBytes(),
        last_run: this.retention!.last,
        evictions: Object.fromEntries(Object.entries(state).filter(([k]) => k.startsWith('evicted.'))),
      },
    };
    this.statusCache = { at: now, value };
    return value;
  }

  /**
   * Never 'down': an uplink outage must not make the gateway look dead to its supervisor.
   * Cheap (index probes, no counting), since /health may be polled often; /sync/status has the figures.
   */
  health(): ComponentHealth {
    const q = this.queue;
    if (!q) return { status: 'down', reason: 'not started' };
    const problems: string[] = [];
    const transports: Record<string, unknown> = {};
    for (const [name, d] of this.drainers) {
      const pending = q.hasPending(d.transport.bit);
      const poisoned = q.poisonedCount(name);
      transports[name] = { connected: d.transport.connected, pending, poisoned };
      if (pending && d.stats.consecutive_failures > 0) problems.push(`${name}: ${d.stats.last_error ?? 'failing'}`);
      else if (pending && name === 'mqtt' && !d.transport.connected) problems.push(`${name}: not connected`);
      if (poisoned > 0) problems.push(`${name}: ${poisoned} poisoned entries (GET /sync/poisoned)`);
    }
    if (this.retention?.last?.over_cap) problems.push('over the retention cap with only HIGH/CRITICAL left');
    return {
      status: problems.length ? 'degraded' : 'up',
      transports,
      pull: this.pullEnabled,
      ...(problems.length ? { problems } : {}),
    };
  }
}
