// Durable action state. Transitions are queued and written together in one transaction
// per event-loop turn: at hundreds of reports/s each with several actions, one fsync per
// transition would cost more than the ingest itself.
import type Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { ActionState, AlertInput } from './types.js';

export interface OpenActionRow {
  id: number;
  incident_id: string;
  action_type: string;
  description: string | null;
  status: ActionState;
  attempts: number;
  created_at: string;
  threat_level: ThreatLevel;
  threat_score: number;
  reported_level: ThreatLevel;
  camera_id: string | null;
  timestamp: string;
  behavior_summary: string | null;
  weapon_detected: number;
  weapon_types: string;
  people_count: number | null;
  received_at_ms: number;
}

interface Transition {
  id: number;
  status: ActionState;
  at: string;
  result: string | null;
  attempts: number;
}

export class ActionStore {
  private transitions = new Map<number, Transition>();
  private alerts: { incidentId: string; alert: AlertInput; at: string }[] = [];
  private responseTimes = new Map<string, number>();
  private scheduled: NodeJS.Immediate | null = null;
  private stmts: Record<string, Database.Statement> | null = null;

  constructor(
    private readonly db: () => Database.Database,
    private readonly log: Logger,
  ) {}

  private prepared(): Record<string, Database.Statement> {
    if (this.stmts) return this.stmts;
    const db = this.db();
    this.stmts = {
      dispatched: db.prepare(
        "UPDATE actions SET status = 'dispatched', dispatched_at = @at, attempts = @attempts, updated_at = @at WHERE id = @id AND status IN ('pending','dispatched')",
      ),
      final: db.prepare(
        "UPDATE actions SET status = @status, completed_at = @at, executed_at = coalesce(executed_at, @at), result = @result, attempts = @attempts, updated_at = @at WHERE id = @id AND status IN ('pending','dispatched')",
      ),
      alert: db.prepare(
        'INSERT INTO alerts (incident_id, alert_type, recipient, message, sent_at, status) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      responseTime: db.prepare(
        'UPDATE incidents SET response_time_ms = ?, updated_at = ? WHERE incident_id = ? AND response_time_ms IS NULL',
      ),
    };
    return this.stmts;
  }

  /** Unfinished actions, with what a flow needs to carry them out again. Uses the actions_open index. */
  loadOpen(): OpenActionRow[] {
    return this.db()
      .prepare(
        `SELECT a.id, a.incident_id, a.action_type, a.description, a.status, a.attempts, a.created_at,
                i.threat_level, i.threat_score, i.reported_level, i.camera_id, i.timestamp, i.behavior_summary,
                i.weapon_detected, i.weapon_types, i.people_count, i.received_at_ms
         FROM actions a JOIN incidents i ON i.incident_id = a.incident_id
         WHERE a.status IN ('pending', 'dispatched') ORDER BY a.id`,
      )
      .all() as OpenActionRow[];
  }

  transition(id: number, status: ActionState, attempts: number, result: string | null = null): void {
    // A later transition of the same action in the same turn supersedes the earlier one.
    this.transitions.set(id, { id, status, at: new Date().toISOString(), result, attempts });
    this.schedule();
  }

  addAlert(incidentId: string, alert: AlertInput): void {
    this.alerts.push({ incidentId, alert, at: new Date().toISOString() });
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
    const transitions = [...this.transitions.values()];
    const alerts = this.alerts;
    const responseTimes = [...this.responseTimes];
    this.transitions = new Map();
    this.alerts = [];
    this.responseTimes = new Map();
    const s = this.prepared();
    try {
      this.db().transaction(() => {
        for (const t of transitions) {
          if (t.status === 'dispatched') s.dispatched!.run({ id: t.id, at: t.at, attempts: t.attempts });
          else if (t.status !== 'pending') s.final!.run({ id: t.id, at: t.at, status: t.status, result: t.result, attempts: t.attempts });
        }
        for (const { incidentId, alert, at } of alerts) {
          s.alert!.run(incidentId, alert.alert_type, alert.recipient ?? null, alert.message ?? null, at, alert.status ?? 'sent');
        }
        const now = new Date().toISOString();
        for (const [incidentId, ms] of responseTimes) s.responseTime!.run(ms, now, incidentId);
      })();
    } catch (err) {
      // The in-memory lifecycle goes on; a later restart re-dispatches what is still open.
      this.log.error({ err, transitions: transitions.length, alerts: alerts.length }, 'writing action states failed');
    }
  }

  close(): void {
    this.flush();
    this.stmts = null;
  }
}
