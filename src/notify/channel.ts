// The channel contract: a channel takes a delivery and returns a receipt or a classified
// failure. Nothing else: the queue (retries, backoff, the ledger), the escalation and the
// acknowledgement are the service's. A new channel (the monitoring station's `arc`) is one more
// implementation of `Channel`, registered with the service.
import type { ThreatLevel } from '../config/schema.js';
import type { DeliveryRow } from '../store/notify.js';

/** What every channel tells, rendered from the incident once per delivery. */
export interface NotificationMessage {
  incident_id: string;
  site_id: string;
  level: ThreatLevel;
  score: number;
  camera_id: string | null;
  zone: string | null;
  /** When the camera saw it (the report's timestamp) and when the gateway received it. */
  time: string;
  received_at: string;
  behaviour: string | null;
  weapons: string[];
  /** The firearm floor holds (src/policy/policy.ts): the CRITICAL response, a hold-up for a station. */
  firearm: boolean;
  people_count: number | null;
  title: string;
  text: string;
  /** The snapshot thumbnail (an absolute path), when the incident has one. */
  thumbnail: string | null;
  /** The operator dashboard. */
  dashboard_url: string;
}

export interface Delivery {
  id: number;
  incident_id: string;
  channel: string;
  address: string;
  contact: { id: string; name: string };
  step: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** Stable across attempts and restarts: sent where the receiver takes one. */
  idempotency_key: string;
  message: NotificationMessage;
  /** A signed, single-use, expiring acknowledge token, and the link that uses it. */
  ack_token: string;
  ack_url: string;
}

export interface Receipt {
  /** One line for the ledger: what the receiver answered. */
  summary: string;
  data: Record<string, unknown>;
  /** The receiver's handle for an acknowledgement to come (a Pushover emergency receipt). */
  ack_ref?: string | null;
}

export type SendOutcome =
  | { ok: true; receipt: Receipt }
  /** transient: worth retrying (network, 5xx, 429, SMTP 4xx); otherwise failed at once. */
  | { ok: false; reason: string; transient: boolean; retry_after_ms?: number };

/** What acknowledgement sources (Pushover receipts, Telegram callbacks) call. */
export interface AckSink {
  byToken(token: string, via: string, by?: string): AckOutcome;
  byDelivery(deliveryId: number, by: string, via: string): AckOutcome;
  pollable(channel: string, limit: number): DeliveryRow[];
  clearAckRef(deliveryId: number): void;
}

export type AckOutcome =
  | { ok: true; incident_id: string; first: boolean; by: string; via: string; at: string; message: string }
  | { ok: false; code: 'malformed' | 'forged' | 'expired' | 'used' | 'unknown'; status: number; message: string; incident_id?: string };

export interface Channel {
  readonly kind: string;
  /** Null when this site can deliver through it; otherwise why not, in plain words. */
  unusable(): string | null;
  send(delivery: Delivery, signal: AbortSignal): Promise<SendOutcome>;
  /** Acknowledgement sources that poll the receiver. */
  start?(acks: AckSink): void;
  stop?(): Promise<void>;
  /** The incident was acknowledged: stop what still rings (cancel a Pushover emergency retry). */
  acknowledged?(deliveries: DeliveryRow[]): Promise<void>;
  health?(): Record<string, unknown>;
  /**
   * Policy action types this channel carries itself, as one delivery per incident (the
   * monitoring station); the escalation no longer carries them while the channel is usable. Its
   * deliveries have step STATION_STEP, or STATION_RESTORE_STEP for the restore after a resolve.
   */
  carries?(): readonly string[];
}

/** A channel failure from a thrown error: aborts and network errors are transient. */
export function networkFailure(err: unknown): SendOutcome {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return { ok: false, reason: 'no answer within notify.send_timeout_ms', transient: true };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return { ok: false, reason: `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`, transient: true };
}

/** An HTTP answer classified: 2xx ok; 408, 429 and 5xx transient (Retry-After honoured); other 4xx permanent. */
export function httpFailure(status: number, body: string, headers: Headers): SendOutcome & { ok: false } {
  const retryAfter = Number(headers.get('retry-after'));
  const transient = status === 408 || status === 429 || status >= 500;
  return {
    ok: false,
    reason: `HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ''}`,
    transient,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retry_after_ms: Math.min(retryAfter, 3600) * 1000 } : {}),
  };
}

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
