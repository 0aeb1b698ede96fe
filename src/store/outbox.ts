// The outbox: one row per change that must reach the cloud, written in the SAME SQLite
// transaction as the change itself (IncidentRepository.commitBatch for incidents; the
// label, snapshot and annotation repositories for theirs; triggers for action outcomes and
// alerts, see triggers.ts). A crash therefore can never leave a stored incident without
// its outbox entry, nor an entry without its incident.
//
// Each row carries a bitmask of the consumers that still have to take it (the HTTP push,
// the MQTT bridge, or the pull API when no push transport is enabled). A consumer clears
// its own bit once the entry is delivered; an entry is "delivered" when the mask is 0 or
// the cloud has pulled and acknowledged it (seq <= the pull ack). Partial indexes on each
// push bit make "the next batch for transport X, most severe first" an index range scan,
// and cost nothing once the bit is cleared. The sync side (src/sync/) reads and marks
// entries only through this repository.
import type { ThreatLevel } from '../config/schema.js';
import { levelRank, levelRankSql, rankLevel } from '../levels.js';
import { Repository, type Db } from './repository.js';
import type { SyncStateRepository } from './sync-state.js';

/** What an outbox entry announces. New kinds need no migration. */
export type OutboxKind = 'incident' | 'label' | 'action' | 'alert' | 'snapshot' | 'annotation';

/** Consumer bits of `outbox.pending_mask` / `poison_mask`. */
export const CONSUMER = { http: 1, mqtt: 2, pull: 4 } as const;
export type PushTransportName = 'http' | 'mqtt';
export const ALL_CONSUMERS = CONSUMER.http | CONSUMER.mqtt | CONSUMER.pull;
const CONSUMER_BITS = [CONSUMER.http, CONSUMER.mqtt, CONSUMER.pull] as const;

export interface OutboxEntry {
  seq: number;
  incident_id: string;
  kind: OutboxKind;
  version: number;
  rank: number;
  camera_id: string;
  pending_mask: number;
  poison_mask: number;
  payload: string | null;
  created_ms: number;
}

export interface EnqueueOptions {
  /** Defaults to one more than the highest version of this incident and kind. */
  version?: number;
  /** Kind-specific data, stored as JSON (a snapshot's `{path, bytes, sha256}`, a label's id...). */
  payload?: unknown;
  nowMs?: number;
}

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

function prepare(db: Db) {
  // The literal bit in each of these makes the query match the transport's partial index.
  const perBit = (bit: number) => ({
    next: db.prepare<[number], OutboxEntry>(`SELECT ${ENTRY_COLUMNS} FROM outbox WHERE pending_mask & ${bit} ORDER BY rank, seq LIMIT ?`),
    backlog: db.prepare<[], { rank: number; n: number; oldest: number }>(
      `SELECT rank, count(*) AS n, min(created_ms) AS oldest FROM outbox WHERE pending_mask & ${bit} GROUP BY rank`,
    ),
    release: db.prepare<[]>(`UPDATE outbox SET pending_mask = pending_mask & ~${bit} WHERE pending_mask & ${bit}`),
  });
  return {
    insertIncident: db.prepare<[string, number, string, number, number]>(
      `INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, created_ms)
       VALUES (?, 'incident', 1, ?, ?, ?, ?)`,
    ),
    // Level and camera come from the incident itself, inside the caller's transaction.
    insertOther: db.prepare<
      { kind: OutboxKind; incident_id: string; version: number | null; mask: number; payload: string | null; now: number },
      { seq: number; version: number }
    >(
      `INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, payload, created_ms)
       SELECT i.incident_id, @kind,
              coalesce(@version, (SELECT coalesce(max(o.version), 0) + 1 FROM outbox o
                                  WHERE o.incident_id = i.incident_id AND o.kind = @kind)),
              ${levelRankSql('i.threat_level')},
              coalesce(i.camera_id, ''), @mask, @payload, @now
       FROM incidents i WHERE i.incident_id = @incident_id
       RETURNING seq, version`,
    ),
    byBit: new Map(CONSUMER_BITS.map((bit) => [bit as number, perBit(bit)])),
    lastSeq: db.prepare<[], { s: number }>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0) AS s"),
    page: db.prepare<[number, number], OutboxEntry>(`SELECT ${ENTRY_COLUMNS} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`),
    // The pull with a source filter: the entries of incidents of these sources (one or two: threat_cv's).
    pageSource: db.prepare<[number, string, string, number], OutboxEntry>(`SELECT ${ENTRY_COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')}
      FROM outbox o JOIN incidents i ON i.incident_id = o.incident_id
      WHERE o.seq > ? AND i.source IN (?, ?) ORDER BY o.seq LIMIT ?`),
    delivered: db.prepare<[number, number]>('UPDATE outbox SET pending_mask = pending_mask & ~? WHERE seq = ?'),
    poison: db.prepare<{ bit: number; seq: number }>(
      'UPDATE outbox SET pending_mask = pending_mask & ~@bit, poison_mask = poison_mask | @bit WHERE seq = @seq',
    ),
    poisonRow: db.prepare<[string, number, number | null, string, string]>(
      `INSERT INTO outbox_poison (transport, seq, status, error, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (transport, seq) DO UPDATE SET status = excluded.status, error = excluded.error, at = excluded.at`,
    ),
    poisonedList: db.prepare<[string, number], Omit<PoisonedEntry, 'threat_level'> & { rank: number }>(
      `SELECT o.seq, o.incident_id, o.kind, o.version, o.rank, p.status, p.error, p.at
       FROM outbox_poison p JOIN outbox o ON o.seq = p.seq WHERE p.transport = ? ORDER BY p.seq LIMIT ?`,
    ),
    poisonedCount: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM outbox_poison WHERE transport = ?'),
    unpoison: db.prepare<{ bit: number; name: string }>(
      `UPDATE outbox SET pending_mask = pending_mask | @bit, poison_mask = poison_mask & ~@bit
       WHERE seq IN (SELECT seq FROM outbox_poison WHERE transport = @name)`,
    ),
    unpoisonRows: db.prepare<[string]>('DELETE FROM outbox_poison WHERE transport = ?'),
    ackPull: db.prepare<[number, number]>(
      'UPDATE outbox SET pending_mask = pending_mask & ~4 WHERE seq > ? AND seq <= ? AND pending_mask & 4',
    ),
    pullBacklog: db.prepare<[number], { n: number; oldest: number | null }>(
      'SELECT count(*) AS n, min(created_ms) AS oldest FROM outbox WHERE seq > ?',
    ),
    snapshotsOf: db.prepare<[string], { version: number; payload: string | null }>(
      "SELECT version, payload FROM outbox WHERE incident_id = ? AND kind = 'snapshot' ORDER BY version",
    ),
  };
}

export class OutboxRepository extends Repository<ReturnType<typeof prepare>> {
  /** Consumers every new entry waits for; set by the sync component before the store opens. */
  consumers = 0;
  private readonly listeners = new Set<() => void>();
  private notifyScheduled = false;

  constructor(private readonly state: SyncStateRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  private bit(bit: number) {
    const s = this.st.byBit.get(bit);
    if (!s) throw new RangeError(`${bit} is not a consumer bit`);
    return s;
  }

  // --- writing, inside the caller's transaction ------------------------------------------

  /** The hot path: called by IncidentRepository.commitBatch for every stored incident. */
  enqueueIncident(incidentId: string, level: ThreatLevel, cameraId: string | null, nowMs: number): void {
    this.st.insertIncident.run(incidentId, levelRank(level), cameraId ?? '', this.consumers, nowMs);
    this.notify();
  }

  /**
   * Adds an entry for a change to an existing incident. Synchronous: call it inside the
   * same store transaction as the change (`store.transaction(() => { ...; store.outbox.enqueue(...) })`).
   * Throws if the incident does not exist, or if this incident/kind/version is already queued.
   */
  enqueue(kind: OutboxKind, incidentId: string, options: EnqueueOptions = {}): { seq: number; version: number } {
    const row = this.st.insertOther.get({
      kind,
      incident_id: incidentId,
      version: options.version ?? null,
      mask: this.consumers,
      payload: options.payload === undefined ? null : JSON.stringify(options.payload),
      now: options.nowMs ?? Date.now(),
    });
    if (!row) throw new Error(`cannot queue a ${kind} change for unknown incident "${incidentId}"`);
    this.notify();
    return row;
  }

  /** Called (once per event-loop turn) after entries were added; used to wake the drainers. */
  onEnqueue(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    if (this.notifyScheduled || this.listeners.size === 0) return;
    this.notifyScheduled = true;
    // After the caller's (synchronous) transaction has committed.
    setImmediate(() => {
      this.notifyScheduled = false;
      for (const l of this.listeners) l();
    });
  }

  // --- push side -------------------------------------------------------------------------

  /** The next entries a transport has to send: most severe level first, then oldest first. */
  nextBatch(bit: number, limit: number): OutboxEntry[] {
    return this.bit(bit).next.all(limit);
  }

  /** Whether anything waits for this consumer: one index probe, cheap enough for /health. */
  hasPending(bit: number): boolean {
    return this.nextBatch(bit, 1).length > 0;
  }

  /** Marks entries delivered to one transport, in one transaction. */
  markDelivered(bit: number, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.tx(() => {
      for (const seq of seqs) this.st.delivered.run(bit, seq);
    });
  }

  /** A permanent refusal: the entry is kept and listed, and this transport stops sending it. */
  markPoisoned(bit: number, transport: string, seq: number, status: number | null, error: string): void {
    this.tx(() => {
      this.st.poison.run({ bit, seq });
      this.st.poisonRow.run(transport, seq, status, error.slice(0, 1000), new Date().toISOString());
    });
  }

  poisoned(transport: string, limit = 100): PoisonedEntry[] {
    return this.st.poisonedList.all(transport, limit).map(({ rank, ...rest }) => ({ ...rest, threat_level: rankLevel(rank) }));
  }

  poisonedCount(transport: string): number {
    return this.st.poisonedCount.get(transport)!.n;
  }

  /** Puts a transport's poisoned entries back in its queue (after the upstream was fixed). */
  retryPoisoned(bit: number, transport: string): number {
    return this.tx(() => {
      const n = this.st.unpoison.run({ bit, name: transport }).changes;
      this.st.unpoisonRows.run(transport);
      return n;
    });
  }

  /** Entries waiting for one consumer, per level, with the oldest one's age. Uses the partial index. */
  backlog(bit: number): Backlog {
    const per_level: Record<ThreatLevel, number> = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0 };
    let total = 0;
    let oldest: number | null = null;
    for (const r of this.bit(bit).backlog.all()) {
      per_level[rankLevel(r.rank)] = r.n;
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
    const previous = this.state.get('consumers', ALL_CONSUMERS);
    const dropped = previous & ~mask & ALL_CONSUMERS;
    return this.tx(() => {
      let cleared = 0;
      for (const bit of CONSUMER_BITS) if (dropped & bit) cleared += this.bit(bit).release.run().changes;
      this.state.set('consumers', mask);
      return cleared;
    });
  }

  // --- pull side -------------------------------------------------------------------------

  lastSeq(): number {
    return this.st.lastSeq.get()!.s;
  }

  page(after: number, limit: number, sources?: readonly string[]): OutboxEntry[] {
    if (sources?.length) return this.st.pageSource.all(after, sources[0]!, sources[1] ?? sources[0]!, limit);
    return this.st.page.all(after, limit);
  }

  /** Marks everything up to `upto` pulled; returns the new ack position. */
  ackPull(upto: number): { acked: number; changed: boolean } {
    const acked = this.state.get('pull.acked', 0);
    if (upto <= acked) return { acked, changed: false };
    this.tx(() => {
      this.st.ackPull.run(acked, upto);
      this.state.set('pull.acked', upto);
    });
    return { acked: upto, changed: true };
  }

  pullBacklog(): { total: number; oldest_ms: number | null } {
    const r = this.st.pullBacklog.get(this.state.get('pull.acked', 0))!;
    return { total: r.n, oldest_ms: r.oldest };
  }

  snapshotsOf(incidentId: string): { version: number; payload: Record<string, unknown> }[] {
    return this.st.snapshotsOf.all(incidentId).map((r) => ({
      version: r.version,
      payload: r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : {},
    }));
  }
}
