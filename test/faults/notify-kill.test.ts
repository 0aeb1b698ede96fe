// SIGKILL during deliveries, against the real daemon: every delivery the gateway accepted (its
// incident was acknowledged to the camera) is delivered after the restart, once per delivery in
// the ledger, and once per idempotency key at the receivers. A delivery in flight at the kill may
// reach its receiver twice, with the same key (the webhook's Idempotency-Key, the e-mail's
// Message-ID), which is what lets a receiver collapse it; the count is printed.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, NOTIFY_AS_SHIPPED, reapDaemons, waitFor } from '../daemon.js';
import { seedReport, tempDir } from '../helpers.js';
import { startSmtp, startWebhook } from '../notify-servers.js';

describe('SIGKILL during deliveries', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await reapDaemons();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('everything accepted is delivered after the restart, exactly once per delivery', async () => {
    const dataDir = tempDir('safesphere-notify-kill-');
    dirs.push(dataDir);
    // A slow receiver, so deliveries queue up behind notify.concurrency and some are in flight at the kill.
    const webhook = await startWebhook('kill-secret', { delayMs: 80 });
    const smtp = await startSmtp();
    const configDir = join(dataDir, 'etc');
    mkdirSync(configDir);
    const configFile = join(configDir, 'site.yaml');
    writeFileSync(
      configFile,
      [
        'contacts:',
        `  - { id: station, name: Station, channels: [ { webhook: "${webhook.url}/station" }, { email: "station@example.org" } ] }`,
        'escalation:',
        '  CRITICAL: [ { at_s: 0, notify: [station] } ]',
        'notify:',
        '  concurrency: 4',
        '  retry_base_ms: 50',
        '  webhook: { secret: kill-secret }',
        `  email: { host: 127.0.0.1, port: ${smtp.port}, tls: none }`,
        '',
      ].join('\n'),
    );
    const env = { SAFESPHERE_CONFIG: configFile, ...NOTIFY_AS_SHIPPED };
    try {
      const first = await Daemon.start(dataDir, env);
      const ids = Array.from({ length: 40 }, (_, i) => `INC_KILL_${i}`);
      const accepted: string[] = [];
      await Promise.all(
        ids.map(async (id) => {
          const res = await fetch(`${first.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(seedReport({ incident_id: id })) });
          if (res.status === 200) accepted.push(id);
          await res.arrayBuffer();
        }),
      );
      expect(accepted).toHaveLength(ids.length);
      // Kill while the queue is being worked through.
      const deadline = Date.now() + 20_000;
      while (webhook.received.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const beforeKill = { webhook: webhook.received.length, mail: smtp.mails.length };
      first.child.kill('SIGKILL');
      expect(await waitFor(first.exited, 10_000, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
      expect(beforeKill.webhook, 'deliveries left for after the restart').toBeLessThan(accepted.length);

      const second = await Daemon.start(dataDir, env);
      const keyOf = (id: string) => `site-1:${id}:0:station:webhook:0`;
      const messageIdOf = (id: string) => `<site-1_${id}_0_station_email_1@safesphere-edge>`;
      const until = Date.now() + 60_000;
      const missing = () =>
        accepted.filter((id) => !webhook.byKey.has(keyOf(id)) || !smtp.mails.some((m) => m.raw.includes(`Message-ID: ${messageIdOf(id)}`)));
      while (missing().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(missing(), 'accepted but never delivered').toEqual([]);

      // The ledger: one delivered row per delivery, nothing else open (a resend of what was in flight may still be finishing).
      const ledger = async () =>
        Promise.all(
          accepted.map(async (id) => ((await (await fetch(`${second.httpUrl}/incidents/${id}`)).json()) as { deliveries: { channel: string; state: string }[] }).deliveries.map((d) => [d.channel, d.state])),
        );
      let rows = await ledger();
      while (rows.some((r) => r.some(([, state]) => state !== 'delivered')) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await ledger();
      }
      for (const r of rows) {
        expect(r).toEqual([
          ['webhook', 'delivered'],
          ['email', 'delivered'],
        ]);
      }
      // The receivers: every key of an accepted delivery, and no other.
      expect([...webhook.byKey.keys()].sort()).toEqual(accepted.map(keyOf).sort());
      const resentHooks = [...webhook.byKey.values()].filter((n) => n > 1).length;
      const mailIds = smtp.mails.map((m) => /^Message-ID: (.*)$/m.exec(m.raw)![1]!.trim());
      const resentMails = mailIds.length - new Set(mailIds).size;
      // Only what was in flight at the kill can arrive twice (4 at a time per channel).
      expect(resentHooks).toBeLessThanOrEqual(4);
      expect(resentMails).toBeLessThanOrEqual(4);
      console.log(
        `[faults] notify-kill: ${accepted.length} incidents accepted, ${beforeKill.webhook} webhooks and ${beforeKill.mail} mails received before SIGKILL; ` +
          `after the restart every delivery delivered; resent with the same key: ${resentHooks} webhook(s), ${resentMails} mail(s)`,
      );
      expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await webhook.close();
      await smtp.close();
    }
  }, 120_000);
});
