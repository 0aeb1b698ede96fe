// Upgrades keep everything: test/fixtures/upgrade-v7 is a data dir made by the release with
// schema 7 (scripts/make-upgrade-fixture.ts: every level, every action state, alerts, labels,
// operator status, outbox pending and delivered with the pull cursor, snapshots attached and
// held, detections, annotations). Every migration this code has runs over a copy, and every
// row of every table and the cursor must still be there. A database from a newer schema is
// refused and left byte for byte as it was.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SCHEMA_VERSION, SchemaTooNewError, Store } from '../src/store/store.js';
import { startGateway, tempDir } from './helpers.js';

const FIXTURE = new URL('./fixtures/upgrade-v7/', import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function copyFixture(): string {
  const dir = tempDir('safesphere-upgrade-');
  dirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

type Dump = Map<string, { columns: string[]; rows: string[] }>;

/** Every table's rows (each as JSON of the given columns, sorted), read-only. */
function dump(file: string, columnsOf?: Dump): Dump {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%'").all() as { name: string }[]).map((t) => t.name);
    const out: Dump = new Map();
    for (const t of tables) {
      const all = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(t) as { name: string }[]).map((c) => c.name);
      // After an upgrade a table may have gained columns: compare the ones the fixture had.
      const columns = columnsOf?.get(t)?.columns.filter((c) => all.includes(c)) ?? all;
      if (t === 'schema_migrations') continue; // grows by design
      const rows = (db.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${t}"`).raw().all() as unknown[][]).map((r) => JSON.stringify(r)).sort();
      out.set(t, { columns, rows });
    }
    return out;
  } finally {
    db.close();
  }
}

/**
 * The one rewrite a migration makes to existing rows on purpose: migration 11's honest action
 * states (README "Who gets told"): `succeeded` becomes `delivered` when the result says the far
 * end answered 2xx, else `sent_unconfirmed`. Applied to the fixture's rows before comparing.
 */
function expectedAfterMigrations(before: Dump): Dump {
  const out: Dump = new Map(before);
  const actions = before.get('actions');
  if (!actions) return out;
  const status = actions.columns.indexOf('status');
  const result = actions.columns.indexOf('result');
  out.set('actions', {
    columns: actions.columns,
    rows: actions.rows
      .map((r) => {
        const row = JSON.parse(r) as unknown[];
        if (row[status] === 'succeeded') row[status] = / answered HTTP 2/.test(String(row[result] ?? '')) ? 'delivered' : 'sent_unconfirmed';
        return JSON.stringify(row);
      })
      .sort(),
  });
  return out;
}

/** What of `before` (as the migrations are meant to leave it) is not in `after`: missing tables, columns and rows. */
function lost(fixture: Dump, after: Dump): string[] {
  const before = expectedAfterMigrations(fixture);
  const problems: string[] = [];
  for (const [table, { columns, rows }] of before) {
    const now = after.get(table);
    if (!now) {
      if (rows.length) problems.push(`table ${table} (${rows.length} rows) is gone`);
      continue;
    }
    if (now.columns.length !== columns.length) problems.push(`${table}: columns ${columns.filter((c) => !now.columns.includes(c)).join(', ')} are gone`);
    const have = new Set(now.rows);
    const missing = rows.filter((r) => !have.has(r));
    if (missing.length) problems.push(`${table}: ${missing.length} of ${rows.length} rows changed or gone, e.g. ${missing[0]}`);
  }
  return problems;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('upgrading a database made by the schema-7 release', () => {
  // Read from a copy: even a read-only connection creates -wal/-shm beside a WAL database.
  const before = dump(join(copyFixture(), 'safesphere.db'));

  it('is a fixture that holds what it promises', () => {
    const count = (t: string) => before.get(t)?.rows.length ?? 0;
    const col = (t: string, c: string) => {
      const i = before.get(t)!.columns.indexOf(c);
      return new Set(before.get(t)!.rows.map((r) => (JSON.parse(r) as unknown[])[i]));
    };
    expect(col('incidents', 'threat_level')).toEqual(new Set(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']));
    expect([...col('actions', 'status')].sort()).toEqual(['dispatched', 'failed', 'pending', 'succeeded', 'timed_out']);
    expect(count('alerts')).toBe(2);
    expect(col('labels', 'label')).toEqual(new Set(['confirmed', 'false_alarm']));
    expect(count('incident_status')).toBe(2);
    expect(count('snapshots')).toBe(1);
    expect(count('snapshots_held')).toBe(1);
    expect(count('detections')).toBe(1);
    expect(count('annotations')).toBe(1);
    // Outbox entries delivered (acked by the pull) and still pending.
    const masks = [...col('outbox', 'pending_mask')];
    expect(masks).toContain(0);
    expect(masks.some((m) => (m as number) > 0)).toBe(true);
    const state = new Map(before.get('sync_state')!.rows.map((r) => JSON.parse(r) as [string, number]));
    expect(state.get('pull_acked') ?? state.get('pull_ack') ?? [...state.entries()].find(([k]) => /ack/.test(k))?.[1]).toBe(8);
    expect(readdirSync(join(FIXTURE, 'snapshots')).length).toBe(4);
  });

  it(`keeps every row and the cursor through every migration up to ${SCHEMA_VERSION}`, async () => {
    const dir = copyFixture();
    const store = new Store(dir, createLogger('silent'));
    await store.start();
    const cursor = store.syncState.all();
    const lastSeq = store.outbox.lastSeq();
    await store.stop();
    expect(lost(before, dump(join(dir, 'safesphere.db'), before))).toEqual([]);
    const fixtureState = Object.fromEntries(before.get('sync_state')!.rows.map((r) => JSON.parse(r) as [string, number]));
    expect(cursor).toMatchObject(fixtureState);
    const seqRow = before.get('sqlite_sequence')!.rows.map((r) => JSON.parse(r) as [string, number]).find(([n]) => n === 'outbox')!;
    expect(lastSeq).toBeGreaterThanOrEqual(seqRow[1]);
  });

  it('serves the upgraded data: the pull API continues after the cursor, incidents keep actions, labels, status and snapshots', async () => {
    const dir = copyFixture();
    const token = 'fixture-sync-token-0123456789abcdef';
    const gw = await startGateway({ site_id: 'fixture', scoring: { enabled: false }, sync: { token } }, { dataDir: dir });
    try {
      const auth = { authorization: `Bearer ${token}` };
      const status = (await (await fetch(`${gw.httpUrl}/sync/status`)).json()) as any;
      expect(JSON.stringify(status.pull ?? status)).toMatch(/"ack(ed)?(_upto)?":8\b/);
      const page = (await (await fetch(`${gw.httpUrl}/sync/incidents?after=8&limit=1000`, { headers: auth })).json()) as any;
      expect(page.incidents.length).toBeGreaterThan(0);
      expect(page.incidents.every((e: { sync: { seq: number } }) => e.sync.seq > 8)).toBe(true);
      const crit = (await (await fetch(`${gw.httpUrl}/incidents/FIX_CRITICAL_0`)).json()) as any;
      // The fixture's `succeeded` arrives as its honest state (migration 11).
      expect(crit.actions.map((a: { status: string }) => a.status)).toEqual(expect.arrayContaining(['dispatched', 'sent_unconfirmed', 'failed']));
      expect(crit.alerts).toHaveLength(1);
      expect(crit.snapshot).toBeTruthy();
      expect(crit.annotations).toHaveLength(1);
      const snap = await fetch(`${gw.httpUrl}/incidents/FIX_CRITICAL_0/snapshot`);
      expect(snap.status).toBe(200);
      expect(createHash('sha256').update(Buffer.from(await snap.arrayBuffer())).digest('hex')).toBe(sha(join(FIXTURE, 'snapshots', 'FIX_CRITICAL_0_screenshot.jpg')));
      const acked = (await (await fetch(`${gw.httpUrl}/incidents/FIX_CRITICAL_1`)).json()) as any;
      expect(JSON.stringify(acked)).toContain('acknowledged');
    } finally {
      await gw.stop();
    }
  });

  it('finds a lost row: a planted destructive migration is caught', async () => {
    const dir = copyFixture();
    const bad = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'planted: loses labels', sql: "DELETE FROM labels WHERE label = 'false_alarm'" }];
    const store = new Store(dir, createLogger('silent'), { migrations: bad });
    await store.start();
    await store.stop();
    expect(lost(before, dump(join(dir, 'safesphere.db'), before))).toEqual([expect.stringMatching(/^labels: 1 of 2 rows changed or gone/)]);
    // And a migration that only adds keeps everything.
    const dir2 = copyFixture();
    const additive = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'planted: a new column', sql: 'ALTER TABLE incidents ADD COLUMN planted TEXT' }];
    const store2 = new Store(dir2, createLogger('silent'), { migrations: additive });
    await store2.start();
    await store2.stop();
    expect(lost(before, dump(join(dir2, 'safesphere.db'), before))).toEqual([]);
  });

  it('refuses a database from a newer schema and leaves it untouched', async () => {
    const dir = copyFixture();
    const file = join(dir, 'safesphere.db');
    const newer = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'from the future', sql: 'CREATE TABLE future (x)' }];
    const future = new Store(dir, createLogger('silent'), { migrations: newer });
    await future.start();
    await future.stop();
    const bytes = sha(file);
    const files = readdirSync(dir).sort();
    const store = new Store(dir, createLogger('silent'));
    const err = await store.start().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect(err!.message).toContain(`schema version ${SCHEMA_VERSION + 1}, newer than this release knows (${SCHEMA_VERSION})`);
    expect(err!.message).toContain('It was not changed');
    expect(sha(file)).toBe(bytes);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });
});
