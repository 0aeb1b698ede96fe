// Seeds a store with synthetic incidents and labels, fast: one prepared statement, one
// transaction (triggers write feed rows, FacetWriter the facets, as the commit does live).
import type Database from 'better-sqlite3';
import { LEVELS } from '../src/config/schema.js';
import { FacetWriter } from '../src/store/facets.js';
import { rng } from '../tools/train/prior.js';

export const BEHAVIOURS: [string | null, string[]][] = [
  ['Following + approaching rapidly', ['following', 'approaching']],
  ['Loitering near the gate', ['loitering']],
  ['Two people fighting', ['fighting']],
  ['Person fell on the ground', ['fallen']],
  ['Running towards the exit', ['running']],
  ['Walking past', []],
  [null, []],
];
export const WEAPONS: [string[], string[]][] = [
  [[], []],
  [[], []],
  [['gun'], ['firearm']],
  [['knife'], ['blade']],
  [['bat'], ['other']],
  [['pistol', 'knife'], ['firearm', 'blade']],
];
export const CAMERAS = ['cam-1', 'cam-2', 'cam-3', 'cam-4', 'cam-5', 'cam-6', 'cam-7', 'cam-8'];

/** The same seedable PRNG as the training prior, so a failing seed can be replayed. */
export { rng };

/** Inserts `count` incidents received over the `spanMs` before `endMs`, and labels on about 2 % of them. */
export function seedIncidents(db: Database.Database, count: number, endMs: number, spanMs: number, seed = 7): { incidents: number; labels: number } {
  const rand = rng(seed);
  const insert = db.prepare(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score,
      weapon_detected, weapon_types, behavior_summary, is_critical, camera_id, source, content_hash, action_taken, received_at_ms, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'mqtt', ?, 'MONITOR', ?, ?, ?)`);
  const facets = new FacetWriter(db);
  const label = db.prepare(`INSERT INTO labels (incident_id, camera_id, label, by, created_at) VALUES (?, ?, ?, 'seed', ?)`);
  const firstSeq = ((db.prepare('SELECT coalesce(max(seq), 0) AS s FROM incidents').get() as { s: number }).s ?? 0) + 1;
  let labels = 0;
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const ms = endMs - Math.floor(rand() * spanMs);
      const iso = new Date(ms).toISOString();
      const level = LEVELS[Math.min(3, Math.floor(rand() ** 1.6 * 4))]!;
      const camera = CAMERAS[Math.floor(rand() * CAMERAS.length)]!;
      const [behaviour] = BEHAVIOURS[Math.floor(rand() * BEHAVIOURS.length)]!;
      const [weapons] = WEAPONS[Math.floor(rand() * WEAPONS.length)]!;
      const score = Math.round(rand() * 1e4) / 1e4;
      const id = `SEED_${seed}_${i}`;
      insert.run(id, firstSeq + i, iso, level, score, level, score, weapons.length ? 1 : 0, JSON.stringify(weapons), behaviour,
        level === 'CRITICAL' ? 1 : 0, camera, `h${i}`, ms, iso, iso);
      facets.write(id, iso, behaviour, weapons);
      if (rand() < 0.02) {
        const at = new Date(Math.min(endMs - 1, ms + Math.floor(rand() * 3_600_000))).toISOString();
        label.run(id, camera, rand() < 0.4 ? 'false_alarm' : 'confirmed', at);
        labels++;
        if (rand() < 0.2) {
          // A second, later label: the latest one counts.
          label.run(id, camera, rand() < 0.5 ? 'false_alarm' : 'confirmed', new Date(Date.parse(at) + 1000).toISOString());
          labels++;
        }
      }
    }
  })();
  return { incidents: count, labels };
}
