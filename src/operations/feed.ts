// The WebSocket feeds.
//
// /ws/incidents streams the `ops_feed` change log (migration 6: rows written by triggers in
// the same transaction as each incident, action-state change, label and status change), so
// live delivery and replay after a reconnect read the same ordered log: a client resumes
// with ?after=<the last seq it saw> and misses nothing. Each client is a cursor into the log,
// not a queue: a client whose socket has more than ws_max_buffered_kb unsent is paused and
// picks up from the store where it left off once it drains, so memory per client is bounded
// by that buffer. A client paused longer than ws_stall_timeout_s, or that misses two
// heartbeats, is disconnected. If the log was pruned past a client's cursor it gets a GAP
// notice and continues from the oldest row kept.
//
// /ws/timelapse replays stored incidents of a range at a chosen speed; a consumer too slow
// for the pace is skipped ahead, with a SKIPPED notice saying how many incidents it missed.
import type { WebSocket } from 'ws';
import { LEVELS, SOURCE_FILTERS, type GatewayConfig, type IncidentSource, type ThreatLevel } from '../config/schema.js';
import type { HealthRegistry } from '../health.js';
import type { Logger } from '../logger.js';
import type { FeedRow } from '../store/operations.js';
import type { OpsQueries } from './queries.js';
import { parseSourceFilter } from '../validate/source-filter.js';

export const FEED_SCHEMA_VERSION = 1;
const PAGE = 256;
const OPEN = 1;

export interface FeedFilter {
  levels: ReadonlySet<ThreatLevel> | null;
  cameras: ReadonlySet<string> | null;
  /** Report sources (`source=threat_cv|mqtt|http|frigate|onvif`). */
  sources?: ReadonlySet<IncidentSource> | null;
}

export function parseFilter(query: { level?: unknown; camera?: unknown; source?: unknown }): FeedFilter {
  const list = (v: unknown) =>
    typeof v === 'string' && v.trim()
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  const levels = list(query.level);
  const bad = levels?.filter((l) => !(LEVELS as readonly string[]).includes(l.toUpperCase()));
  if (bad?.length) throw new Error(`level must be a comma-separated list of ${LEVELS.join(', ')}`);
  const cameras = list(query.camera);
  let sources: readonly IncidentSource[] | undefined;
  try {
    sources = parseSourceFilter(query.source);
  } catch {
    throw new Error(`source must be one of ${Object.keys(SOURCE_FILTERS).join(', ')}`);
  }
  return {
    levels: levels ? new Set(levels.map((l) => l.toUpperCase() as ThreatLevel)) : null,
    cameras: cameras ? new Set(cameras) : null,
    sources: sources ? new Set(sources) : null,
  };
}

const matches = (f: FeedFilter, level: string | null, camera: string | null, source: string | null = null) =>
  (!f.levels || (level !== null && f.levels.has(level as ThreatLevel))) &&
  (!f.cameras || (camera !== null && f.cameras.has(camera))) &&
  (!f.sources || (source !== null && f.sources.has(source as IncidentSource)));

interface Client {
  socket: WebSocket;
  cursor: number;
  filter: FeedFilter;
  pausedSince: number | null;
  alive: boolean;
  sent: number;
}

export interface FeedStats {
  clients: number;
  paused: number;
  dropped_slow: number;
  dropped_heartbeat: number;
  gaps: number;
  sent: number;
  timelapse_clients: number;
  timelapse_skipped: number;
}

type Config = GatewayConfig['dashboard'];

export class FeedHub {
  private readonly clients = new Set<Client>();
  private timers: NodeJS.Timeout[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private pruning = false;
  private closed = false;
  readonly stats: FeedStats = {
    clients: 0,
    paused: 0,
    dropped_slow: 0,
    dropped_heartbeat: 0,
    gaps: 0,
    sent: 0,
    timelapse_clients: 0,
    timelapse_skipped: 0,
  };
  private readonly timelapses = new Set<() => void>();

  constructor(
    private readonly queries: OpsQueries,
    private readonly config: Config,
    private readonly health: HealthRegistry,
    private readonly log: Logger,
    private readonly zoneOf: (camera: string | null) => string | null,
  ) {}

  private get highWater(): number {
    return this.config.ws_max_buffered_kb * 1024;
  }

  start(): void {
    this.closed = false;
    this.timers = [
      // Paused clients: resume those that drained, drop those stuck too long.
      setInterval(() => this.checkPaused(), 200),
      setInterval(() => this.heartbeat(), this.config.heartbeat_s * 1000),
      setInterval(() => this.broadcastHealth(), this.config.health_interval_s * 1000),
      setInterval(() => void this.prune(), 60_000),
    ];
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    for (const c of this.clients) c.socket.close(1001, 'gateway stopping');
    this.clients.clear();
    for (const stop of this.timelapses) stop();
    this.timelapses.clear();
  }

  /** New rows may be in the log: pump every client on the next tick (coalesced). */
  wake(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = null;
      for (const c of this.clients) if (c.pausedSince === null) this.pump(c);
    });
  }

  /** A new /ws/incidents client. `after`: resume after this seq; `tail`: start this many rows back. */
  attach(socket: WebSocket, options: { after: number | null; tail: number; filter: FeedFilter }): void {
    const { oldest, head } = this.queries.feedBounds();
    let cursor = options.after ?? Math.max(0, head - options.tail);
    if (cursor > head) cursor = head; // a cursor from a newer log (a store replaced): start at the head
    const c: Client = { socket, cursor, filter: options.filter, pausedSince: null, alive: true, sent: 0 };
    this.clients.add(c);
    this.stats.clients = this.clients.size;
    socket.on('pong', () => {
      c.alive = true;
    });
    socket.on('message', (raw) => {
      // The only client message: {"type":"ping"} (answered with a heartbeat). Anything else is ignored.
      try {
        const m = JSON.parse(String(raw)) as { type?: string };
        if (m.type === 'ping') this.send(c, JSON.stringify({ type: 'heartbeat', at: new Date().toISOString(), head: this.queries.feedHead() }));
      } catch {
        /* ignore */
      }
    });
    const detach = () => {
      this.clients.delete(c);
      this.stats.clients = this.clients.size;
    };
    socket.on('close', detach);
    socket.on('error', detach);
    this.send(
      c,
      JSON.stringify({
        type: 'hello',
        schema: FEED_SCHEMA_VERSION,
        head,
        oldest,
        after: cursor,
        filter: {
          level: c.filter.levels ? [...c.filter.levels] : null,
          camera: c.filter.cameras ? [...c.filter.cameras] : null,
          ...(c.filter.sources ? { source: [...c.filter.sources] } : {}),
        },
        heartbeat_s: this.config.heartbeat_s,
      }),
    );
    this.sendHealth(c);
    this.pump(c);
  }

  private send(c: Client, text: string): void {
    if (c.socket.readyState !== OPEN) return;
    c.socket.send(text);
    c.sent++;
    this.stats.sent++;
  }

  private message(row: FeedRow): string {
    // `data` is JSON already (built by the trigger); splice it in without re-parsing.
    const head = JSON.stringify({
      type: row.kind,
      seq: row.seq,
      at: row.at,
      incident_id: row.incident_id,
      level: row.level,
      camera_id: row.camera_id,
      zone: this.zoneOf(row.camera_id),
      source: row.source,
    });
    return `${head.slice(0, -1)},"data":${row.data}}`;
  }

  /** Sends the client's rows after its cursor until caught up or its socket buffer is full. */
  private pump(c: Client): void {
    if (c.socket.readyState !== OPEN) return;
    const { oldest } = this.queries.feedBounds();
    if (oldest > 0 && c.cursor < oldest - 1) {
      this.stats.gaps++;
      this.send(
        c,
        JSON.stringify({
          type: 'notice',
          code: 'GAP',
          message: `changes ${c.cursor + 1}..${oldest - 1} were pruned; reload the incident list (GET /incidents) to fill in`,
          from: c.cursor,
          resumed_after: oldest - 1,
        }),
      );
      c.cursor = oldest - 1;
    }
    while (c.socket.bufferedAmount < this.highWater) {
      const rows = this.queries.feedAfter(c.cursor, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (matches(c.filter, row.level, row.camera_id, row.source)) this.send(c, this.message(row));
        c.cursor = row.seq;
        if (c.socket.bufferedAmount >= this.highWater) break;
      }
    }
    if (c.socket.bufferedAmount >= this.highWater) {
      if (c.pausedSince === null) {
        c.pausedSince = Date.now();
        this.stats.paused++;
        this.log.info({ cursor: c.cursor, buffered: c.socket.bufferedAmount }, 'feed client is slow; paused until it drains');
      }
    } else if (c.pausedSince !== null) {
      c.pausedSince = null;
      c.alive = true; // it could not answer pings while paused
    }
  }

  private checkPaused(): void {
    const now = Date.now();
    for (const c of this.clients) {
      if (c.pausedSince === null) continue;
      if (c.socket.bufferedAmount < this.highWater / 2) {
        this.pump(c);
      } else if (now - c.pausedSince > this.config.ws_stall_timeout_s * 1000) {
        this.stats.dropped_slow++;
        this.log.warn({ cursor: c.cursor }, 'feed client stalled; disconnected (it resumes from its seq when it reconnects)');
        c.socket.terminate();
        this.clients.delete(c);
      }
    }
    this.stats.clients = this.clients.size;
  }

  private heartbeat(): void {
    const text = JSON.stringify({ type: 'heartbeat', at: new Date().toISOString(), head: this.queries.feedHead() });
    for (const c of this.clients) {
      // A paused client's pong would queue behind its full buffer: the stall timeout judges it instead.
      if (c.pausedSince !== null) continue;
      if (!c.alive) {
        this.stats.dropped_heartbeat++;
        c.socket.terminate();
        this.clients.delete(c);
        continue;
      }
      c.alive = false;
      c.socket.ping();
      this.send(c, text);
    }
    this.stats.clients = this.clients.size;
  }

  private healthText(): string {
    const { status, components } = this.health.snapshot();
    return JSON.stringify({ type: 'health', at: new Date().toISOString(), status, components });
  }

  private sendHealth(c: Client): void {
    try {
      this.send(c, this.healthText());
    } catch (err) {
      this.log.warn({ err }, 'health snapshot failed');
    }
  }

  private broadcastHealth(): void {
    if (this.clients.size === 0) return;
    let text: string;
    try {
      text = this.healthText();
    } catch (err) {
      this.log.warn({ err }, 'health snapshot failed');
      return;
    }
    for (const c of this.clients) if (c.pausedSince === null && c.socket.bufferedAmount < this.highWater) this.send(c, text);
  }

  /** Keeps the newest `feed_keep` rows, deleting in chunks that yield to the event loop. */
  async prune(): Promise<number> {
    if (this.pruning) return 0;
    this.pruning = true;
    let deleted = 0;
    try {
      const upto = this.queries.feedHead() - this.config.feed_keep;
      while (upto > 0 && !this.closed) {
        const n = this.queries.pruneFeed(upto, 5000);
        deleted += n;
        if (n < 5000) break;
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.log.warn({ err }, 'pruning the live feed failed');
    } finally {
      this.pruning = false;
    }
    return deleted;
  }

  // ------------------------------------------------------------------ timelapse

  /**
   * Replays incidents received in [from, to) in order, an incident received t after `from`
   * being sent t / speed after the start. Gaps longer than `maxIdleMs` of wall time are
   * shortened (a `clock` message says where the replay jumped to).
   */
  timelapse(socket: WebSocket, options: { from: string; to: string; speed: number; filter: FeedFilter; maxIdleMs?: number }): void {
    const fromMs = Date.parse(options.from);
    const maxIdle = options.maxIdleMs ?? 2000;
    // (created_at, id) > (from, 0) takes every incident received at or after `from` (ids start at 1).
    let cursor = { createdAt: new Date(fromMs).toISOString(), id: 0 };
    let stopped = false;
    let timer: NodeJS.Timeout | null = null;
    let offset = 0; // replay-clock ms skipped by idle compression
    const startWall = Date.now();
    let sent = 0;
    let skipped = 0;
    let pendingSkip = 0;
    let page: ReturnType<OpsQueries['replayPage']> = [];
    let i = 0;
    const stop = () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      this.timelapses.delete(stop);
      this.stats.timelapse_clients = this.timelapses.size;
    };
    this.timelapses.add(stop);
    this.stats.timelapse_clients = this.timelapses.size;
    socket.on('close', stop);
    socket.on('error', stop);
    const send = (o: unknown) => socket.readyState === OPEN && socket.send(JSON.stringify(o));
    send({ type: 'hello', schema: FEED_SCHEMA_VERSION, from: options.from, to: options.to, speed: options.speed });
    const step = () => {
      timer = null;
      if (stopped || socket.readyState !== OPEN) return stop();
      for (;;) {
        if (i >= page.length) {
          page = this.queries.replayPage(cursor, options.to, PAGE);
          i = 0;
          if (page.length === 0) {
            if (pendingSkip) send({ type: 'notice', code: 'SKIPPED', skipped: pendingSkip, message: 'the client could not keep up; skipped ahead' });
            send({ type: 'end', sent, skipped });
            socket.close(1000, 'timelapse complete');
            return stop();
          }
        }
        const row = page[i]!;
        const t = Date.parse(row.created_at);
        const replayNow = (Date.now() - startWall) * options.speed + offset;
        let dueIn = (t - fromMs - replayNow) / options.speed;
        if (dueIn > maxIdle) {
          // Compress a long quiet stretch.
          offset += (dueIn - maxIdle / 4) * options.speed;
          dueIn = maxIdle / 4;
          send({ type: 'clock', t: new Date(t - (maxIdle / 4) * options.speed).toISOString() });
        }
        if (dueIn > 0) {
          timer = setTimeout(step, Math.max(1, Math.min(dueIn, 1000)));
          timer.unref();
          return;
        }
        cursor = { createdAt: row.created_at, id: row.id };
        i++;
        if (!matches(options.filter, row.threat_level, row.camera_id, row.source)) continue;
        if (socket.bufferedAmount >= this.highWater) {
          skipped++;
          pendingSkip++;
          this.stats.timelapse_skipped++;
          continue;
        }
        if (pendingSkip) {
          send({ type: 'notice', code: 'SKIPPED', skipped: pendingSkip, message: 'the client could not keep up; skipped ahead' });
          pendingSkip = 0;
        }
        send({
          type: 'incident',
          t: row.created_at,
          incident_id: row.incident_id,
          seq: row.seq,
          level: row.threat_level,
          score: row.threat_score,
          camera_id: row.camera_id,
          zone: this.zoneOf(row.camera_id),
          weapon_detected: row.weapon_detected === 1,
          behavior_summary: row.behavior_summary,
          source: row.source,
        });
        sent++;
      }
    };
    step();
  }
}
