// The composition root: builds every component in dependency order, starts them in
// that order and stops them in reverse. Constructors do no I/O; signals live in bin/.
import { readFileSync } from 'node:fs';
import { Automation } from './automation/automation.js';
import type { GatewayConfig } from './config/schema.js';
import { EventBus } from './events/bus.js';
import { HealthRegistry } from './health.js';
import type { Logger } from './logger.js';
import { IngestPipeline, type IngestObserver } from './pipeline/ingest.js';
import { ActionPolicy } from './policy/policy.js';
import { RescoreStage } from './scoring/rescorer.js';
import { type Scorer } from './scoring/scorer.js';
import { LabelStore } from './store/labels.js';
import { Store } from './store/store.js';
import { SyncService } from './sync/service.js';
import { HttpServer } from './transport/http/server.js';
import { MqttBroker } from './transport/mqtt/broker.js';
import { ReportValidator } from './validate/report.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  scorer?: Scorer;
  ingestObserver?: IngestObserver;
}

/** Rejects after `ms`, so one stuck step cannot hang a shutdown. */
async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Gateway {
  readonly bus: EventBus;
  readonly health = new HealthRegistry();
  readonly store: Store;
  readonly pipeline: IngestPipeline;
  readonly mqtt: MqttBroker;
  readonly http: HttpServer;
  /** Upstream sync: outbox drain (HTTP push, MQTT bridge), pull API, retention. */
  readonly sync: SyncService;
  /** Operator labels (POST /incidents/{id}/label), written in one transaction each. */
  readonly labels: LabelStore;
  /** The re-score stage; null when a scorer was injected through GatewayOptions. */
  readonly rescorer: RescoreStage | null;
  /** Null when nodered.enabled is false: actions are planned but stay pending. */
  readonly automation: Automation | null;
  private readonly components: Component[];
  private started: Component[] = [];

  constructor(
    readonly config: GatewayConfig,
    readonly log: Logger,
    options: GatewayOptions = {},
  ) {
    this.bus = new EventBus(log.child({ component: 'bus' }));
    this.store = new Store(config.data_dir, log.child({ component: 'store' }));
    const validator = new ReportValidator(config.report);
    const policy = new ActionPolicy(config.policy);
    this.labels = new LabelStore(this.store);
    this.sync = new SyncService(config, this.store, log.child({ component: 'sync' }));
    // A label reaches the outbox in the label's own transaction.
    this.labels.inTransaction((_db, label) => {
      this.store.enqueueOutbox('label', label.incident_id, {
        payload: { label_id: label.id, label: label.label, by: label.by, note: label.note, created_at: label.created_at },
      });
    });
    // Action outcomes and alerts are queued by triggers (migration 3); wake the drainers.
    this.bus.on('action.updated', () => this.sync.wake());
    this.rescorer = options.scorer
      ? null
      : new RescoreStage(config, this.store, this.labels, log.child({ component: 'scoring' }));
    this.pipeline = new IngestPipeline(
      config.ingest,
      this.store,
      options.scorer ?? this.rescorer!,
      policy,
      this.bus,
      log.child({ component: 'pipeline' }),
      options.ingestObserver,
    );
    this.mqtt = new MqttBroker(config.mqtt, validator, this.pipeline, this.bus, log.child({ component: 'mqtt' }));
    this.automation = config.nodered.enabled
      ? new Automation(
          config,
          config.zones,
          this.store,
          policy,
          this.bus,
          {
            host: config.mqtt.host,
            port: () => this.mqtt.port,
            publish: (topic, payload, options) => this.mqtt.publish({ topic, payload, ...options }),
          },
          log.child({ component: 'automation' }),
        )
      : null;
    this.http = new HttpServer({
      config,
      validator,
      pipeline: this.pipeline,
      store: this.store,
      health: this.health,
      log,
      version: VERSION,
      labels: this.labels,
      rescorer: this.rescorer,
      sync: this.sync,
    });

    const component = (name: string, c: { start(): Promise<void>; stop(): Promise<void> }): Component => ({
      name,
      start: () => c.start(),
      stop: () => c.stop(),
    });
    // Dependency order. Stop runs it backwards: HTTP and MQTT stop accepting and
    // flush what they took in, the pipeline commits its queue, then the db closes.
    this.components = [
      component('store', this.store),
      // Needs the open store (the outbox); ready before any report can be committed.
      component('sync', this.sync),
      // Primes its context from the store and loads the model before reports flow.
      ...(this.rescorer ? [component('scoring', this.rescorer)] : []),
      component('pipeline', this.pipeline),
      component('mqtt', this.mqtt),
      // After the broker (its flows connect to it), before HTTP; it listens on the bus
      // from construction, so no action planned while Node-RED boots is missed.
      ...(this.automation ? [component('automation', this.automation)] : []),
      component('http', this.http),
    ];

    this.health.register('db', () => ({ status: this.store.isOpen && this.store.ping() ? 'up' : 'down' }));
    this.health.register('pipeline', () => {
      const pending = this.pipeline.pending;
      return { status: pending > config.ingest.max_pending * 0.8 ? 'degraded' : 'up', pending };
    });
    const rescorer = this.rescorer;
    if (rescorer) this.health.register('model', () => rescorer.health());
    const automation = this.automation;
    if (automation) this.health.register('automation', () => automation.health());
    this.health.register('sync', () => this.sync.health());
    this.health.register('broker', () => ({
      status: this.mqtt.isListening ? 'up' : 'down',
      clients: this.mqtt.connectedClients,
      ...this.mqtt.counters,
    }));
  }

  async start(): Promise<void> {
    for (const c of this.components) {
      try {
        await c.start();
        this.started.push(c);
      } catch (err) {
        this.log.error({ err, component: c.name }, 'component failed to start');
        await this.stop();
        throw err;
      }
    }
  }

  /** Stops started components in reverse order; every step is time-limited and a timeout is logged. */
  async stop(): Promise<void> {
    const deadline = Date.now() + this.config.shutdown.timeout_ms;
    for (const c of [...this.started].reverse()) {
      const remaining = Math.max(100, deadline - Date.now());
      try {
        await withTimeout(c.stop(), remaining, `stopping ${c.name}`);
        this.log.debug({ component: c.name }, 'component stopped');
      } catch (err) {
        this.log.error({ err, component: c.name }, 'component did not stop cleanly');
      }
    }
    this.started = [];
  }

  /** The start-up banner, in the seed's style, listing each endpoint. */
  banner(): string {
    const host = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h);
    const base = `http://${host(this.config.http.host)}:${this.http.port}`;
    const rule = '='.repeat(78);
    return [
      rule,
      `SAFESPHERE EDGE ${VERSION} STARTED  (site ${this.config.site_id})`,
      rule,
      `Threat database : ${this.store.file}`,
      `HTTP API        : ${base}`,
      `  POST ${base}/threats/report`,
      `  GET  ${base}/incidents  /incidents/{id}  /incidents/threat_level/{level}`,
      `  GET  ${base}/statistics  ${base}/health`,
      `  POST ${base}/incidents/{id}/label    GET ${base}/model`,
      `API docs        : ${base}/docs`,
      `MQTT broker     : mqtt://${host(this.config.mqtt.host)}:${this.mqtt.port}`,
      '  cameras publish QoS 1 to safesphere/cameras/<camera_id>/threats',
      '  incidents on safesphere/incidents/<LEVEL>, rejects on safesphere/gateway/rejects/<camera_id>',
      rule,
    ].join('\n');
  }
}
