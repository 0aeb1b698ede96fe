// What an action's state says happened at the far end. Shared by the act stage (Node-RED flows,
// src/automation/) and the delivery stage (contacts and escalation, src/notify/), so both keep
// one vocabulary; migration 11 moved the stored rows onto it (README "Who gets told").
export const ACTION_STATES = [
  /** Planned, not carried out yet. */
  'pending',
  /** Handed to a flow, or queued for / being sent to a receiver. */
  'dispatched',
  /** The receiver took it (SMTP 250, a push service's 2xx and message id, a webhook's 2xx, a siren's state echo); `result` is the receipt. */
  'delivered',
  /** A person acted on it: `result` says who, through which channel, when. */
  'acknowledged',
  /** Sent with nothing to confirm that anything received it (a publish to a topic, a siren without feedback). */
  'sent_unconfirmed',
  /** Refused or could not be sent; `result` is the reason. */
  'failed',
  /** No result within the action's time. */
  'timed_out',
  /** This site has nothing configured that can carry this action type. */
  'undeliverable',
  /** Not sent: the incident was acknowledged before this delivery went out. */
  'cancelled',
] as const;

export type ActionState = (typeof ACTION_STATES)[number];

/** States the lifecycle does not leave by itself (delivered and sent_unconfirmed may still become acknowledged). */
export const FINAL_STATES: ReadonlySet<ActionState> = new Set(['delivered', 'acknowledged', 'sent_unconfirmed', 'failed', 'timed_out', 'undeliverable', 'cancelled']);

/** States in which something is known to have reached its receiver. */
export const REACHED_STATES: ReadonlySet<ActionState> = new Set(['delivered', 'acknowledged']);
