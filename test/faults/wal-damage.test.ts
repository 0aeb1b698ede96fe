// Damaged storage is noticed, against the real daemon: acknowledged reports, a SIGKILL, then
// the WAL damaged three ways (bytes flipped mid-file, a garbage header, truncated to 0).
// SQLite drops the damaged frames silently and quick_check passes; the commit high-water mark
// (<data_dir>/commit-mark) makes the next start log how many acknowledged reports are missing,
// /health degraded until an operator acknowledges it, and no seq is ever given out twice.
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { endianness } from 'node:os';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, mapLimit, reapDaemons } from '../daemon.js';
import { seedReport, tempDir } from '../helpers.js';
import { httpFrom } from '../wire.js';

const REPORTS = 300;

type Damage = 'flip-mid-file' | 'garbage-header' | 'truncate-to-0';

/**
 * Frames in the WAL's current generation: those whose salts match the header's (after a
 * checkpoint the file keeps older frames beyond them). 0 right after a checkpoint.
 */
function currentFrames(file: Buffer): { frames: number; pageSize: number } {
  if (file.length < 32) return { frames: 0, pageSize: 0 };
  const pageSize = file.readUInt32BE(8);
  let frames = 0;
  for (let off = 32; off + 24 + pageSize <= file.length; off += 24 + pageSize, frames++) {
    if (file.readUInt32BE(off + 8) !== file.readUInt32BE(16) || file.readUInt32BE(off + 12) !== file.readUInt32BE(20)) break;
  }
  return { frames, pageSize };
}

/**
 * WAL frames not yet copied into the database file, from the wal-index (<db>-shm, native byte
 * order; SQLite's walIndexHdr.mxFrame at byte 16 and walCkptInfo.nBackfill at byte 96).
 */
function framesNotCheckpointed(dataDir: string): number {
  const shm = readFileSync(join(dataDir, 'safesphere.db-shm'));
  const le = endianness() === 'LE';
  const mxFrame = le ? shm.readUInt32LE(16) : shm.readUInt32BE(16);
  const nBackfill = le ? shm.readUInt32LE(96) : shm.readUInt32BE(96);
  return mxFrame - nBackfill;
}

function damage(wal: string, how: Damage): void {
  if (how === 'truncate-to-0') return truncateSync(wal, 0);
  const file = readFileSync(wal);
  const fd = openSync(wal, 'r+');
  try {
    // Mid-file: in the middle of the frames of the WAL's current generation. The header: its magic and salts.
    const { frames, pageSize } = currentFrames(file);
    const at = how === 'flip-mid-file' ? 32 + Math.floor(frames / 2) * (24 + pageSize) + 24 + 100 : 0;
    const bytes = file.subarray(at, at + 32);
    writeSync(fd, Buffer.from(bytes.map((b) => b ^ 0xa5)), 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

function storedIds(dataDir: string): Set<string> {
  const db = new Database(join(dataDir, 'safesphere.db'), { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('SELECT incident_id FROM incidents').all() as { incident_id: string }[]).map((r) => r.incident_id));
  } finally {
    db.close();
  }
}

describe('a damaged WAL after a SIGKILL', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  for (const how of ['flip-mid-file', 'garbage-header', 'truncate-to-0'] as const) {
    it(`${how}: detected, reported with the missing count, health degraded until acknowledged, no seq reused`, async () => {
      const dataDir = tempDir(`safesphere-wal-${how}-`);
      dirs.push(dataDir);
      const first = await Daemon.start(dataDir);
      const seqs = await mapLimit(Array.from({ length: REPORTS }, (_, i) => i), 4, async (i) => {
        const res = await httpFrom(`${first.httpUrl}/threats/report`, { body: JSON.stringify(seedReport({ incident_id: `WAL_${i}`, camera_id: 'cam-1' })) });
        expect(res.status).toBe(200);
        return res.body.seq as number;
      });
      // If the last commit happened to run the auto-checkpoint, every frame is in the database
      // file and damaging the WAL loses nothing: one more report starts a new generation (a single
      // commit is far below the 1,000-page auto-checkpoint).
      const wal = join(dataDir, 'safesphere.db-wal');
      const ids = Array.from({ length: REPORTS }, (_, i) => `WAL_${i}`);
      while (framesNotCheckpointed(dataDir) === 0 && ids.length < REPORTS + 5) {
        const id = `WAL_${ids.length}`;
        const res = await httpFrom(`${first.httpUrl}/threats/report`, { body: JSON.stringify(seedReport({ incident_id: id, camera_id: 'cam-1' })) });
        expect(res.status).toBe(200);
        ids.push(id);
        seqs.push(res.body.seq as number);
      }
      expect(framesNotCheckpointed(dataDir)).toBeGreaterThan(0);
      const highest = Math.max(...seqs);
      // The mark is written within integrity.mark_interval_ms of the last commit.
      let mark = 0;
      for (let i = 0; i < 100 && mark < highest; i++) {
        mark = ((await httpFrom(`${first.httpUrl}/integrity`, {})).body.mark?.incident_seq as number | undefined) ?? 0;
        if (mark < highest) await new Promise((r) => setTimeout(r, 50));
      }
      expect(mark).toBe(highest);
      first.child.kill('SIGKILL');
      await first.exited;

      const walBytes = statSync(wal).size;
      damage(wal, how);
      const second = await Daemon.start(dataDir);
      const stored = storedIds(dataDir);
      const lost = ids.filter((id) => !stored.has(id));
      // Each of these damages loses the frames since the last checkpoint: some acknowledged reports.
      expect(lost.length, `WAL was ${walBytes} bytes`).toBeGreaterThan(0);
      expect(second.lines.some((l) => l.msg === 'database quick_check ok')).toBe(true); // SQLite itself sees nothing wrong

      const loud = second.lines.find((l) => String(l.msg).startsWith('STORAGE DAMAGE'));
      expect(loud, 'a fatal-level log line').toBeDefined();
      expect(loud!.level).toBe(60);
      expect(loud!.missing_reports).toBe(lost.length);
      const health = (await httpFrom(`${second.httpUrl}/health`, {})).body;
      expect(health.status).toBe('degraded');
      expect(health.components.integrity.status).toBe('degraded');
      expect(health.components.integrity.error).toContain(`${lost.length} acknowledged report(s) missing`);

      // No seq is given out twice: the next report continues above the mark.
      const next = await httpFrom(`${second.httpUrl}/threats/report`, { body: JSON.stringify(seedReport({ incident_id: 'WAL_AFTER', camera_id: 'cam-1' })) });
      expect(next.status).toBe(200);
      expect(next.body.seq).toBe(highest + 1);

      // An operator acknowledges (admin only); the state is durable across a restart.
      expect((await httpFrom(`${second.httpUrl}/integrity/acknowledge`, { body: '{}' })).status).toBe(401);
      const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const ack = await httpFrom(`${second.httpUrl}/integrity/acknowledge`, { body: JSON.stringify({ note: 'restored from camera buffers' }), headers: { authorization: `Bearer ${admin}` } });
      expect(ack.status).toBe(200);
      expect(ack.body.acknowledged).toBe(1);
      expect((await httpFrom(`${second.httpUrl}/health`, {})).body.components.integrity.status).toBe('up');
      expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });

      const third = await Daemon.start(dataDir);
      expect(third.lines.some((l) => String(l.msg).startsWith('STORAGE DAMAGE'))).toBe(false);
      const events = (await httpFrom(`${third.httpUrl}/integrity`, {})).body;
      expect(events.open).toBe(0);
      expect(events.events[0]).toMatchObject({ missing_reports: lost.length, note: 'restored from camera buffers', acknowledged_by: 'admin' });
      const after = await httpFrom(`${third.httpUrl}/threats/report`, { body: JSON.stringify(seedReport({ incident_id: 'WAL_AFTER_2', camera_id: 'cam-1' })) });
      expect(after.body.seq).toBe(highest + 2);
      expect(await third.kill('SIGTERM')).toEqual({ code: 0, signal: null });
      console.log(`[faults] wal ${how}: WAL ${walBytes} bytes, ${lost.length} of ${ids.length} acknowledged reports lost, detected and reported; next seq ${highest + 1}`);
    }, 120_000);
  }
});
