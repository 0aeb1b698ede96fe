// Escalations and the durable delivery queue (migration 11, src/notify/). An escalation step's
// deliveries are written with their actions rows and the escalation's advance in ONE
// transaction, so a crash never loses a delivery the gateway accepted, and a restart never runs
// a step twice. Every delivery is an actions row of the incident: the ledger, the feed (triggers)
// and sync (the outbox trigger) show it like any other action.
import type { ThreatLevel } from '../config/schema.js';
import { Repository, type Db } from './repository.js';

export interface EscalationRow {
  incident_id: string;
  level: ThreatLevel;
  next_step: number;
  steps: number;
  next_at_ms: number | null;
  state: 'running' | 'acknowledged' | 'exhausted';
  started_ms: number;
  carried: string;
  updated_at: string;
}

export type DeliveryState = 'queued' | 'sending' | 'delivered' | 'acknowledged' | 'failed' | 'cancelled';

export interface DeliveryRow {
  id: number;
  incident_id: string;
  action_id: number;
  step: number;
  contact_id: string;
  channel: string;
  address: string;
  idempotency_key: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_ms: number;
  receipt: string | null;
  receipt_at: string | null;
  ack_ref: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

/** One contact channel of a step: a delivery to queue, or an action that nothing can carry. */
export type StepEntry =
  | { kind: 'delivery'; contactId: string; channel: string; address: string; description: string; idempotencyKey: string }
  | { kind: 'undeliverable'; channel: string; description: string; reason: string };

/** A state change of an actions row, for the caller's action.updated events. */
export interface ActionChange {
  action_id: number;
  incident_id: string;
  action_type: string;
  state: string;
  attempts: number;
  result: string | null;
  at: string;
}

export interface UnstartedIncident {
  incident_id: string;
  threat_level: ThreatLevel;
  /** As stored (0/1 and a JSON array): the firearm floor picks the escalation's level from them. */
  weapon_detected: number;
  weapon_types: string;
  received_at_ms: number;
}

/**
 * Station deliveries (a channel that carries policy actions itself: the monitoring station,
 * src/arc/): STATION_STEP carries the policy action row itself (police_dispatch ends delivered on
 * the receiver's ACK); STATION_RESTORE_STEP is the restore sent after an operator resolved the
 * incident. Neither is part of the escalation's steps, and an acknowledgement does not cancel them.
 */
export const STATION_STEP = -2;
export const STATION_RESTORE_STEP = -3;

/** A station delivery to queue: for a policy action row, or (actionId null) a restore with its own action row. */
export interface StationEntry {
  actionId: number | null;
  step: number;
  channel: string;
  address: string;
  description: string;
  idempotencyKey: string;
}

const FINAL_ACTION = "('acknowledged', 'failed', 'timed_out', 'undeliverable', 'cancelled')";

function prepare(db: Db) {
  return {
    escalation: db.prepare<[string], EscalationRow>('SELECT * FROM escalations WHERE incident_id = ?'),
    escalationInsert: db.prepare<[string, string, number, number | null, number, string, string]>(
      `INSERT OR IGNORE INTO escalations (incident_id, level, next_step, steps, next_at_ms, state, started_ms, carried, updated_at)
       VALUES (?, ?, 0, ?, ?, 'running', ?, ?, ?)`,
    ),
    escalationsDue: db.prepare<[number, number], EscalationRow>(
      "SELECT * FROM escalations INDEXED BY escalations_due WHERE state = 'running' AND next_at_ms <= ? ORDER BY next_at_ms LIMIT ?",
    ),
    nextEscalationAt: db.prepare<[], { at: number | null }>(
      "SELECT min(next_at_ms) AS at FROM escalations INDEXED BY escalations_due WHERE state = 'running'",
    ),
    escalationAdvance: db.prepare<[number, number | null, string, string, number]>(
      "UPDATE escalations SET next_step = ?, next_at_ms = ?, updated_at = ? WHERE incident_id = ? AND state = 'running' AND next_step = ?",
    ),
    escalationBringForward: db.prepare<{ now: number; at: string; incident: string; step: number }>(
      "UPDATE escalations SET next_at_ms = @now, updated_at = @at WHERE incident_id = @incident AND state = 'running' AND next_step = @step AND next_at_ms > @now",
    ),
    escalationSetState: db.prepare<[string, string, string]>(
      "UPDATE escalations SET state = ?, next_at_ms = NULL, updated_at = ? WHERE incident_id = ? AND state = 'running'",
    ),
    unstarted: db.prepare<[string], UnstartedIncident>(
      `SELECT DISTINCT a.incident_id, i.threat_level, i.weapon_detected, i.weapon_types, i.received_at_ms
       FROM actions a INDEXED BY actions_open JOIN incidents i ON i.incident_id = a.incident_id
       WHERE a.status IN ('pending', 'dispatched') AND a.action_type IN (SELECT value FROM json_each(?))
         AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.incident_id = a.incident_id)
       ORDER BY i.received_at_ms`,
    ),
    ownedActions: db.prepare<[string, string], { id: number; action_type: string; status: string }>(
      "SELECT id, action_type, status FROM actions WHERE incident_id = ? AND action_type IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'dispatched') ORDER BY id",
    ),
    // An escalation's start sets all its incident's open notification actions in one statement:
    // per CRITICAL report this replaced a select plus an update and a read per action.
    ownedSet: db.prepare<
      { incident: string; types: string; status: string; result: string | null; at: string; attempts: number; final: number },
      { id: number; action_type: string; attempts: number; result: string | null }
    >(
      `UPDATE actions SET status = @status, result = coalesce(@result, result), attempts = max(attempts, @attempts),
         dispatched_at = coalesce(dispatched_at, @at),
         completed_at = CASE WHEN @final THEN @at ELSE completed_at END,
         executed_at = coalesce(executed_at, CASE WHEN @final THEN @at END), updated_at = @at
       WHERE incident_id = @incident AND action_type IN (SELECT value FROM json_each(@types))
         AND status IN ('pending', 'dispatched') AND status IS NOT @status
       RETURNING id, action_type, attempts, result`,
    ),
    actionGet: db.prepare<[number], { id: number; incident_id: string; action_type: string; status: string; attempts: number; result: string | null }>(
      'SELECT id, incident_id, action_type, status, attempts, result FROM actions WHERE id = ?',
    ),
    actionInsert: db.prepare<{ incident: string; type: string; description: string; status: string; result: string | null; at: string; final: number }>(
      `INSERT INTO actions (incident_id, action_type, description, status, result, created_at, updated_at, dispatched_at, completed_at, executed_at)
       VALUES (@incident, @type, @description, @status, @result, @at, @at, @at, CASE WHEN @final THEN @at END, CASE WHEN @final THEN @at END)`,
    ),
    // Never out of a state nothing leaves; delivered and sent_unconfirmed may still become acknowledged.
    actionSet: db.prepare<{ id: number; status: string; result: string | null; at: string; attempts: number; final: number }>(
      `UPDATE actions SET status = @status, result = coalesce(@result, result), attempts = max(attempts, @attempts),
         dispatched_at = coalesce(dispatched_at, @at),
         completed_at = CASE WHEN @final THEN @at ELSE completed_at END,
         executed_at = coalesce(executed_at, CASE WHEN @final THEN @at END), updated_at = @at
       WHERE id = @id AND status NOT IN ${FINAL_ACTION} AND status IS NOT @status`,
    ),
    responseTime: db.prepare<[number, string, string]>(
      'UPDATE incidents SET response_time_ms = ?, updated_at = ? WHERE incident_id = ? AND response_time_ms IS NULL',
    ),
    incidentReceived: db.prepare<[string], { received_at_ms: number }>('SELECT received_at_ms FROM incidents WHERE incident_id = ?'),
    deliveryInsert: db.prepare<{ incident: string; action: number; step: number; contact: string; channel: string; address: string; key: string; due: number; at: string }>(
      `INSERT INTO deliveries (incident_id, action_id, step, contact_id, channel, address, idempotency_key, state, next_attempt_ms, created_at, updated_at)
       VALUES (@incident, @action, @step, @contact, @channel, @address, @key, 'queued', @due, @at, @at)`,
    ),
    delivery: db.prepare<[number], DeliveryRow>('SELECT * FROM deliveries WHERE id = ?'),
    byKey: db.prepare<[string], { id: number }>('SELECT id FROM deliveries WHERE idempotency_key = ?'),
    deliveriesFor: db.prepare<[string], DeliveryRow>('SELECT * FROM deliveries WHERE incident_id = ? ORDER BY id'),
    deliveriesDue: db.prepare<[number, number], DeliveryRow>(
      "SELECT * FROM deliveries INDEXED BY deliveries_due WHERE state IN ('queued', 'sending') AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?",
    ),
    nextDeliveryAt: db.prepare<[], { at: number | null }>(
      "SELECT min(next_attempt_ms) AS at FROM deliveries INDEXED BY deliveries_due WHERE state IN ('queued', 'sending')",
    ),
    deliveriesOpenCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_due WHERE state IN ('queued', 'sending')"),
    stepOpen: db.prepare<[string, number], { open: number; reached: number }>(
      `SELECT coalesce(sum(state IN ('queued', 'sending')), 0) AS open, coalesce(sum(state IN ('delivered', 'acknowledged')), 0) AS reached
       FROM deliveries WHERE incident_id = ? AND step = ?`,
    ),
    incidentOpen: db.prepare<[string], { open: number; reached: number }>(
      `SELECT coalesce(sum(state IN ('queued', 'sending')), 0) AS open, coalesce(sum(state IN ('delivered', 'acknowledged')), 0) AS reached
       FROM deliveries WHERE incident_id = ?`,
    ),
    claim: db.prepare<[number, string, number]>(
      "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_ms = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')",
    ),
    resetSending: db.prepare<[number, string]>("UPDATE deliveries SET next_attempt_ms = min(next_attempt_ms, ?), updated_at = ? WHERE state = 'sending'"),
    delivered: db.prepare<{ receipt: string; at: string; ref: string | null; id: number }>(
      "UPDATE deliveries SET state = 'delivered', receipt = @receipt, receipt_at = @at, ack_ref = @ref, error = NULL, updated_at = @at WHERE id = @id AND state = 'sending'",
    ),
    actionResult: db.prepare<[string, number, string, number]>(
      "UPDATE actions SET result = ?, attempts = max(attempts, ?), updated_at = ? WHERE id = ? AND status = 'dispatched'",
    ),
    retry: db.prepare<[string, number, string, number]>(
      "UPDATE deliveries SET state = 'queued', error = ?, next_attempt_ms = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
    ),
    failed: db.prepare<[string, string, number]>("UPDATE deliveries SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state = 'sending'"),
    // Station deliveries (step <= -2) go on: the police path is not stopped by a local acknowledgement.
    cancelQueued: db.prepare<[string, string], { id: number; action_id: number }>(
      "UPDATE deliveries SET state = 'cancelled', updated_at = ? WHERE incident_id = ? AND state = 'queued' AND step >= -1 RETURNING id, action_id",
    ),
    unqueuedStation: db.prepare<[string], { id: number; incident_id: string; action_type: string }>(
      `SELECT a.id, a.incident_id, a.action_type FROM actions a INDEXED BY actions_open
       WHERE a.status IN ('pending', 'dispatched') AND a.action_type IN (SELECT value FROM json_each(?))
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.action_id = a.id)
       ORDER BY a.id`,
    ),
    stationActions: db.prepare<[string, string], { id: number; action_type: string }>(
      "SELECT id, action_type FROM actions WHERE incident_id = ? AND action_type IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'dispatched') ORDER BY id",
    ),
    stationDelivered: db.prepare<[string, number, string], DeliveryRow>(
      "SELECT * FROM deliveries WHERE incident_id = ? AND step = ? AND channel = ? AND state IN ('delivered', 'acknowledged') ORDER BY id",
    ),
    ackDelivery: db.prepare<[string, number]>("UPDATE deliveries SET state = 'acknowledged', updated_at = ? WHERE id = ? AND state = 'delivered'"),
    pollable: db.prepare<[string, number], DeliveryRow>(
      "SELECT * FROM deliveries INDEXED BY deliveries_ack_poll WHERE state = 'delivered' AND ack_ref IS NOT NULL AND channel = ? ORDER BY id LIMIT ?",
    ),
    pollableFor: db.prepare<[string, string], DeliveryRow>(
      "SELECT * FROM deliveries WHERE incident_id = ? AND channel = ? AND ack_ref IS NOT NULL AND state IN ('delivered', 'acknowledged')",
    ),
    clearAckRef: db.prepare<[string, number]>('UPDATE deliveries SET ack_ref = NULL, updated_at = ? WHERE id = ?'),
    tokenUse: db.prepare<[number, string, string]>('INSERT OR IGNORE INTO ack_tokens_used (delivery_id, incident_id, used_at) VALUES (?, ?, ?)'),
    tokenUsed: db.prepare<[number], { used_at: string }>('SELECT used_at FROM ack_tokens_used WHERE delivery_id = ?'),
    stateGet: db.prepare<[string], { value: number }>('SELECT value FROM notify_state WHERE key = ?'),
    stateSet: db.prepare<[string, number]>('INSERT INTO notify_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
  };
}

export class NotifyRepository extends Repository<ReturnType<typeof prepare>> {
  protected prepare(db: Db) {
    return prepare(db);
  }

  escalation(incidentId: string): EscalationRow | null {
    return this.st.escalation.get(incidentId) ?? null;
  }

  /** Incidents with open actions of these types and no escalation yet (planned before a crash, or while notify was off). */
  unstarted(types: readonly string[]): UnstartedIncident[] {
    return this.st.unstarted.all(JSON.stringify(types));
  }

  incidentReceivedMs(incidentId: string): number | null {
    return this.st.incidentReceived.get(incidentId)?.received_at_ms ?? null;
  }

  /**
   * Starts an incident's escalation: the policy actions it carries become dispatched. With no
   * usable step (`steps` 0), they become undeliverable instead and no escalation row is written.
   * Returns the changed actions; [] when it had started already.
   */
  begin(incidentId: string, level: ThreatLevel, types: readonly string[], steps: number, firstAtMs: number | null, startedMs: number, undeliverable: string | null): ActionChange[] {
    return this.tx(() => {
      if (this.st.escalation.get(incidentId)) return [];
      const at = new Date().toISOString();
      const set = (status: string, result: string, attempts: number): ActionChange[] =>
        this.st.ownedSet
          .all({ incident: incidentId, types: JSON.stringify(types), status, result, at, attempts, final: status === 'dispatched' ? 0 : 1 })
          .sort((a, b) => a.id - b.id)
          .map((a) => ({ action_id: a.id, incident_id: incidentId, action_type: a.action_type, state: status, attempts: a.attempts, result: a.result, at }));
      if (undeliverable !== null) return set('undeliverable', undeliverable, 0);
      // Carried: every open action it stands for, including any already dispatched before it started.
      const carried = this.st.ownedActions.all(incidentId, JSON.stringify(types)).map((a) => a.id);
      this.st.escalationInsert.run(incidentId, level, steps, firstAtMs, startedMs, JSON.stringify(carried), at);
      return set('dispatched', `escalation: step 1 of ${steps}`, 1);
    });
  }

  escalationsDue(nowMs: number, limit: number): EscalationRow[] {
    return this.st.escalationsDue.all(nowMs, limit);
  }

  /** The earliest time something is due: an escalation step or a delivery attempt. */
  nextDueMs(): number | null {
    const a = this.st.nextEscalationAt.get()!.at;
    const b = this.st.nextDeliveryAt.get()!.at;
    if (a === null) return b;
    if (b === null) return a;
    return Math.min(a, b);
  }

  openDeliveries(): number {
    return this.st.deliveriesOpenCount.get()!.n;
  }

  /**
   * Runs step `step` of an escalation, in ONE transaction: its actions rows and deliveries, and
   * the advance to `nextAtMs` (null: it was the last). Nothing happens if the escalation is no
   * longer running or has moved past this step (a second run, an acknowledgement).
   */
  runStep(incidentId: string, step: number, entries: readonly StepEntry[], nextAtMs: number | null, nowMs: number): { ran: boolean; changes: ActionChange[] } {
    return this.tx(() => {
      const esc = this.st.escalation.get(incidentId);
      if (!esc || esc.state !== 'running' || esc.next_step !== step) return { ran: false, changes: [] };
      const at = new Date(nowMs).toISOString();
      this.st.escalationAdvance.run(step + 1, step + 1 < esc.steps ? nextAtMs : null, at, incidentId, step);
      const changes: ActionChange[] = [];
      for (const e of entries) {
        const type = `deliver_${e.channel}`;
        if (e.kind === 'undeliverable') {
          const r = this.st.actionInsert.run({ incident: incidentId, type, description: e.description, status: 'undeliverable', result: e.reason, at, final: 1 });
          changes.push({ action_id: Number(r.lastInsertRowid), incident_id: incidentId, action_type: type, state: 'undeliverable', attempts: 0, result: e.reason, at });
          continue;
        }
        const r = this.st.actionInsert.run({ incident: incidentId, type, description: e.description, status: 'dispatched', result: null, at, final: 0 });
        const actionId = Number(r.lastInsertRowid);
        this.st.deliveryInsert.run({ incident: incidentId, action: actionId, step, contact: e.contactId, channel: e.channel, address: e.address, key: e.idempotencyKey, due: nowMs, at });
        changes.push({ action_id: actionId, incident_id: incidentId, action_type: type, state: 'dispatched', attempts: 0, result: null, at });
      }
      for (const id of JSON.parse(esc.carried) as number[]) {
        const a = this.st.actionGet.get(id);
        if (a && a.status === 'dispatched') changes.push(...this.setAction(id, 'dispatched', `escalation: step ${step + 1} of ${esc.steps} running`, at, step + 1));
      }
      changes.push(...this.settleStep(incidentId, step, nowMs));
      return { ran: true, changes };
    });
  }

  /** Deliveries a flow asked for (step -1), in one transaction; a repeated idempotency key is queued once. */
  queueFromFlow(incidentId: string, entries: readonly StepEntry[], nowMs: number): ActionChange[] {
    return this.tx(() => {
      const at = new Date(nowMs).toISOString();
      const changes: ActionChange[] = [];
      for (const e of entries) {
        const type = `deliver_${e.channel}`;
        if (e.kind === 'undeliverable') {
          const r = this.st.actionInsert.run({ incident: incidentId, type, description: e.description, status: 'undeliverable', result: e.reason, at, final: 1 });
          changes.push({ action_id: Number(r.lastInsertRowid), incident_id: incidentId, action_type: type, state: 'undeliverable', attempts: 0, result: e.reason, at });
          continue;
        }
        if (this.st.byKey.get(e.idempotencyKey)) continue;
        const r = this.st.actionInsert.run({ incident: incidentId, type, description: e.description, status: 'dispatched', result: null, at, final: 0 });
        const actionId = Number(r.lastInsertRowid);
        this.st.deliveryInsert.run({ incident: incidentId, action: actionId, step: -1, contact: e.contactId, channel: e.channel, address: e.address, key: e.idempotencyKey, due: nowMs, at });
        changes.push({ action_id: actionId, incident_id: incidentId, action_type: type, state: 'dispatched', attempts: 0, result: null, at });
      }
      return changes;
    });
  }

  /** Open policy actions of these types of one incident (what a station delivery carries). */
  stationActions(incidentId: string, types: readonly string[]): { id: number; action_type: string }[] {
    return this.st.stationActions.all(incidentId, JSON.stringify(types));
  }

  /** Open policy actions of these types that have no delivery yet (planned just before a crash). */
  unqueuedStation(types: readonly string[]): { id: number; incident_id: string; action_type: string }[] {
    return this.st.unqueuedStation.all(JSON.stringify(types));
  }

  /** An incident's station deliveries of `step` that the receiver took. */
  stationDelivered(incidentId: string, step: number, channel: string): DeliveryRow[] {
    return this.st.stationDelivered.all(incidentId, step, channel);
  }

  /** Station deliveries, in one transaction; a repeated idempotency key is queued once. */
  queueStation(incidentId: string, entries: readonly StationEntry[], nowMs: number): ActionChange[] {
    return this.tx(() => {
      const at = new Date(nowMs).toISOString();
      const changes: ActionChange[] = [];
      for (const e of entries) {
        if (this.st.byKey.get(e.idempotencyKey)) continue;
        let actionId = e.actionId;
        if (actionId === null) {
          const type = `deliver_${e.channel}`;
          actionId = Number(this.st.actionInsert.run({ incident: incidentId, type, description: e.description, status: 'dispatched', result: null, at, final: 0 }).lastInsertRowid);
          changes.push({ action_id: actionId, incident_id: incidentId, action_type: type, state: 'dispatched', attempts: 0, result: null, at });
        } else {
          changes.push(...this.setAction(actionId, 'dispatched', e.description, at, 0));
        }
        this.st.deliveryInsert.run({ incident: incidentId, action: actionId, step: e.step, contact: e.channel, channel: e.channel, address: e.address, key: e.idempotencyKey, due: nowMs, at });
      }
      return changes;
    });
  }

  /** The other station actions of an incident follow the one its delivery carries. */
  settleStationActions(incidentId: string, types: readonly string[], status: 'dispatched' | 'delivered' | 'failed', result: string, nowMs: number): ActionChange[] {
    if (types.length === 0) return [];
    const at = new Date(nowMs).toISOString();
    return this.tx(() => this.st.stationActions.all(incidentId, JSON.stringify(types)).flatMap((a) => this.setAction(a.id, status, result, at, status === 'dispatched' ? 0 : 1)));
  }

  /**
   * The contacts take over from a station that failed: the escalation's next step runs now.
   * False when the incident has no running escalation.
   */
  bringForward(incidentId: string, nowMs: number): boolean {
    const esc = this.st.escalation.get(incidentId);
    if (!esc || esc.state !== 'running' || esc.next_step >= esc.steps) return false;
    this.st.escalationBringForward.run({ now: nowMs, at: new Date(nowMs).toISOString(), incident: incidentId, step: esc.next_step });
    return true;
  }

  /** Deliveries due at `nowMs`, oldest first. */
  due(nowMs: number, limit: number): DeliveryRow[] {
    return this.st.deliveriesDue.all(nowMs, limit);
  }

  delivery(id: number): DeliveryRow | null {
    return this.st.delivery.get(id) ?? null;
  }

  deliveriesFor(incidentId: string): DeliveryRow[] {
    return this.st.deliveriesFor.all(incidentId);
  }

  /** Takes a delivery for one attempt; `leaseUntilMs` is when a crashed attempt is due again. */
  claim(id: number, leaseUntilMs: number): boolean {
    return this.st.claim.run(leaseUntilMs, new Date().toISOString(), id).changes === 1;
  }

  /** At start: attempts a previous run left in flight are due again now (same idempotency key). */
  resetInFlight(nowMs: number): number {
    return this.st.resetSending.run(nowMs, new Date(nowMs).toISOString()).changes;
  }

  /** The receiver took it: the delivery, its action, and (first time) the carried policy actions and the response time. */
  delivered(id: number, receipt: Record<string, unknown>, summary: string, ackRef: string | null, nowMs: number): ActionChange[] {
    return this.tx(() => {
      const d = this.st.delivery.get(id);
      if (!d) return [];
      const at = new Date(nowMs).toISOString();
      if (this.st.delivered.run({ receipt: JSON.stringify(receipt), at, ref: ackRef, id }).changes === 0) return [];
      const changes = this.setAction(d.action_id, 'delivered', summary, at, d.attempts);
      const received = this.st.incidentReceived.get(d.incident_id)?.received_at_ms;
      if (received !== undefined) this.st.responseTime.run(Math.max(0, nowMs - received), at, d.incident_id);
      const esc = this.st.escalation.get(d.incident_id);
      // A station delivery carries its own policy action; the escalation's are a person's to reach.
      if (esc && d.step > STATION_STEP) {
        for (const aid of JSON.parse(esc.carried) as number[]) changes.push(...this.setAction(aid, 'delivered', summary, at, esc.next_step));
      }
      changes.push(...this.settleStep(d.incident_id, d.step, nowMs));
      return changes;
    });
  }

  /** A transient failure: due again at `nextAttemptMs`. */
  retry(id: number, error: string, nextAttemptMs: number): ActionChange[] {
    return this.tx(() => {
      const d = this.st.delivery.get(id);
      if (!d) return [];
      const at = new Date().toISOString();
      if (this.st.retry.run(error, nextAttemptMs, at, id).changes === 0) return [];
      // The action stays dispatched; its result says why it is being retried.
      this.st.actionResult.run(`attempt ${d.attempts} failed: ${error}; retrying`, d.attempts, at, d.action_id);
      return [];
    });
  }

  /** Failed for good: the delivery and its action; if its step reached nobody, the next step is brought forward. */
  failed(id: number, error: string, nowMs: number): ActionChange[] {
    return this.tx(() => {
      const d = this.st.delivery.get(id);
      if (!d) return [];
      const at = new Date(nowMs).toISOString();
      if (this.st.failed.run(error, at, id).changes === 0) return [];
      const changes = this.setAction(d.action_id, 'failed', error, at, d.attempts);
      changes.push(...this.settleStep(d.incident_id, d.step, nowMs));
      return changes;
    });
  }

  /**
   * After a delivery of `step` settled: a step that reached nobody brings the next step forward
   * (nobody could be told, so nobody waits); an escalation with no step left and nothing in
   * flight is exhausted, and the policy actions it carries that reached nobody fail.
   */
  private settleStep(incidentId: string, step: number, nowMs: number): ActionChange[] {
    if (step < 0) return []; // a flow's delivery: not part of the escalation's steps
    const esc = this.st.escalation.get(incidentId);
    if (!esc || esc.state !== 'running') return [];
    const at = new Date(nowMs).toISOString();
    const s = this.st.stepOpen.get(incidentId, step)!;
    if (s.open === 0 && s.reached === 0 && esc.next_step === step + 1 && esc.next_at_ms !== null && esc.next_at_ms > nowMs) {
      this.st.escalationBringForward.run({ now: nowMs, at, incident: incidentId, step: esc.next_step });
      return [];
    }
    if (esc.next_step < esc.steps) return [];
    const all = this.st.incidentOpen.get(incidentId)!;
    if (all.open > 0) return [];
    this.st.escalationSetState.run('exhausted', at, incidentId);
    if (all.reached > 0) return [];
    return (JSON.parse(esc.carried) as number[]).flatMap((aid) =>
      this.setAction(aid, 'failed', `escalation exhausted: none of its ${esc.steps} step(s) reached anyone`, at, esc.steps),
    );
  }

  /**
   * The escalation side of an acknowledgement, inside the acknowledgement's transaction
   * (OperationsRepository.acknowledge): the escalation stops, deliveries not yet sent are
   * cancelled, the delivery it came through and the carried policy actions become acknowledged.
   */
  acknowledged(incidentId: string, result: string, deliveryId: number | null, at: string): ActionChange[] {
    const changes: ActionChange[] = [];
    const esc = this.st.escalation.get(incidentId);
    this.st.escalationSetState.run('acknowledged', at, incidentId);
    for (const c of this.st.cancelQueued.all(at, incidentId)) changes.push(...this.setAction(c.action_id, 'cancelled', `not sent: ${result} first`, at, 0));
    if (deliveryId !== null) {
      const d = this.st.delivery.get(deliveryId);
      if (d && this.st.ackDelivery.run(at, deliveryId).changes === 1) changes.push(...this.setAction(d.action_id, 'acknowledged', result, at, d.attempts));
    }
    if (esc) for (const aid of JSON.parse(esc.carried) as number[]) changes.push(...this.setAction(aid, 'acknowledged', result, at, esc.next_step));
    return changes;
  }

  /** Delivered deliveries of a channel that carry a receiver handle to poll (Pushover receipts). */
  pollable(channel: string, limit: number): DeliveryRow[] {
    return this.st.pollable.all(channel, limit);
  }

  /** An incident's deliveries of a channel that still hold a receiver handle (to cancel after an acknowledgement). */
  withAckRef(incidentId: string, channel: string): DeliveryRow[] {
    return this.st.pollableFor.all(incidentId, channel);
  }

  clearAckRef(id: number): void {
    this.st.clearAckRef.run(new Date().toISOString(), id);
  }

  /** Records the first use of a delivery's acknowledge token; false when it was used before. */
  useToken(deliveryId: number, incidentId: string, at: string): boolean {
    return this.st.tokenUse.run(deliveryId, incidentId, at).changes === 1;
  }

  tokenUsedAt(deliveryId: number): string | null {
    return this.st.tokenUsed.get(deliveryId)?.used_at ?? null;
  }

  position(key: string): number | null {
    return this.st.stateGet.get(key)?.value ?? null;
  }

  setPosition(key: string, value: number): void {
    this.st.stateSet.run(key, value);
  }

  /** Runs `fn` in one transaction (a savepoint inside another). */
  atomically<T>(fn: () => T): T {
    return this.tx(fn);
  }

  private setAction(id: number, status: string, result: string | null, at: string, attempts: number): ActionChange[] {
    const final = status !== 'dispatched' ? 1 : 0;
    if (this.st.actionSet.run({ id, status, result, at, attempts, final }).changes === 0) return [];
    const a = this.st.actionGet.get(id)!;
    return [{ action_id: id, incident_id: a.incident_id, action_type: a.action_type, state: status, attempts: a.attempts, result: a.result, at }];
  }
}
