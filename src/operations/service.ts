// The site-operations component: the operator's view of the gateway. It owns the analysis
// queries, the site map and safe routes, and the live feeds (the operator token is one of
// src/security/access.ts's). Constructed without I/O; start() starts the feed's timers; the
// HTTP server registers its routes (src/operations/routes.ts).
import type { ActionState } from '../action-states.js';
import type { GatewayConfig } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { HealthRegistry } from '../health.js';
import type { Logger } from '../logger.js';
import type { LabelRepository } from '../store/labels.js';
import type { IncidentStatus } from '../store/operations.js';
import type { Store } from '../store/store.js';
import { ERRORS, GatewayError } from '../errors.js';
import { FeedHub } from './feed.js';
import { OpsQueries, type ActiveThreat } from './queries.js';
import { SiteMap, type NoSafeRoute, type SafeRoute, type ZoneThreats } from './routing.js';

/**
 * The answer to "which way out from this zone?", as GET /api/routes sends it and /ws/navigation
 * and safesphere/routes/<zone> push it: the route (200), or NO_SAFE_ROUTE with the zones that
 * cut every exit off (409).
 */
export type RouteAnswer =
  | { status: 200; body: Omit<SafeRoute, 'ok'> }
  | { status: 409; body: { error: { code: string; message: string; details: { path: string; message: string }[] }; from: string; avoided_zones: string[] } };

export class Operations {
  readonly queries: OpsQueries;
  readonly siteMap: SiteMap;
  readonly feed: FeedHub;
  private off: (() => void)[] = [];

  constructor(
    readonly config: GatewayConfig,
    store: Store,
    private readonly bus: EventBus,
    health: HealthRegistry,
    private readonly log: Logger,
    labels?: LabelRepository,
  ) {
    this.queries = new OpsQueries(store, config.zones);
    this.siteMap = new SiteMap(config.zones, config.site.map);
    this.feed = new FeedHub(this.queries, config.dashboard, health, log.child({ subsystem: 'feed' }), (c) => this.queries.zoneOf(c));
    // Every change the feed shows is written by a trigger; these tell it to look.
    labels?.afterCommit(() => this.feed.wake());
  }

  async start(): Promise<void> {
    for (const p of this.siteMap.problems(new Set(this.config.zones.map((z) => z.id)))) this.log.warn(p);
    this.off.push(
      this.bus.on('incident.stored', () => this.feed.wake()),
      this.bus.on('action.updated', () => this.feed.wake()),
    );
    this.feed.start();
  }

  async stop(): Promise<void> {
    for (const off of this.off) off();
    this.off = [];
    this.feed.stop();
  }

  /**
   * An operator's acknowledgement or resolution through the API or the dashboard: the store's one
   * acknowledgement (which stops the escalation), then the feed and the bus (escalation, safe routes).
   */
  setStatus(action: 'acknowledge' | 'resolve', incidentId: string, by: string, note: string | null, via: string): IncidentStatus {
    const r = action === 'acknowledge' ? this.queries.acknowledge(incidentId, by, note, via) : this.queries.resolve(incidentId, by, note, via);
    for (const c of r.changes) this.bus.emit('action.updated', { ...c, state: c.state as ActionState });
    if (r.first) this.bus.emit('incident.acknowledged', { incident_id: incidentId, by: r.status.acknowledged_by ?? by, via: r.status.acknowledged_via ?? via, at: r.status.acknowledged_at ?? new Date().toISOString() });
    this.feed.wake();
    // Safe routes (src/navigation/) re-check when a status changes.
    this.bus.emit('incident.status', { incident_id: incidentId, state: r.status.state, by, at: r.status.updated_at });
    return r.status;
  }

  /** Unresolved HIGH/CRITICAL (blocked) and MEDIUM (elevated) incidents within site.active_window_s, by zone. */
  threats(now = Date.now()): { zones: ZoneThreats; incidents: ActiveThreat[] } {
    const incidents = this.queries.activeThreats(this.config.site.active_window_s, ['CRITICAL', 'HIGH', 'MEDIUM'], now);
    const blocked = new Set<string>();
    const elevated = new Set<string>();
    for (const t of incidents) {
      if (!t.zone) continue;
      (t.threat_level === 'MEDIUM' ? elevated : blocked).add(t.zone);
    }
    return { zones: { blocked, elevated }, incidents };
  }

  route(from: string): SafeRoute | NoSafeRoute {
    return this.siteMap.route(from, this.threats().zones);
  }

  /**
   * The one routing answer behind GET /api/routes, /ws/navigation and the retained MQTT routes.
   * Throws NO_SITE_MAP, BAD_REQUEST or UNKNOWN_ZONE; `zones` lets a caller that routes from many
   * origins read the active threats once.
   */
  routeAnswer(from: unknown, zones?: ZoneThreats): RouteAnswer {
    if (!this.siteMap.configured) throw new GatewayError(ERRORS.NO_SITE_MAP);
    if (typeof from !== 'string' || !from) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'from', message: 'is required: a zone id' }]);
    if (!this.siteMap.hasZone(from)) throw new GatewayError(ERRORS.UNKNOWN_ZONE, [{ path: 'from', message: `no zone "${from}" on the site map` }]);
    const r = this.siteMap.route(from, zones ?? this.threats().zones);
    if (!r.ok) {
      const { error } = new GatewayError(ERRORS.NO_SAFE_ROUTE, [{ path: 'from', message: r.reason }]).toJSON();
      return { status: 409, body: { error, from, avoided_zones: r.avoided_zones } };
    }
    const { ok: _ok, ...route } = r;
    return { status: 200, body: route };
  }

  /**
   * The route a safe_route action carries: from the incident's zone. Null when the site has no
   * map or the camera is in no zone; a NoSafeRoute when every exit is cut off.
   */
  routeForZones(zones: readonly string[]): SafeRoute | NoSafeRoute | null {
    if (!this.siteMap.configured) return null;
    const from = zones.find((z) => this.siteMap.hasZone(z));
    if (!from) return null;
    try {
      return this.route(from);
    } catch (err) {
      this.log.error({ err }, 'computing a safe route failed');
      return null;
    }
  }
}
