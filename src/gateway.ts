// The composition root: the ordered list of modules. Each is built without I/O, started in
// order (a failed start stops the ones already started) and stopped in reverse, every stop
// step under the shutdown deadline. Signals live in src/bin/.
import { readFileSync } from 'node:fs';
import * as arc from './arc/module.js';
import * as arming from './arming/module.js';
import * as automation from './automation/module.js';
import * as backup from './backup/module.js';
import * as ai from './ai/module.js';
import type { GatewayConfig } from './config/schema.js';
import * as evidence from './evidence/module.js';
import * as frigate from './frigate/module.js';
import { EventBus } from './events/bus.js';
import { HealthRegistry } from './health.js';
import * as integrity from './integrity/module.js';
import * as incidents from './incidents/module.js';
import type { Logger } from './logger.js';
import * as memory from './memory/module.js';
import * as metrics from './metrics/module.js';
import * as navigation from './navigation/module.js';
import * as notify from './notify/module.js';
import { ExportRegistry, withTimeout, type Exports, type Module, type ModuleContext, type ModuleFactory } from './module.js';
import * as onvif from './onvif/module.js';
import * as operations from './operations/module.js';
import type { IngestObserver } from './pipeline/ingest.js';
import { pipelineModule } from './pipeline/module.js';
import { scoringModule } from './scoring/module.js';
import type { Scorer } from './scoring/scorer.js';
import { AccessControl } from './security/access.js';
import * as security from './security/module.js';
import * as storeModule from './store/module.js';
import { Store } from './store/store.js';
import * as sync from './sync/module.js';
import * as http from './transport/http/module.js';
import * as mqtt from './transport/mqtt/module.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface GatewayOptions {
  /** Replaces the ONNX re-score stage (benches and tests that need a fixed scorer). */
  scorer?: Scorer;
  ingestObserver?: IngestObserver;
}

/** Dependency order: a module may use what the modules before it provide. */
const modules = (options: GatewayOptions): ModuleFactory[] => [
  memory.create, // mqtt-packet's number cache off before the broker's first packet
  storeModule.create, // its check comes first: no token file is generated next to a damaged database
  integrity.create, // the commit mark vs the database, before anything can commit
  backup.create, // scheduled backups: stopped before the store closes
  security.create, // tokens and certificates: a bad file stops the start before anything listens
  sync.create, // needs the open store (the outbox); ready before any report can commit
  metrics.create, // observes the pipeline, so built before it
  scoringModule(options.scorer),
  pipelineModule(options.ingestObserver),
  evidence.create, // before the transports that feed it
  mqtt.create,
  frigate.create, // report sources: after the pipeline they feed
  onvif.create,
  operations.create,
  navigation.create, // pushes the routes operations computes; after mqtt, which retains them
  arming.create, // after the broker and operations; gives the pipeline's policy its mode when built
  arc.create, // the monitoring station: before notify, which carries its deliveries
  notify.create, // contacts and escalation: before automation, which leaves the types it carries to it
  automation.create, // after the broker its flows connect to
  ai.create,
  incidents.create, // its incident view reads operations, evidence and AI
  http.create, // last: serves once everything else runs
];

export class Gateway {
  readonly bus: EventBus;
  readonly health = new HealthRegistry();
  readonly store: Store;
  readonly access: AccessControl;
  private readonly exports = new ExportRegistry();
  private readonly modules: Module[] = [];
  private started: Module[] = [];

  constructor(
    readonly config: GatewayConfig,
    readonly log: Logger,
    options: GatewayOptions = {},
  ) {
    this.bus = new EventBus(log.child({ component: 'bus' }));
    this.store = new Store(config.data_dir, log.child({ component: 'store' }), { cacheMb: config.memory.sqlite_cache_mb });
    this.access = new AccessControl(config, log.child({ component: 'auth' }));
    const ctx: ModuleContext = {
      config,
      log,
      bus: this.bus,
      store: this.store,
      access: this.access,
      health: this.health,
      version: VERSION,
      logger: (component) => log.child({ component }),
      provide: (key, value) => this.exports.provide(key, value),
      use: (key) => this.exports.use(key),
      find: (key) => this.exports.find(key),
      modules: () => this.modules,
    };
    for (const factory of modules(options)) {
      const module = factory(ctx);
      if (!module) continue;
      this.modules.push(module);
      if (module.health) this.health.add(module.name, module.health);
    }
  }

  /** What a module provided (null when its feature is off). */
  get<K extends keyof Exports>(key: K): Exports[K] | null {
    return this.exports.find(key) ?? null;
  }

  async start(): Promise<void> {
    for (const module of this.modules) {
      try {
        await module.start();
        this.started.push(module);
      } catch (err) {
        this.log.error({ err, component: module.name }, 'component failed to start');
        await this.stop();
        throw err;
      }
    }
    for (const module of this.modules) module.started?.();
  }

  /** Reloads what can change without a restart (SIGHUP): the TLS certificates. */
  reload(): Record<string, boolean> {
    return Object.assign({}, ...this.modules.map((m) => m.reload?.() ?? {})) as Record<string, boolean>;
  }

  /** For the systemd watchdog: the db answers (the caller's timer firing shows the event loop does). */
  alive(): boolean {
    try {
      return this.store.isOpen && this.store.ping();
    } catch {
      return false;
    }
  }

  /** Stops started modules in reverse order; every step is time-limited and a timeout is logged. */
  async stop(): Promise<void> {
    const deadline = Date.now() + this.config.shutdown.timeout_ms;
    for (const module of [...this.started].reverse()) {
      const remaining = Math.max(100, deadline - Date.now());
      try {
        await withTimeout(module.stop(), remaining, `stopping ${module.name}`);
        this.log.debug({ component: module.name }, 'component stopped');
      } catch (err) {
        this.log.error({ err, component: module.name }, 'component did not stop cleanly');
      }
    }
    this.started = [];
  }

  /** The start-up banner, in the seed's style: each module's endpoints. */
  banner(): string {
    const host = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h);
    const at = { http: `http://${host(this.config.http.host)}:${this.get('http')?.port ?? 0}`, host };
    const rule = '='.repeat(78);
    return [
      rule,
      `SAFESPHERE EDGE ${VERSION} STARTED  (site ${this.config.site_id})`,
      rule,
      ...this.modules.flatMap((m) => m.banner?.(at) ?? []),
      rule,
    ].join('\n');
  }
}
