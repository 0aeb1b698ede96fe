// Planned actions and alerts (tables actions and alerts, migrations 1 and 4). Action
// outcomes and alerts reach the outbox and the ops feed by trigger, in the transaction
// that writes them (triggers.ts).
import type { ThreatLevel } from '../config/schema.js';
import { Repository, type Db } from './repository.js';
import { incidentView, type AlertRow, type IncidentView, type PlannedAction } from './types.js';

/** An unfinished action, with what a flow needs to carry it out again. */
export interface OpenAction {
  id: number;
  incident_id: string;
  action_type: string;
  description: string | null;
  status: string;
  attempts: number;
  created_at: string;
  received_at_ms: number;
  incident: IncidentView;
}

/** A move to 'dispatched', or to a final state (succeeded, failed, timed_out). */
export interface ActionTransition {
  id: number;
  status: string;
  at: string;
  result: string | null;
  attempts: number;
}

export interface NewAlert {
  incidentId: string;
  alertType: string;
  recipient: string | null;
  message: string | null;
  sentAt: string;
  status: string;
}

/** Everything the automation stage queued in one event-loop turn. */
export interface ActionBatch {
  /** In the order they happened: the triggers' outbox and feed rows follow it. */
  transitions: readonly ActionTransition[];
  alerts: readonly NewAlert[];
  responseTimes: readonly (readonly [incidentId: string, ms: number])[];
}

interface OpenRow {
  id: number;
  incident_id: string;
  action_type: string;
  description: string | null;
  status: string;
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

function prepare(db: Db) {
  return {
    insert: db.prepare<[string, string, string, string, string]>(
      `INSERT INTO actions (incident_id, action_type, description, status, created_at, updated_at)
       VALUES (?, ?, ?, 'pending', ?, ?)`,
    ),
    forIncident: db.prepare<[string], PlannedAction>(
      `SELECT id, incident_id, action_type, description, status, executed_at, result, attempts,
         dispatched_at, completed_at, created_at, updated_at
       FROM actions WHERE incident_id = ? ORDER BY id`,
    ),
    alertsFor: db.prepare<[string], AlertRow>(
      `SELECT id, incident_id, alert_type, recipient, message, sent_at, status
       FROM alerts WHERE incident_id = ? ORDER BY id`,
    ),
    // Uses the actions_open index.
    open: db.prepare<[], OpenRow>(
      `SELECT a.id, a.incident_id, a.action_type, a.description, a.status, a.attempts, a.created_at,
              i.threat_level, i.threat_score, i.reported_level, i.camera_id, i.timestamp, i.behavior_summary,
              i.weapon_detected, i.weapon_types, i.people_count, i.received_at_ms
       FROM actions a JOIN incidents i ON i.incident_id = a.incident_id
       WHERE a.status IN ('pending', 'dispatched') ORDER BY a.id`,
    ),
    pendingCount: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM actions WHERE incident_id = ? AND status = 'pending'"),
    dispatched: db.prepare<{ id: number; at: string; attempts: number }>(
      "UPDATE actions SET status = 'dispatched', dispatched_at = @at, attempts = @attempts, updated_at = @at WHERE id = @id AND status IN ('pending','dispatched')",
    ),
    finished: db.prepare<ActionTransition>(
      "UPDATE actions SET status = @status, completed_at = @at, executed_at = coalesce(executed_at, @at), result = @result, attempts = @attempts, updated_at = @at WHERE id = @id AND status IN ('pending','dispatched')",
    ),
    alert: db.prepare<[string, string, string | null, string | null, string, string]>(
      'INSERT INTO alerts (incident_id, alert_type, recipient, message, sent_at, status) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    responseTime: db.prepare<[number, string, string]>(
      'UPDATE incidents SET response_time_ms = ?, updated_at = ? WHERE incident_id = ? AND response_time_ms IS NULL',
    ),
  };
}

export class ActionRepository extends Repository<ReturnType<typeof prepare>> {
  protected prepare(db: Db) {
    return prepare(db);
  }

  /** A planned action of a new incident; call inside the incident's commit transaction. */
  insertPlanned(incidentId: string, type: string, description: string, at: string): PlannedAction {
    const r = this.st.insert.run(incidentId, type, description, at, at);
    return {
      id: Number(r.lastInsertRowid),
      incident_id: incidentId,
      action_type: type,
      description,
      status: 'pending',
      executed_at: null,
      result: null,
      created_at: at,
      updated_at: at,
    };
  }

  forIncident(incidentId: string): PlannedAction[] {
    return this.st.forIncident.all(incidentId);
  }

  alertsFor(incidentId: string): AlertRow[] {
    return this.st.alertsFor.all(incidentId);
  }

  /** Unfinished actions, oldest first, each with its incident's view. */
  open(): OpenAction[] {
    return this.st.open.all().map((r) => ({
      id: r.id,
      incident_id: r.incident_id,
      action_type: r.action_type,
      description: r.description,
      status: r.status,
      attempts: r.attempts,
      created_at: r.created_at,
      received_at_ms: r.received_at_ms,
      incident: incidentView(r),
    }));
  }

  pendingCount(incidentId: string): number {
    return this.st.pendingCount.get(incidentId)!.n;
  }

  /** Writes a turn's transitions, alerts and response times in ONE transaction (one fsync). */
  write(batch: ActionBatch): void {
    const s = this.st;
    this.tx(() => {
      for (const t of batch.transitions) {
        if (t.status === 'dispatched') s.dispatched.run({ id: t.id, at: t.at, attempts: t.attempts });
        else s.finished.run(t);
      }
      for (const a of batch.alerts) s.alert.run(a.incidentId, a.alertType, a.recipient, a.message, a.sentAt, a.status);
      const now = new Date().toISOString();
      for (const [incidentId, ms] of batch.responseTimes) s.responseTime.run(ms, now, incidentId);
    });
  }
}
