// The incident document that goes upstream, the same for the HTTP push, the MQTT bridge
// and the pull API: the seed's report fields (final level and score), plus the site, the
// camera's own level and score, the model version, actions, alerts, labels, snapshot
// references, and the outbox entry it announces (with its idempotency key).
import type { OutboxEntry } from '../store/outbox.js';
import type { Store } from '../store/store.js';

/** The receiver-side dedupe key: site_id + incident_id + kind + version. */
const idempotencyKey = (siteId: string, incidentId: string, kind: string, version: number): string =>
  `${siteId}:${incidentId}:${kind}:${version}`;

export interface SnapshotRef {
  version: number;
  /** Path relative to data_dir (or absolute), as the snapshot code recorded it. */
  path: string | null;
  bytes: number | null;
  sha256: string | null;
  /** Where the pull API's client can fetch it from this gateway. */
  url: string;
  evicted: boolean;
}

export interface SyncMeta {
  seq: number;
  kind: string;
  version: number;
  idempotency_key: string;
}

export type IncidentDocument = Record<string, unknown> & { incident_id: string; sync: SyncMeta };

export class DocumentBuilder {
  constructor(
    private readonly store: Store,
    private readonly siteId: string,
  ) {}

  snapshots(incidentId: string): SnapshotRef[] {
    return this.store.outbox.snapshotsOf(incidentId).map(({ version, payload }) => ({
      version,
      path: typeof payload.path === 'string' ? payload.path : null,
      bytes: typeof payload.bytes === 'number' ? payload.bytes : null,
      sha256: typeof payload.sha256 === 'string' ? payload.sha256 : null,
      url: `/incidents/${encodeURIComponent(incidentId)}/snapshot${version > 1 ? `?version=${version}` : ''}`,
      evicted: payload.evicted === true,
    }));
  }

  meta(entry: OutboxEntry): SyncMeta {
    return {
      seq: entry.seq,
      kind: entry.kind,
      version: entry.version,
      idempotency_key: idempotencyKey(this.siteId, entry.incident_id, entry.kind, entry.version),
    };
  }

  /**
   * The full incident as it is now, for one outbox entry; null if the incident is gone.
   * `cache` lets a batch build each incident once.
   */
  build(entry: OutboxEntry, cache?: Map<string, Record<string, unknown> | null>): IncidentDocument | null {
    let base = cache?.get(entry.incident_id);
    if (base === undefined) {
      base = this.incident(entry.incident_id);
      cache?.set(entry.incident_id, base);
    }
    if (!base) return null;
    const doc: IncidentDocument = { ...base, incident_id: entry.incident_id, sync: this.meta(entry) };
    if (entry.payload) doc.change = JSON.parse(entry.payload) as unknown;
    return doc;
  }

  private incident(incidentId: string): Record<string, unknown> | null {
    const i = this.store.getIncident(incidentId);
    if (!i) return null;
    let weaponTypes: unknown = [];
    try {
      weaponTypes = JSON.parse(i.weapon_types);
    } catch {
      weaponTypes = [];
    }
    return {
      // The seed's report, with the gateway's final level and score.
      incident_id: i.incident_id,
      timestamp: i.timestamp,
      threat_level: i.threat_level,
      threat_score: i.threat_score,
      people_count: i.people_count,
      weapon_detected: i.weapon_detected,
      weapon_types: weaponTypes,
      behavior_summary: i.behavior_summary,
      is_critical: i.is_critical,
      full_telemetry: i.full_telemetry ?? {},
      camera_id: i.camera_id,
      // The gateway's own.
      site_id: this.siteId,
      reported_level: i.reported_level,
      reported_score: i.reported_score,
      final_level: i.threat_level,
      final_score: i.threat_score,
      model_version: i.model_version,
      status: i.status,
      action_taken: i.action_taken,
      response_time_ms: i.response_time_ms,
      // mqtt / http: threat_cv over that transport; frigate, onvif: those sources, with their own ids.
      source: i.source,
      source_key: i.source_key,
      source_ref: i.source_ref,
      gateway_seq: i.seq,
      created_at: i.created_at,
      updated_at: i.updated_at,
      actions: this.store.actionsFor(incidentId),
      alerts: this.store.alertsFor(incidentId),
      labels: this.store.labels.forIncident(incidentId),
      snapshots: this.snapshots(incidentId),
    };
  }
}
