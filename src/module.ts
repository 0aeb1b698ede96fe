// The shape of every feature. A feature is one folder with a `module.ts` whose `create(ctx)`
// builds it without I/O; the composition root (src/gateway.ts) keeps the ordered list, starts
// them in order and stops them in reverse. Modules reach each other only through the event bus
// or through what an earlier module explicitly `provide`s (typed by declaration merging into
// `Exports`), never through setters called by the root.
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from './config/schema.js';
import type { EventBus } from './events/bus.js';
import type { ComponentHealth, HealthRegistry } from './health.js';
import type { Logger } from './logger.js';
import type { AccessControl } from './security/access.js';
import type { Store } from './store/store.js';

/** Where the banner's lines point: the HTTP API's base URL, and a host shown for a wildcard bind. */
export interface BannerContext {
  readonly http: string;
  host(bind: string): string;
}

export interface Module {
  /** The component name in logs and in the start/stop order. */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Health entries this module owns, keyed as /health shows them (read on every /health). */
  health?(): Record<string, ComponentHealth>;
  /** Registers this feature's HTTP and WebSocket routes; each declares its role. Called before listen. */
  routes?(app: FastifyInstance): PromiseLike<unknown> | void;
  /** Reloads what can change without a restart (SIGHUP); each key says whether it worked. */
  reload?(): Record<string, boolean>;
  /** Called once every module has started, before the daemon reports ready (memory: a start-up collection). */
  started?(): void;
  /** The start-up banner's lines for this feature, read after every module started. */
  banner?(at: BannerContext): string[];
}

/**
 * What modules export to the ones after them. Each feature adds its own keys from its own
 * module.ts (`declare module '../module.js' { interface Exports { sync: SyncService } }`), so the
 * root never lists them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Exports {}

export interface ModuleContext {
  readonly config: GatewayConfig;
  /** The root logger; a module logs through `ctx.logger(name)`. */
  readonly log: Logger;
  readonly bus: EventBus;
  /** The store and its repositories (open once the store module started). */
  readonly store: Store;
  /** Every credential and route role (src/security/access.ts). */
  readonly access: AccessControl;
  /** Every module's health entries, for features that show them (the live feed's system view). */
  readonly health: HealthRegistry;
  readonly version: string;
  logger(component: string): Logger;
  /** Makes `value` available to the modules created after this one. A key is provided once. */
  provide<K extends keyof Exports>(key: K, value: Exports[K]): void;
  /** An export a module needs; throws naming it when no earlier module provided it. */
  use<K extends keyof Exports>(key: K): Exports[K];
  /** An export a module can do without (a feature that config may turn off). */
  find<K extends keyof Exports>(key: K): Exports[K] | undefined;
  /** Every module in the list (for the HTTP module: routes; for the root: health and banner). */
  modules(): readonly Module[];
}

/** A module factory: null when the feature is off in config. */
export type ModuleFactory = (ctx: ModuleContext) => Module | null;

/** The exports registry behind `provide`/`use`/`find`. */
export class ExportRegistry {
  private readonly values = new Map<string, unknown>();

  provide<K extends keyof Exports>(key: K, value: Exports[K]): void {
    if (this.values.has(key as string)) throw new Error(`module export "${String(key)}" is provided twice`);
    this.values.set(key as string, value);
  }

  use<K extends keyof Exports>(key: K): Exports[K] {
    if (!this.values.has(key as string)) {
      throw new Error(`module export "${String(key)}" is not provided: the module that provides it must come earlier in src/gateway.ts`);
    }
    return this.values.get(key as string) as Exports[K];
  }

  find<K extends keyof Exports>(key: K): Exports[K] | undefined {
    return this.values.get(key as string) as Exports[K] | undefined;
  }
}

/** Rejects after `ms`, so one stuck step cannot hang a start or a shutdown. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
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
