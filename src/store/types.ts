import type { IncidentSource, ThreatLevel } from '../config/schema.js';

/** An action row as the API shows it. */
export interface PlannedAction {
  id: number;
  incident_id: string;
  action_type: string;
  description: string | null;
  status: string;
  executed_at: string | null;
  result: string | null;
  /** Lifecycle (automation): dispatches so far, and when it was last dispatched and finished. */
  attempts?: number;
  dispatched_at?: string | null;
  completed_at?: string | null;
  created_at: string;
  updated_at: string;
}

export interface AlertRow {
  id: number;
  incident_id: string;
  alert_type: string;
  recipient: string | null;
  message: string | null;
  sent_at: string | null;
  status: string | null;
}

/** An incident as the seed's GET /incidents/{id} shows it, plus the gateway's own fields. */
export interface StoredIncident {
  id: number;
  incident_id: string;
  seq: number;
  timestamp: string;
  threat_level: ThreatLevel;
  threat_score: number;
  reported_level: ThreatLevel;
  reported_score: number;
  model_version: string | null;
  /** The re-scorer's probability (null: not re-scored). */
  model_probability: number | null;
  /** The level the re-scorer decided, floor applied (in shadow mode: not acted on). */
  model_level: ThreatLevel | null;
  people_count: number | null;
  weapon_detected: boolean;
  /** A JSON array in a string, exactly as the seed API returns it. */
  weapon_types: string;
  behavior_summary: string | null;
  is_critical: boolean;
  full_telemetry: Record<string, unknown> | null;
  camera_id: string | null;
  /** mqtt / http: a threat_cv report over that transport; frigate, onvif: those report sources. */
  source: IncidentSource;
  /** The source's own id (Frigate review id, ONVIF camera id); null for threat_cv. */
  source_key: string | null;
  /** The source's ids and links (JSON object), null for threat_cv. */
  source_ref: Record<string, unknown> | null;
  status: string;
  action_taken: string | null;
  response_time_ms: number | null;
  created_at: string;
  updated_at: string;
}

/** What an action message (and a Node-RED flow) sees of an incident. */
export interface IncidentView {
  incident_id: string;
  threat_level: ThreatLevel;
  threat_score: number;
  reported_level: ThreatLevel;
  camera_id: string | null;
  timestamp: string;
  behavior_summary: string | null;
  weapon_detected: boolean;
  weapon_types: string[];
  people_count: number | null;
}

/**
 * The one place an IncidentView is built: from a StoredIncident, or from incident columns
 * read straight from SQL (weapon_detected 0/1).
 */
export function incidentView(src: Omit<IncidentView, 'weapon_detected' | 'weapon_types'> & { weapon_detected: boolean | number; weapon_types: string }): IncidentView {
  return {
    incident_id: src.incident_id,
    threat_level: src.threat_level,
    threat_score: src.threat_score,
    reported_level: src.reported_level,
    camera_id: src.camera_id,
    timestamp: src.timestamp,
    behavior_summary: src.behavior_summary,
    weapon_detected: src.weapon_detected === true || src.weapon_detected === 1,
    weapon_types: JSON.parse(src.weapon_types) as string[],
    people_count: src.people_count,
  };
}

export interface IncidentSummary {
  incident_id: string;
  seq: number;
  timestamp: string;
  threat_level: ThreatLevel;
  threat_score: number;
  reported_level: ThreatLevel;
  camera_id: string | null;
  weapon_detected: boolean;
  action_taken: string | null;
  source: IncidentSource;
  created_at: string;
}

/** Everything the commit stage needs to write one incident and its actions. */
export interface IncidentDraft {
  incidentId: string;
  timestamp: string;
  level: ThreatLevel;
  score: number;
  reportedLevel: ThreatLevel;
  reportedScore: number;
  modelVersion: string | null;
  modelProbability?: number | null;
  modelLevel?: ThreatLevel | null;
  peopleCount: number | null;
  weaponDetected: boolean;
  weaponTypes: string[];
  behaviorSummary: string | null;
  isCritical: boolean;
  fullTelemetry: Record<string, unknown> | null;
  extraFields: Record<string, unknown> | null;
  cameraId: string | null;
  source: IncidentSource;
  /** The source's own id and its ids and links (absent: a threat_cv report). */
  sourceKey?: string | null;
  sourceRef?: Record<string, unknown> | null;
  contentHash: string;
  receivedAtMs: number;
  actionTaken: string;
  actions: { type: string; description: string }[];
}

export type CommitResult =
  | { kind: 'stored'; incident: StoredIncident; actions: PlannedAction[] }
  | { kind: 'duplicate'; incident: StoredIncident; actions: PlannedAction[] }
  | { kind: 'conflict'; incident: StoredIncident };

export interface IncidentFilter {
  threat_level?: ThreatLevel | undefined;
  camera_id?: string | undefined;
  /** Any of these sources. */
  source?: readonly IncidentSource[] | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit: number;
}

export interface LevelCounts {
  count_LOW: number;
  count_MEDIUM: number;
  count_HIGH: number;
  count_CRITICAL: number;
}

export interface Statistics extends LevelCounts {
  total_incidents: number;
  weapons_detected: number;
  critical_incidents: number;
  per_camera: Record<string, LevelCounts & { total_incidents: number; weapons_detected: number }>;
  per_source: Record<string, LevelCounts & { total_incidents: number; weapons_detected: number }>;
  last_24h: LevelCounts & { total_incidents: number; since: string };
}
