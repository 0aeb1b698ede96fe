// Safe-route guidance: the shortest way from a zone to an exit over the site map's walkable
// links, never through a zone with an active HIGH or CRITICAL incident, with each edge's
// length weighted by the risk of the zone it enters.
import type { GatewayConfig } from '../config/schema.js';

type Zone = GatewayConfig['zones'][number];
type SiteMapConfig = GatewayConfig['site']['map'];

export interface RouteExit {
  id: string;
  name: string;
  zone: string;
}

export interface SafeRoute {
  ok: true;
  from: string;
  /** Zone ids from the start zone to the exit's zone, both included. */
  path: string[];
  exit: RouteExit;
  /** Walking distance along the path, exit door included. */
  distance_m: number;
  /** The risk-weighted cost the route minimised. */
  cost: number;
  /** Zones with an active HIGH or CRITICAL incident, which the route does not cross. */
  avoided_zones: string[];
  police_station: SiteMapConfig['police_station'] | null;
}

export interface NoSafeRoute {
  ok: false;
  from: string;
  avoided_zones: string[];
  reason: string;
}

export interface ZoneThreats {
  /** Zones with an active HIGH or CRITICAL incident: not crossed. */
  blocked: ReadonlySet<string>;
  /** Zones with an active MEDIUM incident: crossed only at a higher cost. */
  elevated: ReadonlySet<string>;
}

/** Added to a zone's configured risk while it has an active MEDIUM incident. */
export const MEDIUM_RISK_BONUS = 0.5;

export class SiteMap {
  private readonly adjacency = new Map<string, { to: string; distance: number }[]>();
  private readonly zoneRisk = new Map<string, number>();
  readonly exits: RouteExit[];
  private readonly exitDistance = new Map<string, number>();

  constructor(
    zones: readonly Zone[],
    private readonly map: SiteMapConfig,
  ) {
    for (const z of zones) {
      this.zoneRisk.set(z.id, z.risk);
      this.adjacency.set(z.id, []);
    }
    for (const l of map.links) {
      for (const [a, b] of [
        [l.from, l.to],
        [l.to, l.from],
      ] as const) {
        if (!this.adjacency.has(a)) this.adjacency.set(a, []);
        this.adjacency.get(a)!.push({ to: b, distance: l.distance_m });
      }
    }
    this.exits = map.exits.map((e) => ({ id: e.id, name: e.name || e.id, zone: e.zone }));
    for (const e of map.exits) {
      this.exitDistance.set(e.id, e.distance_m);
      if (!this.adjacency.has(e.zone)) this.adjacency.set(e.zone, []);
    }
  }

  /** A map with at least one exit. */
  get configured(): boolean {
    return this.exits.length > 0;
  }

  hasZone(id: string): boolean {
    return this.adjacency.has(id);
  }

  get zoneIds(): string[] {
    return [...this.adjacency.keys()];
  }

  get links(): SiteMapConfig['links'] {
    return this.map.links;
  }

  /** Problems a configuration check reports: links or exits naming zones that are not configured. */
  problems(zoneIds: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const l of this.map.links) {
      for (const z of [l.from, l.to]) if (!zoneIds.has(z)) out.push(`site.map.links: zone "${z}" is not in zones`);
    }
    for (const e of this.map.exits) if (!zoneIds.has(e.zone)) out.push(`site.map.exits: exit "${e.id}" opens from unknown zone "${e.zone}"`);
    return out;
  }

  private risk(zone: string, threats: ZoneThreats): number {
    const base = this.zoneRisk.get(zone) ?? 0.5;
    return Math.min(1, base + (threats.elevated.has(zone) ? MEDIUM_RISK_BONUS : 0));
  }

  /**
   * Dijkstra from `from` to the cheapest exit. Edge cost = distance × (1 + risk_weight × risk of
   * the zone entered). Blocked zones are never entered; an exit in a blocked zone is unusable.
   * The start zone may itself be blocked: the route leads out of it.
   */
  route(from: string, threats: ZoneThreats): SafeRoute | NoSafeRoute {
    const avoided = [...threats.blocked].sort();
    const w = this.map.risk_weight;
    const cost = new Map<string, number>([[from, 0]]);
    const dist = new Map<string, number>([[from, 0]]);
    const prev = new Map<string, string>();
    const done = new Set<string>();
    // Zones are few (at most 256): a linear scan for the next node is simpler than a heap and as fast.
    for (;;) {
      let u: string | null = null;
      let best = Infinity;
      for (const [z, c] of cost) if (!done.has(z) && c < best) (u = z), (best = c);
      if (u === null) break;
      done.add(u);
      for (const e of this.adjacency.get(u) ?? []) {
        if (threats.blocked.has(e.to) || done.has(e.to)) continue;
        const c = best + e.distance * (1 + w * this.risk(e.to, threats));
        if (c < (cost.get(e.to) ?? Infinity)) {
          cost.set(e.to, c);
          dist.set(e.to, dist.get(u)! + e.distance);
          prev.set(e.to, u);
        }
      }
    }
    let chosen: { exit: RouteExit; cost: number; distance: number } | null = null;
    for (const exit of this.exits) {
      if (threats.blocked.has(exit.zone) || !done.has(exit.zone)) continue;
      const door = this.exitDistance.get(exit.id) ?? 0;
      const c = cost.get(exit.zone)! + door * (1 + w * this.risk(exit.zone, threats));
      if (!chosen || c < chosen.cost - 1e-9) chosen = { exit, cost: c, distance: dist.get(exit.zone)! + door };
    }
    if (!chosen) {
      return {
        ok: false,
        from,
        avoided_zones: avoided,
        reason:
          this.exits.length === 0
            ? 'the site map has no exits'
            : `every exit is in, or only reachable through, a zone with an active HIGH or CRITICAL incident (${avoided.join(', ') || 'none'})`,
      };
    }
    const path = [chosen.exit.zone];
    while (path[0] !== from) path.unshift(prev.get(path[0]!)!);
    const station = this.map.police_station;
    return {
      ok: true,
      from,
      path,
      exit: chosen.exit,
      distance_m: Math.round(chosen.distance * 10) / 10,
      cost: Math.round(chosen.cost * 10) / 10,
      avoided_zones: avoided,
      police_station: station.name || station.address || station.lat !== null ? station : null,
    };
  }
}
