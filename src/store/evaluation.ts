// What the site evaluation (npm run evaluate, GET /model/evaluation) reads: every re-scored
// incident in a window with its latest label, if any. One range scan of incidents_created;
// the latest label per incident by the labels_incident index.
import Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';
import { Repository, type Db } from './repository.js';

export interface EvaluationRow {
  incident_id: string;
  camera_id: string | null;
  reported_level: ThreatLevel;
  threat_level: ThreatLevel;
  model_level: ThreatLevel;
  model_probability: number;
  weapon_detected: number;
  weapon_types: string;
  received_at_ms: number;
  label: 'confirmed' | 'false_alarm' | null;
}

/** Bounds the work of one evaluation whatever the window holds. */
export const EVALUATION_MAX_ROWS = 500_000;

export const EVALUATION_SQL = `SELECT i.incident_id, i.camera_id, i.reported_level, i.threat_level, i.model_level, i.model_probability,
    i.weapon_detected, i.weapon_types, i.received_at_ms,
    (SELECT l.label FROM labels l WHERE l.incident_id = i.incident_id ORDER BY l.id DESC LIMIT 1) AS label
  FROM incidents i WHERE i.created_at >= ? AND i.model_level IS NOT NULL ORDER BY i.created_at, i.id LIMIT ${EVALUATION_MAX_ROWS}`;

const prepare = (db: Db) => ({ rows: db.prepare<[string], EvaluationRow>(EVALUATION_SQL) });

export class EvaluationRepository extends Repository<ReturnType<typeof prepare>> {
  protected prepare(db: Db) {
    return prepare(db);
  }

  since(iso: string): EvaluationRow[] {
    return this.st.rows.all(iso);
  }
}

/** The same rows from a database file, read-only (npm run evaluate beside a running gateway). */
export function readEvaluationRows(dbFile: string, sinceIso: string): EvaluationRow[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const hasColumn = (db.prepare("SELECT 1 AS x FROM pragma_table_info('incidents') WHERE name = 'model_level'").get() as { x: number } | undefined) !== undefined;
    return hasColumn ? prepare(db).rows.all(sinceIso) : [];
  } finally {
    db.close();
  }
}
