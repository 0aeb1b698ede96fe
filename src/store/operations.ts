// Site operations (migration 6): range aggregates for the analysis and timelapse APIs (each
// an indexed SQL aggregate, never rows loaded into JavaScript), active threats, the
// operator's incident status, and the live feed's change log (ops_feed, written by
// triggers in the transaction of each change it shows: triggers.ts).
import type { IncidentSource, ThreatLevel } from '../config/schema.js';
import type { ActionChange, NotifyRepository } from './notify.js';
import { Repository, type Db } from './repository.js';

export interface IncidentStatus {
  incident_id: string;
  state: 'acknowledged' | 'resolved';
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  /** How: api, dashboard, email, ntfy, pushover, telegram, ... (migration 8). */
  acknowledged_via: string | null;
  resolved_by: string | null;
  resolved_at: string | null;
  note: string | null;
  updated_at: string;
}

export interface FeedRow {
  seq: number;
  kind: 'incident' | 'action' | 'label' | 'status' | 'arming' | 'escalation';
  incident_id: string;
  level: ThreatLevel | null;
  camera_id: string | null;
  data: string;
  source: IncidentSource | null;
  at: string;
}

export interface ReplayRow {
  id: number;
  incident_id: string;
  seq: number;
  threat_level: ThreatLevel;
  threat_score: number;
  camera_id: string | null;
  weapon_detected: number;
  behavior_summary: string | null;
  source: IncidentSource;
  created_at: string;
}

/** A source filter as two SQL slots (`source IN (?, ?)`): none, one source, or threat_cv's two. */
type SourcePair = [string, string];
function pair(sources: readonly IncidentSource[]): SourcePair {
  if (sources.length < 1 || sources.length > 2) throw new Error(`a source filter names one or two sources, not ${sources.length}`);
  return [sources[0]!, sources[1] ?? sources[0]!];
}
const filterArgs = (sources?: readonly IncidentSource[]): [number, string, string] => (sources ? [1, ...pair(sources)] : [0, '', '']);

export interface CameraLevelHourRow {
  camera_id: string;
  source: IncidentSource;
  level: ThreatLevel;
  hour: number;
  n: number;
  score_sum: number;
  score_max: number;
  weapons: number;
}

function prepare(db: Db) {
  return {
    // One pass over incidents_ops_range (covering, source included since migration 8): per
    // camera, level, local hour and source. A source filter is `? = 0 OR source IN (?, ?)`.
    cameraLevelHour: db.prepare<[number, string, string, number, string, string], CameraLevelHourRow>(`SELECT coalesce(camera_id, '') AS camera_id, threat_level AS level,
        (((CAST(substr(created_at, 12, 2) AS INTEGER) * 60 + CAST(substr(created_at, 15, 2) AS INTEGER) + CAST(? AS INTEGER)) % 1440 + 1440) % 1440) / 60 AS hour,
        source, count(*) AS n, sum(threat_score) AS score_sum, max(threat_score) AS score_max, sum(weapon_detected) AS weapons
      FROM incidents INDEXED BY incidents_ops_range WHERE created_at >= ? AND created_at < ? AND (? = 0 OR source IN (?, ?))
      GROUP BY 1, 2, 3, 4`),
    levelCountSource: db.prepare<[string, string, ThreatLevel, string, string], { n: number }>(`SELECT count(*) AS n FROM incidents INDEXED BY incidents_source_level_created
      WHERE source IN (?, ?) AND threat_level = ? AND created_at >= ? AND created_at < ?`),
    falseAlarmsSource: db.prepare<[string, string, string, string], { camera_id: string; label: string; n: number }>(`SELECT coalesce(l.camera_id, '') AS camera_id, l.label AS label, count(*) AS n
      FROM labels l INDEXED BY labels_created JOIN incidents i ON i.incident_id = l.incident_id
      WHERE l.created_at >= ? AND l.created_at < ? AND i.source IN (?, ?)
        AND NOT EXISTS (SELECT 1 FROM labels l2 WHERE l2.incident_id = l.incident_id AND l2.id > l.id)
      GROUP BY 1, 2`),
    facetsSource: db.prepare<[string, string, string, string], { kind: string; value: string; n: number }>(`SELECT f.kind, f.value, count(*) AS n
      FROM incident_facets f INDEXED BY incident_facets_created JOIN incidents i ON i.incident_id = f.incident_id
      WHERE f.created_at >= ? AND f.created_at < ? AND i.source IN (?, ?) GROUP BY f.kind, f.value ORDER BY n DESC, f.value`),
    levelCount: db.prepare<[ThreatLevel, string, string], { n: number }>(`SELECT count(*) AS n FROM incidents INDEXED BY incidents_level_created
      WHERE threat_level = ? AND created_at >= ? AND created_at < ?`),
    // Labels given in the range; an incident's latest label counts.
    falseAlarms: db.prepare<[string, string], { camera_id: string; label: string; n: number }>(`SELECT coalesce(l.camera_id, '') AS camera_id, l.label AS label, count(*) AS n
      FROM labels l INDEXED BY labels_created
      WHERE l.created_at >= ? AND l.created_at < ?
        AND NOT EXISTS (SELECT 1 FROM labels l2 WHERE l2.incident_id = l.incident_id AND l2.id > l.id)
      GROUP BY 1, 2`),
    facets: db.prepare<[string, string], { kind: string; value: string; n: number }>(`SELECT kind, value, count(*) AS n FROM incident_facets INDEXED BY incident_facets_created
      WHERE created_at >= ? AND created_at < ? GROUP BY kind, value ORDER BY n DESC, value`),
    timelapse: db.prepare<[number, number, string, string, number, string, string], { b: number; camera_id: string; level: ThreatLevel; n: number }>(`SELECT (unixepoch(created_at) - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, coalesce(camera_id, '') AS camera_id, threat_level AS level, count(*) AS n
      FROM incidents INDEXED BY incidents_ops_range WHERE created_at >= ? AND created_at < ? AND (? = 0 OR source IN (?, ?))
      GROUP BY 1, 2, 3`),
    active: db.prepare<[ThreatLevel, string], { incident_id: string; camera_id: string | null; threat_level: ThreatLevel; created_at: string }>(`SELECT i.incident_id, i.camera_id, i.threat_level, i.created_at FROM incidents i INDEXED BY incidents_level_created
      WHERE i.threat_level = ? AND i.created_at >= ?
        AND NOT EXISTS (SELECT 1 FROM incident_status s WHERE s.incident_id = i.incident_id AND s.state = 'resolved')
      ORDER BY i.created_at DESC LIMIT 1000`),
    statusGet: db.prepare<[string], IncidentStatus>(`SELECT incident_id, state, acknowledged_by, acknowledged_at, acknowledged_via, resolved_by, resolved_at, note, updated_at
      FROM incident_status WHERE incident_id = ?`),
    statusAck: db.prepare<[string, string, string, string, string | null, string]>(`INSERT INTO incident_status (incident_id, state, acknowledged_by, acknowledged_at, acknowledged_via, note, updated_at)
      VALUES (?, 'acknowledged', ?, ?, ?, ?, ?)
      ON CONFLICT (incident_id) DO UPDATE SET acknowledged_by = coalesce(acknowledged_by, excluded.acknowledged_by),
        acknowledged_at = coalesce(acknowledged_at, excluded.acknowledged_at), acknowledged_via = coalesce(acknowledged_via, excluded.acknowledged_via),
        note = coalesce(excluded.note, note), updated_at = excluded.updated_at`),
    statusResolve: db.prepare<[string, string, string, string, string, string, string | null, string]>(`INSERT INTO incident_status (incident_id, state, acknowledged_by, acknowledged_at, acknowledged_via, resolved_by, resolved_at, note, updated_at)
      VALUES (?, 'resolved', ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (incident_id) DO UPDATE SET state = 'resolved',
        acknowledged_by = coalesce(acknowledged_by, excluded.acknowledged_by), acknowledged_at = coalesce(acknowledged_at, excluded.acknowledged_at),
        acknowledged_via = coalesce(acknowledged_via, excluded.acknowledged_via),
        resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at, note = coalesce(excluded.note, note),
        updated_at = excluded.updated_at`),
    feedAfter: db.prepare<[number, number], FeedRow>('SELECT seq, kind, incident_id, level, camera_id, source, data, at FROM ops_feed WHERE seq > ? ORDER BY seq LIMIT ?'),
    feedBounds: db.prepare<[], { oldest: number; head: number }>('SELECT coalesce(min(seq), 0) AS oldest, coalesce(max(seq), 0) AS head FROM ops_feed'),
    feedHead: db.prepare<[], { head: number }>('SELECT coalesce(max(seq), 0) AS head FROM ops_feed'),
    feedPrune: db.prepare<[number, number]>('DELETE FROM ops_feed WHERE seq IN (SELECT seq FROM ops_feed WHERE seq <= ? ORDER BY seq LIMIT ?)'),
    replayPage: db.prepare<[string, number, string, number], ReplayRow>(`SELECT id, incident_id, seq, threat_level, threat_score, camera_id, weapon_detected, behavior_summary, source, created_at
      FROM incidents INDEXED BY incidents_created
      WHERE (created_at, id) > (?, ?) AND created_at < ?
      ORDER BY created_at, id LIMIT ?`),
  };
}

/** An acknowledgement, from whichever path it came (dashboard, API, a channel's link or button). */
export interface Acknowledgement {
  incidentId: string;
  by: string;
  /** api, dashboard, email, ntfy, pushover, telegram, webhook, ... */
  via: string;
  note: string | null;
  atIso: string;
  /** The delivery whose link or button was used, if any. */
  deliveryId?: number | null;
}

export interface AcknowledgeResult {
  status: IncidentStatus;
  /** False when the incident had been acknowledged before (the first acknowledgement is kept). */
  first: boolean;
  /** Actions whose state changed (the escalation's deliveries and carried actions). */
  changes: ActionChange[];
}

export class OperationsRepository extends Repository<ReturnType<typeof prepare>> {
  constructor(private readonly notify: NotifyRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  // --- range aggregates ------------------------------------------------------------------

  /** Counts and score figures per camera, level and local hour (UTC shifted by `utcOffsetMin`) in [from, to). */
  /** Per camera, level, source and local hour (UTC shifted by `utcOffsetMin`) in [from, to); optionally only `sources`. */
  cameraLevelHour(utcOffsetMin: number, fromIso: string, toIso: string, sources?: readonly IncidentSource[]): CameraLevelHourRow[] {
    return this.st.cameraLevelHour.all(utcOffsetMin, fromIso, toIso, ...filterArgs(sources));
  }

  levelCount(level: ThreatLevel, fromIso: string, toIso: string, sources?: readonly IncidentSource[]): number {
    if (sources) return this.st.levelCountSource.get(...pair(sources), level, fromIso, toIso)!.n;
    return this.st.levelCount.get(level, fromIso, toIso)!.n;
  }

  /** Latest label per incident given in [from, to), counted per camera and label. */
  latestLabels(fromIso: string, toIso: string, sources?: readonly IncidentSource[]): { camera_id: string; label: string; n: number }[] {
    if (sources) return this.st.falseAlarmsSource.all(fromIso, toIso, ...pair(sources));
    return this.st.falseAlarms.all(fromIso, toIso);
  }

  facets(fromIso: string, toIso: string, sources?: readonly IncidentSource[]): { kind: string; value: string; n: number }[] {
    if (sources) return this.st.facetsSource.all(fromIso, toIso, ...pair(sources));
    return this.st.facets.all(fromIso, toIso);
  }

  /** Counts per bucket index (of `bucketS` seconds from `fromS`), camera and level in [from, to). */
  timelapse(fromS: number, bucketS: number, fromIso: string, toIso: string, sources?: readonly IncidentSource[]): { b: number; camera_id: string; level: ThreatLevel; n: number }[] {
    return this.st.timelapse.all(fromS, bucketS, fromIso, toIso, ...filterArgs(sources));
  }

  /** Unresolved incidents of one level received since `sinceIso`, newest first (at most 1000). */
  unresolved(level: ThreatLevel, sinceIso: string): { incident_id: string; camera_id: string | null; threat_level: ThreatLevel; created_at: string }[] {
    return this.st.active.all(level, sinceIso);
  }

  /** Incidents in (created_at, id) order after a keyset cursor, for the timelapse replay. */
  replayPage(after: { createdAt: string; id: number }, toIso: string, limit: number): ReplayRow[] {
    return this.st.replayPage.all(after.createdAt, after.id, toIso, limit);
  }

  // --- incident status -------------------------------------------------------------------

  status(incidentId: string): IncidentStatus | null {
    return this.st.statusGet.get(incidentId) ?? null;
  }

  /**
   * THE acknowledgement: every path (the acknowledge endpoint, the dashboard, the e-mail link, the
   * ntfy button, the Pushover receipt, the Telegram button) ends here. In one transaction: the
   * incident's status (the first acknowledgement's who, how and when are kept), and the escalation
   * stops (src/store/notify.ts). Idempotent.
   */
  acknowledge(ack: Acknowledgement): AcknowledgeResult {
    return this.tx(() => {
      const before = this.status(ack.incidentId);
      this.st.statusAck.run(ack.incidentId, ack.by, ack.atIso, ack.via, ack.note, ack.atIso);
      const status = this.status(ack.incidentId)!;
      const first = before?.acknowledged_at == null;
      const result = `acknowledged by ${status.acknowledged_by ?? ack.by} via ${status.acknowledged_via ?? ack.via} at ${status.acknowledged_at ?? ack.atIso}`;
      const changes = this.notify.acknowledged(ack.incidentId, result, first ? (ack.deliveryId ?? null) : null, ack.atIso);
      return { status, first, changes };
    });
  }

  /** A resolution is an acknowledgement too (a person handled it): the escalation stops. */
  resolve(ack: Acknowledgement): AcknowledgeResult {
    return this.tx(() => {
      const before = this.status(ack.incidentId);
      this.st.statusResolve.run(ack.incidentId, ack.by, ack.atIso, ack.via, ack.by, ack.atIso, ack.note, ack.atIso);
      const status = this.status(ack.incidentId)!;
      const changes = this.notify.acknowledged(ack.incidentId, `resolved by ${ack.by} via ${ack.via} at ${ack.atIso}`, null, ack.atIso);
      return { status, first: before?.acknowledged_at == null, changes };
    });
  }

  // --- the live feed ---------------------------------------------------------------------

  feedAfter(seq: number, limit: number): FeedRow[] {
    return this.st.feedAfter.all(seq, limit);
  }

  feedBounds(): { oldest: number; head: number } {
    return this.st.feedBounds.get()!;
  }

  feedHead(): number {
    return this.st.feedHead.get()!.head;
  }

  /** Deletes up to `chunk` feed rows at or below `uptoSeq`; returns how many went. */
  pruneFeed(uptoSeq: number, chunk: number): number {
    return this.st.feedPrune.run(uptoSeq, chunk).changes;
  }
}
