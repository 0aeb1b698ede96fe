import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Store, StoreOpenError } from '../src/store/store.js';
import { tempDir } from './helpers.js';
import { sqlite } from './sqlite.js';

describe('store', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = tempDir();
    store = new Store(dir, createLogger('silent'));
    await store.start();
  });
  afterAll(async () => {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs in WAL mode with synchronous=FULL and foreign keys on', () => {
    const settings = store.connectionSettings();
    expect(settings.journal_mode).toBe('wal');
    expect(settings.synchronous).toBe(2); // FULL
    expect(settings.foreign_keys).toBe(1);
  });

  it('records applied migrations and does not re-run them', async () => {
    const versions = sqlite(store).prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version })).sort((a, b) => a.version - b.version));
    // A second Store on the open one's dir: only with the data-dir lock off (one gateway per dir).
    const again = new Store(dir, createLogger('silent'), { lock: false });
    await again.start();
    await again.stop();
  });

  // Every query the API runs must be served by an index, never a table scan, so
  // they stay fast at a million rows (the query bench measures the actual times).
  it.each([
    ['list, newest first', 'SELECT * FROM incidents ORDER BY created_at DESC, id DESC LIMIT 50'],
    ['by level', "SELECT * FROM incidents WHERE threat_level = 'HIGH' ORDER BY created_at DESC, id DESC LIMIT 50"],
    ['by camera', "SELECT * FROM incidents WHERE camera_id = 'c' ORDER BY created_at DESC, id DESC LIMIT 50"],
    ['since/until', "SELECT * FROM incidents WHERE created_at >= 'a' AND created_at <= 'b' ORDER BY created_at DESC, id DESC LIMIT 50"],
    ['by id', "SELECT * FROM incidents WHERE incident_id = 'x'"],
    ['last 24 h per level', "SELECT count(*) FROM incidents WHERE threat_level = 'LOW' AND created_at >= 'x'"],
    ['actions of an incident', "SELECT * FROM actions WHERE incident_id = 'x'"],
  ])('serves "%s" from an index', (_name, sql) => {
    const plan = (sqlite(store).prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    expect(plan).toMatch(/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/);
    expect(plan).not.toMatch(/^SCAN incidents$|SCAN incidents(?! USING)/);
    expect(plan).not.toContain('TEMP B-TREE');
  });

  it('refuses a file that is not a database, naming it and the recovery steps', async () => {
    const bad = tempDir();
    writeFileSync(join(bad, 'safesphere.db'), 'this is not a database, it is evidence'.repeat(200));
    const broken = new Store(bad, createLogger('silent'));
    const err = await broken.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreOpenError);
    expect((err as Error).message).toContain(join(bad, 'safesphere.db'));
    expect((err as Error).message).toMatch(/move it .* aside/);
    rmSync(bad, { recursive: true, force: true });
  });
});
