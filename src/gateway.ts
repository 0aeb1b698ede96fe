// The composition root: builds every component in dependency order, starts them in
// that order and stops them in reverse. Constructors do no I/O; signals live in bin/.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { Automation } from './automation/automation.js';
import type { GatewayConfig } from './config/schema.js';
import { EventBus } from './events/bus.js';
import { HealthRegistry } from './health.js';
import type { Logger } from './logger.js';
import { IngestPipeline, type IngestObserver } from './pipeline/ingest.js';
import { ActionPolicy } from './policy/policy.js';
import { RescoreStage } from './scoring/rescorer.js';
import { type Scorer } from './scoring/scorer.js';
import type { LabelRepository } from './store/labels.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { Operations } from './operations/service.js';
import { Store } from './store/store.js';
import { SyncService } from './sync/service.js';
import { AccessControl } from './security/access.js';
import { TlsManager } from './security/tls.js';
import { HttpServer } from './transport/http/server.js';
import { SnapshotDetector } from './evidence/detector.js';
import { SnapshotService } from './evidence/snapshots.js';
import { OperatorChat } from './ai/chat.js';
import { GeminiClient, resolveApiKey } from './ai/gemini.js';
import { SecondOpinion } from './ai/opinion.js';
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
  readonly labels: LabelRepository;
  /** The re-score stage; null when a scorer was injected through GatewayOptions. */
  readonly rescorer: RescoreStage | null;
  /** Null when nodered.enabled is false: actions are planned but stay pending. */
  readonly automation: Automation | null;
  /** Site operations: dashboard, live feeds, analysis, safe routes, incident status. */
  readonly operations: Operations;
  /** Prometheus metrics; null when metrics.enabled is false. */
  readonly metrics: GatewayMetrics | null;
  /** Evidence snapshots (null when snapshots.enabled is false) and the optional image model. */
  readonly snapshots: SnapshotService | null;
  readonly detector: SnapshotDetector | null;
  /** Gemini second opinion; null when AI is off or has no API key. */
  readonly opinion: SecondOpinion | null;
  readonly chat: OperatorChat;
  /** HTTP roles and tokens (src/security/access.ts). */
  readonly access: AccessControl;
  /** TLS material for every TLS listener, reloaded by reload() (SIGHUP). */
  readonly tls: TlsManager;
  private readonly components: Component[];
  private started: Component[] = [];

  constructor(
    readonly config: GatewayConfig,
    readonly log: Logger,
    options: GatewayOptions = {},
  ) {
    this.bus = new EventBus(log.child({ component: 'bus' }));
    this.access = new AccessControl(config, log.child({ component: 'auth' }));
    this.tls = new TlsManager(config.tls, log.child({ component: 'tls' }));
    this.store = new Store(config.data_dir, log.child({ component: 'store' }));
    const validator = new ReportValidator(config.report);
    const policy = new ActionPolicy(config.policy);
    this.labels = this.store.labels;
    this.sync = new SyncService(config, this.store, log.child({ component: 'sync' }));
    // sync.token becomes one token with the sync role among auth.tokens.
    this.sync.auth.delegateTo(this.access);
    // Action outcomes and alerts are queued by triggers (migration 3); wake the drainers.
    this.bus.on('action.updated', () => this.sync.wake());
    this.rescorer = options.scorer
      ? null
      : new RescoreStage(config, this.store, this.labels, log.child({ component: 'scoring' }));
    this.metrics = config.metrics.enabled
      ? new GatewayMetrics({
          brokerClients: () => this.mqtt.connectedClients,
          syncBacklog: () =>
            Object.fromEntries(
              Object.entries(this.sync.status(1000).transports).map(([name, t]) => {
                const { total: _total, ...levels } = t!.backlog;
                return [name, { levels: levels as Record<string, number>, oldest_age_s: t!.oldest_undelivered_age_s }];
              }),
            ),
          evictions: () => this.sync.status(1000).retention.evictions,
          feedClients: () => this.operations.feed.stats.clients,
        })
      : null;
    this.metrics?.attach(this.bus);
    const scorer = options.scorer ?? this.rescorer!;
    this.pipeline = new IngestPipeline(
      config.ingest,
      this.store,
      this.metrics ? this.metrics.measureScorer(scorer) : scorer,
      policy,
      this.bus,
      log.child({ component: 'pipeline' }),
      this.metrics ? this.metrics.ingestObserver(options.ingestObserver) : options.ingestObserver,
    );
    this.mqtt = new MqttBroker(config.mqtt, validator, this.pipeline, this.bus, log.child({ component: 'mqtt' }), { config, tls: this.tls });
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
    this.operations = new Operations(config, this.store, this.bus, this.health, log.child({ component: 'operations' }), this.labels);
    // Evidence and AI (src/evidence/, src/ai/): all of it after the ack, never on the report's path.
    this.detector = config.snapshots.enabled && config.models.snapshot.path
      ? new SnapshotDetector(config.models.snapshot, log.child({ component: 'detector' }))
      : null;
    this.snapshots = config.snapshots.enabled
      ? new SnapshotService(config.snapshots, config.data_dir, this.store, this.bus, this.detector, log.child({ component: 'evidence' }))
      : null;
    const snapshotsService = this.snapshots;
    if (snapshotsService) {
      this.mqtt.snapshotSink = (cameraId, incidentId, payload) => snapshotsService.ingest({ incidentId, cameraId, bytes: payload, source: 'mqtt' });
    }
    const apiKey = config.ai.enabled ? resolveApiKey(config.ai) : null;
    const gemini = apiKey ? new GeminiClient(apiKey.key, config.ai.model, config.ai.timeout_ms, config.ai.base_url) : null;
    this.opinion =
      gemini && snapshotsService
        ? new SecondOpinion(config.ai, this.store, this.bus, snapshotsService, gemini, this.automation !== null, log.child({ component: 'ai' }))
        : null;
    const aiOff = !config.ai.enabled
      ? 'ai.enabled is false'
      : !apiKey
        ? 'no API key: set ai.api_key, ai.api_key_file or GEMINI_API_KEY'
        : 'snapshots are disabled';
    this.chat = new OperatorChat(this.store, this.snapshots, this.opinion ? gemini : null, this.opinion, aiOff, log.child({ component: 'chat' }));
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
      operations: this.operations,
      metrics: this.metrics ?? undefined,
      snapshots: this.snapshots ?? undefined,
      chat: this.chat,
      incidentExtras: (id) => ({
        snapshot: this.snapshots?.get(id) ?? null,
        detections: this.snapshots?.detection(id) ?? null,
        annotations: this.store.annotations.forIncident(id),
      }),
      access: this.access,
      tls: this.tls,
    });
    // The Node-RED editor over HTTPS, reloaded with the other TLS listeners.
    const nodeRed = this.automation?.nodeRed;
    if (nodeRed && config.tls.nodered) {
      nodeRed.serverFactory = (app) => {
        const server = createHttpsServer({ ...this.tls.credentials(), headersTimeout: config.limits.http_headers_timeout_ms }, app);
        this.tls.register('nodered', server);
        return server as unknown as ReturnType<typeof nodeRed.serverFactory>;
      };
    }
    // The dashboard's operator token (and /metrics' own token) are checked by the component that issued them.
    this.access.addVerifier('dashboard', (token, role, url) => {
      try {
        if (url === '/metrics' || url.startsWith('/metrics?')) this.operations.auth.checkMetrics(token);
        else this.operations.auth.check(token, role);
        return true;
      } catch {
        return false;
      }
    });
    // A CRITICAL safe_route action carries the safe route out of the incident's zone.
    this.automation?.tracker.setRouteProvider((zones) => this.operations.routeForZones(zones));

    const component = (name: string, c: { start(): Promise<void>; stop(): Promise<void> }): Component => ({
      name,
      start: () => c.start(),
      stop: () => c.stop(),
    });
    // Dependency order. Stop runs it backwards: HTTP and MQTT stop accepting and
    // flush what they took in, the pipeline commits its queue, then the db closes.
    this.components = [
      // Tokens first: a bad token file stops the start before anything listens.
      component('auth', this.access),
      component('store', this.store),
      // Needs the open store (the outbox); ready before any report can be committed.
      component('sync', this.sync),
      // Primes its context from the store and loads the model before reports flow.
      ...(this.rescorer ? [component('scoring', this.rescorer)] : []),
      component('pipeline', this.pipeline),
      // Before the transports that feed it; its incident.stored listener attaches held snapshots.
      ...(this.detector ? [component('detector', this.detector)] : []),
      ...(this.snapshots ? [component('evidence', this.snapshots)] : []),
      component('mqtt', this.mqtt),
      // After the broker (its flows connect to it), before HTTP; it listens on the bus
      // from construction, so no action planned while Node-RED boots is missed.
      ...(this.automation ? [component('automation', this.automation)] : []),
      // Reads the operator token and starts the live feed's timers before HTTP serves them.
      component('operations', this.operations),
      ...(this.opinion ? [component('ai', this.opinion)] : []),
      ...(this.metrics ? [component('metrics', { start: async () => this.metrics!.start(), stop: async () => this.metrics!.stop() })] : []),
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
    const snapshotsHealth = this.snapshots;
    if (snapshotsHealth) this.health.register('evidence', () => snapshotsHealth.health());
    const detector = this.detector;
    if (detector) this.health.register('snapshot_model', () => detector.health());
    const opinion = this.opinion;
    if (opinion) this.health.register('ai', () => opinion.health());
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

  /** Reloads what can change without a restart: the TLS certificates (SIGHUP). */
  reload(): { tls: boolean } {
    return { tls: this.tls.reload() };
  }

  /** For the systemd watchdog: the db answers (the caller's timer firing shows the event loop does). */
  alive(): boolean {
    try {
      return this.store.isOpen && this.store.ping();
    } catch {
      return false;
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
      `Auth            : bearer tokens (loopback ${this.config.auth.trust_loopback ? 'trusted' : 'not trusted'})${this.access.adminTokenFile ? `; admin token in ${this.access.adminTokenFile}` : ''}`,
      `Dashboard       : ${base}/   (operator token${this.operations.auth.generatedFile ? ` in ${this.operations.auth.generatedFile}` : ''})`,
      `  GET  ${base}/api/analysis  /api/timelapse  /api/routes?from=<zone>  /metrics   WS /ws/incidents  /ws/timelapse`,
      `MQTT broker     : mqtt://${host(this.config.mqtt.host)}:${this.mqtt.port}`,
      '  cameras publish QoS 1 to safesphere/cameras/<camera_id>/threats',
      '  incidents on safesphere/incidents/<LEVEL>, rejects on safesphere/gateway/rejects/<camera_id>',
      `Evidence, sync  : POST ${base}/upload/screenshot   GET ${base}/sync/incidents  /sync/status   WS /ws/chat`,
      this.automation
        ? `Node-RED editor : http://${host(this.config.nodered.host)}:${this.automation.nodeRed.port}/   (login in ${this.automation.nodeRed.paths.passwordFile} unless nodered.admin_users is set)`
        : 'Node-RED editor : off (nodered.enabled: false); actions stay pending',
      rule,
    ].join('\n');
  }
}
