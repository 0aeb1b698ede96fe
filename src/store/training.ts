// What `npm run train` reads from a site's database: its labelled incidents, and the
// context each had when it arrived, through indexed range queries (created_at,
// camera_id+created_at, labels by camera). A read-only connection of its own: training
// runs offline, beside (or instead of) a running gateway.
import Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';

export interface LabelledIncident {
  incident_id: string;
  camera_id: string | null;
  threat_level: string;
  reported_level: ThreatLevel;
  reported_score: number;
  timestamp: string;
  weapon_detected: number;
  weapon_types: string;
  people_count: number | null;
  behavior_summary: string | null;
  full_telemetry: string | null;
  received_at_ms: number;
  label: 'confirmed' | 'false_alarm';
}

function prepare(db: Database.Database) {
  return {
    // The latest label of each incident is its truth.
    labelled: db.prepare<[], LabelledIncident>(
      `SELECT i.incident_id, i.camera_id, i.threat_level, i.reported_level, i.reported_score, i.timestamp, i.weapon_detected,
         i.weapon_types, i.people_count, i.behavior_summary, i.full_telemetry, i.received_at_ms, l.label
       FROM labels l JOIN incidents i ON i.incident_id = l.incident_id
       WHERE l.id = (SELECT max(id) FROM labels l2 WHERE l2.incident_id = l.incident_id)
       ORDER BY i.received_at_ms, i.id`,
    ),
    recent: db.prepare<[string, string], { camera_id: string | null; reported_level: string; received_at_ms: number }>(
      'SELECT camera_id, reported_level, received_at_ms FROM incidents WHERE created_at >= ? AND created_at < ?',
    ),
    repeats: db.prepare<[string, string, string], { n: number }>(
      'SELECT count(*) AS n FROM incidents WHERE camera_id = ? AND created_at >= ? AND created_at < ?',
    ),
    cameraLabels: db.prepare<[string, string, string, string], { incident_id: string; label: string }>(
      `SELECT incident_id, label FROM labels WHERE camera_id = ? AND created_at >= ? AND created_at < ? AND incident_id <> ? ORDER BY id`,
    ),
  };
}

export class TrainingSource {
  private constructor(
    private readonly db: Database.Database,
    private readonly st: ReturnType<typeof prepare>,
  ) {}

  /** Opens `dbFile` read-only; null for a database from before labels existed (migration 2): nothing to learn from. */
  static open(dbFile: string): TrainingSource | null {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const hasLabels = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'").get();
      if (hasLabels) return new TrainingSource(db, prepare(db));
    } catch (err) {
      db.close();
      throw err;
    }
    db.close();
    return null;
  }

  /** Incidents with a label, each with its latest label, in arrival order. */
  labelled(): LabelledIncident[] {
    return this.st.labelled.all();
  }

  /** Reports committed in [from, to) (created_at, indexed), with their arrival time. */
  reportsBetween(fromIso: string, toIso: string): { camera_id: string | null; reported_level: string; received_at_ms: number }[] {
    return this.st.recent.all(fromIso, toIso);
  }

  /** Reports of one camera received in [from, to). */
  cameraReports(cameraId: string, fromIso: string, toIso: string): number {
    return this.st.repeats.get(cameraId, fromIso, toIso)!.n;
  }

  /** Labels of one camera's other incidents given in [from, to), oldest first. */
  cameraLabels(cameraId: string, fromIso: string, toIso: string, exceptIncidentId: string): { incident_id: string; label: string }[] {
    return this.st.cameraLabels.all(cameraId, fromIso, toIso, exceptIncidentId);
  }

  close(): void {
    this.db.close();
  }
}
