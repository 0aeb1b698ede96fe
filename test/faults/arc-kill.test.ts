// SIGKILL while the gateway waits for the ARC's ACK, against the real daemon: the alarm it
// accepted is sent again after the restart, with the same DC-09 sequence number, and is
// acknowledged once: one delivered row in the ledger. The receiver is iobroker.sia's parser and
// ACK builder behind a test server that holds the first message unanswered (test/arc-receiver.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHeldSia } from '../arc-receiver.js';
import { Daemon, NOTIFY_AS_SHIPPED, reapDaemons, waitFor } from '../daemon.js';
import { seedReport, tempDir } from '../helpers.js';

const KEY = '00112233445566778899AABBCCDDEEFF';

describe('SIGKILL during a send to the monitoring station', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('the unacknowledged alarm is sent again after the restart, same sequence number, acknowledged once', async () => {
    const dataDir = tempDir('safesphere-arc-kill-');
    dirs.push(dataDir);
    const arc = await startHeldSia({ account: '5A7', key: KEY });
    const configDir = join(dataDir, 'etc');
    mkdirSync(configDir);
    const configFile = join(configDir, 'site.yaml');
    writeFileSync(join(configDir, 'arc.key'), `${KEY}\n`, { mode: 0o600 });
    writeFileSync(
      configFile,
      [
        'arc:',
        '  account: "5A7"',
        `  key_file: ${join(configDir, 'arc.key')}`,
        `  primary: { host: 127.0.0.1, port: ${arc.port} }`,
        '  ack_timeout_ms: 30000',
        '  attempts_per_path: 1',
        '  supervision_s: 0',
        '  test_report_h: 0',
        '',
      ].join('\n'),
    );
    const env = { SAFESPHERE_CONFIG: configFile, ...NOTIFY_AS_SHIPPED };
    try {
      const first = await Daemon.start(dataDir, env);
      const res = await fetch(`${first.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(seedReport({ incident_id: 'INC_ARC_KILL' })) });
      expect(res.status).toBe(200);
      // The daemon is mid-send: its message arrived and waits for an answer that does not come.
      const until = Date.now() + 20_000;
      while (arc.held.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(arc.held).toHaveLength(1);
      first.child.kill('SIGKILL');
      expect(await waitFor(first.exited, 10_000, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

      arc.hold = false;
      const second = await Daemon.start(dataDir, env);
      const ledger = async () => ((await (await fetch(`${second.httpUrl}/incidents/INC_ARC_KILL`)).json()) as { actions: { action_type: string; status: string }[]; deliveries: { channel: string; state: string; attempts: number; receipt: { seq: number } | null }[] });
      let body = await ledger();
      while (body.deliveries.some((d) => d.state !== 'delivered') && Date.now() < until + 20_000) {
        await new Promise((r) => setTimeout(r, 25));
        body = await ledger();
      }
      expect(body.deliveries.map((d) => [d.channel, d.state, d.attempts])).toEqual([['arc', 'delivered', 2]]);
      expect(body.actions.find((a) => a.action_type === 'police_dispatch')?.status).toBe('delivered');
      // Acknowledged once: one ACKed message, with the number the held one was sent with.
      expect(arc.acked).toHaveLength(1);
      const heldSeq = /"\*SIA-DCS"(\d{4})/.exec(arc.held[0]!.toString('latin1'))![1];
      expect(arc.acked[0]!.seq).toBe(heldSeq);
      expect(String(body.deliveries[0]!.receipt!.seq).padStart(4, '0')).toBe(heldSeq);
      console.log(`[faults] arc-kill: held seq ${heldSeq} at the kill; after the restart sent again with seq ${arc.acked[0]!.seq}, ACKed once, delivered after 2 attempts`);
      expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await arc.close();
    }
  }, 90_000);
});
