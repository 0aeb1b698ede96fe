// Numbered schema migrations, applied in order at start, each in its own transaction.
// Never edit a migration that has shipped: add a new one.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const LEVEL_CHECK = "CHECK (threat_level IN ('LOW','MEDIUM','HIGH','CRITICAL'))";

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'incidents, actions, alerts and per-camera counters',
    sql: `
      CREATE TABLE incidents (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id      TEXT    NOT NULL UNIQUE,
        seq              INTEGER NOT NULL UNIQUE,
        timestamp        TEXT    NOT NULL,
        threat_level     TEXT    NOT NULL ${LEVEL_CHECK},
        threat_score     REAL    NOT NULL,
        reported_level   TEXT    NOT NULL,
        reported_score   REAL    NOT NULL,
        model_version    TEXT,
        people_count     INTEGER,
        weapon_detected  INTEGER NOT NULL DEFAULT 0,
        weapon_types     TEXT    NOT NULL DEFAULT '[]',
        behavior_summary TEXT,
        is_critical      INTEGER NOT NULL DEFAULT 0,
        full_telemetry   TEXT,
        extra_fields     TEXT,
        camera_id        TEXT,
        source           TEXT    NOT NULL CHECK (source IN ('mqtt','http')),
        content_hash     TEXT    NOT NULL,
        status           TEXT    NOT NULL DEFAULT 'logged',
        action_taken     TEXT,
        response_time_ms INTEGER,
        received_at_ms   INTEGER NOT NULL,
        created_at       TEXT    NOT NULL,
        updated_at       TEXT    NOT NULL
      );
      CREATE INDEX incidents_created        ON incidents (created_at);
      CREATE INDEX incidents_level_created  ON incidents (threat_level, created_at);
      CREATE INDEX incidents_camera_created ON incidents (camera_id, created_at);

      CREATE TABLE actions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        action_type TEXT NOT NULL,
        description TEXT,
        executed_at TEXT,
        status      TEXT NOT NULL DEFAULT 'pending',
        result      TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
      CREATE INDEX actions_incident ON actions (incident_id);
      CREATE INDEX actions_open ON actions (status) WHERE status IN ('pending', 'dispatched');

      CREATE TABLE alerts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        alert_type  TEXT NOT NULL,
        recipient   TEXT,
        message     TEXT,
        sent_at     TEXT,
        status      TEXT
      );
      CREATE INDEX alerts_incident ON alerts (incident_id);

      -- Kept by triggers in the same transaction as every change to incidents, so
      -- /statistics is O(cameras) at any table size.
      CREATE TABLE incident_counts (
        camera_id    TEXT    NOT NULL,
        threat_level TEXT    NOT NULL,
        total        INTEGER NOT NULL DEFAULT 0,
        weapons      INTEGER NOT NULL DEFAULT 0,
        critical     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (camera_id, threat_level)
      ) WITHOUT ROWID;

      CREATE TRIGGER incident_counts_insert AFTER INSERT ON incidents BEGIN
        INSERT INTO incident_counts (camera_id, threat_level, total, weapons, critical)
        VALUES (coalesce(NEW.camera_id, ''), NEW.threat_level, 1, NEW.weapon_detected, NEW.is_critical)
        ON CONFLICT (camera_id, threat_level) DO UPDATE SET
          total = total + 1, weapons = weapons + excluded.weapons, critical = critical + excluded.critical;
      END;

      CREATE TRIGGER incident_counts_delete AFTER DELETE ON incidents BEGIN
        UPDATE incident_counts SET
          total = total - 1, weapons = weapons - OLD.weapon_detected, critical = critical - OLD.is_critical
        WHERE camera_id = coalesce(OLD.camera_id, '') AND threat_level = OLD.threat_level;
      END;

      CREATE TRIGGER incident_counts_update
      AFTER UPDATE OF threat_level, camera_id, weapon_detected, is_critical ON incidents BEGIN
        UPDATE incident_counts SET
          total = total - 1, weapons = weapons - OLD.weapon_detected, critical = critical - OLD.is_critical
        WHERE camera_id = coalesce(OLD.camera_id, '') AND threat_level = OLD.threat_level;
        INSERT INTO incident_counts (camera_id, threat_level, total, weapons, critical)
        VALUES (coalesce(NEW.camera_id, ''), NEW.threat_level, 1, NEW.weapon_detected, NEW.is_critical)
        ON CONFLICT (camera_id, threat_level) DO UPDATE SET
          total = total + 1, weapons = weapons + excluded.weapons, critical = critical + excluded.critical;
      END;
    `,
  },
];
