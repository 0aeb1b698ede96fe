// The arming mode and its audit log (migration 10), for src/arming/. A change of mode is ONE
// transaction: the new state, its site_events row (what the push transports send upstream)
// and its ops_feed row (the live feed), so the audit, the feed and the mode never disagree.
// Also the Home Assistant side's reads: open incidents, each camera's newest incident, and the
// discovery topics last published.
import type { ArmingMode, ThreatLevel } from '../config/schema.js';
import type { OutboxRepository } from './outbox.js';
import { Repository, type Db } from './repository.js';

export interface ArmingStateRow {
  mode: ArmingMode;
  source: 'manual' | 'schedule' | 'initial';
  override_until_ms: number | null;
  event_seq: number | null;
  updated_at: string;
}

/** One audited change of mode: who, through what, when. */
export interface ArmingChange {
  mode: ArmingMode;
  previous: ArmingMode | null;
  /** Who: a token or account name, "schedule", a Node-RED node. */
  by: string;
  /** Through what: http, mqtt, homeassistant, dashboard, node-red, schedule, restart. */
  via: string;
  at: string;
  /** Until when a manual change holds against the schedule (ISO), or null. */
  override_until: string | null;
  reason?: string;
}

export interface SiteEvent {
  seq: number;
  kind: string;
  data: Record<string, unknown>;
  at: string;
}

export interface OpenIncident {
  incident_id: string;
  camera_id: string | null;
  threat_level: ThreatLevel;
  threat_score: number;
  created_at: string;
  status: 'acknowledged' | null;
}

const PUSH_BITS = 1 | 2;

function prepare(db: Db) {
  const perBit = (bit: number) => ({
    pending: db.prepare<[number], { seq: number; kind: string; data: string; at: string }>(
      `SELECT seq, kind, data, at FROM site_events WHERE pending_mask & ${bit} ORDER BY seq LIMIT ?`,
    ),
    delivered: db.prepare<[number]>(`UPDATE site_events SET pending_mask = pending_mask & ~${bit} WHERE seq = ?`),
  });
  return {
    state: db.prepare<[], ArmingStateRow>('SELECT mode, source, override_until_ms, event_seq, updated_at FROM arming_state WHERE id = 1'),
    saveState: db.prepare<{ mode: string; source: string; until: number | null; seq: number | null; at: string }>(
      `INSERT INTO arming_state (id, mode, source, override_until_ms, event_seq, updated_at) VALUES (1, @mode, @source, @until, @seq, @at)
       ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, source = excluded.source, override_until_ms = excluded.override_until_ms,
         event_seq = coalesce(excluded.event_seq, event_seq), updated_at = excluded.updated_at`,
    ),
    insertEvent: db.prepare<[string, string, string, number], { seq: number }>(
      'INSERT INTO site_events (kind, data, at, pending_mask) VALUES (?, ?, ?, ?) RETURNING seq',
    ),
    insertFeed: db.prepare<[string, string]>("INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at) VALUES ('arming', '', NULL, NULL, ?, ?)"),
    events: db.prepare<[string, number, number], { seq: number; kind: string; data: string; at: string }>(
      'SELECT seq, kind, data, at FROM site_events INDEXED BY site_events_kind WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    allEvents: db.prepare<[number, number], { seq: number; kind: string; data: string; at: string }>(
      'SELECT seq, kind, data, at FROM site_events WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    pruneDelivered: db.prepare<[number]>(
      `DELETE FROM site_events WHERE pending_mask = 0 AND seq <= (SELECT coalesce(max(seq), 0) FROM site_events) - ?`,
    ),
    release: db.prepare<[number, number]>('UPDATE site_events SET pending_mask = pending_mask & ? WHERE pending_mask & ~?'),
    byBit: new Map([1, 2].map((bit) => [bit, perBit(bit)])),
    open: db.prepare<[ThreatLevel, string], OpenIncident>(
      `SELECT i.incident_id, i.camera_id, i.threat_level, i.threat_score, i.created_at, s.state AS status
       FROM incidents i INDEXED BY incidents_level_created LEFT JOIN incident_status s ON s.incident_id = i.incident_id
       WHERE i.threat_level = ? AND i.created_at >= ? AND s.state IS NOT 'resolved'
       ORDER BY i.created_at DESC LIMIT 1000`,
    ),
    newestOfCamera: db.prepare<[string], { incident_id: string; threat_level: ThreatLevel; threat_score: number; created_at: string }>(
      `SELECT incident_id, threat_level, threat_score, created_at FROM incidents INDEXED BY incidents_camera_created
       WHERE camera_id = ? ORDER BY created_at DESC LIMIT 1`,
    ),
    discoveryTopics: db.prepare<[string], { topic: string }>('SELECT topic FROM ha_discovery WHERE target = ?'),
    discoveryClear: db.prepare<[string]>('DELETE FROM ha_discovery WHERE target = ?'),
    discoveryAdd: db.prepare<[string, string]>('INSERT OR IGNORE INTO ha_discovery (target, topic) VALUES (?, ?)'),
  };
}

const parse = (r: { seq: number; kind: string; data: string; at: string }): SiteEvent => ({
  seq: r.seq,
  kind: r.kind,
  data: JSON.parse(r.data) as Record<string, unknown>,
  at: r.at,
});

export class ArmingRepository extends Repository<ReturnType<typeof prepare>> {
  private readonly listeners = new Set<() => void>();
  /** Delivered site events kept for the audit view beyond this many newest rows are pruned. */
  keep = 10_000;

  constructor(private readonly outbox: OutboxRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  state(): ArmingStateRow | null {
    return this.st.state.get() ?? null;
  }

  /** The state without an audited change (first start, or the override's end note). */
  saveState(mode: ArmingMode, source: ArmingStateRow['source'], overrideUntilMs: number | null, at: string): void {
    this.st.saveState.run({ mode, source, until: overrideUntilMs, seq: null, at });
  }

  /** A change of mode: state, audit row (queued for the push transports) and feed row, in one transaction. */
  recordChange(change: ArmingChange, source: ArmingStateRow['source'], overrideUntilMs: number | null): number {
    const seq = this.tx(() => {
      const data = JSON.stringify(change);
      const { seq } = this.st.insertEvent.get('arming', data, change.at, this.outbox.consumers & PUSH_BITS)!;
      this.st.insertFeed.run(JSON.stringify({ ...change, seq }), change.at);
      this.st.saveState.run({ mode: change.mode, source, until: overrideUntilMs, seq, at: change.at });
      this.st.pruneDelivered.run(this.keep);
      return seq;
    });
    for (const l of this.listeners) l();
    return seq;
  }

  /** Called after each recorded change (the sync drainers and the live feed wake on it). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Audited changes after `after` (seq), oldest first. */
  changes(after: number, limit: number): SiteEvent[] {
    return this.st.events.all('arming', after, limit).map(parse);
  }

  /** Every site event after `after`, for the cloud's pull. */
  siteEvents(after: number, limit: number): SiteEvent[] {
    return this.st.allEvents.all(after, limit).map(parse);
  }

  // --- push side (src/sync/) -------------------------------------------------------------

  pendingFor(bit: number, limit: number): SiteEvent[] {
    const s = this.st.byBit.get(bit);
    if (!s) throw new RangeError(`${bit} is not a push consumer bit`);
    return s.pending.all(limit).map(parse);
  }

  markDelivered(bit: number, seqs: readonly number[]): void {
    const s = this.st.byBit.get(bit);
    if (!s || seqs.length === 0) return;
    this.tx(() => {
      for (const seq of seqs) s.delivered.run(seq);
    });
  }

  /** Push transports no longer enabled will never take their events. */
  releaseExcept(mask: number): number {
    return this.st.release.run(mask, mask).changes;
  }

  // --- Home Assistant ---------------------------------------------------------------------

  /** Unresolved incidents of `levels` received since `sinceIso`, newest first. */
  openIncidents(levels: readonly ThreatLevel[], sinceIso: string): OpenIncident[] {
    return levels
      .flatMap((level) => this.st.open.all(level, sinceIso))
      .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  }

  newestOfCamera(cameraId: string): { incident_id: string; threat_level: ThreatLevel; threat_score: number; created_at: string } | null {
    return this.st.newestOfCamera.get(cameraId) ?? null;
  }

  discoveryTopics(target: string): string[] {
    return this.st.discoveryTopics.all(target).map((r) => r.topic);
  }

  setDiscoveryTopics(target: string, topics: Iterable<string>): void {
    this.tx(() => {
      this.st.discoveryClear.run(target);
      for (const t of topics) this.st.discoveryAdd.run(target, t);
    });
  }
}
