// The /ws/navigation clients. A route is state, not a log: a client needs the latest answer,
// not every one in between. So a client whose socket holds more than dashboard.ws_max_buffered_kb
// unsent is not written to; it is marked behind, and once it drains below half of that it gets a
// SKIPPED notice and the latest route. Memory per client is therefore bounded by that buffer
// plus one message. A client behind longer than dashboard.ws_stall_timeout_s, or that misses
// two heartbeats, is disconnected; reconnecting, it gets the current route again.
import type { WebSocket } from 'ws';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { NAVIGATION_SCHEMA_VERSION, type Navigator, type RouteUpdate } from './navigator.js';

const OPEN = 1;
const MESSAGES = 'a client message is {"type":"from","from":"<zone>"} or {"type":"ping"}';

interface Client {
  socket: WebSocket;
  from: string | null;
  alive: boolean;
  behindSince: number | null;
  skipped: number;
  sent: number;
  /** Route messages among them (heartbeats and notices aside). */
  routes: number;
}

export interface NavigationHubStats {
  clients: number;
  behind: number;
  skipped: number;
  dropped_slow: number;
  dropped_heartbeat: number;
  sent: number;
}

export class NavigationHub {
  private readonly clients = new Set<Client>();
  private timers: NodeJS.Timeout[] = [];
  private off: (() => void) | null = null;
  readonly stats: NavigationHubStats = { clients: 0, behind: 0, skipped: 0, dropped_slow: 0, dropped_heartbeat: 0, sent: 0 };

  constructor(
    private readonly navigator: Navigator,
    private readonly config: GatewayConfig['dashboard'],
    private readonly log: Logger,
  ) {}

  private get highWater(): number {
    return this.config.ws_max_buffered_kb * 1024;
  }

  start(): void {
    this.off = this.navigator.onChange((update, text) => this.broadcast(update, text));
    this.timers = [setInterval(() => this.checkBehind(), 200), setInterval(() => this.heartbeat(), this.config.heartbeat_s * 1000)];
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.off?.();
    this.off = null;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const c of this.clients) c.socket.close(1001, 'gateway stopping');
    this.clients.clear();
    this.stats.clients = 0;
  }

  /** Route messages sent to each client so far, by origin (tests read the server side). */
  sentTo(from: string): number[] {
    return [...this.clients].filter((c) => c.from === from).map((c) => c.routes);
  }

  /** A new /ws/navigation client; `from` is the ?from= origin (null: none yet). */
  attach(socket: WebSocket, from: string | null): void {
    const c: Client = { socket, from: null, alive: true, behindSince: null, skipped: 0, sent: 0, routes: 0 };
    this.clients.add(c);
    this.stats.clients = this.clients.size;
    socket.on('pong', () => {
      c.alive = true;
    });
    socket.on('message', (raw) => this.onMessage(c, String(raw)));
    const detach = () => {
      if (!this.clients.delete(c)) return;
      if (c.from) this.navigator.unwatch(c.from);
      this.stats.clients = this.clients.size;
    };
    socket.on('close', detach);
    socket.on('error', detach);
    this.send(c, JSON.stringify({ type: 'hello', schema: NAVIGATION_SCHEMA_VERSION, from, heartbeat_s: this.config.heartbeat_s }));
    if (!this.navigator.configured) {
      this.sendError(c, new GatewayError(ERRORS.NO_SITE_MAP));
      socket.close(1008, 'NO_SITE_MAP');
      return;
    }
    if (from !== null) this.setOrigin(c, from);
  }

  private onMessage(c: Client, raw: string): void {
    let m: { type?: unknown; from?: unknown };
    try {
      m = JSON.parse(raw) as typeof m;
    } catch {
      return this.sendError(c, new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'message', message: MESSAGES }]));
    }
    if (m && m.type === 'ping') return this.send(c, JSON.stringify({ type: 'heartbeat', at: new Date().toISOString() }));
    if (m && m.type === 'from') return this.setOrigin(c, m.from);
    this.sendError(c, new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'type', message: MESSAGES }]));
  }

  /** Moves the client to another origin and sends its current route (an unknown zone: an error, the old origin kept). */
  private setOrigin(c: Client, from: unknown): void {
    if (typeof from !== 'string' || !from) return this.sendError(c, new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'from', message: 'is required: a zone id' }]));
    if (!this.navigator.hasZone(from)) {
      return this.sendError(c, new GatewayError(ERRORS.UNKNOWN_ZONE, [{ path: 'from', message: `no zone "${from.slice(0, 64)}" on the site map` }]));
    }
    const { text } = this.navigator.watch(from);
    if (c.from) this.navigator.unwatch(c.from);
    c.from = from;
    // The current route goes even to a client behind: it replaces whatever it was owed.
    if (c.behindSince !== null) this.caughtUp(c);
    this.sendRoute(c, text);
  }

  /** An error is a message; the socket stays open (but for NO_SITE_MAP, which no message can fix). */
  private sendError(c: Client, e: GatewayError): void {
    this.send(c, JSON.stringify({ type: 'error', ...e.toJSON() }));
  }

  private send(c: Client, text: string): void {
    if (c.socket.readyState !== OPEN) return;
    c.socket.send(text);
    c.sent++;
    this.stats.sent++;
  }

  private sendRoute(c: Client, text: string): void {
    if (c.socket.readyState !== OPEN) return;
    this.send(c, text);
    c.routes++;
  }

  private broadcast(update: RouteUpdate, text: string): void {
    for (const c of this.clients) {
      if (c.from !== update.from) continue;
      if (c.behindSince !== null || c.socket.bufferedAmount >= this.highWater) {
        if (c.behindSince === null) {
          c.behindSince = Date.now();
          this.stats.behind++;
          this.log.info({ from: c.from, buffered: c.socket.bufferedAmount }, 'navigation client is slow; holding its routes until it drains');
        }
        c.skipped++;
        this.stats.skipped++;
        continue;
      }
      this.sendRoute(c, text);
    }
  }

  private caughtUp(c: Client): void {
    if (c.skipped) this.send(c, JSON.stringify({ type: 'notice', code: 'SKIPPED', skipped: c.skipped, message: 'routes changed while the client was not reading; this is the latest' }));
    c.behindSince = null;
    c.skipped = 0;
    c.alive = true; // it could not answer pings while its buffer was full
  }

  private checkBehind(): void {
    const now = Date.now();
    for (const c of this.clients) {
      if (c.behindSince === null) continue;
      if (c.socket.bufferedAmount < this.highWater / 2) {
        const latest = c.from ? this.navigator.latest(c.from) : null;
        this.caughtUp(c);
        if (latest) this.sendRoute(c, latest.text);
      } else if (now - c.behindSince > this.config.ws_stall_timeout_s * 1000) {
        this.stats.dropped_slow++;
        this.log.warn({ from: c.from }, 'navigation client stalled; disconnected (it gets the current route when it reconnects)');
        c.socket.terminate();
      }
    }
  }

  private heartbeat(): void {
    const text = JSON.stringify({ type: 'heartbeat', at: new Date().toISOString() });
    for (const c of this.clients) {
      // A slow client's pong would queue behind its full buffer: the stall timeout judges it.
      if (c.behindSince !== null) continue;
      if (!c.alive) {
        this.stats.dropped_heartbeat++;
        c.socket.terminate();
        continue;
      }
      c.alive = false;
      c.socket.ping();
      this.send(c, text);
    }
  }
}
