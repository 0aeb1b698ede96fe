// Migration 11 moves stored action states onto the honest vocabulary (README "Who gets told"):
// the old `succeeded` becomes `delivered` where the far end answered 2xx (a Frigate call) and
// `sent_unconfirmed` everywhere else, without flooding the outbox or the live feed with history.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';
import { sqlite } from './sqlite.js';

it('maps succeeded to delivered or sent_unconfirmed, and keeps the other states', async () => {
  const dir = tempDir();
  try {
    const db = new Database(join(dir, 'safesphere.db'));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version <= 7)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 'then');
    }
    db.prepare(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score, source, content_hash, received_at_ms, created_at, updated_at)
      VALUES ('OLD_1', 1, 't', 'CRITICAL', 0.9, 'CRITICAL', 0.9, 'http', 'h', 0, 't', 't')`).run();
    const add = db.prepare("INSERT INTO actions (incident_id, action_type, status, result, created_at, updated_at) VALUES ('OLD_1', ?, ?, ?, 't', 't')");
    add.run('continuous_recording', 'succeeded', 'Frigate nvr-1 answered HTTP 200');
    add.run('police_dispatch', 'succeeded', null);
    add.run('voice_alert', 'succeeded', 'ON published to safesphere/sirens/siren-1/set');
    add.run('notify_police', 'failed', 'webhook down');
    add.run('live_location', 'pending', null);
    const outboxBefore = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    const feedBefore = (db.prepare('SELECT count(*) AS n FROM ops_feed').get() as { n: number }).n;
    db.close();

    const store = new Store(dir, createLogger('silent'));
    await store.start();
    try {
      expect(store.actionsFor('OLD_1').map((a) => [a.action_type, a.status])).toEqual([
        ['continuous_recording', 'delivered'],
        ['police_dispatch', 'sent_unconfirmed'],
        ['voice_alert', 'sent_unconfirmed'],
        ['notify_police', 'failed'],
        ['live_location', 'pending'],
      ]);
      const s = sqlite(store);
      expect((s.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n).toBe(outboxBefore);
      expect((s.prepare('SELECT count(*) AS n FROM ops_feed').get() as { n: number }).n).toBe(feedBefore);
      // The re-created outbox trigger takes the new final states.
      s.prepare("UPDATE actions SET status = 'undeliverable' WHERE action_type = 'live_location'").run();
      expect(s.prepare("SELECT json_extract(payload, '$.status') AS status FROM outbox WHERE kind = 'action' ORDER BY seq DESC LIMIT 1").get()).toEqual({ status: 'undeliverable' });
    } finally {
      sqlite(store).close();
      await store.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
