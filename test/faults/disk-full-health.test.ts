// /health tells the truth under a full disk (the data dir on a small tmpfs, as
// disk-full.test.ts does): the first commit that fails makes db degraded at once, it stays
// degraded while commits fail (a probe that still fits does not clear it), and it is up again
// once a commit succeeds. An idle gateway is probed: db up only while a write succeeds.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons } from '../daemon.js';
import { tempDir } from '../helpers.js';
import { reportFor } from './load.js';

function mountTmpfs(dir: string, size: string): string | null {
  const res = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  return res.status === 0 ? null : `mount -t tmpfs failed: ${(res.stderr || res.error?.message || '').trim()}`;
}

function fill(dir: string): string {
  const file = join(dir, 'filler.bin');
  const fd = openSync(file, 'w');
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

const big = (id: string, n: number) => {
  const r = JSON.parse(reportFor(id, n, 'health-cam', 'http')) as Record<string, unknown>;
  r.full_telemetry = { pad: 'x'.repeat(48 * 1024) };
  return JSON.stringify(r);
};

const mountPoint = tempDir('safesphere-fullhealth-');
const mountProblem = mountTmpfs(mountPoint, '24m');
if (mountProblem && process.env.CI) throw new Error(`the disk-full health test cannot run in CI: ${mountProblem}`);
if (mountProblem) console.warn(`[faults] disk-full health skipped (not CI): ${mountProblem}`);

describe.skipIf(mountProblem !== null)('health under a full disk', () => {
  let daemon: Daemon;
  const dataDir = join(mountPoint, 'data');
  beforeAll(async () => {
    mkdirSync(dataDir);
    daemon = await Daemon.start(dataDir, { SAFESPHERE_INTEGRITY_PROBE_INTERVAL_MS: '200' });
  });
  afterAll(async () => {
    await reapDaemons();
    spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  const db = async () => ((await (await fetch(`${daemon.httpUrl}/health`)).json()) as { status: string; components: { db: { status: string; error?: string } } });
  const post = async (body: string) => (await fetch(`${daemon.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status;

  it('db is degraded from the first failed commit until a commit succeeds', async () => {
    expect(await post(big('health-before', 0))).toBe(200);
    expect((await db()).components.db.status).toBe('up');
    const filler = fill(mountPoint);
    let status = 200;
    for (let i = 0; i < 400 && status === 200; i++) status = await post(big(`health-during-${i}`, i));
    expect(status).toBe(507);
    // At once: the very next /health, no interval waited.
    const during = await db();
    expect(during.status).toBe('degraded');
    expect(during.components.db.status).toBe('degraded');
    expect(during.components.db.error).toContain('SQLITE_FULL');
    // Past the probe interval, still degraded: a probe that fits does not clear a failing commit.
    await new Promise((r) => setTimeout(r, 300));
    expect((await db()).components.db.status).toBe('degraded');

    unlinkSync(filler);
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await post(big(`health-after-${i}`, i))) === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok).toBe(true);
    const after = await db();
    expect(after.components.db.status).toBe('up');
    expect(await daemon.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 90_000);
});
