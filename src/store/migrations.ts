// Numbered schema migrations, applied in order at start, each in its own transaction.
// Never edit a migration that has shipped: add a new one. The triggers they leave, and why
// each is a trigger, are listed in triggers.ts; the level CASEs below are history, runtime
// SQL derives its level order from src/levels.ts.
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * CHECK constraints widened in place before `sql` runs (SQLite's documented writable_schema
   * procedure: no table copy, existing rows already satisfy the wider check). `from` must occur
   * exactly once in the table's CREATE statement.
   */
  widenChecks?: { table: string; from: string; to: string }[];
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
  {
    // Evidence and AI (src/evidence/, src/ai/).
    version: 5,
    name: 'snapshots, held snapshots, detections, AI annotations and AI request log',
    sql: `
      -- One snapshot per incident; file names are built from the validated incident_id only.
      CREATE TABLE snapshots (
        incident_id     TEXT    PRIMARY KEY REFERENCES incidents (incident_id) ON DELETE CASCADE,
        sha256          TEXT    NOT NULL,              -- of the ORIGINAL bytes received (evidence integrity)
        original_format TEXT    NOT NULL,              -- jpeg, png, webp
        original_bytes  INTEGER NOT NULL,
        width           INTEGER NOT NULL,              -- of the stored, auto-oriented JPEG
        height          INTEGER NOT NULL,
        file            TEXT    NOT NULL,              -- relative to data_dir
        thumb_file      TEXT    NOT NULL,
        stored_bytes    INTEGER NOT NULL,
        jpeg_sha256     TEXT    NOT NULL,
        camera_id       TEXT,
        source          TEXT    NOT NULL CHECK (source IN ('mqtt','http')),
        received_at     TEXT    NOT NULL,
        attached_at     TEXT    NOT NULL
      );
      -- Snapshots whose report has not arrived yet (files already written), bounded in time and size.
      CREATE TABLE snapshots_held (
        incident_id     TEXT    PRIMARY KEY,
        meta            TEXT    NOT NULL,              -- the snapshots row to be, as JSON
        stored_bytes    INTEGER NOT NULL,
        received_ms     INTEGER NOT NULL
      );
      CREATE INDEX snapshots_held_received ON snapshots_held (received_ms);
      CREATE TABLE detections (
        incident_id     TEXT    PRIMARY KEY REFERENCES incidents (incident_id) ON DELETE CASCADE,
        model           TEXT    NOT NULL,              -- file name and SHA-256 prefix of the detector
        person_conf     REAL    NOT NULL,
        weapon_conf     REAL    NOT NULL,
        boxes           TEXT    NOT NULL,              -- JSON [{label, confidence, box: [x1,y1,x2,y2]}] in stored-image pixels
        inference_ms    REAL    NOT NULL,
        created_at      TEXT    NOT NULL
      );
      CREATE TABLE annotations (
        id                     INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id            TEXT    NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        kind                   TEXT    NOT NULL,       -- ai_second_opinion
        model                  TEXT    NOT NULL,
        summary                TEXT    NOT NULL,
        threat_confirmed       INTEGER NOT NULL,
        confidence             REAL    NOT NULL,
        potential_threat_level TEXT    NOT NULL,
        recommended_actions    TEXT    NOT NULL,       -- JSON array of strings
        needs_review           INTEGER NOT NULL DEFAULT 0,
        review_reason          TEXT,
        images_sent            INTEGER NOT NULL,
        created_at             TEXT    NOT NULL
      );
      CREATE INDEX annotations_incident ON annotations (incident_id);
      CREATE INDEX annotations_review ON annotations (created_at) WHERE needs_review = 1;
      -- Every Gemini request, for the daily budget and the per-incident cap (survives restarts).
      CREATE TABLE ai_requests (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        day         TEXT    NOT NULL,                  -- UTC YYYY-MM-DD
        purpose     TEXT    NOT NULL,                  -- opinion, chat
        incident_id TEXT,
        outcome     TEXT,
        at          TEXT    NOT NULL
      );
      CREATE INDEX ai_requests_day ON ai_requests (day);
      CREATE INDEX ai_requests_incident ON ai_requests (incident_id) WHERE incident_id IS NOT NULL;
    `,
  },
  {
    // Site operations (src/operations/): the operator's incident status (acknowledged /
    // resolved), the live feed's durable change log (resumable by seq), behaviour and weapon
    // facets for the analysis API, and a covering index for range aggregates.
    version: 6,
    name: 'site operations: incident status, ops feed, facets, analysis index',
    sql: `
      CREATE TABLE incident_status (
        incident_id     TEXT PRIMARY KEY REFERENCES incidents (incident_id) ON DELETE CASCADE,
        state           TEXT NOT NULL CHECK (state IN ('acknowledged', 'resolved')),
        acknowledged_by TEXT,
        acknowledged_at TEXT,
        resolved_by     TEXT,
        resolved_at     TEXT,
        note            TEXT,
        updated_at      TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX incident_status_state ON incident_status (state);

      -- Range aggregates (GET /api/analysis, /api/timelapse) read only this index.
      CREATE INDEX incidents_ops_range ON incidents (created_at, camera_id, threat_level, threat_score, weapon_detected);

      -- One row per behaviour named in behavior_summary and per weapon family in weapon_types,
      -- written by trigger in the incident's own transaction.
      CREATE TABLE incident_facets (
        incident_id TEXT NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        created_at  TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('behaviour', 'weapon')),
        value       TEXT NOT NULL,
        PRIMARY KEY (incident_id, kind, value)
      ) WITHOUT ROWID;
      CREATE INDEX incident_facets_created ON incident_facets (created_at, kind, value);

      CREATE TABLE facet_patterns (
        kind    TEXT NOT NULL,
        value   TEXT NOT NULL,
        pattern TEXT NOT NULL,               -- a LIKE pattern (case-insensitive for ASCII)
        PRIMARY KEY (kind, value, pattern)
      ) WITHOUT ROWID;
      INSERT INTO facet_patterns (kind, value, pattern) VALUES
        ('behaviour', 'following', '%follow%'), ('behaviour', 'following', '%stalk%'), ('behaviour', 'following', '%tailing%'),
        ('behaviour', 'approaching', '%approach%'), ('behaviour', 'approaching', '%closing in%'), ('behaviour', 'approaching', '%advancing%'),
        ('behaviour', 'running', '%running%'), ('behaviour', 'running', '%sprint%'), ('behaviour', 'running', '%flee%'),
        ('behaviour', 'running', '%fled%'), ('behaviour', 'running', '%chas%'),
        ('behaviour', 'fighting', '%fight%'), ('behaviour', 'fighting', '%fought%'), ('behaviour', 'fighting', '%assault%'),
        ('behaviour', 'fighting', '%attack%'), ('behaviour', 'fighting', '%punch%'), ('behaviour', 'fighting', '%brawl%'),
        ('behaviour', 'fighting', '%struggl%'),
        ('behaviour', 'loitering', '%loiter%'), ('behaviour', 'loitering', '%lingering%'),
        ('behaviour', 'fallen', '%fallen%'), ('behaviour', 'fallen', '%fell %'), ('behaviour', 'fallen', '%collaps%'),
        ('behaviour', 'fallen', '%on the ground%'), ('behaviour', 'fallen', '%on the floor%'), ('behaviour', 'fallen', '%man down%'),
        ('behaviour', 'fallen', '%person down%'),
        ('weapon', 'firearm', '%gun%'), ('weapon', 'firearm', '%pistol%'), ('weapon', 'firearm', '%revolver%'),
        ('weapon', 'firearm', '%rifle%'), ('weapon', 'firearm', '%firearm%'), ('weapon', 'firearm', '%carbine%'),
        ('weapon', 'firearm', 'smg'), ('weapon', 'firearm', '%ak-47%'), ('weapon', 'firearm', '%ak47%'), ('weapon', 'firearm', '%ar-15%'),
        ('weapon', 'blade', '%knife%'), ('weapon', 'blade', '%knives%'), ('weapon', 'blade', '%blade%'), ('weapon', 'blade', '%machete%'),
        ('weapon', 'blade', '%sword%'), ('weapon', 'blade', '%dagger%'), ('weapon', 'blade', '%scissors%'), ('weapon', 'blade', '%cutter%'),
        ('weapon', 'blade', '%razor%'), ('weapon', 'blade', '%axe%'), ('weapon', 'blade', '%hatchet%'), ('weapon', 'blade', '%cleaver%');

      CREATE TRIGGER incident_facets_insert AFTER INSERT ON incidents BEGIN
        INSERT OR IGNORE INTO incident_facets (incident_id, created_at, kind, value)
        SELECT DISTINCT NEW.incident_id, NEW.created_at, 'behaviour', p.value FROM facet_patterns p
        WHERE NEW.behavior_summary IS NOT NULL AND p.kind = 'behaviour' AND NEW.behavior_summary LIKE p.pattern;
        INSERT OR IGNORE INTO incident_facets (incident_id, created_at, kind, value)
        SELECT DISTINCT NEW.incident_id, NEW.created_at, 'weapon',
          coalesce((SELECT p.value FROM facet_patterns p WHERE p.kind = 'weapon' AND j.value LIKE p.pattern
                    ORDER BY p.value = 'firearm' DESC LIMIT 1), 'other')
        FROM json_each(NEW.weapon_types) j WHERE NEW.weapon_types <> '[]';
      END;

      INSERT OR IGNORE INTO incident_facets (incident_id, created_at, kind, value)
      SELECT DISTINCT i.incident_id, i.created_at, 'behaviour', p.value FROM incidents i JOIN facet_patterns p
        ON p.kind = 'behaviour' AND i.behavior_summary LIKE p.pattern WHERE i.behavior_summary IS NOT NULL;
      INSERT OR IGNORE INTO incident_facets (incident_id, created_at, kind, value)
      SELECT DISTINCT i.incident_id, i.created_at, 'weapon',
        coalesce((SELECT p.value FROM facet_patterns p WHERE p.kind = 'weapon' AND j.value LIKE p.pattern
                  ORDER BY p.value = 'firearm' DESC LIMIT 1), 'other')
      FROM incidents i, json_each(i.weapon_types) j WHERE i.weapon_types <> '[]';

      -- The live feed (/ws/incidents): every change an operator screen shows, in commit order.
      -- seq never goes back, so a client resumes with ?after=<last seq it saw>.
      CREATE TABLE ops_feed (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,            -- incident, action, label, status
        incident_id TEXT NOT NULL,
        level       TEXT,
        camera_id   TEXT,
        data        TEXT NOT NULL,            -- JSON
        at          TEXT NOT NULL
      );
      CREATE INDEX ops_feed_at ON ops_feed (at);

      CREATE TRIGGER ops_feed_incident AFTER INSERT ON incidents BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
        VALUES ('incident', NEW.incident_id, NEW.threat_level, NEW.camera_id,
          json_object('incident_id', NEW.incident_id, 'seq', NEW.seq, 'timestamp', NEW.timestamp,
            'threat_level', NEW.threat_level, 'threat_score', NEW.threat_score, 'reported_level', NEW.reported_level,
            'camera_id', NEW.camera_id, 'weapon_detected', json(CASE NEW.weapon_detected WHEN 1 THEN 'true' ELSE 'false' END),
            'weapon_types', json(NEW.weapon_types), 'behavior_summary', NEW.behavior_summary, 'people_count', NEW.people_count,
            'action_taken', NEW.action_taken, 'source', NEW.source, 'created_at', NEW.created_at),
          NEW.created_at);
      END;

      CREATE TRIGGER ops_feed_action AFTER UPDATE OF status ON actions WHEN OLD.status IS NOT NEW.status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
        SELECT 'action', NEW.incident_id, i.threat_level, i.camera_id,
          json_object('action_id', NEW.id, 'action_type', NEW.action_type, 'state', NEW.status, 'attempts', NEW.attempts,
            'result', NEW.result, 'at', NEW.updated_at),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_label AFTER INSERT ON labels BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
        SELECT 'label', NEW.incident_id, i.threat_level, i.camera_id,
          json_object('label_id', NEW.id, 'label', NEW.label, 'by', NEW.by, 'note', NEW.note, 'created_at', NEW.created_at),
          NEW.created_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_insert AFTER INSERT ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_update AFTER UPDATE ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      -- The feed starts with the most recent incidents already stored.
      INSERT INTO ops_feed (kind, incident_id, level, camera_id, data, at)
      SELECT 'incident', incident_id, threat_level, camera_id,
        json_object('incident_id', incident_id, 'seq', seq, 'timestamp', timestamp, 'threat_level', threat_level,
          'threat_score', threat_score, 'reported_level', reported_level, 'camera_id', camera_id,
          'weapon_detected', json(CASE weapon_detected WHEN 1 THEN 'true' ELSE 'false' END), 'weapon_types', json(weapon_types),
          'behavior_summary', behavior_summary, 'people_count', people_count, 'action_taken', action_taken, 'source', source,
          'created_at', created_at),
        created_at
      FROM (SELECT * FROM incidents ORDER BY seq DESC LIMIT 1000) ORDER BY seq;
    `,
  },
  {
    version: 7,
    name: 'incident facets written by the commit itself, not by a LIKE trigger',
    sql: `
      -- FacetWriter (src/store/facets.ts) matches facet_patterns in JS within the same transaction.
      DROP TRIGGER IF EXISTS incident_facets_insert;
    `,
  },
  {
    // Report sources (src/frigate/, src/onvif/). incidents.source keeps 'mqtt' and 'http' for
    // threat_cv reports over that transport and gains 'frigate' and 'onvif'; source_key and
    // source_ref keep the source's own ids (a Frigate review id and its link, an ONVIF camera and
    // topic). Counts per source for /statistics, the source in the covering analysis index and
    // on every live-feed row, so each can be filtered and grouped by source.
    version: 8,
    name: 'report sources: frigate and onvif, the source\'s own ids, counts and feed rows by source',
    widenChecks: [
      { table: 'incidents', from: "CHECK (source IN ('mqtt','http'))", to: "CHECK (source IN ('mqtt','http','frigate','onvif'))" },
    ],
    sql: `
      ALTER TABLE incidents ADD COLUMN source_key TEXT;   -- the source's own id: Frigate review id, ONVIF camera id
      ALTER TABLE incidents ADD COLUMN source_ref TEXT;   -- JSON: the source's ids and links
      CREATE INDEX incidents_source_level_created ON incidents (source, threat_level, created_at);
      CREATE INDEX incidents_source_key ON incidents (source, source_key, seq) WHERE source_key IS NOT NULL;
      -- The range aggregates stay covering with a source filter or group.
      DROP INDEX incidents_ops_range;
      CREATE INDEX incidents_ops_range ON incidents (created_at, camera_id, threat_level, threat_score, weapon_detected, source);

      CREATE TABLE incident_source_counts (
        source       TEXT    NOT NULL,
        camera_id    TEXT    NOT NULL,
        threat_level TEXT    NOT NULL,
        total        INTEGER NOT NULL DEFAULT 0,
        weapons      INTEGER NOT NULL DEFAULT 0,
        critical     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source, camera_id, threat_level)
      ) WITHOUT ROWID;
      INSERT INTO incident_source_counts (source, camera_id, threat_level, total, weapons, critical)
      SELECT source, coalesce(camera_id, ''), threat_level, count(*), sum(weapon_detected), sum(is_critical)
      FROM incidents GROUP BY 1, 2, 3;

      CREATE TRIGGER incident_source_counts_insert AFTER INSERT ON incidents BEGIN
        INSERT INTO incident_source_counts (source, camera_id, threat_level, total, weapons, critical)
        VALUES (NEW.source, coalesce(NEW.camera_id, ''), NEW.threat_level, 1, NEW.weapon_detected, NEW.is_critical)
        ON CONFLICT (source, camera_id, threat_level) DO UPDATE SET
          total = total + 1, weapons = weapons + excluded.weapons, critical = critical + excluded.critical;
      END;

      CREATE TRIGGER incident_source_counts_delete AFTER DELETE ON incidents BEGIN
        UPDATE incident_source_counts SET
          total = total - 1, weapons = weapons - OLD.weapon_detected, critical = critical - OLD.is_critical
        WHERE source = OLD.source AND camera_id = coalesce(OLD.camera_id, '') AND threat_level = OLD.threat_level;
      END;

      CREATE TRIGGER incident_source_counts_update
      AFTER UPDATE OF threat_level, camera_id, weapon_detected, is_critical, source ON incidents BEGIN
        UPDATE incident_source_counts SET
          total = total - 1, weapons = weapons - OLD.weapon_detected, critical = critical - OLD.is_critical
        WHERE source = OLD.source AND camera_id = coalesce(OLD.camera_id, '') AND threat_level = OLD.threat_level;
        INSERT INTO incident_source_counts (source, camera_id, threat_level, total, weapons, critical)
        VALUES (NEW.source, coalesce(NEW.camera_id, ''), NEW.threat_level, 1, NEW.weapon_detected, NEW.is_critical)
        ON CONFLICT (source, camera_id, threat_level) DO UPDATE SET
          total = total + 1, weapons = weapons + excluded.weapons, critical = critical + excluded.critical;
      END;

      -- Every feed row carries its incident's source, so /ws/incidents can filter by it.
      ALTER TABLE ops_feed ADD COLUMN source TEXT;
      UPDATE ops_feed SET source = (SELECT i.source FROM incidents i WHERE i.incident_id = ops_feed.incident_id);
      DROP TRIGGER ops_feed_incident;
      DROP TRIGGER ops_feed_action;
      DROP TRIGGER ops_feed_label;
      DROP TRIGGER ops_feed_status_insert;
      DROP TRIGGER ops_feed_status_update;

      CREATE TRIGGER ops_feed_incident AFTER INSERT ON incidents BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        VALUES ('incident', NEW.incident_id, NEW.threat_level, NEW.camera_id, NEW.source,
          json_object('incident_id', NEW.incident_id, 'seq', NEW.seq, 'timestamp', NEW.timestamp,
            'threat_level', NEW.threat_level, 'threat_score', NEW.threat_score, 'reported_level', NEW.reported_level,
            'camera_id', NEW.camera_id, 'weapon_detected', json(CASE NEW.weapon_detected WHEN 1 THEN 'true' ELSE 'false' END),
            'weapon_types', json(NEW.weapon_types), 'behavior_summary', NEW.behavior_summary, 'people_count', NEW.people_count,
            'action_taken', NEW.action_taken, 'source', NEW.source, 'source_key', NEW.source_key,
            'source_ref', json(NEW.source_ref), 'created_at', NEW.created_at),
          NEW.created_at);
      END;

      CREATE TRIGGER ops_feed_action AFTER UPDATE OF status ON actions WHEN OLD.status IS NOT NEW.status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'action', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('action_id', NEW.id, 'action_type', NEW.action_type, 'state', NEW.status, 'attempts', NEW.attempts,
            'result', NEW.result, 'at', NEW.updated_at),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_label AFTER INSERT ON labels BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'label', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('label_id', NEW.id, 'label', NEW.label, 'by', NEW.by, 'note', NEW.note, 'created_at', NEW.created_at),
          NEW.created_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_insert AFTER INSERT ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_update AFTER UPDATE ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;
      `,
  },
  {
    version: 9,
    name: 'storage integrity: missing-commit events, sequence floors, the health write probe',
    sql: `
      -- One row per start that found fewer commits than the high-water mark (<data_dir>/commit-mark)
      -- says were made; open (health degraded) until an operator acknowledges it.
      CREATE TABLE integrity_events (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        detected_at        TEXT NOT NULL,
        missing_reports    INTEGER NOT NULL,
        missing_outbox     INTEGER NOT NULL,
        mark_incident_seq  INTEGER NOT NULL,
        found_incident_seq INTEGER NOT NULL,
        mark_outbox_seq    INTEGER NOT NULL,
        found_outbox_seq   INTEGER NOT NULL,
        mark_feed_seq      INTEGER NOT NULL,
        found_feed_seq     INTEGER NOT NULL,
        acknowledged_at    TEXT,
        acknowledged_by    TEXT,
        note               TEXT
      );
      CREATE INDEX integrity_events_open ON integrity_events (id) WHERE acknowledged_at IS NULL;
      -- The lowest next incident seq: raised past a mark so a seq is never given out twice.
      CREATE TABLE seq_floor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      -- /health's write probe: one page rewritten when no commit happened for a while.
      CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL, pad BLOB NOT NULL);
      `,
  },
  {
    // src/arming/ (src/store/arming.ts): the arming mode, its audit log, and site-level events for upstream.
    version: 10,
    name: 'arming state, site events (arming audit, synced upstream), Home Assistant discovery topics',
    sql: `
      CREATE TABLE arming_state (
        id                INTEGER PRIMARY KEY CHECK (id = 1),
        mode              TEXT    NOT NULL,
        source            TEXT    NOT NULL,     -- manual, schedule, initial
        override_until_ms INTEGER,              -- a manual change under a schedule holds until then
        event_seq         INTEGER,              -- the site_events row of the last change
        updated_at        TEXT    NOT NULL
      );
      -- Site-level changes (not tied to an incident, so not in the outbox): the arming audit log.
      -- pending_mask: the push transports (outbox bits 1 HTTP, 2 MQTT) still to take it.
      CREATE TABLE site_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT    NOT NULL,
        data         TEXT    NOT NULL,          -- JSON
        at           TEXT    NOT NULL,
        pending_mask INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX site_events_pending_http ON site_events (seq) WHERE pending_mask & 1;
      CREATE INDEX site_events_pending_mqtt ON site_events (seq) WHERE pending_mask & 2;
      CREATE INDEX site_events_kind ON site_events (kind, seq);
      -- Discovery config topics last published, per broker, so entities that left the config are removed after a restart.
      CREATE TABLE ha_discovery (target TEXT NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (target, topic)) WITHOUT ROWID;
    `,
  },
  {
    // Actions that reach people (src/notify/): honest action states, escalation until someone
    // acknowledges, and the durable delivery queue. The old 'succeeded' only ever meant "a flow
    // said so" (for most actions: a publish nobody may have heard): a Frigate call that answered
    // 2xx becomes 'delivered', everything else 'sent_unconfirmed' (README "Who gets told").
    version: 11,
    name: 'honest action states, escalations, deliveries, acknowledgement channel',
    sql: `
      -- Re-created below: the migrated rows must not flood the outbox and the feed with history.
      DROP TRIGGER outbox_action_outcome;
      DROP TRIGGER ops_feed_action;
      DROP TRIGGER ops_feed_status_insert;
      DROP TRIGGER ops_feed_status_update;

      UPDATE actions SET status = CASE WHEN result LIKE '% answered HTTP 2%' THEN 'delivered' ELSE 'sent_unconfirmed' END
      WHERE status = 'succeeded';
      DROP INDEX actions_open;
      CREATE INDEX actions_open ON actions (status) WHERE status IN ('pending', 'dispatched');

      -- How an incident was acknowledged: api, dashboard, email, ntfy, pushover, telegram, ...
      ALTER TABLE incident_status ADD COLUMN acknowledged_via TEXT;

      -- One escalation per incident whose level has escalation steps: the next step and its time.
      CREATE TABLE escalations (
        incident_id  TEXT    PRIMARY KEY REFERENCES incidents (incident_id) ON DELETE CASCADE,
        level        TEXT    NOT NULL,
        next_step    INTEGER NOT NULL,                   -- index into escalation.<level>; = steps: none left
        steps        INTEGER NOT NULL,
        next_at_ms   INTEGER,                            -- null: no step left
        state        TEXT    NOT NULL CHECK (state IN ('running', 'acknowledged', 'exhausted')),
        started_ms   INTEGER NOT NULL,
        carried      TEXT    NOT NULL DEFAULT '[]',      -- JSON ids of the policy actions this escalation carries
        updated_at   TEXT    NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX escalations_due ON escalations (next_at_ms) WHERE state = 'running';

      -- The durable delivery queue and ledger: one row per contact channel of a step, written
      -- with its actions row in the step's transaction; a crash never loses an accepted one.
      CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id     TEXT    NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        action_id       INTEGER NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
        step            INTEGER NOT NULL,
        contact_id      TEXT    NOT NULL,
        channel         TEXT    NOT NULL,                -- email, ntfy, pushover, telegram, webhook, ...
        address         TEXT    NOT NULL,
        idempotency_key TEXT    NOT NULL UNIQUE,
        state           TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'acknowledged', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        receipt         TEXT,                            -- JSON: what the receiver answered
        receipt_at      TEXT,
        ack_ref         TEXT,                            -- the receiver's handle for acknowledgement (Pushover receipt, Telegram message)
        error           TEXT,
        created_at      TEXT    NOT NULL,
        updated_at      TEXT    NOT NULL
      );
      CREATE INDEX deliveries_incident ON deliveries (incident_id);
      CREATE INDEX deliveries_due ON deliveries (next_attempt_ms) WHERE state IN ('queued', 'sending');
      CREATE INDEX deliveries_ack_poll ON deliveries (channel, id) WHERE state = 'delivered' AND ack_ref IS NOT NULL;

      -- Acknowledge links and buttons are single-use: one row per used token.
      CREATE TABLE ack_tokens_used (
        delivery_id INTEGER PRIMARY KEY,
        incident_id TEXT    NOT NULL,
        used_at     TEXT    NOT NULL
      );
      -- Channel positions that must survive a restart (the Telegram getUpdates offset).
      CREATE TABLE notify_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;

      CREATE TRIGGER outbox_action_outcome AFTER UPDATE OF status ON actions
      WHEN NEW.status IN ('delivered', 'acknowledged', 'sent_unconfirmed', 'failed', 'timed_out', 'undeliverable', 'cancelled')
        AND OLD.status IS NOT NEW.status BEGIN
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

      CREATE TRIGGER ops_feed_action AFTER UPDATE OF status ON actions WHEN OLD.status IS NOT NEW.status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'action', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('action_id', NEW.id, 'action_type', NEW.action_type, 'state', NEW.status, 'attempts', NEW.attempts,
            'result', NEW.result, 'at', NEW.updated_at),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      -- A delivery planned by an escalation step appears on the feed as it is queued.
      CREATE TRIGGER ops_feed_action_insert AFTER INSERT ON actions WHEN NEW.status <> 'pending' BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'action', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('action_id', NEW.id, 'action_type', NEW.action_type, 'state', NEW.status, 'attempts', NEW.attempts,
            'result', NEW.result, 'description', NEW.description, 'at', NEW.updated_at),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_insert AFTER INSERT ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'acknowledged_via', NEW.acknowledged_via, 'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_status_update AFTER UPDATE ON incident_status BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'status', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'acknowledged_by', NEW.acknowledged_by, 'acknowledged_at', NEW.acknowledged_at,
            'acknowledged_via', NEW.acknowledged_via, 'resolved_by', NEW.resolved_by, 'resolved_at', NEW.resolved_at, 'note', NEW.note),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_escalation_insert AFTER INSERT ON escalations BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'escalation', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'next_step', NEW.next_step, 'steps', NEW.steps, 'next_at_ms', NEW.next_at_ms),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;

      CREATE TRIGGER ops_feed_escalation_update AFTER UPDATE ON escalations BEGIN
        INSERT INTO ops_feed (kind, incident_id, level, camera_id, source, data, at)
        SELECT 'escalation', NEW.incident_id, i.threat_level, i.camera_id, i.source,
          json_object('state', NEW.state, 'next_step', NEW.next_step, 'steps', NEW.steps, 'next_at_ms', NEW.next_at_ms),
          NEW.updated_at
        FROM incidents i WHERE i.incident_id = NEW.incident_id;
      END;
    `,
  },
  {
    // The monitoring station (src/arc/): a DC-09 retransmission keeps its sequence number, also
    // after a restart, so each station delivery keeps the number its first attempt was sent with.
    // The counter itself is notify_state 'arc_seq'.
    version: 12,
    name: 'monitoring station: DC-09 sequence numbers of station deliveries',
    sql: `
      CREATE TABLE arc_sequence (
        delivery_id INTEGER PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 9999),
        created_at  TEXT    NOT NULL
      );
    `,
  },
  {
    // The re-scorer's own answer, beside the final level (issue 18): its probability, and the
    // level it decided (floor applied). In scoring.mode shadow the final level stays the
    // camera's, and these two are what npm run evaluate compares against the labels.
    version: 13,
    name: 'model probability and model level of each re-scored incident',
    sql: `
      ALTER TABLE incidents ADD COLUMN model_probability REAL;
      ALTER TABLE incidents ADD COLUMN model_level TEXT;
    `,
  },
];
