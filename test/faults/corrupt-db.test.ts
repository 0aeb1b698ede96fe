// A corrupt or partial database file at start: the daemon refuses to start, names the file
// and the recovery steps, exits with a code systemd does not restart on (65), and never
// touches the file (no recreation over the evidence).
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons } from '../daemon.js';
import { tempDir } from '../helpers.js';
import { reportFor } from './load.js';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('corrupt or partial database at start', () => {
  const dirs: string[] = [];
  let pristine: string;
  beforeAll(async () => {
    // A real database written by the daemon: a few thousand reports, then a clean stop.
    const dir = tempDir('safesphere-corrupt-src-');
    dirs.push(dir);
    const d = await Daemon.start(dir);
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < 800; i += 8) {
          const res = await fetch(`${d.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: reportFor(`cdb-${i}`, i, 'cdb', 'http') });
          await res.arrayBuffer();
        }
      }),
    );
    expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    pristine = join(dir, 'safesphere.db');
    expect(statSync(pristine).size).toBeGreaterThan(200_000);
  }, 60_000);
  afterAll(async () => {
    await reapDaemons();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const cases: [string, (file: string) => void][] = [
    ['garbled pages (header intact)', (f) => {
      const b = readFileSync(f);
      for (let i = 3 * 4096; i < 3 * 4096 + 8 * 4096; i++) b[i] = (i * 131) & 0xff;
      writeFileSync(f, b);
    }],
    ['partial file (cut mid-page)', (f) => truncateSync(f, Math.floor(statSync(f).size / 2) + 777)],
    ['not a database at all', (f) => writeFileSync(f, Buffer.alloc(64 * 1024, 0x41))],
  ];

  for (const [name, damage] of cases) {
    it(`${name}: refuses to start, names the file and the recovery, leaves it untouched`, async () => {
      const dir = tempDir('safesphere-corrupt-');
      dirs.push(dir);
      const file = join(dir, 'safesphere.db');
      copyFileSync(pristine, file);
      damage(file);
      const before = sha(file);
      const filesBefore = readdirSync(dir).sort();
      const err = await Daemon.start(dir, {}, 20_000).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, 'the daemon must not start').not.toBeNull();
      const d = err!.message;
      expect(d).toMatch(/exited \(\{"code":65,"signal":null\}\)/);
      expect(d).toContain(file);
      expect(d).toMatch(/move it \(and its -wal\/-shm files\) aside/);
      expect(d).toMatch(/restore a backup/);
      expect(sha(file)).toBe(before);
      // Nothing new next to the evidence (the auth component, which generates token files, starts after the store's check).
      expect(readdirSync(dir).filter((f) => f !== 'admin-token').sort()).toEqual(filesBefore);
    }, 30_000);
  }
});
