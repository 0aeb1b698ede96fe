// The outbox: one row per change that must reach the cloud, written in the SAME SQLite
// transaction as the change itself (Store.commitBatch for incidents; the labels, action
// and snapshot code for theirs). A crash therefore can never leave a stored incident
// without its outbox entry, nor an entry without its incident.
//
// Each row carries a bitmask of the consumers that still have to take it (the HTTP push,
// the MQTT bridge, or the pull API when no push transport is enabled). A consumer clears
// its own bit once the entry is delivered; an entry is "delivered" when the mask is 0 or
// the cloud has pulled and acknowledged it (seq <= the pull ack). Partial indexes on each
// push bit make "the next batch for transport X, most severe first" an index range scan,
// and cost nothing once the bit is cleared.
import type Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';

/** What an outbox entry announces. New kinds need no migration. */
export type OutboxKind = 'incident' | 'label' | 'action' | 'alert' | 'snapshot' | 'annotation';

/** Consumer bits of `outbox.pending_mask` / `poison_mask`. */
export const CONSUMER = { http: 1, mqtt: 2, pull: 4 } as const;
export type PushTransportName = 'http' | 'mqtt';
export const ALL_CONSUMERS = CONSUMER.http | CONSUMER.mqtt | CONSUMER.pull;

/** Drain order: CRITICAL first, LOW last. */
export const LEVEL_RANK: Record<ThreatLevel, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };
export const RANK_LEVEL: readonly ThreatLevel[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'];

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

/** The receiver-side dedupe key: site_id + incident_id + kind + version. */
export const idempotencyKey = (siteId: string, incidentId: string, kind: string, version: number): string =>
  `${siteId}:${incidentId}:${kind}:${version}`;

type Stmt = Database.Statement<unknown[], Record<string, unknown>>;

export class Outbox {
  /** Consumers every new entry waits for; set by the composition root before the store opens. */
  consumers = 0;
  private insertIncident: Stmt | null = null;
  private insertOther: Stmt | null = null;
  private readonly listeners = new Set<() => void>();
  private notifyScheduled = false;

  attach(db: Database.Database): void {
    this.insertIncident = db.prepare(
      `INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, created_ms)
       VALUES (?, 'incident', 1, ?, ?, ?, ?)`,
    );
    // Level and camera come from the incident itself, inside the caller's transaction.
    this.insertOther = db.prepare(
      `INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, payload, created_ms)
       SELECT i.incident_id, @kind,
              coalesce(@version, (SELECT coalesce(max(o.version), 0) + 1 FROM outbox o
                                  WHERE o.incident_id = i.incident_id AND o.kind = @kind)),
              CASE i.threat_level WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 WHEN 'MEDIUM' THEN 2 ELSE 3 END,
              coalesce(i.camera_id, ''), @mask, @payload, @now
       FROM incidents i WHERE i.incident_id = @incident_id
       RETURNING seq, version`,
    );
  }

  detach(): void {
    this.insertIncident = null;
    this.insertOther = null;
  }

  /** The hot path: called by Store.commitBatch for every stored incident. */
  enqueueIncident(incidentId: string, level: ThreatLevel, cameraId: string | null, nowMs: number): void {
    this.insertIncident!.run(incidentId, LEVEL_RANK[level], cameraId ?? '', this.consumers, nowMs);
    this.notify();
  }

  /**
   * Adds an entry for a change to an existing incident. Synchronous: call it inside the
   * same store transaction as the change (`db.transaction(() => { ...; store.enqueueOutbox(...) })`).
   * Throws if the incident does not exist, or if this incident/kind/version is already queued.
   */
  enqueue(kind: OutboxKind, incidentId: string, options: EnqueueOptions = {}): { seq: number; version: number } {
    if (!this.insertOther) throw new Error('store is not started');
    const row = this.insertOther.get({
      kind,
      incident_id: incidentId,
      version: options.version ?? null,
      mask: this.consumers,
      payload: options.payload === undefined ? null : JSON.stringify(options.payload),
      now: options.nowMs ?? Date.now(),
    }) as { seq: number; version: number } | undefined;
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
}
