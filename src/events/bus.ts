// A typed in-process event bus. A listener that throws or rejects is logged and
// never breaks the emitter or the other listeners.
import type { IncidentSource } from '../config/schema.js';
import type { ActionState } from '../action-states.js';
import type { Logger } from '../logger.js';
import type { StoredIncident, PlannedAction } from '../store/types.js';

export interface GatewayEvents {
  /** An incident was committed; its actions are planned (pending). */
  'incident.stored': { incident: StoredIncident; actions: PlannedAction[] };
  /** One planned action, ready for the automation stage to carry out. */
  'action.planned': { incident: StoredIncident; action: PlannedAction };
  /** An action changed state in its lifecycle (src/action-states.ts: pending, dispatched, delivered, acknowledged, ...). */
  'action.updated': {
    action_id: number;
    incident_id: string;
    action_type: string;
    state: ActionState;
    attempts: number;
    result: string | null;
    at: string;
  };
  /** An operator acknowledged or resolved an incident (committed). */
  'incident.status': { incident_id: string; state: 'acknowledged' | 'resolved'; by: string; at: string };
  /** Someone acknowledged an incident (dashboard, API, or a channel's link or button); escalation stops. */
  'incident.acknowledged': { incident_id: string; by: string; via: string; at: string };
  /** A report was refused before it was stored. */
  'report.rejected': { source: IncidentSource; cameraId: string | null; code: string; message: string };
  /** A snapshot was attached to a stored incident (src/evidence/). */
  'snapshot.attached': { incident_id: string; camera_id: string | null; sha256: string; width: number; height: number };
  /** An AI annotation (Gemini second opinion) was stored; `needs_review` flags a disagreement. */
  'annotation.stored': { incident_id: string; annotation_id: number; model: string; threat_confirmed: boolean; needs_review: boolean };
}

type Listener<T> = (payload: T) => void | Promise<void>;

export class EventBus {
  private readonly listeners = new Map<keyof GatewayEvents, Set<Listener<never>>>();

  constructor(private readonly log: Logger) {}

  on<K extends keyof GatewayEvents>(event: K, listener: Listener<GatewayEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof GatewayEvents>(event: K, payload: GatewayEvents[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        const result = (listener as Listener<GatewayEvents[K]>)(payload);
        if (result && typeof (result as Promise<void>).catch === 'function') {
          (result as Promise<void>).catch((err: unknown) => this.log.error({ err, event }, 'event listener failed'));
        }
      } catch (err) {
        this.log.error({ err, event }, 'event listener failed');
      }
    }
  }

  listenerCount(event: keyof GatewayEvents): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
