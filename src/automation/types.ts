// The typed interface between the gateway and the SafeSphere Node-RED nodes. The nodes
// (nodes/safesphere/*.js) reach it through RED.settings.safesphere: the bridge itself
// in-process, or its proxy over the channel to the gateway's thread (flow-channel.ts).
import type { ActionState } from '../action-states.js';
import type { ThreatLevel } from '../config/schema.js';
import type { IncidentView } from '../store/types.js';

export { FINAL_STATES, type ActionState } from '../action-states.js';

export interface ActionFilter {
  /** Action types this node handles; empty: every type. */
  types: string[];
  levels: ThreatLevel[];
  cameras: string[];
  zones: string[];
}

export interface DeviceRef {
  id: string;
}

export interface SirenRef extends DeviceRef {
  duration_s: number;
  /** Where the siren echoes its state (devices.sirens[].feedback), or null: no feedback, its actions end sent_unconfirmed. */
  feedback: string | null;
}

export interface RecorderRef extends DeviceRef {
  frigate_url: string | null;
  label: string;
  duration_s: number;
}

/** What a `safesphere action` node emits as msg.payload. */
export interface ActionMessage {
  action: { id: number; type: string; description: string | null; attempt: number };
  incident: IncidentView;
  level: ThreatLevel;
  camera_id: string | null;
  zones: string[];
  devices: { sirens: SirenRef[]; recorders: RecorderRef[] };
  webhook_url: string | null;
  /**
   * safe_route actions only, when site operations is on: the safe route out of the incident's
   * zone ({ok, path, exit, distance_m, avoided_zones, police_station}), {ok: false, reason} when
   * every exit is cut off, or null without a site map or zone. See src/operations/routing.ts.
   */
  route?: unknown;
}

export interface AlertInput {
  alert_type: string;
  recipient?: string | null;
  message?: string | null;
  status?: string | null;
}

/**
 * What a flow reports. `delivered` needs a `receipt` (what the receiver answered); without one it
 * is recorded as `sent_unconfirmed`. `succeeded`, from flows written before the honest states,
 * is recorded as `sent_unconfirmed` too: a flow's word is not a receipt.
 */
export interface ResultInput {
  action_id: number;
  outcome: 'delivered' | 'sent_unconfirmed' | 'failed' | 'succeeded';
  detail?: string | null;
  receipt?: unknown;
  alerts?: AlertInput[];
}

export type ResultAck = { accepted: true; state: ActionState } | { accepted: false; reason: string };

export interface ActionNodeHandle {
  id: string;
  filter: ActionFilter;
  deliver(message: ActionMessage): void;
}

export interface IncidentNodeHandle {
  id: string;
  deliver(incident: Record<string, unknown>): void;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
}

/** The arming mode, for the safesphere arming node (src/arming/); absent when arming is not built. */
export interface ArmingControl {
  mode(): string;
  /** Sets the mode (audited with `by`, via node-red); rejects with a coded error for an unknown mode. */
  set(mode: unknown, by: string): Promise<{ changed: boolean; mode: string; change: Record<string, unknown> | null }>;
  /** Every audited change; returns the unsubscribe. */
  onChange(listener: (change: Record<string, unknown>) => void): () => void;
}

/** What a `safesphere notify` node asks for: contacts from config, or one address on one channel. */
export interface NotifyRequest {
  incident_id: string;
  contacts?: string[];
  channel?: { kind: string; address: string; name?: string } | null;
  /** Makes a repeated message one delivery (the node id and msg id). */
  key: string;
}

/** The gateway side of the SafeSphere nodes. */
export interface AutomationBridge {
  /**
   * Hands a message to the durable delivery queue (contacts and escalation, src/notify/); each
   * delivery is an action of the incident with its receipt. Absent when that stage is off.
   */
  notify?(request: NotifyRequest): { queued: number; undeliverable: number } | Promise<{ queued: number; undeliverable: number }>;
  /** Sends an installer's own event to the monitoring station (src/arc/); absent when arc is off. */
  arc?: {
    send(event: Record<string, unknown>): Promise<Record<string, unknown>>;
    describe(): Record<string, unknown>;
  };
  registerActionNode(handle: ActionNodeHandle): () => void;
  registerIncidentNode(handle: IncidentNodeHandle): () => void;
  /** Synchronous in-process; a promise across the Node-RED thread's channel (nodered.isolation: worker). */
  reportResult(result: ResultInput): ResultAck | Promise<ResultAck>;
  /**
   * Publishes on the embedded broker in-process: no socket, no connection to lose, so a
   * command published during a redeploy or before a client connects is never dropped.
   */
  publish(topic: string, payload: Buffer | string, options?: PublishOptions): Promise<void>;
  arming?: ArmingControl;
}

/** What the automation stage needs from the embedded broker. */
export interface BrokerAccess {
  host: string;
  port(): number;
  publish(topic: string, payload: Buffer, options: Required<PublishOptions>): Promise<void>;
  /** Every publish the broker routes (sirens' state echoes); returns the unsubscribe. */
  observe?(listener: (topic: string, payload: Buffer) => void): () => void;
}
