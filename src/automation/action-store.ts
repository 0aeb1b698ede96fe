// Durable action state. Transitions are queued and written together in one transaction
// per event-loop turn: at hundreds of reports/s each with several actions, one fsync per
// transition would cost more than the ingest itself.
import type { Logger } from '../logger.js';
import type { ActionRepository, ActionTransition, NewAlert, OpenAction } from '../store/actions.js';
import type { ActionState, AlertInput } from './types.js';

export class ActionStore {
  private transitions = new Map<number, ActionTransition>();
  private alerts: NewAlert[] = [];
  private responseTimes = new Map<string, number>();
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly rows: ActionRepository,
    private readonly log: Logger,
  ) {}

  /** Unfinished actions, with what a flow needs to carry them out again. */
  loadOpen(): OpenAction[] {
    return this.rows.open();
  }

  transition(id: number, status: ActionState, attempts: number, result: string | null = null): void {
    // A later transition of the same action in the same turn supersedes the earlier one.
    this.transitions.set(id, { id, status, at: new Date().toISOString(), result, attempts });
    this.schedule();
  }

  addAlert(incidentId: string, alert: AlertInput): void {
    this.alerts.push({
      incidentId,
      alertType: alert.alert_type,
      recipient: alert.recipient ?? null,
      message: alert.message ?? null,
      sentAt: new Date().toISOString(),
      status: alert.status ?? 'sent',
    });
    this.schedule();
  }

  responseTime(incidentId: string, ms: number): void {
    if (!this.responseTimes.has(incidentId)) this.responseTimes.set(incidentId, ms);
    this.schedule();
  }

  private schedule(): void {
    this.scheduled ??= setImmediate(() => {
      this.scheduled = null;
      this.flush();
    });
  }

  /** Writes everything queued, in one transaction. */
  flush(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.transitions.size === 0 && this.alerts.length === 0 && this.responseTimes.size === 0) return;
    // 'pending' is where every action starts: there is nothing to write for it.
    const transitions = [...this.transitions.values()].filter((t) => t.status !== 'pending');
    const alerts = this.alerts;
    const responseTimes = [...this.responseTimes];
    this.transitions = new Map();
    this.alerts = [];
    this.responseTimes = new Map();
    try {
      this.rows.write({ transitions, alerts, responseTimes });
    } catch (err) {
      // The in-memory lifecycle goes on; a later restart re-dispatches what is still open.
      this.log.error({ err, transitions: transitions.length, alerts: alerts.length }, 'writing action states failed');
    }
  }

  close(): void {
    this.flush();
  }
}
