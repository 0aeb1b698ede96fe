// Disk full: the data dir on a small tmpfs, filled up. New reports get HTTP 507 and no
// MQTT PUBACK (so the camera resends), what is stored stays intact (PRAGMA
// integrity_check), and the daemon takes reports again by itself once space returns.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons, waitFor } from '../daemon.js';
import { tempDir } from '../helpers.js';
import { cameraTopic, reportFor } from './load.js';

/** Mounting needs root: CI runs as root and must run it; elsewhere the reason is printed and the test skipped. */
function mountTmpfs(dir: string, size: string): string | null {
  const res = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  return res.status === 0 ? null : `mount -t tmpfs failed: ${(res.stderr || res.error?.message || '').trim()}`;
}

/** Fills the filesystem with one file until ENOSPC; returns its path and size. */
function fill(dir: string): { file: string; bytes: number } {
  const file = join(dir, 'filler.bin');
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          bytes += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { file, bytes };
}

const post = async (url: string, body: string) => {
  const res = await fetch(`${url}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: json.error?.code };
};

const big = (id: string, n: number) => {
  const r = JSON.parse(reportFor(id, n, 'full-http', 'http')) as Record<string, unknown>;
  r.full_telemetry = { pad: 'x'.repeat(48 * 1024) };
  return JSON.stringify(r);
};

const mountPoint = tempDir('safesphere-diskfull-');
const mountProblem = mountTmpfs(mountPoint, '24m');
// CI runs as root and must run this test: there a mount failure fails the suite.
if (mountProblem && process.env.CI) throw new Error(`the disk-full fault test cannot run in CI: ${mountProblem}`);
if (mountProblem) console.warn(`[faults] disk-full skipped (not CI): ${mountProblem}`);

describe.skipIf(mountProblem !== null)('disk full', () => {
  let daemon: Daemon;
  const dataDir = join(mountPoint, 'data');
  beforeAll(async () => {
    mkdirSync(dataDir);
    daemon = await Daemon.start(dataDir);
  });
  afterAll(async () => {
    await reapDaemons();
    spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers 507 / no PUBACK while full, keeps the stored data intact, and recovers by itself', async () => {
    // Some reports stored before the disk fills.
    const before: string[] = [];
    for (let i = 0; i < 40; i++) {
      const id = `full-before-${i}`;
      expect((await post(daemon.httpUrl, big(id, i))).status).toBe(200);
      before.push(id);
    }
    const filler = fill(mountPoint);

    // Keep sending: reports that still fit in the WAL's existing space are stored (and acknowledged);
    // once a write needs a new block, 507 STORAGE_FULL, and never anything else.
    const statuses = new Map<number, number>();
    const ackedWhileFull: string[] = [];
    let first507 = -1;
    for (let i = 0; i < 400 && first507 < 0; i++) {
      const id = `full-during-${i}`;
      const { status, code } = await post(daemon.httpUrl, big(id, i));
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200) ackedWhileFull.push(id);
      else {
        expect(status).toBe(507);
        expect(code).toBe('STORAGE_FULL');
        first507 = i;
      }
    }
    expect(first507, `statuses ${JSON.stringify([...statuses])}`).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 5; i++) expect((await post(daemon.httpUrl, big(`full-more-${i}`, i))).status).toBe(507);

    // MQTT: no PUBACK for a report that cannot be stored; the connection is closed so the camera resends.
    const cam = await mqtt.connectAsync(daemon.mqttUrl, { clientId: 'full-cam', reconnectPeriod: 0 });
    cam.on('error', () => {});
    const closed = new Promise<void>((resolve) => cam.once('close', () => resolve()));
    let pubacked = false;
    const payload = JSON.parse(reportFor('full-mqtt-1', 1, 'full-cam', 'mqtt')) as Record<string, unknown>;
    payload.full_telemetry = { pad: 'y'.repeat(48 * 1024) };
    cam.publish(cameraTopic('full-cam'), JSON.stringify(payload), { qos: 1 }, (err) => {
      if (!err) pubacked = true;
    });
    await waitFor(closed, 10_000, 'the broker to close the connection instead of a PUBACK');
    expect(pubacked).toBe(false);
    cam.end(true);

    // Nothing stored is corrupted, read while the daemon runs (WAL readers do not need space).
    const db = new Database(join(dataDir, 'safesphere.db'), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const ids = new Set((db.prepare('SELECT incident_id FROM incidents').all() as { incident_id: string }[]).map((r) => r.incident_id));
      for (const id of [...before, ...ackedWhileFull]) expect(ids.has(id), id).toBe(true);
      expect(ids.has('full-mqtt-1')).toBe(false);
    } finally {
      db.close();
    }
    expect(daemon.exitStatus).toBeNull();

    // Space returns: the same daemon, no restart, takes reports again; the camera's resend is PUBACKed.
    unlinkSync(filler.file);
    const recoveredAt = performance.now();
    let ok = false;
    while (!ok && performance.now() - recoveredAt < 10_000) {
      ok = (await post(daemon.httpUrl, big('full-after-0', 0))).status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok).toBe(true);
    const cam2 = await mqtt.connectAsync(daemon.mqttUrl, { clientId: 'full-cam', reconnectPeriod: 0 });
    await waitFor(cam2.publishAsync(cameraTopic('full-cam'), JSON.stringify(payload), { qos: 1 }), 10_000, 'PUBACK after recovery');
    cam2.end(true);
    expect((await fetch(`${daemon.httpUrl}/incidents/full-mqtt-1`)).status).toBe(200);
    const health = (await (await fetch(`${daemon.httpUrl}/health`)).json()) as { status: string };
    expect(health.status).not.toBe('unhealthy');
    console.log(
      `[faults] disk-full: tmpfs 24 MiB, filler ${(filler.bytes / 2 ** 20).toFixed(1)} MiB; ${ackedWhileFull.length} reports still fit in the WAL, ` +
        `then 507 (+5 more 507s), MQTT publish closed without PUBACK; integrity ok; recovered in ${Math.round(performance.now() - recoveredAt)} ms without a restart`,
    );
    expect(await daemon.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 90_000);
});
