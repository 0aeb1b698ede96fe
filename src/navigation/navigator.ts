// Live safe routes. The navigator keeps the current answer of Operations.routeAnswer (the one
// routing function behind GET /api/routes) for every watched origin, and re-evaluates when the
// active-threat picture can have changed: an incident committed at MEDIUM or above in a zone of
// the map, an operator's status change, or the next incident leaving site.active_window_s (a
// timer set for that instant). Only answers that changed are passed on, each with the reason
// and the incident ids that entered or left the picture.
import type { GatewayConfig } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import type { ActiveThreat } from '../operations/queries.js';
import type { Operations, RouteAnswer } from '../operations/service.js';
import type { ZoneThreats } from '../operations/routing.js';

export const NAVIGATION_SCHEMA_VERSION = 1;

/** Why a route message was sent. */
export type RouteReason = 'current' | 'incident' | 'resolved' | 'expired';

/** One route message, as /ws/navigation sends it and safesphere/routes/<zone> retains it. */
export interface RouteUpdate {
  type: 'route';
  from: string;
  reason: RouteReason;
  /** For a change: the incidents that entered or left the active picture. For `current`: the active ones. */
  incident_ids: string[];
  /** When the answer was computed. */
  at: string;
  /** GET /api/routes' status for the same question: 200 a route, 409 NO_SAFE_ROUTE. */
  status: 200 | 409;
  /** GET /api/routes' 200 body, or null. */
  route: Extract<RouteAnswer, { status: 200 }>['body'] | null;
  /** With status 409: GET /api/routes' error and avoided_zones. */
  error?: Extract<RouteAnswer, { status: 409 }>['body']['error'];
  avoided_zones?: string[];
}

export interface NavigatorStats {
  evaluations: number;
  changes: number;
  /** When the next expiry re-evaluation is due (null: no active incident). */
  next_expiry: string | null;
}

type Listener = (update: RouteUpdate, text: string) => void;

interface Cached {
  /** The answer's JSON, compared to tell a change. */
  key: string;
  update: RouteUpdate;
  text: string;
}

const LEVELS_THAT_ROUTE = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);

export class Navigator {
  private readonly answers = new Map<string, Cached>();
  private readonly watchers = new Map<string, number>();
  private readonly listeners = new Set<Listener>();
  private active = new Map<string, ActiveThreat>();
  private zones: ZoneThreats = { blocked: new Set(), elevated: new Set() };
  private pendingResolved = new Set<string>();
  private pending = false;
  private scheduled: NodeJS.Immediate | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private off: (() => void)[] = [];
  private running = false;
  readonly stats: NavigatorStats = { evaluations: 0, changes: 0, next_expiry: null };

  constructor(
    private readonly ops: Operations,
    private readonly bus: EventBus,
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    /** Keep every zone of the map evaluated (the retained MQTT routes), not only the watched ones. */
    private readonly everyZone: boolean,
  ) {}

  get configured(): boolean {
    return this.ops.siteMap.configured;
  }

  hasZone(zone: string): boolean {
    return this.ops.siteMap.hasZone(zone);
  }

  start(): void {
    this.running = true;
    this.off.push(
      this.bus.on('incident.stored', ({ incident }) => {
        // LOW never changes a route; an incident outside the map's zones neither.
        if (!LEVELS_THAT_ROUTE.has(incident.threat_level)) return;
        const zone = this.ops.queries.zoneOf(incident.camera_id);
        if (zone && this.ops.siteMap.hasZone(zone)) this.trigger();
      }),
      this.bus.on('incident.status', ({ incident_id, state }) => {
        if (state === 'resolved') this.pendingResolved.add(incident_id);
        this.trigger();
      }),
    );
    if (this.configured && this.everyZone) for (const z of this.ops.siteMap.zoneIds) this.watchers.set(z, (this.watchers.get(z) ?? 0) + 1);
    this.evaluate('current');
  }

  stop(): void {
    this.running = false;
    for (const off of this.off) off();
    this.off = [];
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    this.watchers.clear();
    this.answers.clear();
  }

  /** Called with every changed answer (and the initial ones at start). */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts watching `from` (a client connected) and returns its current answer, reason
   * `current`. A change already signalled but not yet evaluated is evaluated first, so the
   * answer is never older than the last commit.
   */
  watch(from: string): { update: RouteUpdate; text: string } {
    this.watchers.set(from, (this.watchers.get(from) ?? 0) + 1);
    if (this.pending) this.evaluate(null);
    let cached = this.answers.get(from);
    if (!cached) {
      cached = this.compute(from, 'current', this.activeIds());
      this.answers.set(from, cached);
    }
    const update: RouteUpdate = { ...cached.update, reason: 'current', incident_ids: this.activeIds() };
    return { update, text: JSON.stringify(update) };
  }

  unwatch(from: string): void {
    const n = (this.watchers.get(from) ?? 0) - 1;
    if (n > 0) return void this.watchers.set(from, n);
    this.watchers.delete(from);
    this.answers.delete(from);
  }

  /** The last answer for a watched origin (what a client that drained should be sent). */
  latest(from: string): { update: RouteUpdate; text: string } | null {
    return this.answers.get(from) ?? null;
  }

  /** The threat picture may have changed: evaluate on the next turn (coalesced). */
  private trigger(): void {
    this.pending = true;
    if (this.scheduled || !this.running) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = null;
      if (this.pending) this.evaluate(null);
    });
  }

  private activeIds(): string[] {
    return [...this.active.keys()].sort();
  }

  private compute(from: string, reason: RouteReason, ids: string[]): Cached {
    const answer = this.ops.routeAnswer(from, this.zones);
    const key = JSON.stringify(answer);
    const update: RouteUpdate =
      answer.status === 200
        ? { type: 'route', from, reason, incident_ids: ids, at: new Date().toISOString(), status: 200, route: answer.body }
        : {
            type: 'route',
            from,
            reason,
            incident_ids: ids,
            at: new Date().toISOString(),
            status: 409,
            route: null,
            error: answer.body.error,
            avoided_zones: answer.body.avoided_zones,
          };
    return { key, update, text: JSON.stringify(update) };
  }

  /**
   * Reads the active threats once, routes every watched origin against them and passes on the
   * answers that changed. `forced`: the reason for every answer (start-up); null: derived from
   * which incidents entered or left the picture.
   */
  evaluate(forced: RouteReason | null, now = Date.now()): void {
    this.pending = false;
    if (!this.configured) return;
    this.stats.evaluations++;
    let threats;
    try {
      threats = this.ops.threats(now);
    } catch (err) {
      this.log.error({ err }, 'reading the active threats failed; routes unchanged');
      return;
    }
    const next = new Map<string, ActiveThreat>();
    for (const t of threats.incidents) if (t.zone && this.ops.siteMap.hasZone(t.zone)) next.set(t.incident_id, t);
    const entered = [...next.keys()].filter((id) => !this.active.has(id));
    const left = [...this.active.keys()].filter((id) => !next.has(id));
    const resolved = left.filter((id) => this.pendingResolved.has(id));
    this.pendingResolved.clear();
    const reason: RouteReason = forced ?? (entered.length ? 'incident' : resolved.length ? 'resolved' : left.length ? 'expired' : 'current');
    const ids = forced === 'current' ? [...next.keys()].sort() : [...entered, ...left].sort();
    this.active = next;
    this.zones = threats.zones;
    this.armExpiry(now);

    for (const from of this.watchers.keys()) {
      let fresh: Cached;
      try {
        fresh = this.compute(from, reason, ids);
      } catch (err) {
        this.log.error({ err, from }, 'computing a safe route failed');
        continue;
      }
      const before = this.answers.get(from);
      if (before && before.key === fresh.key) continue;
      this.answers.set(from, fresh);
      this.stats.changes++;
      for (const l of this.listeners) {
        try {
          l(fresh.update, fresh.text);
        } catch (err) {
          this.log.error({ err, from }, 'a route listener failed');
        }
      }
    }
  }

  /** A timer for the moment the oldest active incident leaves the active window. */
  private armExpiry(now: number): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    this.stats.next_expiry = null;
    if (!this.running || this.active.size === 0) return;
    const windowMs = this.config.site.active_window_s * 1000;
    let first = Infinity;
    for (const t of this.active.values()) first = Math.min(first, Date.parse(t.created_at) + windowMs);
    if (!Number.isFinite(first)) return;
    // An incident counts while created_at >= now - window: it leaves 1 ms after created_at + window.
    const due = first + 1;
    this.stats.next_expiry = new Date(due).toISOString();
    this.expiry = setTimeout(() => {
      this.expiry = null;
      this.evaluate(null);
    }, Math.max(0, due - now));
    this.expiry.unref();
  }
}
