// Report-to-person latency through the daemon as shipped (compiled dist/, Node-RED on): each
// CRITICAL report's HTTP 200 (committed) → its e-mail accepted by a real SMTP server (the npm
// `smtp-server`, over loopback, no TLS), and → its push request received by a local ntfy server
// (https://docs.ntfy.sh/publish/#publish-as-json). One clock: this process is the camera, the
// SMTP server and the ntfy server.
//
// Run: npm run bench, or npm run build && npx tsx bench/notify-latency.ts   (BENCH_REPORTS=200, BENCH_RATE=10/s)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, NOTIFY_AS_SHIPPED, reapDaemons } from '../test/daemon.js';
import { seedReport } from '../test/helpers.js';
import { startNtfy, startSmtp } from '../test/notify-servers.js';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 200);
const RATE = Number(process.env.BENCH_RATE ?? 10);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const dataDir = mkdtempSync(join(tmpdir(), 'safesphere-bench-notify-'));
const smtp = await startSmtp();
const ntfy = await startNtfy();
try {
  mkdirSync(join(dataDir, 'etc'));
  const configFile = join(dataDir, 'etc', 'site.yaml');
  writeFileSync(
    configFile,
    [
      'contacts:',
      '  - { id: desk, name: Front desk, channels: [ { email: desk@example.org }, { ntfy: site-1-desk } ] }',
      'escalation:',
      '  CRITICAL: [ { at_s: 0, notify: [desk] } ]',
      'notify:',
      `  email: { host: 127.0.0.1, port: ${smtp.port}, tls: none }`,
      `  ntfy: { url: "${ntfy.url}" }`,
      '',
    ].join('\n'),
  );
  const daemon = await Daemon.start(dataDir, { SAFESPHERE_CONFIG: configFile, SAFESPHERE_NODERED_ENABLED: 'true', ...NOTIFY_AS_SHIPPED }, 60_000, { built: true });
  const acked = new Map<string, number>();
  const started = performance.now();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < REPORTS; i++) {
    const due = started + (i / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `BENCH_NOTIFY_${i}`;
    posts.push(
      fetch(`${daemon.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(seedReport({ incident_id: id, camera_id: 'cam-1' })) }).then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) acked.set(id, performance.now());
      }),
    );
  }
  await Promise.all(posts);
  const deadline = performance.now() + 30_000;
  while ((smtp.mails.length < acked.size || ntfy.published.length < acked.size) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await daemon.kill('SIGTERM');

  const mailAt = new Map(smtp.mails.map((m) => [/^X-Safesphere-Incident: (\S+)$/im.exec(m.raw)![1]!, m.at]));
  const pushAt = new Map(ntfy.published.map((p) => [/incident=([^&]+)$/.exec(String(p.body.click))![1]!, p.at]));
  const lat = (at: Map<string, number>) => [...acked].filter(([id]) => at.has(id)).map(([id, t]) => at.get(id)! - t).sort((a, b) => a - b);
  const mail = lat(mailAt);
  const push = lat(pushAt);
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '—');
  process.stdout.write(
    [
      '',
      '## Report-to-person latency (contacts and escalation, daemon as shipped, Node-RED on)',
      '',
      `${REPORTS} CRITICAL reports over HTTP at ${RATE}/s; latency from each report's HTTP 200 to its e-mail accepted by the SMTP server and to its ntfy publish received, in ms.`,
      '',
      '| delivery | received | p50 | p99 | max | target | result |',
      '| --- | ---: | ---: | ---: | ---: | --- | --- |',
      `| e-mail (SMTP 250) | ${mail.length}/${acked.size} | ${f(percentile(mail, 50))} | ${f(percentile(mail, 99))} | ${f(mail.at(-1) ?? NaN)} | p99 < 1000 ms | ${percentile(mail, 99) < 1000 && mail.length === acked.size ? '**PASS**' : '**FAIL**'} |`,
      `| push (ntfy) | ${push.length}/${acked.size} | ${f(percentile(push, 50))} | ${f(percentile(push, 99))} | ${f(push.at(-1) ?? NaN)} | p99 < 500 ms | ${percentile(push, 99) < 500 && push.length === acked.size ? '**PASS**' : '**FAIL**'} |`,
      '',
    ].join('\n'),
  );
} finally {
  await reapDaemons();
  await smtp.close();
  await ntfy.close();
  rmSync(dataDir, { recursive: true, force: true });
}
