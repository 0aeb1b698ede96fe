// The typed messages between the gateway and its Node-RED thread (nodered.isolation: worker).
// The in-process bridge (types.ts, AutomationBridge) becomes this channel: nodes register
// and unregister, actions and incidents go to them, their results, publishes, notify
// requests, station events and arming changes come back and are answered. A worker port is FIFO and loses
// nothing while both ends live; when the thread dies, its nodes' in-flight actions go back
// to pending (tracker.ts) and are dispatched again to the nodes of the restarted thread.
import type { GatewayConfig } from '../config/schema.js';
import type { TlsCredentials } from '../security/tls.js';
import type { ActionFilter, ActionMessage } from './types.js';

/** What the thread is started with (structured-cloned: no functions). */
export interface FlowWorkerData {
  nodered: GatewayConfig['nodered'];
  limits: GatewayConfig['limits'];
  memory: GatewayConfig['memory'];
  dataDir: string;
  logLevel: string;
  broker: { host: string; port: number };
  /** The editor over HTTPS (tls.nodered), and the bridge's optional parts. */
  tls: TlsCredentials | null;
  hasNotify: boolean;
  arming: { mode: string } | null;
  /** The monitoring station's description (src/arc/), when arc is on; its sends are calls. */
  arc: Record<string, unknown> | null;
}

export type CallMethod = 'publish' | 'reportResult' | 'notify' | 'arming.set' | 'arc.send';

export type ToFlows =
  | { t: 'deliver'; token: number; message: ActionMessage }
  | { t: 'incident'; token: number; incident: Record<string, unknown> }
  | { t: 'reply'; seq: number; ok: true; value: unknown }
  | { t: 'reply'; seq: number; ok: false; error: string }
  | { t: 'arming'; mode: string; change: Record<string, unknown> }
  | { t: 'tls'; which: 'host' | 'lan_host'; credentials: TlsCredentials }
  | { t: 'ping'; seq: number }
  | { t: 'stop' };

export type FromFlows =
  | { t: 'action-node'; token: number; id: string; filter: ActionFilter }
  | { t: 'incident-node'; token: number; id: string }
  | { t: 'node-gone'; token: number }
  | { t: 'call'; seq: number; method: CallMethod; args: unknown[] }
  | { t: 'flows'; running: boolean }
  | { t: 'started'; port: number; lanPort: number }
  | { t: 'start-failed'; error: string }
  | { t: 'stopped' }
  | { t: 'pong'; seq: number }
  /** One JSON log line of the thread's logger, logged again by the gateway's (its destination, its bindings). */
  | { t: 'log'; line: string };
