// Ten SIGKILLs at random moments under steady MQTT QoS 1 + HTTP load, each followed by a
// restart on the same data dir: zero acknowledged reports lost, zero stored twice.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons, waitFor } from '../daemon.js';
import { tempDir } from '../helpers.js';
import { Load, readDatabase, resendUnacked, type Sent, type Via } from './load.js';

const KILLS = 10;

describe('repeated SIGKILL under load', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it(`survives ${KILLS} SIGKILLs at random moments: every acknowledged report stored exactly once`, async () => {
    const dataDir = tempDir('safesphere-kill10-');
    dirs.push(dataDir);
    const sent = new Map<string, Sent>();
    const acked = new Map<string, Via>();
    const ackedBeforeKill: number[] = [];
    const inFlightAtKill: number[] = [];
    const resendRefused: string[] = [];
    let ackedByResend = 0;

    for (let round = 0; round < KILLS; round++) {
      const daemon = await Daemon.start(dataDir);
      // What an earlier round left unacknowledged is sent again first, as a camera would.
      const beforeResend = acked.size;
      resendRefused.push(...(await resendUnacked(daemon, sent, acked)));
      ackedByResend += acked.size - beforeResend;
      const load = new Load(sent, acked, `r${round}`);
      await load.start(daemon);
      // A random moment: 150..1200 ms into the load, and only once reports are flowing.
      const delay = 150 + Math.floor(Math.random() * 1050);
      await new Promise((r) => setTimeout(r, delay));
      inFlightAtKill.push(load.inFlight);
      ackedBeforeKill.push(acked.size);
      daemon.child.kill('SIGKILL');
      expect(await waitFor(daemon.exited, 10_000, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
      await load.settled();
      load.close();
    }

    // A last start: the rest is resent, then a clean stop and the file itself is checked.
    const last = await Daemon.start(dataDir);
    const beforeLast = acked.size;
    resendRefused.push(...(await resendUnacked(last, sent, acked)));
    ackedByResend += acked.size - beforeLast;
    const lost: string[] = [];
    for (const [id] of acked) {
      const res = await fetch(`${last.httpUrl}/incidents/${encodeURIComponent(id)}`);
      if (res.status !== 200) lost.push(id);
      await res.arrayBuffer();
    }
    expect(await last.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    const { integrity, duplicates, rows } = readDatabase(dataDir);
    const stored = new Set(rows.map((r) => r.incident_id));
    const missing = [...acked.keys()].filter((id) => !stored.has(id));
    console.log(
      `[faults] kill-restart: ${KILLS} SIGKILLs survived; reports sent ${sent.size}, acknowledged ${acked.size} ` +
        `(${acked.size - ackedByResend} under load, ${ackedByResend} on resend after a restart), found ${[...acked.keys()].filter((id) => stored.has(id)).length}, rows ${rows.length}, duplicates ${duplicates.length}; ` +
        `in flight at each kill ${JSON.stringify(inFlightAtKill)}`,
    );
    expect(resendRefused, 'resends refused after a restart').toEqual([]);
    expect(inFlightAtKill.filter((n) => n > 0).length, 'kills with reports in flight').toBeGreaterThanOrEqual(KILLS - 1);
    expect(integrity).toBe('ok');
    expect(duplicates).toEqual([]);
    expect(lost, 'acknowledged but not served after the restarts').toEqual([]);
    expect(missing, 'acknowledged but not in the database').toEqual([]);
    expect(rows.filter((r) => !sent.has(r.incident_id)), 'rows nobody sent').toEqual([]);
    expect(rows.length).toBe(sent.size);
    for (const r of rows) expect(r.source, r.incident_id).toBe(sent.get(r.incident_id)!.via);
    expect(acked.size).toBeGreaterThan(KILLS * 50);
  }, 240_000);
});
