// Backup and restore against the real daemon: `safesphere-edge backup` while reports stream in,
// then `restore` into an empty data dir: every report acknowledged before the backup started is
// there, the snapshot files with their bytes, the pull cursor. The archive is a real tar.gz
// (read by tar(1)) whose manifest's SHA-256s match sha256sum(1). A damaged archive is refused
// and changes nothing; scheduled backups are pruned to backup.keep and shown in /health.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/errors.js';
import { Daemon, reapDaemons } from './daemon.js';
import { solidImage, uploadSnapshot } from './evidence-fixtures.js';
import { getJson, startGateway, tempDir } from './helpers.js';
import { reportFor } from './faults/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
const dir = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};
afterAll(async () => {
  await reapDaemons();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, SAFESPHERE_NODERED_ENABLED: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('backup under load, then restore', () => {
  let archive: string;
  let ackedBefore: string[] = [];
  let snapshotSha: string;

  it('takes a consistent online backup while reports are being acknowledged', async () => {
    const data = dir('safesphere-bk-src-');
    const d = await Daemon.start(data, { SAFESPHERE_SYNC_TOKEN: 'backup-test-sync-token-0123456789' });
    const shot = await solidImage('jpeg', 80, 60, { r: 200, g: 10, b: 10 });
    const acked = new Set<string>();
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const id = `BK_${w}_${n++}`;
        const res = await fetch(`${d.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: reportFor(id, n, `cam-${w}`, 'http') });
        await res.arrayBuffer();
        if (res.status === 200) acked.add(id);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));
    while (acked.size < 300) await new Promise((r) => setTimeout(r, 20));
    const [first] = acked;
    expect((await uploadSnapshot(d.httpUrl, first!, shot)).status).toBe(200);
    snapshotSha = sha(readFileSync(join(data, 'snapshots', `${first}_screenshot.jpg`)));

    archive = join(dir('safesphere-bk-out-'), 'site.tar.gz');
    ackedBefore = [...acked];
    const run = await cli(['backup', '--out', archive], { SAFESPHERE_DATA_DIR: data });
    const ackedDuring = acked.size - ackedBefore.length;
    stop = true;
    await load;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^backup written: .* online copy of the running gateway/);
    expect(ackedDuring, 'reports kept being acknowledged while the backup ran').toBeGreaterThan(0);
    expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    // A real tar.gz: tar(1) lists it, and every file's SHA-256 matches the manifest.
    const x = dir('safesphere-bk-x-');
    expect(spawnSync('tar', ['-xzf', archive, '-C', x]).status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8'));
    expect(manifest.files.map((f: { path: string }) => f.path)).toEqual(
      expect.arrayContaining(['safesphere.db', `snapshots/${first}_screenshot.jpg`, `snapshots/${first}_thumb.jpg`, 'admin-token']),
    );
    for (const f of manifest.files as { path: string; sha256: string }[]) {
      const sum = spawnSync('sha256sum', [join(x, f.path)], { encoding: 'utf8' }).stdout.split(' ')[0];
      expect(sum, f.path).toBe(f.sha256);
    }
    expect(manifest.db.incidents).toBeGreaterThanOrEqual(ackedBefore.length);
  }, 120_000);

  it('restores into an empty data dir: every report acknowledged before the backup, the snapshot bytes, a gateway that starts', async () => {
    const data = dir('safesphere-bk-dst-');
    const run = await cli(['restore', archive], { SAFESPHERE_DATA_DIR: data });
    expect(run.code, run.stderr).toBe(0);
    const db = new Database(join(data, 'safesphere.db'), { readonly: true });
    const have = new Set((db.prepare('SELECT incident_id FROM incidents').pluck().all() as string[]));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    expect(ackedBefore.filter((id) => !have.has(id))).toEqual([]);
    expect(sha(readFileSync(join(data, 'snapshots', `${ackedBefore[0]}_screenshot.jpg`)))).toBe(snapshotSha);

    const d = await Daemon.start(data);
    const inc = await getJson(`${d.httpUrl}/incidents/${ackedBefore[0]}`);
    expect(inc.status).toBe(200);
    expect(inc.body.snapshot).toBeTruthy();
    expect(await d.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    // Restoring again over that data: the current contents are set aside, not deleted.
    const again = await cli(['restore', archive], { SAFESPHERE_DATA_DIR: data });
    expect(again.code, again.stderr).toBe(0);
    const aside = readdirSync(data).find((n) => n.startsWith('pre-restore-'));
    expect(aside).toBeDefined();
    expect(existsSync(join(data, aside!, 'safesphere.db'))).toBe(true);
  }, 120_000);

  it('refuses a damaged or partial archive and leaves the data dir as it was', async () => {
    const data = dir('safesphere-bk-bad-');
    mkdirSync(join(data, 'snapshots'), { recursive: true });
    writeFileSync(join(data, 'keep-me'), 'x');
    const bytes = readFileSync(archive);
    const cut = join(dir('safesphere-bk-cut-'), 'cut.tar.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const flipped = join(dir('safesphere-bk-flip-'), 'flip.tar.gz');
    const copy = Buffer.from(bytes);
    copy[Math.floor(copy.length / 3)]! ^= 0xff;
    writeFileSync(flipped, copy);
    for (const bad of [cut, flipped]) {
      const run = await cli(['restore', bad], { SAFESPHERE_DATA_DIR: data });
      expect(run.code, run.stderr).toBe(EXIT.DATA_DAMAGED);
      expect(run.stderr).toMatch(/damaged|not a readable backup archive/);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(readdirSync(data).sort()).toEqual(['keep-me', 'safesphere.lock', 'snapshots']);
    }
  }, 60_000);
});

describe('scheduled backups', () => {
  it('writes, logs, prunes to backup.keep and shows the last one in /health', async () => {
    const backups = dir('safesphere-bk-sched-');
    const gw = await startGateway({ backup: { interval_h: 24, keep: 2, dir: backups } });
    try {
      const scheduler = gw.gateway.get('backups')!;
      expect(scheduler).not.toBeNull();
      const health = await getJson(`${gw.httpUrl}/health`);
      expect(health.body.components.backup).toMatchObject({ status: 'up', interval_h: 24, keep: 2, last: null });
      expect(Date.parse(health.body.components.backup.next_at) - Date.now()).toBeGreaterThan(23 * 3_600_000);
      for (let i = 0; i < 3; i++) expect(await scheduler.runOnce()).not.toBeNull();
      const files = readdirSync(backups).filter((f) => f.endsWith('.tar.gz')).sort();
      expect(files).toHaveLength(2);
      const after = await getJson(`${gw.httpUrl}/health`);
      expect(after.body.components.backup.last.file).toBe(join(backups, files[1]!));
      expect(after.body.components.backup.backups_written).toBe(3);
      expect(gw.logs.lines.filter((l) => l.msg === 'backup written')).toHaveLength(3);
      expect(gw.logs.lines.filter((l) => l.msg === 'old backup deleted')).toHaveLength(1);
    } finally {
      await gw.stop();
    }
  }, 60_000);
});
