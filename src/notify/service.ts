// Contacts and escalation: who gets told, when, and whether they were. An incident whose policy
// actions include a type this service carries (notify.action_types) starts an escalation; each
// step queues one delivery per contact channel, durably (src/store/notify.ts), and the queue
// sends them through the channels (a channel takes a delivery, returns a receipt or a classified
// failure). Steps run at their time until someone acknowledges; every acknowledgement ends in
// the store's one acknowledgement (OperationsRepository.acknowledge).
import type { ActionState } from '../action-states.js';
import { CHANNEL_KINDS, LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import { incidentResponseLevel, namesFirearm, type IncidentWeapons } from '../policy/policy.js';
import { WeaponVocabulary } from '../scoring/vocabulary.js';
import { STATION_RESTORE_STEP, STATION_STEP, type ActionChange, type DeliveryRow, type EscalationRow, type StepEntry } from '../store/notify.js';
import type { Store } from '../store/store.js';
import type { PlannedAction, StoredIncident } from '../store/types.js';
import type { AckOutcome, AckSink, Channel, Delivery, NotificationMessage, SendOutcome } from './channel.js';
import type { AckTokens } from './tokens.js';

type Contact = GatewayConfig['contacts'][number];

export interface NotifyDeps {
  config: GatewayConfig;
  store: Store;
  bus: EventBus;
  log: Logger;
  tokens: () => AckTokens;
  /** The base URL people's phones reach the gateway at. */
  publicUrl: () => string;
  zoneOf?: (cameraId: string | null) => string | null;
  /** The snapshot thumbnail's absolute path, if the incident has one. */
  thumbnailOf?: (incidentId: string) => string | null;
}

/** What a flow's `safesphere notify` node hands over. */
export interface FlowNotifyRequest {
  incident_id: string;
  /** Contact ids from config. */
  contacts?: string[];
  /** Or one address on one channel (a `safesphere channel` config node). */
  channel?: { kind: string; address: string; name?: string } | null;
  /** Makes repeated messages of one flow run one delivery (the node's msg id). */
  key: string;
}

/** An incident stored since the last round, and what notify carries of it. */
interface Arrival {
  incident: StoredIncident;
  /** Its policy actions include types the contacts' escalation carries. */
  escalates: boolean;
  /** … or types a usable station channel (the ARC) carries. */
  station: boolean;
}

export class NotifyService implements AckSink {
  private readonly contacts: Map<string, Contact>;
  private channels = new Map<string, Channel>();
  private readonly owned: Set<string>;
  /** The owned types the escalation carries: all but those a usable station channel carries. */
  private escalated: Set<string>;
  /** Station-carried type -> the channel that carries it. */
  private stations = new Map<string, string>();
  private readonly inFlight = new Map<number, AbortController>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running = false;
  private ticking = false;
  private again = false;
  private off: (() => void)[] = [];
  readonly stats = { delivered: 0, failed: 0, retried: 0, acknowledged: 0, steps: 0, marked_undeliverable: 0 };

  constructor(private readonly d: NotifyDeps) {
    this.contacts = new Map(d.config.contacts.map((c) => [c.id, c]));
    this.owned = new Set(d.config.notify.action_types);
    this.escalated = new Set(this.owned);
    this.vocabulary = new WeaponVocabulary(d.config.scoring.firearm_terms);
  }

  /** The firearm floor's vocabulary: the site's terms as the re-scorer and the policy read them. */
  private readonly vocabulary: WeaponVocabulary;

  /** The level whose contacts are told: CRITICAL's when the firearm floor holds (src/policy/policy.ts). */
  private responseOf(i: IncidentWeapons): ThreatLevel {
    return incidentResponseLevel(i, this.vocabulary);
  }

  /** Action types this service carries: the policy's notification types and its own deliveries. */
  owns(type: string): boolean {
    return this.owned.has(type) || type.startsWith('deliver_');
  }

  private get cfg(): GatewayConfig['notify'] {
    return this.d.config.notify;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Starts with the channels (built once their secrets are read). */
  async start(channels: readonly Channel[]): Promise<void> {
    this.channels = new Map(channels.map((c) => [c.kind, c]));
    for (const c of channels) {
      if (!c.carries || c.unusable() !== null) continue;
      for (const t of c.carries()) if (this.owned.has(t)) this.stations.set(t, c.kind);
    }
    this.escalated = new Set([...this.owned].filter((t) => !this.stations.has(t)));
    const now = Date.now();
    // Attempts a previous run left in flight go again now, with the same idempotency key.
    const resent = this.d.store.notify.resetInFlight(now);
    if (resent > 0) this.d.log.info({ deliveries: resent }, 'deliveries in flight when the gateway stopped are sent again');
    this.running = true;
    this.off.push(
      this.d.bus.on('incident.stored', ({ incident, actions }) => this.incidentStored(incident, actions)),
      this.d.bus.on('incident.acknowledged', ({ incident_id }) => void this.acknowledgedElsewhere(incident_id)),
      this.d.bus.on('incident.status', ({ incident_id, state }) => {
        if (state === 'resolved') this.stationRestore(incident_id);
      }),
    );
    // Station actions stored just before a crash, with no delivery yet.
    const unqueued = new Set(this.d.store.notify.unqueuedStation([...this.stations.keys()]).map((a) => a.incident_id));
    for (const id of unqueued) this.inTransaction(() => this.queueStation(id));
    // Incidents whose actions were stored but whose escalation never started (a crash right after the commit).
    for (const u of this.d.store.notify.unstarted([...this.escalated])) this.begin(u.incident_id, this.responseOf(u), u.received_at_ms);
    for (const c of this.channels.values()) c.start?.(this);
    this.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const off of this.off) off();
    this.off = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.round) clearImmediate(this.round);
    this.round = null;
    // Incidents whose escalation had not started yet: the next start finds them unstarted.
    this.arrivals = [];
    // Sends in flight are abandoned: their rows stay 'sending' and go again after the restart.
    // Outcomes already received are written: what was delivered is not sent again after the restart.
    this.flushOutcomes();
    for (const c of this.inFlight.values()) c.abort();
    await Promise.all([...this.channels.values()].map((c) => c.stop?.().catch(() => {})));
  }

  // ---- escalation -------------------------------------------------------------------------

  /** Incidents stored since the last round: one group commit's incidents arrive in one event-loop turn. */
  private arrivals: Arrival[] = [];

  private incidentStored(incident: StoredIncident, actions: PlannedAction[]): void {
    const escalates = actions.some((a) => this.escalated.has(a.action_type));
    const station = actions.some((a) => this.stations.has(a.action_type));
    if (!this.running || (!escalates && !station)) return;
    this.arrivals.push({ incident, escalates, station });
    this.soon();
  }

  /** Queues the station deliveries and starts the escalations of the incidents stored since the last round (inside its transaction). */
  private startEscalations(arrivals: readonly Arrival[]): void {
    for (const { incident, escalates, station } of arrivals) {
      if (station) this.queueStation(incident.incident_id);
      if (!escalates) continue;
      const received = this.d.store.notify.incidentReceivedMs(incident.incident_id) ?? Date.parse(incident.created_at);
      // A firearm runs the CRITICAL response whatever its level: its contacts are CRITICAL's too.
      this.begin(incident.incident_id, this.responseOf(incident), received);
    }
  }

  private steps(level: ThreatLevel): GatewayConfig['escalation'][ThreatLevel] {
    return this.d.config.escalation[level];
  }

  /** Why a contact channel cannot be used on this site, or null. */
  private channelProblem(kind: string): string | null {
    const channel = this.channels.get(kind);
    if (!channel) return `no ${kind} channel is available`;
    return channel.unusable();
  }

  private contactChannels(contact: Contact): { kind: string; address: string }[] {
    return contact.channels.flatMap((ch) => Object.entries(ch).map(([kind, address]) => ({ kind, address: String(address) })));
  }

  /** Null when some step of this level reaches a usable channel; otherwise why nobody will be told. */
  private levelProblem(level: ThreatLevel): string | null {
    const steps = this.steps(level);
    if (steps.length === 0) return `escalation.${level} has no steps`;
    const usable = steps.some((s) => s.notify.some((id) => this.contactChannels(this.contacts.get(id)!).some((c) => this.channelProblem(c.kind) === null)));
    if (usable) return null;
    const kinds = [...new Set(steps.flatMap((s) => s.notify.flatMap((id) => this.contactChannels(this.contacts.get(id)!).map((c) => c.kind))))];
    return `no contact of escalation.${level} has a usable channel (${kinds.map((k) => `${k}: ${this.channelProblem(k)}`).join('; ')})`;
  }

  /** Starts an incident's escalation (idempotent), or marks what it carries undeliverable. */
  begin(incidentId: string, level: ThreatLevel, receivedMs: number): void {
    const steps = this.steps(level);
    const problem = this.levelProblem(level);
    const changes = this.d.store.notify.begin(
      incidentId,
      level,
      [...this.escalated],
      steps.length,
      steps.length ? receivedMs + steps[0]!.at_s * 1000 : null,
      receivedMs,
      problem === null ? null : `nobody will be told: ${problem}`,
    );
    if (problem !== null) this.stats.marked_undeliverable += changes.length;
    this.emit(changes);
  }

  /** The entries of one step: a delivery per usable contact channel, an undeliverable action per unusable one. */
  private stepEntries(incidentId: string, step: number, contactIds: readonly string[]): StepEntry[] {
    const entries: StepEntry[] = [];
    for (const id of contactIds) {
      const contact = this.contacts.get(id);
      if (!contact) continue;
      this.contactChannels(contact).forEach((c, i) => {
        const description = `step ${step + 1}: ${contact.name} (${contact.id}) by ${c.kind}: ${c.address}`;
        const problem = this.channelProblem(c.kind);
        if (problem) entries.push({ kind: 'undeliverable', channel: c.kind, description, reason: `nothing can carry it: ${problem}` });
        else entries.push({ kind: 'delivery', contactId: contact.id, channel: c.kind, address: c.address, description, idempotencyKey: `${this.d.config.site_id}:${incidentId}:${step}:${contact.id}:${c.kind}:${i}` });
      });
    }
    return entries;
  }

  /** Every step due by `now`, in one transaction (one fsync however many incidents are due). */
  private runDueSteps(now: number): void {
    this.inTransaction(() => {
      // Each run advances its escalation past `now` or ends it, so every round makes progress;
      // the bound keeps one call from holding the event loop through a very long backlog.
      for (let round = 0; round < 20; round++) {
        const due = this.d.store.notify.escalationsDue(now, 100);
        for (const esc of due) this.runDue(esc, now);
        if (due.length < 100) return;
      }
      this.soon();
    });
  }

  private runDue(esc: EscalationRow, now: number): void {
    const steps = this.steps(esc.level);
    const step = esc.next_step;
    if (step >= steps.length) {
      // The configuration lost steps across a restart: nothing left to run.
      this.emit(this.d.store.notify.runStep(esc.incident_id, step, [], null, now).changes);
      return;
    }
    const next = steps[step + 1];
    const { ran, changes } = this.d.store.notify.runStep(
      esc.incident_id,
      step,
      this.stepEntries(esc.incident_id, step, steps[step]!.notify),
      next ? esc.started_ms + next.at_s * 1000 : null,
      now,
    );
    if (ran) {
      this.stats.steps++;
      this.d.log.info({ incident_id: esc.incident_id, step: step + 1, of: steps.length }, 'escalation step queued');
    }
    this.emit(changes);
  }

  // ---- the delivery queue -----------------------------------------------------------------

  private round: NodeJS.Immediate | null = null;

  /** A round in the next event-loop turn: what arrives in one turn shares one round. */
  private soon(): void {
    this.round ??= setImmediate(() => {
      this.round = null;
      this.wake();
    });
  }

  /**
   * One round, in ONE transaction (one fsync): start the escalations of the incidents stored
   * since the last round, record the delivery outcomes received, run the steps due, and claim
   * what is due to send. A transaction per incident, per outcome and per claim cost an fsync
   * each on the ingest thread: at 3,000 reports/s the notify path cost more than the reports'
   * own group commit, and at 50 reports/s the queue fell seconds behind.
   */
  wake(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.again = false;
        const now = Date.now();
        const arrivals = this.arrivals;
        const outcomes = this.outcomes;
        this.arrivals = [];
        this.outcomes = [];
        // Their rows are no longer sent: settled now, or (if recording fails) held by their lease.
        for (const o of outcomes) this.inFlight.delete(o.row.id);
        let claimed: DeliveryRow[] = [];
        this.inTransaction(() => {
          // Each part in its own savepoint: a failed part does not undo the others.
          if (arrivals.length > 0) {
            this.part(() => this.startEscalations(arrivals), 'starting escalations failed; they start at the next restart', { incidents: arrivals.length });
          }
          if (outcomes.length > 0) {
            this.part(() => outcomes.forEach((o) => this.settle(o.row, o.attempt, o.outcome)), 'recording delivery outcomes failed; they go again when their lease ends', { deliveries: outcomes.length });
          }
          this.runDueSteps(now);
          claimed = this.claimDue(now);
        });
        for (const row of claimed) this.sendOne(row);
      } while (this.again);
    } catch (err) {
      this.d.log.error({ err }, 'the delivery queue failed a round');
    } finally {
      this.ticking = false;
    }
    this.arm();
  }

  private part(fn: () => void, failure: string, context: Record<string, unknown>): void {
    try {
      this.inTransaction(fn);
    } catch (err) {
      this.d.log.error({ err, ...context }, failure);
    }
  }

  /** Claims what is due, up to the free send slots (inside the round's transaction). */
  private claimDue(now: number): DeliveryRow[] {
    const free = this.cfg.concurrency - this.inFlight.size;
    if (free <= 0) return [];
    const lease = now + this.cfg.send_timeout_ms * 2 + 1000;
    return this.d.store.notify
      .due(now, free + this.inFlight.size)
      .filter((row) => !this.inFlight.has(row.id))
      .slice(0, free)
      .filter((row) => this.d.store.notify.claim(row.id, lease));
  }

  private arm(): void {
    if (!this.running) return;
    const next = this.d.store.notify.nextDueMs();
    const at = next === null ? Infinity : next;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    if (at === Infinity) return;
    // In-flight deliveries hold a lease: do not spin on rows that are being sent.
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.wake();
    }, Math.max(0, at - Date.now()));
    this.timer.unref?.();
  }

  private contactOf(row: DeliveryRow): { id: string; name: string } {
    if (row.step <= STATION_STEP) return { id: row.contact_id, name: 'Monitoring station' };
    const c = this.contacts.get(row.contact_id);
    return { id: row.contact_id, name: c?.name ?? row.contact_id };
  }

  private message(incident: StoredIncident): NotificationMessage {
    const base = this.d.publicUrl();
    const weapons = JSON.parse(incident.weapon_types) as string[];
    const zone = this.d.zoneOf?.(incident.camera_id) ?? null;
    const where = `${incident.camera_id ?? 'an unknown camera'}${zone ? ` (${zone})` : ''}`;
    const text =
      `${incident.threat_level} at ${where}: ${incident.behavior_summary ?? 'threat reported'}` +
      `${weapons.length ? `; weapons: ${weapons.join(', ')}` : ''}. Seen ${incident.timestamp}.`;
    return {
      incident_id: incident.incident_id,
      site_id: this.d.config.site_id,
      level: incident.threat_level,
      score: incident.threat_score,
      camera_id: incident.camera_id,
      zone,
      time: incident.timestamp,
      received_at: incident.created_at,
      behaviour: incident.behavior_summary,
      weapons,
      firearm: namesFirearm({ weapon_detected: incident.weapon_detected, weapon_types: weapons }, this.vocabulary),
      people_count: incident.people_count,
      title: `${incident.threat_level} threat at ${where} - site ${this.d.config.site_id}`,
      text,
      thumbnail: this.d.thumbnailOf?.(incident.incident_id) ?? null,
      dashboard_url: `${base}/?incident=${encodeURIComponent(incident.incident_id)}`,
    };
  }

  /** The delivery a channel sees for a row (its acknowledge token expires ack_link_ttl_s after the delivery was queued). */
  delivery(row: DeliveryRow, attempt: number): Delivery | null {
    const incident = this.d.store.getIncident(row.incident_id);
    if (!incident) return null;
    const token = this.d.tokens().sign(row.id, Date.parse(row.created_at) / 1000 + this.cfg.ack_link_ttl_s);
    return {
      id: row.id,
      incident_id: row.incident_id,
      channel: row.channel,
      address: row.address,
      contact: this.contactOf(row),
      step: row.step,
      attempt,
      idempotency_key: row.idempotency_key,
      message: this.message(incident),
      ack_token: token,
      ack_url: `${this.d.publicUrl()}/notify/ack/${token}`,
    };
  }

  private sendOne(row: DeliveryRow): void {
    const channel = this.channels.get(row.channel);
    const attempt = row.attempts + 1;
    const delivery = this.delivery(row, attempt);
    const controller = new AbortController();
    this.inFlight.set(row.id, controller);
    const work: Promise<SendOutcome> =
      !channel || !delivery
        ? Promise.resolve({ ok: false, reason: !channel ? `no ${row.channel} channel` : 'the incident is gone', transient: false })
        : channel.send(delivery, controller.signal).catch((err: unknown) => ({ ok: false, reason: (err as Error).message, transient: true }));
    void work.then((outcome) => {
      // Stopping: the row stays 'sending' and goes again after the restart.
      if (!this.running) {
        this.inFlight.delete(row.id);
        return;
      }
      this.outcomes.push({ row, attempt, outcome });
      this.soon();
    });
  }

  private outcomes: { row: DeliveryRow; attempt: number; outcome: SendOutcome }[] = [];

  /** On stop: outcomes received but not yet recorded, so what was delivered is not sent again. */
  private flushOutcomes(): void {
    const batch = this.outcomes;
    this.outcomes = [];
    if (batch.length === 0) return;
    try {
      this.inTransaction(() => {
        for (const o of batch) this.settle(o.row, o.attempt, o.outcome);
      });
    } catch (err) {
      // The rows stay 'sending': due again when their lease ends, with the same idempotency key.
      this.d.log.error({ err, deliveries: batch.length }, 'recording delivery outcomes failed; they go again');
    }
    for (const o of batch) this.inFlight.delete(o.row.id);
  }

  private deferred: ActionChange[] | null = null;

  /** Runs `fn` in one transaction; the action.updated events it causes are emitted once it committed. */
  private inTransaction(fn: () => void): void {
    const outer = this.deferred === null;
    if (outer) this.deferred = [];
    try {
      this.d.store.notify.atomically(fn);
    } catch (err) {
      if (outer) this.deferred = null;
      throw err;
    }
    if (!outer) return;
    const changes = this.deferred!;
    this.deferred = null;
    this.emit(changes);
  }

  private settle(row: DeliveryRow, attempt: number, outcome: SendOutcome): void {
    const now = Date.now();
    const log = { delivery_id: row.id, incident_id: row.incident_id, channel: row.channel, contact: row.contact_id, attempt };
    if (outcome.ok) {
      this.stats.delivered++;
      this.d.log.info({ ...log, receipt: outcome.receipt.summary }, 'delivered');
      this.emit(this.d.store.notify.delivered(row.id, outcome.receipt.data, outcome.receipt.summary, outcome.receipt.ack_ref ?? null, now));
      if (row.step === STATION_STEP) this.emit(this.d.store.notify.settleStationActions(row.incident_id, this.stationTypes(row.channel), 'delivered', outcome.receipt.summary, now));
      return;
    }
    if (outcome.transient && attempt < this.cfg.max_attempts) {
      const exp = Math.min(this.cfg.retry_max_ms, this.cfg.retry_base_ms * 2 ** (attempt - 1));
      const wait = Math.max(outcome.retry_after_ms ?? 0, Math.round(exp / 2 + (Math.random() * exp) / 2));
      this.stats.retried++;
      this.d.log.warn({ ...log, reason: outcome.reason, retry_in_ms: wait }, 'delivery failed; retrying');
      this.emit(this.d.store.notify.retry(row.id, outcome.reason, now + wait));
      return;
    }
    this.stats.failed++;
    const reason = attempt > 1 ? `${outcome.reason} (after ${attempt} attempts)` : outcome.reason;
    this.d.log.warn({ ...log, reason }, 'delivery failed');
    this.emit(this.d.store.notify.failed(row.id, reason, now));
    if (row.step === STATION_STEP) {
      this.emit(this.d.store.notify.settleStationActions(row.incident_id, this.stationTypes(row.channel), 'failed', reason, now));
      this.contactsTakeOver(row, reason);
    }
  }

  // ---- station channels (the monitoring station) -------------------------------------------

  private stationTypes(kind: string): string[] {
    return [...this.stations].filter(([, k]) => k === kind).map(([t]) => t);
  }

  /** One station delivery per incident and channel: the first open action of its types carries the others. */
  private queueStation(incidentId: string): void {
    const byKind = new Map<string, { id: number; action_type: string }[]>();
    for (const a of this.d.store.notify.stationActions(incidentId, [...this.stations.keys()])) {
      const kind = this.stations.get(a.action_type)!;
      byKind.set(kind, [...(byKind.get(kind) ?? []), a]);
    }
    for (const [kind, actions] of byKind) {
      const channel = this.channels.get(kind)!;
      const description = `queued for the ${kind} channel (${channel.health?.().address ?? kind}): ${actions.map((a) => a.action_type).join(', ')}`;
      const changes = this.d.store.notify.queueStation(
        incidentId,
        [{ actionId: actions[0]!.id, step: STATION_STEP, channel: kind, address: String(channel.health?.().address ?? kind), description, idempotencyKey: `${this.d.config.site_id}:${incidentId}:station:${kind}` }],
        Date.now(),
      );
      this.emit(changes);
      if (changes.length) this.emit(this.d.store.notify.settleStationActions(incidentId, actions.slice(1).map((a) => a.action_type), 'dispatched', description, Date.now()));
    }
  }

  /** An operator resolved the incident: the station that took its alarm gets the restore. */
  private stationRestore(incidentId: string): void {
    if (!this.running) return;
    for (const kind of new Set(this.stations.values())) {
      if (this.d.store.notify.stationDelivered(incidentId, STATION_STEP, kind).length === 0) continue;
      this.inTransaction(() =>
        this.emit(
          this.d.store.notify.queueStation(
            incidentId,
            [{ actionId: null, step: STATION_RESTORE_STEP, channel: kind, address: String(this.channels.get(kind)?.health?.().address ?? kind), description: `restore to the ${kind} channel: the incident was resolved`, idempotencyKey: `${this.d.config.site_id}:${incidentId}:station-restore:${kind}` }],
            Date.now(),
          ),
        ),
      );
    }
    this.wake();
  }

  /** The station did not take the alarm: the contacts escalation takes over now. */
  private contactsTakeOver(row: DeliveryRow, reason: string): void {
    const incident = this.d.store.getIncident(row.incident_id);
    if (!incident) return;
    const now = Date.now();
    if (!this.d.store.notify.escalation(row.incident_id)) {
      this.begin(row.incident_id, this.responseOf(incident), this.d.store.notify.incidentReceivedMs(row.incident_id) ?? now);
    }
    const forward = this.d.store.notify.bringForward(row.incident_id, now);
    this.d.log.warn({ incident_id: row.incident_id, channel: row.channel, reason, next_step_now: forward }, 'the monitoring station did not take the alarm; the contacts escalation takes over');
  }

  // ---- flows: the safesphere notify node --------------------------------------------------

  /** A flow hands a message to contacts (or one address); queued durably like a step. */
  fromFlow(request: FlowNotifyRequest): { queued: number; undeliverable: number } {
    const incident = this.d.store.getIncident(request.incident_id);
    if (!incident) throw new Error(`no incident "${request.incident_id}"`);
    let entries: StepEntry[];
    if (request.channel) {
      const { kind, address } = request.channel;
      if (!(CHANNEL_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown channel "${kind}"`);
      const name = request.channel.name || `${kind}:${address}`;
      const problem = this.channelProblem(kind);
      const description = `flow: ${name} by ${kind}: ${address}`;
      entries = problem
        ? [{ kind: 'undeliverable', channel: kind, description, reason: `nothing can carry it: ${problem}` }]
        : [{ kind: 'delivery', contactId: `flow:${name}`, channel: kind, address, description, idempotencyKey: `${this.d.config.site_id}:${request.incident_id}:flow:${request.key}:${kind}:${address}` }];
    } else {
      const unknown = (request.contacts ?? []).filter((id) => !this.contacts.has(id));
      if (unknown.length) throw new Error(`unknown contact(s): ${unknown.join(', ')}`);
      entries = this.stepEntries(request.incident_id, -1, request.contacts ?? []).map((e) =>
        e.kind === 'delivery' ? { ...e, idempotencyKey: `${e.idempotencyKey}:flow:${request.key}`, description: e.description.replace(/^step 0/, 'flow') } : e,
      );
    }
    const changes = this.d.store.notify.queueFromFlow(request.incident_id, entries, Date.now());
    this.emit(changes);
    this.wake();
    return { queued: changes.filter((c) => c.state === 'dispatched').length, undeliverable: changes.filter((c) => c.state === 'undeliverable').length };
  }

  // ---- acknowledgement --------------------------------------------------------------------

  /** What the acknowledge page shows before the button is pressed: the token checked, nothing changed. */
  checkToken(token: string): ({ ok: true; message: NotificationMessage }) | (AckOutcome & { ok: false }) {
    const check = this.d.tokens().verify(token, Date.now());
    if (!check.ok) return this.tokenRefusal(check.code);
    const row = this.d.store.notify.delivery(check.deliveryId);
    if (!row) return this.tokenRefusal('unknown');
    const used = this.usedRefusal(row);
    if (used) return used;
    const incident = this.d.store.getIncident(row.incident_id);
    if (!incident) return this.tokenRefusal('unknown');
    return { ok: true, message: this.message(incident) };
  }

  private tokenRefusal(code: 'malformed' | 'forged' | 'expired' | 'unknown'): AckOutcome & { ok: false } {
    const messages = {
      malformed: 'This acknowledge link is not valid.',
      forged: 'This acknowledge link is not valid: it was not issued by this gateway.',
      expired: 'This acknowledge link has expired. Acknowledge on the dashboard instead.',
      unknown: 'This acknowledge link belongs to no delivery on this gateway (it may have been deleted by retention).',
    } as const;
    return { ok: false, code, status: code === 'expired' ? 410 : code === 'unknown' ? 404 : 403, message: messages[code] };
  }

  private usedRefusal(row: DeliveryRow): (AckOutcome & { ok: false }) | null {
    const usedAt = this.d.store.notify.tokenUsedAt(row.id);
    if (!usedAt) return null;
    const s = this.d.store.operations.status(row.incident_id);
    return {
      ok: false,
      code: 'used',
      status: 409,
      incident_id: row.incident_id,
      message: `This acknowledge link was already used at ${usedAt}.${s?.acknowledged_by ? ` The incident was acknowledged by ${s.acknowledged_by} via ${s.acknowledged_via ?? 'unknown'} at ${s.acknowledged_at}.` : ''}`,
    };
  }

  /** An acknowledge link or button: checked (forged, expired, used), then THE acknowledgement. */
  byToken(token: string, via?: string, by?: string): AckOutcome {
    const check = this.d.tokens().verify(token, Date.now());
    if (!check.ok) return this.tokenRefusal(check.code);
    const row = this.d.store.notify.delivery(check.deliveryId);
    if (!row) return this.tokenRefusal('unknown');
    const used = this.usedRefusal(row);
    if (used) return used;
    const contact = this.contactOf(row);
    return this.acknowledge(row, by ? `${contact.name} (${by})` : contact.name, via ?? row.channel, true);
  }

  /** An acknowledgement a receiver reported for a delivery (a Pushover receipt's acknowledged_by). */
  byDelivery(deliveryId: number, by: string, via: string): AckOutcome {
    const row = this.d.store.notify.delivery(deliveryId);
    if (!row) return { ok: false, code: 'unknown', status: 404, message: 'no such delivery' };
    return this.acknowledge(row, by, via, false);
  }

  private acknowledge(row: DeliveryRow, by: string, via: string, useToken: boolean): AckOutcome {
    const at = new Date().toISOString();
    const r = this.d.store.transaction(() => {
      if (useToken && !this.d.store.notify.useToken(row.id, row.incident_id, at)) return null;
      return this.d.store.operations.acknowledge({ incidentId: row.incident_id, by, via, note: null, atIso: at, deliveryId: row.id });
    });
    if (!r) return { ok: false, code: 'used', status: 409, incident_id: row.incident_id, message: 'This acknowledge link was already used.' };
    this.emit(r.changes);
    const s = r.status;
    if (r.first) {
      this.stats.acknowledged++;
      this.d.log.info({ incident_id: row.incident_id, by, via, delivery_id: row.id }, 'incident acknowledged');
      this.d.bus.emit('incident.acknowledged', { incident_id: row.incident_id, by: s.acknowledged_by ?? by, via: s.acknowledged_via ?? via, at: s.acknowledged_at ?? at });
    }
    return {
      ok: true,
      incident_id: row.incident_id,
      first: r.first,
      by: s.acknowledged_by ?? by,
      via: s.acknowledged_via ?? via,
      at: s.acknowledged_at ?? at,
      message: r.first
        ? `Acknowledged: incident ${row.incident_id}, by ${by}. The escalation has stopped.`
        : `Incident ${row.incident_id} was already acknowledged by ${s.acknowledged_by} via ${s.acknowledged_via ?? 'unknown'} at ${s.acknowledged_at}.`,
    };
  }

  /** After an acknowledgement from anywhere: stop what still rings, and look at the queue again. */
  private async acknowledgedElsewhere(incidentId: string): Promise<void> {
    for (const channel of this.channels.values()) {
      if (!channel.acknowledged) continue;
      const rows = this.d.store.notify.withAckRef(incidentId, channel.kind);
      if (rows.length) await channel.acknowledged(rows);
    }
    this.wake();
  }

  pollable(channel: string, limit: number): DeliveryRow[] {
    return this.d.store.notify.pollable(channel, limit);
  }

  clearAckRef(deliveryId: number): void {
    this.d.store.notify.clearAckRef(deliveryId);
  }

  // ---- what the site can deliver ------------------------------------------------------------

  /** Every policy action type this service carries that nothing can deliver, in plain words. */
  undeliverable(): string[] {
    const lines = new Map<string, string[]>();
    for (const level of LEVELS) {
      const rule = this.d.config.policy[level];
      const types = [...rule.actions, ...rule.weapon_actions].map((a) => a.type).filter((t) => this.escalated.has(t));
      if (types.length === 0) continue;
      const problem = this.levelProblem(level);
      if (problem === null) continue;
      for (const t of types) lines.set(t, [...(lines.get(t) ?? []), `${level}: ${problem}`]);
    }
    return [...lines].map(([type, why]) => `${type}: nobody will be told (${why.join('; ')})`);
  }

  /** The incident view's escalation and deliveries (src/incidents/details.ts). */
  escalationOf(incidentId: string): Record<string, unknown> | null {
    const e = this.d.store.notify.escalation(incidentId);
    if (!e) return null;
    const steps = this.steps(e.level);
    return {
      level: e.level,
      state: e.state,
      steps: e.steps,
      next_step: e.next_step < e.steps ? e.next_step + 1 : null,
      next_at: e.next_at_ms === null ? null : new Date(e.next_at_ms).toISOString(),
      next_notify: e.state === 'running' && e.next_step < steps.length ? steps[e.next_step]!.notify : [],
      started_at: new Date(e.started_ms).toISOString(),
    };
  }

  deliveriesOf(incidentId: string): Record<string, unknown>[] {
    return this.d.store.notify.deliveriesFor(incidentId).map((r) => ({
      id: r.id,
      action_id: r.action_id,
      step: r.step >= 0 ? r.step + 1 : null,
      contact_id: r.contact_id,
      contact: this.contactOf(r).name,
      channel: r.channel,
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      receipt: r.receipt === null ? null : (JSON.parse(r.receipt) as unknown),
      receipt_at: r.receipt_at,
      error: r.error,
      created_at: r.created_at,
      updated_at: r.updated_at,
    }));
  }

  health(): ComponentHealth {
    const undeliverable = this.undeliverable();
    const channels = Object.fromEntries(
      [...this.channels.values()].map((c) => [c.kind, { usable: c.unusable() === null, ...(c.unusable() ? { problem: c.unusable() } : {}), ...(c.health?.() ?? {}) }]),
    );
    return {
      status: !this.running ? 'down' : undeliverable.length > 0 ? 'degraded' : 'up',
      ...(undeliverable.length > 0 ? { problems: undeliverable } : {}),
      undeliverable,
      contacts: this.contacts.size,
      queued: this.running ? this.d.store.notify.openDeliveries() : null,
      in_flight: this.inFlight.size,
      channels,
      ...this.stats,
    };
  }

  private emit(changes: readonly ActionChange[]): void {
    if (this.deferred !== null) {
      this.deferred.push(...changes);
      return;
    }
    for (const c of changes) this.d.bus.emit('action.updated', { ...c, state: c.state as ActionState });
  }
}
