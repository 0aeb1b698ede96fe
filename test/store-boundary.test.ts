// The store owns its SQL: nothing outside src/store/ reaches SQLite, and src/store/ does
// not depend on src/sync/ (sync imports the outbox from the store, never the reverse).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Store } from '../src/store/store.js';
import { TRIGGERS } from '../src/store/triggers.js';
import { tempDir } from './helpers.js';
import { sqlite } from './sqlite.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const STORE = join(SRC, 'store');
const SYNC = join(SRC, 'sync');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|js|mjs|cjs)$/.test(e.name) ? [p] : [];
  });
}

const files = sourceFiles(SRC).map((file) => ({ file, rel: relative(SRC, file), text: readFileSync(file, 'utf8') }));
const inside = (file: string, dir: string) => file.startsWith(dir + sep);

/** Every module a file imports or re-exports (static and dynamic), relative ones resolved to a path. */
function imports(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[\s;])import\s*['"]([^'"]+)['"]/gm)].map(
    (m) => m[1] ?? m[2] ?? m[3]!,
  );
  return specs.map((s) => (s.startsWith('.') ? resolve(dirname(file), s) : s));
}

describe('the store boundary', () => {
  it('scans the whole source tree', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.filter((f) => inside(f.file, STORE)).length).toBeGreaterThan(5);
    expect(files.filter((f) => inside(f.file, SYNC)).length).toBeGreaterThan(5);
  });

  it('lets no module outside src/store/ import better-sqlite3', () => {
    const importsDriver = (f: (typeof files)[number]) => imports(f.file, f.text).includes('better-sqlite3');
    // The check sees the store's own import, so it does look where the driver is imported.
    expect(files.filter((f) => inside(f.file, STORE) && importsDriver(f)).length).toBeGreaterThan(0);
    expect(files.filter((f) => !inside(f.file, STORE) && importsDriver(f)).map((f) => f.rel)).toEqual([]);
  });

  it('lets no module outside src/store/ use a raw database handle', () => {
    const offenders = files
      .filter((f) => !inside(f.file, STORE))
      .flatMap((f) => f.text.split('\n').map((line, i) => ({ where: `${f.rel}:${i + 1}`, line })))
      .filter(({ line }) => /\.database\b|\bDatabase\.(Database|Statement)\b|\.prepare\s*[(<]/.test(line));
    expect(offenders.map((o) => `${o.where}: ${o.line.trim()}`)).toEqual([]);
  });

  it('has no src/store → src/sync import (no store↔sync folder cycle)', () => {
    const all = files.flatMap((f) => imports(f.file, f.text).map((target) => ({ from: f.file, rel: f.rel, target })));
    // The resolver sees sync's imports of the store, so it would see the reverse too.
    expect(all.some((i) => inside(i.from, SYNC) && inside(i.target, STORE))).toBe(true);
    expect(all.filter((i) => inside(i.from, STORE) && (inside(i.target, SYNC) || i.target === SYNC)).map((i) => `${i.rel} → ${relative(SRC, i.target)}`)).toEqual([]);
  });

  it('keeps prepared statements typed: no Record<string, Statement> looked up by name', () => {
    const offenders = files.filter((f) => /Record<\s*string\s*,\s*(Database\.)?(Statement|Stmt)\b/.test(f.text)).map((f) => f.rel);
    expect(offenders).toEqual([]);
  });

  it('lists its migrations in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('lists every trigger a migrated database has, and only those, in src/store/triggers.ts', async () => {
    const dir = tempDir();
    const store = new Store(dir, createLogger('silent'));
    await store.start();
    try {
      const rows = sqlite(store).prepare("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as { name: string; tbl_name: string }[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows).toEqual([...TRIGGERS].sort((a, b) => a.name.localeCompare(b.name)).map((t) => ({ name: t.name, tbl_name: t.on })));
      for (const t of TRIGGERS) expect(MIGRATIONS.find((m) => m.version === t.migration)?.sql, t.name).toMatch(new RegExp(`CREATE TRIGGER ${t.name}\\s`));
    } finally {
      await store.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The folder a file belongs to (src/transport/<x>/ counts as its own folder); null for the shared root files. */
function folderOf(file: string): string | null {
  const parts = relative(SRC, file).split(sep);
  if (parts.length === 1) return null;
  return parts[0] === 'transport' && parts.length > 2 ? `transport/${parts[1]}` : parts[0]!;
}

describe('folder dependencies', () => {
  // src/*.ts (the module contract, the root, errors, levels, health, logger) are shared on purpose.
  const edges = new Map<string, Set<string>>();
  for (const { file, text } of files) {
    const from = folderOf(file);
    if (!from) continue;
    for (const target of imports(file, text)) {
      if (!target.startsWith(SRC + sep)) continue;
      const to = folderOf(target.replace(/\.js$/, '.ts'));
      if (to && to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from)!).add(to);
    }
  }

  it('has no import cycle between folders', () => {
    expect(edges.size).toBeGreaterThan(10);
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      for (const next of edges.get(node) ?? []) {
        const at = path.indexOf(next);
        if (at >= 0) cycles.push([...path.slice(at), next].join(' → '));
        else visit(next, [...path, next]);
      }
    };
    for (const start of edges.keys()) visit(start, [start]);
    expect(cycles).toEqual([]);
  });

  it('finds a cycle when one is planted', () => {
    const planted = new Map(edges);
    planted.set('store', new Set([...(edges.get('store') ?? []), 'sync']));
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      [...(planted.get(from) ?? [])].some((n) => n === to || (!seen.has(n) && (seen.add(n), reaches(n, to, seen))));
    expect(reaches('sync', 'store') && reaches('store', 'sync')).toBe(true);
  });
});
