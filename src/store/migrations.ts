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
  {
    // Operator labels (POST /incidents/{id}/label): the re-scorer's false-alarm rates and training data.
    version: 2,
    name: 'labels',
    sql: `
      CREATE TABLE labels (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT    NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        camera_id   TEXT,                                 -- the incident's, so per-camera rates need no join
        label       TEXT    NOT NULL CHECK (label IN ('confirmed', 'false_alarm')),
        by          TEXT    NOT NULL,
        note        TEXT,
        created_at  TEXT    NOT NULL
      );
      CREATE INDEX labels_incident ON labels (incident_id);
      CREATE INDEX labels_created ON labels (created_at);
      CREATE INDEX labels_camera_created ON labels (camera_id, created_at);
    `,
  },
  {
    // Upstream sync (src/sync/). Written in the same transaction as each change it announces.
    version: 3,
    name: 'sync outbox, poisoned entries, sync state',
    sql: `
      CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: the pull API's cursor
        incident_id  TEXT    NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        kind         TEXT    NOT NULL,                    -- incident, label, action, alert, snapshot, ...
        version      INTEGER NOT NULL,
        rank         INTEGER NOT NULL,                    -- drain order: 0 CRITICAL, 1 HIGH, 2 MEDIUM, 3 LOW
        camera_id    TEXT    NOT NULL DEFAULT '',
        pending_mask INTEGER NOT NULL,                    -- consumers still to take it: 1 HTTP, 2 MQTT, 4 pull
        poison_mask  INTEGER NOT NULL DEFAULT 0,          -- consumers that refused it for good
        payload      TEXT,
        created_ms   INTEGER NOT NULL,
        UNIQUE (incident_id, kind, version)
      );
      CREATE INDEX outbox_pending_http ON outbox (rank, seq) WHERE pending_mask & 1;
      CREATE INDEX outbox_pending_mqtt ON outbox (rank, seq) WHERE pending_mask & 2;
      CREATE INDEX outbox_pending_pull ON outbox (rank, seq) WHERE pending_mask & 4;
      CREATE INDEX outbox_snapshots ON outbox (rank, seq) WHERE kind = 'snapshot';

      CREATE TABLE outbox_poison (
        transport TEXT    NOT NULL,
        seq       INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
        status    INTEGER,
        error     TEXT    NOT NULL,
        at        TEXT    NOT NULL,
        PRIMARY KEY (transport, seq)
      ) WITHOUT ROWID;
      CREATE INDEX outbox_poison_seq ON outbox_poison (seq);

      CREATE TABLE sync_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;

      -- Action outcomes and alerts reach the outbox in the transaction that writes them,
      -- whoever writes them. The consumers mask is the one the sync service set at start.
      CREATE TRIGGER outbox_action_outcome AFTER UPDATE OF status ON actions
      WHEN NEW.status IN ('succeeded', 'failed', 'timed_out') AND OLD.status IS NOT NEW.status BEGIN
        INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, payload, created_ms)
        SELECT i.incident_id, 'action',
               (SELECT coalesce(max(o.version), 0) + 1 FROM outbox o WHERE o.incident_id = i.incident_id AND o.kind = 'action'),
               CASE i.threat_level WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 WHEN 'MEDIUM' THEN 2 ELSE 3 END,
               coalesce(i.camera_id, ''),
               coalesce((SELECT value FROM sync_state WHERE key = 'consumers'), 0),
               json_object('action_id', NEW.id, 'action_type', NEW.action_type, 'status', NEW.status, 'result', NEW.result,
                           'at', NEW.updated_at),
               CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER outbox_alert AFTER INSERT ON alerts BEGIN
        INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, payload, created_ms)
        SELECT i.incident_id, 'alert',
               (SELECT coalesce(max(o.version), 0) + 1 FROM outbox o WHERE o.incident_id = i.incident_id AND o.kind = 'alert'),
               CASE i.threat_level WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 WHEN 'MEDIUM' THEN 2 ELSE 3 END,
               coalesce(i.camera_id, ''),
               coalesce((SELECT value FROM sync_state WHERE key = 'consumers'), 0),
               json_object('alert_id', NEW.id, 'alert_type', NEW.alert_type, 'recipient', NEW.recipient,
                           'status', NEW.status, 'sent_at', NEW.sent_at),
               CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      -- Incidents stored before this migration wait for every consumer; the sync service
      -- clears the bits of consumers that are not enabled when it starts.
      INSERT INTO outbox (incident_id, kind, version, rank, camera_id, pending_mask, created_ms)
      SELECT incident_id, 'incident', 1,
             CASE threat_level WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 WHEN 'MEDIUM' THEN 2 ELSE 3 END,
             coalesce(camera_id, ''), 7, received_at_ms
      FROM incidents ORDER BY seq;
    `,
  },
  {
    version: 4,
    name: 'action lifecycle: dispatch and completion times, attempts',
    sql: `
      ALTER TABLE actions ADD COLUMN dispatched_at TEXT;
      ALTER TABLE actions ADD COLUMN completed_at TEXT;
      ALTER TABLE actions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    `,
  },
];
