// Report-to-ARC latency through the daemon as shipped (compiled dist/, Node-RED on) with `arc`
// configured: each CRITICAL report with a gun, POSTed over HTTP → the police_dispatch hold-up
// event, encrypted (*SIA-DCS, AES-128) over TCP → ACKed by iobroker.sia's receiver class running
// in this process (test/arc-receiver.ts). One clock: this process is the camera and the ARC.
//
// Run: npm run bench, or npm run build && npx tsx bench/arc-latency.ts   (BENCH_REPORTS=200, BENCH_RATE=10/s)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSiaReceiver } from '../test/arc-receiver.js';
import { Daemon, NOTIFY_AS_SHIPPED, reapDaemons } from '../test/daemon.js';
import { seedReport } from '../test/helpers.js';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 200);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const KEY = '00112233445566778899AABBCCDDEEFF';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const dataDir = mkdtempSync(join(tmpdir(), 'safesphere-bench-arc-'));
const arc = await startSiaReceiver({ account: '5A7', key: KEY, timeoutS: 30 });
try {
  mkdirSync(join(dataDir, 'etc'));
  const configFile = join(dataDir, 'etc', 'site.yaml');
  writeFileSync(configFile, ['arc:', '  account: "5A7"', `  key: "${KEY}"`, `  primary: { host: 127.0.0.1, port: ${arc.port} }`, ''].join('\n'));
  const daemon = await Daemon.start(dataDir, { SAFESPHERE_CONFIG: configFile, SAFESPHERE_NODERED_ENABLED: 'true', ...NOTIFY_AS_SHIPPED }, 60_000, { built: true });
  const sentAt = new Map<string, number>();
  const started = performance.now();
  const posts: Promise<void>[] = [];
  let ok = 0;
  for (let i = 0; i < REPORTS; i++) {
    const due = started + (i / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `BENCH_ARC_${i}`;
    sentAt.set(id, performance.now());
    posts.push(
      fetch(`${daemon.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(seedReport({ incident_id: id, camera_id: 'cam-1' })) }).then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) ok++;
      }),
    );
  }
  await Promise.all(posts);
  const events = () => arc.received.filter((m) => m.data_message.endsWith('/HA000'));
  const deadline = performance.now() + 30_000;
  while (events().length < ok && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await daemon.kill('SIGTERM');
  const lat = events()
    .map((m) => {
      const id = /incident (\S+):/.exec(m.data_extended)?.[1];
      return id && sentAt.has(id) ? m.at! - sentAt.get(id)! : NaN;
    })
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '—');
  const p99 = percentile(lat, 99);
  process.stdout.write(
    [
      '',
      '## Report-to-ARC latency (monitoring station, daemon as shipped, Node-RED on)',
      '',
      `${REPORTS} CRITICAL reports with a gun over HTTP at ${RATE}/s; latency from each report's POST to the receiver's ACK of its hold-up event (*SIA-DCS, AES-128, TCP, loopback), in ms. Load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
      '',
      '| path | acknowledged | p50 | p99 | max | target | result |',
      '| --- | ---: | ---: | ---: | ---: | --- | --- |',
      `| report → ARC ACK | ${lat.length}/${ok} | ${f(percentile(lat, 50))} | ${f(p99)} | ${f(lat.at(-1) ?? NaN)} | p99 < 250 ms | ${p99 < 250 && lat.length === ok && ok === REPORTS ? '**PASS**' : '**FAIL**'} |`,
      '',
    ].join('\n'),
  );
} finally {
  await reapDaemons();
  await arc.close();
  rmSync(dataDir, { recursive: true, force: true });
}
