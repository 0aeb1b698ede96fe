// The contract between the drain loop (src/sync/drainer.ts) and a push transport.
import type { IncidentDocument } from './document.js';
import type { OutboxEntry } from '../store/outbox.js';

export type SendOutcome =
  /** The upstream has it (HTTP 2xx or 409, MQTT PUBACK). */
  | { kind: 'delivered' }
  /** The upstream refused this entry for good (HTTP 4xx other than 408/429): keep it, list it, stop sending it. */
  | { kind: 'poisoned'; status: number | null; error: string }
  /** Try again later (5xx, 408, 429, network error, timeout, broker away). */
  | { kind: 'retry'; error: string; retryAfterMs?: number | null }
  /** Not attempted in this round (an earlier entry of its lane failed, or the transport is stopping). */
  | { kind: 'skipped' };

export interface PreparedEntry {
  entry: OutboxEntry;
  /** Null when the incident is gone (evicted between the batch query and now). */
  doc: IncidentDocument | null;
}

export interface PushTransport {
  readonly name: 'http' | 'mqtt';
  /** Consumer bit in outbox.pending_mask. */
  readonly bit: number;
  readonly connected: boolean;
  start(): Promise<void>;
  /** Stops; sends in flight get `graceMs` to finish, then are abandoned (their entries stay queued). */
  stop(graceMs: number): Promise<void>;
  /** Resolves when the transport can send (MQTT: connected), or when the signal aborts. */
  ready(signal: AbortSignal): Promise<void>;
  /**
   * Sends a batch ordered by (rank, seq). Must never let an entry overtake an earlier entry of
   * the same lane (level + camera): after a lane's first non-delivered outcome, the rest of that
   * lane is 'skipped'. Returns one outcome per entry, in input order.
   */
  sendBatch(batch: PreparedEntry[], signal: AbortSignal): Promise<SendOutcome[]>;
}

/** Entries of one level from one camera: the unit whose order is kept. */
export const laneOf = (e: OutboxEntry): string => `${e.rank}\u0000${e.camera_id}`;
