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
import { FeedHub } from './feed.js';
import { OpsQueries, type ActiveThreat } from './queries.js';
import { SiteMap, type NoSafeRoute, type SafeRoute, type ZoneThreats } from './routing.js';

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
   * acknowledgement (which stops the escalation), then the events that tell the rest.
   */
  setStatus(action: 'acknowledge' | 'resolve', incidentId: string, by: string, note: string | null, via: string): IncidentStatus {
    const r = action === 'acknowledge' ? this.queries.acknowledge(incidentId, by, note, via) : this.queries.resolve(incidentId, by, note, via);
    for (const c of r.changes) this.bus.emit('action.updated', { ...c, state: c.state as ActionState });
    if (r.first) this.bus.emit('incident.acknowledged', { incident_id: incidentId, by: r.status.acknowledged_by ?? by, via: r.status.acknowledged_via ?? via, at: r.status.acknowledged_at ?? new Date().toISOString() });
    this.feed.wake();
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
