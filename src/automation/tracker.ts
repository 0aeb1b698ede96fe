// The action lifecycle: pending → dispatched → delivered | sent_unconfirmed | failed | timed_out
// (src/action-states.ts). A flow's word is not a receipt: `delivered` needs what the receiver
// answered, and a siren action is delivered only when every siren with feedback configured
// echoes ON on its state topic (siren-feedback.ts); without feedback it is sent_unconfirmed.
//
// Planned actions are handed to every registered `safesphere action` node whose filter
// matches. A node that goes away (a redeploy) before a result arrives gives its actions
// back, and they go to the node that replaces it: nothing in flight is lost. HIGH and
// CRITICAL actions with no result in time are dispatched again with backoff, then
// timed_out; lower levels time out after one window.
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import type { OpenAction } from '../store/actions.js';
import { incidentView, type PlannedAction, type StoredIncident } from '../store/types.js';
import type { ActionStore } from './action-store.js';
import type { DeviceMap } from './devices.js';
import { byLevel } from '../levels.js';
import { incidentResponseLevel } from '../policy/policy.js';
import { BUILTIN_VOCABULARY, type WeaponVocabulary } from '../scoring/vocabulary.js';
import { DispatchQueue } from './dispatch-queue.js';
import {
  FINAL_STATES,
  type ActionMessage,
  type ActionNodeHandle,
  type ActionState,
  type AutomationBridge,
  type IncidentNodeHandle,
  type ResultAck,
  type ResultInput,
} from './types.js';

const RETRIED_LEVELS: ReadonlySet<ThreatLevel> = new Set(['HIGH', 'CRITICAL']);

interface Tracked {
  id: number;
  /** Sirens of this action that echo their state, still to echo ON; and the echoes seen. */
  awaitEcho: Set<string>;
  echoes: string[];
  /** The flow reported the action sent, and it waits for the echoes. */
  sentByFlow: string | null;
  type: string;
  description: string | null;
  incident: ActionMessage['incident'];
  zones: string[];
  receivedAtMs: number;
  state: ActionState;
  attempts: number;
  /** Timeout windows used so far. */
  rounds: number;
  /** Nodes this attempt went to; a node leaving before the result hands the action back. */
  deliveredTo: Set<string>;
  timer: NodeJS.Timeout | null;
  /** Waiting in the dispatch queue (so it is queued once). */
  queued: boolean;
}

export interface TrackerStats {
  open: number;
  delivered: number;
  sent_unconfirmed: number;
  failed: number;
  timed_out: number;
  redispatched: number;
  last_timeout_at: number | null;
}

export type RouteProvider = (zones: readonly string[], incident: ActionMessage['incident']) => unknown;

export class ActionTracker implements Omit<AutomationBridge, 'publish'> {
  private readonly actionNodes = new Map<string, ActionNodeHandle>();
  private readonly incidentNodes = new Map<string, IncidentNodeHandle>();
  private readonly tracked = new Map<number, Tracked>();
  private closed = false;
  /**
   * False while Node-RED starts or (re)deploys flows. A node registers in its constructor,
   * before the nodes it is wired to exist, so nothing is handed to it until its flow runs.
   */
  private flowsRunning = false;
  readonly stats: TrackerStats = { open: 0, delivered: 0, sent_unconfirmed: 0, failed: 0, timed_out: 0, redispatched: 0, last_timeout_at: null };
  /** CRITICAL first into the flows (dispatch-queue.ts). */
  private readonly queue = new DispatchQueue<Tracked>((t) => {
    t.queued = false;
    if (this.closed || this.tracked.get(t.id) !== t || FINAL_STATES.has(t.state)) return;
    try {
      this.dispatch(t);
    } catch (err) {
      this.log.error({ err, action_id: t.id }, 'dispatching an action failed');
    }
  });
  constructor(
    private readonly config: GatewayConfig['automation'],
    private readonly devices: DeviceMap,
    private readonly actions: ActionStore,
    private readonly bus: EventBus,
    private readonly log: Logger,
    /** Site operations' safe-route guidance: a safe_route action's message carries its result. */
    private readonly routeProvider: RouteProvider | null = null,
    /** Action types another stage carries out (contacts and escalation, src/notify/): never dispatched to flows. */
    private readonly ownedElsewhere: (type: string) => boolean = () => false,
    /** The firearm floor's vocabulary: a firearm's actions go with the CRITICAL ones (src/policy/policy.ts). */
    private readonly vocabulary: WeaponVocabulary = BUILTIN_VOCABULARY,
  ) {}

  private priority(t: Tracked): ThreatLevel {
    return incidentResponseLevel(t.incident, this.vocabulary);
  }

  // ---- the bridge the SafeSphere nodes use ------------------------------------------

  registerActionNode(handle: ActionNodeHandle): () => void {
    this.actionNodes.set(handle.id, handle);
    // Actions that waited for a handler go out once its flow runs (setFlowsRunning).
    if (this.flowsRunning) this.dispatchPending();
    return () => {
      // A redeployed node's replacement has the same id: only remove this very handle.
      if (this.actionNodes.get(handle.id) === handle) this.unregisterActionNode(handle.id);
    };
  }

  /** Node-RED tells us when flows stop for a deploy and when they run again. */
  setFlowsRunning(running: boolean): void {
    this.flowsRunning = running;
    if (running) this.dispatchPending();
  }

  private dispatchPending(): void {
    const pending = [...this.tracked.values()].filter((t) => t.state === 'pending');
    pending.sort((a, b) => byLevel(this.priority(a), this.priority(b)));
    for (const t of pending) this.enqueue(t);
  }

  private enqueue(t: Tracked): void {
    // While flows deploy, actions wait as pending; setFlowsRunning hands them over, CRITICAL first.
    if (t.queued || !this.flowsRunning) return;
    t.queued = true;
    this.queue.push(this.priority(t), t);
  }

  /** Actions waiting in the dispatch queue. */
  get queuedForDispatch(): number {
    return this.queue.queued;
  }

  registerIncidentNode(handle: IncidentNodeHandle): () => void {
    this.incidentNodes.set(handle.id, handle);
    return () => this.incidentNodes.delete(handle.id);
  }

  reportResult(result: ResultInput): ResultAck {
    const t = this.tracked.get(result.action_id);
    if (!t) return { accepted: false, reason: `action ${result.action_id} is not open (unknown, or already final)` };
    if (FINAL_STATES.has(t.state)) return { accepted: false, reason: `action ${t.id} is already ${t.state}` };
    for (const alert of result.alerts ?? []) this.actions.addAlert(t.incident.incident_id, alert);
    const detail = result.detail ?? null;
    if (result.outcome === 'failed') {
      this.finish(t, 'failed', detail);
      return { accepted: true, state: t.state };
    }
    if (t.awaitEcho.size > 0) {
      // Sent; the sirens' own state topics will say whether they sounded.
      t.sentByFlow = detail ?? 'sent';
      return { accepted: true, state: t.state };
    }
    if (t.echoes.length > 0) {
      this.finish(t, 'delivered', `${t.echoes.join('; ')}${detail ? ` (${detail})` : ''}`);
      return { accepted: true, state: t.state };
    }
    const receipt = result.receipt === undefined || result.receipt === null || result.receipt === '' ? null : typeof result.receipt === 'string' ? result.receipt : JSON.stringify(result.receipt);
    if (result.outcome === 'delivered' && receipt !== null) this.finish(t, 'delivered', detail ? `${detail}; receipt ${receipt}` : `receipt ${receipt}`);
    else this.finish(t, 'sent_unconfirmed', result.outcome === 'delivered' ? `${detail ?? 'delivered'} (the flow gave no receipt)` : detail);
    return { accepted: true, state: t.state };
  }

  /** A siren echoed ON on its state topic (siren-feedback.ts): the actions waiting for it are delivered once every siren echoed. */
  sirenEcho(sirenId: string, topic: string): void {
    const at = new Date().toISOString();
    for (const t of [...this.tracked.values()]) {
      if (t.state !== 'dispatched' || !t.awaitEcho.delete(sirenId)) continue;
      t.echoes.push(`${sirenId} echoed ON on ${topic} at ${at}`);
      if (t.awaitEcho.size === 0) this.finish(t, 'delivered', `${t.echoes.join('; ')}${t.sentByFlow ? ` (${t.sentByFlow})` : ''}`);
    }
  }

  // ---- the gateway side ----------------------------------------------------------------

  /** Sets what a `safe_route` action's message carries as `route` (computed at each dispatch). */
  /** Action types no deployed node would receive. */
  uncoveredTypes(types: readonly string[]): string[] {
    const handles = [...this.actionNodes.values()];
    return types.filter((type) => !handles.some((h) => h.filter.types.length === 0 || h.filter.types.includes(type)));
  }

  get registeredActionNodes(): number {
    return this.actionNodes.size;
  }

  incidentStored(incident: StoredIncident, actions: PlannedAction[]): void {
    const payload = { ...incident, actions };
    for (const node of this.incidentNodes.values()) {
      try {
        node.deliver(payload);
      } catch (err) {
        this.log.warn({ err, node: node.id }, 'incident node failed');
      }
    }
  }

  actionPlanned(incident: StoredIncident, action: PlannedAction): void {
    if (this.closed || this.ownedElsewhere(action.action_type)) return;
    this.track(action.id, action.action_type, action.description, incidentView(incident), Date.parse(incident.created_at), 0);
  }

  /** Picks up what a previous run left unfinished. */
  resume(rows: OpenAction[]): { resumed: number; expired: number } {
    const cutoff = Date.now() - this.config.redispatch_max_age_s * 1000;
    let resumed = 0;
    let expired = 0;
    for (const row of rows) {
      if (this.tracked.has(row.id) || this.ownedElsewhere(row.action_type)) continue; // planned in this run already, or not ours
      if (row.received_at_ms < cutoff) {
        this.actions.transition(row.id, 'timed_out', row.attempts, 'gateway restarted before a result arrived');
        expired++;
        continue;
      }
      this.track(row.id, row.action_type, row.description, row.incident, row.received_at_ms, row.attempts);
      resumed++;
    }
    return { resumed, expired };
  }

  /** Stops timers; what is open stays open in the store for the next start. */
  close(): void {
    this.closed = true;
    this.queue.close();
    for (const t of this.tracked.values()) if (t.timer) clearTimeout(t.timer);
    this.tracked.clear();
    this.stats.open = 0;
  }

  // ---- internals -------------------------------------------------------------------------

  private track(
    id: number,
    type: string,
    description: string | null,
    incident: ActionMessage['incident'],
    receivedAtMs: number,
    attempts: number,
  ): void {
    const t: Tracked = {
      id,
      awaitEcho: new Set(),
      echoes: [],
      sentByFlow: null,
      type,
      description,
      incident,
      zones: this.devices.zonesOf(incident.camera_id),
      receivedAtMs,
      state: 'pending',
      attempts,
      rounds: 0,
      deliveredTo: new Set(),
      timer: null,
      queued: false,
    };
    this.tracked.set(t.id, t);
    this.stats.open = this.tracked.size;
    this.arm(t, this.config.action_timeout_ms);
    this.enqueue(t);
  }

  private matches(h: ActionNodeHandle, t: Tracked): boolean {
    const f = h.filter;
    return (
      (f.types.length === 0 || f.types.includes(t.type)) &&
      (f.levels.length === 0 || f.levels.includes(t.incident.threat_level)) &&
      (f.cameras.length === 0 || (t.incident.camera_id !== null && f.cameras.includes(t.incident.camera_id))) &&
      (f.zones.length === 0 || f.zones.some((z) => t.zones.includes(z)))
    );
  }

  private message(t: Tracked): ActionMessage {
    const cameraId = t.incident.camera_id;
    return {
      action: { id: t.id, type: t.type, description: t.description, attempt: t.attempts },
      incident: t.incident,
      level: t.incident.threat_level,
      camera_id: cameraId,
      zones: t.zones,
      devices: { sirens: this.devices.sirensFor(cameraId, t.zones), recorders: this.devices.recordersFor(cameraId, t.zones) },
      webhook_url: this.config.webhook_url || null,
      ...(t.type === 'safe_route' && this.routeProvider ? { route: this.routeProvider(t.zones, t.incident) ?? null } : {}),
    };
  }

  private dispatch(t: Tracked): void {
    if (!this.flowsRunning) return; // stays pending; dispatched when the flows run
    const handles = [...this.actionNodes.values()].filter((h) => this.matches(h, t));
    if (handles.length === 0) return; // stays pending until a matching node registers
    t.attempts++;
    t.deliveredTo = new Set(handles.map((h) => h.id));
    this.setState(t, 'dispatched');
    const message = this.message(t);
    // Each dispatch waits for the echoes of the sirens it commands that have feedback.
    t.awaitEcho = this.config.siren_action_types.includes(t.type)
      ? new Set(message.devices.sirens.filter((s) => s.feedback !== null && !t.echoes.some((e) => e.startsWith(`${s.id} `))).map((s) => s.id))
      : new Set();
    t.sentByFlow = null;
    for (const h of handles) {
      try {
        h.deliver(message);
      } catch (err) {
        this.log.warn({ err, node: h.id, action_id: t.id }, 'action node failed to take an action');
      }
    }
  }

  private unregisterActionNode(nodeId: string): void {
    this.actionNodes.delete(nodeId);
    for (const t of this.tracked.values()) {
      if (t.state !== 'dispatched' || !t.deliveredTo.delete(nodeId) || t.deliveredTo.size > 0) continue;
      // Every node it went to is gone (a redeploy): it waits for their replacements.
      this.stats.redispatched++;
      this.setState(t, 'pending');
    }
  }

  private arm(t: Tracked, ms: number): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => this.timedOut(t), ms);
    t.timer.unref();
  }

  private timedOut(t: Tracked): void {
    t.timer = null;
    if (FINAL_STATES.has(t.state)) return;
    t.rounds++;
    const retries = RETRIED_LEVELS.has(t.incident.threat_level) ? this.config.max_attempts : 1;
    if (t.rounds >= retries) {
      this.stats.last_timeout_at = Date.now();
      this.log.warn({ action_id: t.id, type: t.type, incident_id: t.incident.incident_id, attempts: t.attempts }, 'action timed out');
      const waiting = [...t.awaitEcho];
      this.finish(
        t,
        'timed_out',
        t.sentByFlow !== null && waiting.length > 0
          ? `${t.sentByFlow}; no ON echo from ${waiting.join(', ')} after ${t.attempts} dispatch(es)`
          : `no result from a flow after ${t.attempts} dispatch(es)`,
      );
      return;
    }
    const backoff = this.config.retry_backoff_ms * 2 ** (t.rounds - 1);
    this.log.info({ action_id: t.id, type: t.type, round: t.rounds, backoff_ms: backoff }, 'action has no result yet; retrying');
    setTimeout(() => {
      if (FINAL_STATES.has(t.state) || this.closed) return;
      this.arm(t, this.config.action_timeout_ms);
      this.enqueue(t);
    }, backoff).unref();
  }

  private finish(t: Tracked, state: 'delivered' | 'sent_unconfirmed' | 'failed' | 'timed_out', detail: string | null): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    this.tracked.delete(t.id);
    this.stats.open = this.tracked.size;
    this.stats[state]++;
    this.setState(t, state, detail);
    // The response time is the time to the first action something confirmed it received.
    if (state === 'delivered') this.actions.responseTime(t.incident.incident_id, Math.max(0, Date.now() - t.receivedAtMs));
  }

  private setState(t: Tracked, state: ActionState, result: string | null = null): void {
    t.state = state;
    this.actions.transition(t.id, state, t.attempts, result);
    this.bus.emit('action.updated', {
      action_id: t.id,
      incident_id: t.incident.incident_id,
      action_type: t.type,
      state,
      attempts: t.attempts,
      result,
      at: new Date().toISOString(),
    });
  }
}
