// Everything the sync side reads and writes in the outbox: the next batch for a push
// transport, delivery and poison marks, the pull cursor and ack, and backlog figures.
// The entries themselves are written by Outbox (src/sync/outbox.ts) in the store's own
// transactions; this class never runs on the ingest hot path.
import type Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';
import { ALL_CONSUMERS, CONSUMER, RANK_LEVEL, type OutboxEntry } from './outbox.js';

type Stmt = Database.Statement<unknown[], Record<string, unknown>>;

export interface Backlog {
  total: number;
  per_level: Record<ThreatLevel, number>;
  /** Receipt time (ms) of the oldest entry still waiting, or null. */
  oldest_ms: number | null;
}

export interface PoisonedEntry {
  seq: number;
  incident_id: string;
  kind: string;
  version: number;
  threat_level: ThreatLevel;
  status: number | null;
  error: string;
  at: string;
}

const ENTRY_COLUMNS = 'seq, incident_id, kind, version, rank, camera_id, pending_mask, poison_mask, payload, created_ms';

export class OutboxQueue {
  private readonly stmts: Record<string, Stmt>;
  private readonly nextFor = new Map<number, Stmt>();

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare<unknown[], Record<string, unknown>>(sql);
    this.stmts = {
      stateGet: p('SELECT value FROM sync_state WHERE key = ?'),
      stateSet: p('INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      stateAdd: p('INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value'),
      stateAll: p('SELECT key, value FROM sync_state'),
      lastSeq: p("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0) AS s"),
      page: p(`SELECT ${ENTRY_COLUMNS} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`),
      delivered: p('UPDATE outbox SET pending_mask = pending_mask & ~? WHERE seq = ?'),
      poison: p('UPDATE outbox SET pending_mask = pending_mask & ~@bit, poison_mask = poison_mask | @bit WHERE seq = @seq'),
      poisonRow: p(`INSERT INTO outbox_poison (transport, seq, status, error, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (transport, seq) DO UPDATE SET status = excluded.status, error = excluded.error, at = excluded.at`),
      poisonedList: p(`SELECT o.seq, o.incident_id, o.kind, o.version, o.rank, p.status, p.error, p.at
        FROM outbox_poison p JOIN outbox o ON o.seq = p.seq WHERE p.transport = ? ORDER BY p.seq LIMIT ?`),
      poisonedCount: p('SELECT count(*) AS n FROM outbox_poison WHERE transport = ?'),
      unpoison: p(`UPDATE outbox SET pending_mask = pending_mask | @bit, poison_mask = poison_mask & ~@bit
        WHERE seq IN (SELECT seq FROM outbox_poison WHERE transport = @name)`),
      unpoisonRows: p('DELETE FROM outbox_poison WHERE transport = ?'),
      ackPull: p('UPDATE outbox SET pending_mask = pending_mask & ~4 WHERE seq > ? AND seq <= ? AND pending_mask & 4'),
      pullBacklog: p('SELECT count(*) AS n, min(created_ms) AS oldest FROM outbox WHERE seq > ?'),
      snapshotsOf: p("SELECT version, payload FROM outbox WHERE incident_id = ? AND kind = 'snapshot' ORDER BY version"),
    };
  }

  // --- push side -------------------------------------------------------------------------

  /** The next entries a transport has to send: most severe level first, then oldest first. */
  nextBatch(bit: number, limit: number): OutboxEntry[] {
    let stmt = this.nextFor.get(bit);
    if (!stmt) {
      // The literal bit makes the query match the transport's partial index.
      stmt = this.db.prepare(`SELECT ${ENTRY_COLUMNS} FROM outbox WHERE pending_mask & ${bit} ORDER BY rank, seq LIMIT ?`);
      this.nextFor.set(bit, stmt);
    }
    return stmt.all(limit) as unknown as OutboxEntry[];
  }

  /** Whether anything waits for this consumer: one index probe, cheap enough for /health. */
  hasPending(bit: number): boolean {
    return this.nextBatch(bit, 1).length > 0;
  }

  /** Marks entries delivered to one transport, in one transaction. */
  markDelivered(bit: number, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.db.transaction(() => {
      for (const seq of seqs) this.stmts.delivered!.run(bit, seq);
    })();
  }

  /** A permanent refusal: the entry is kept and listed, and this transport stops sending it. */
  markPoisoned(bit: number, transport: string, seq: number, status: number | null, error: string): void {
    this.db.transaction(() => {
      this.stmts.poison!.run({ bit, seq });
      this.stmts.poisonRow!.run(transport, seq, status, error.slice(0, 1000), new Date().toISOString());
    })();
  }

  poisoned(transport: string, limit = 100): PoisonedEntry[] {
    return (this.stmts.poisonedList!.all(transport, limit) as (Omit<PoisonedEntry, 'threat_level'> & { rank: number })[]).map(
      ({ rank, ...rest }) => ({ ...rest, threat_level: RANK_LEVEL[rank]! }),
    );
  }

  poisonedCount(transport: string): number {
    return (this.stmts.poisonedCount!.get(transport) as { n: number }).n;
  }

  /** Puts a transport's poisoned entries back in its queue (after the upstream was fixed). */
  retryPoisoned(bit: number, transport: string): number {
    return this.db.transaction(() => {
      const n = this.stmts.unpoison!.run({ bit, name: transport }).changes;
      this.stmts.unpoisonRows!.run(transport);
      return n;
    })();
  }

  /** Entries waiting for one consumer, per level, with the oldest one's age. Uses the partial index. */
  backlog(bit: number): Backlog {
    const rows = this.db
      .prepare(`SELECT rank, count(*) AS n, min(created_ms) AS oldest FROM outbox WHERE pending_mask & ${bit} GROUP BY rank`)
      .all() as { rank: number; n: number; oldest: number }[];
    const per_level: Record<ThreatLevel, number> = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0 };
    let total = 0;
    let oldest: number | null = null;
    for (const r of rows) {
      per_level[RANK_LEVEL[r.rank]!] = r.n;
      total += r.n;
      if (oldest === null || r.oldest < oldest) oldest = r.oldest;
    }
    return { total, per_level, oldest_ms: oldest };
  }

  /**
   * Consumers that are no longer enabled will never take their entries: clear their bits so
   * the entries can be counted as delivered. Only runs when the set of consumers changed.
   */
  setConsumers(mask: number): number {
    const previous = this.state('consumers', ALL_CONSUMERS);
    const dropped = previous & ~mask & ALL_CONSUMERS;
    let cleared = 0;
    this.db.transaction(() => {
      for (const bit of [CONSUMER.http, CONSUMER.mqtt, CONSUMER.pull]) {
        if (dropped & bit) {
          cleared += this.db.prepare(`UPDATE outbox SET pending_mask = pending_mask & ~${bit} WHERE pending_mask & ${bit}`).run().changes;
        }
      }
      this.setState('consumers', mask);
    })();
    return cleared;
  }

  // --- pull side -------------------------------------------------------------------------

  lastSeq(): number {
    return (this.stmts.lastSeq!.get() as { s: number }).s;
  }

  page(after: number, limit: number): OutboxEntry[] {
    return this.stmts.page!.all(after, limit) as unknown as OutboxEntry[];
  }

  /** Marks everything up to `upto` pulled; returns the new ack position. */
  ackPull(upto: number): { acked: number; changed: boolean } {
    const acked = this.state('pull.acked', 0);
    if (upto <= acked) return { acked, changed: false };
    this.db.transaction(() => {
      this.stmts.ackPull!.run(acked, upto);
      this.setState('pull.acked', upto);
    })();
    return { acked: upto, changed: true };
  }

  pullBacklog(): { total: number; oldest_ms: number | null } {
    const r = this.stmts.pullBacklog!.get(this.state('pull.acked', 0)) as { n: number; oldest: number | null };
    return { total: r.n, oldest_ms: r.oldest };
  }

  snapshotsOf(incidentId: string): { version: number; payload: Record<string, unknown> }[] {
    return (this.stmts.snapshotsOf!.all(incidentId) as { version: number; payload: string | null }[]).map((r) => ({
      version: r.version,
      payload: r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : {},
    }));
  }

  // --- persistent counters and positions -------------------------------------------------

  state(key: string, fallback: number): number {
    const row = this.stmts.stateGet!.get(key) as { value: number } | undefined;
    return row ? row.value : fallback;
  }

  setState(key: string, value: number): void {
    this.stmts.stateSet!.run(key, value);
  }

  addState(key: string, delta: number): void {
    if (delta !== 0) this.stmts.stateAdd!.run(key, delta);
  }

  allState(): Record<string, number> {
    return Object.fromEntries((this.stmts.stateAll!.all() as { key: string; value: number }[]).map((r) => [r.key, r.value]));
  }
}
