// Report-to-siren latency through the real act stage, and the gateway's memory with
// Node-RED loaded.
//
// The gateway runs as its own process (the real daemon, default flows, Node-RED on), so
// its event loop and heap are its own and /proc/<pid>/status gives its resident memory.
// This process is the camera fleet and the siren: paced MQTT QoS 1 CRITICAL reports from
// 10 publishers, and a subscriber on safesphere/sirens/siren-1/set. Latency is measured
// on one clock, from each report's PUBACK (the gateway has committed it) to the siren's
// ON command for that incident.
//
// Run: npm run bench, or npm run build && npx tsx bench/action-latency.ts  (BENCH_SECONDS=10 per rate)
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Daemon, reapDaemons } from '../test/daemon.js';
import { seedReport } from '../test/helpers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PUBLISHERS = 10;
const RATES = [10, 500];

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function run(daemon: Daemon, rate: number, runId: string) {
  const cameras: MqttClient[] = [];
  for (let i = 0; i < PUBLISHERS; i++) cameras.push(await mqtt.connectAsync(daemon.mqttUrl, { clientId: `bench-cam-${runId}-${i}`, reconnectPeriod: 0 }));
  const siren = await mqtt.connectAsync(daemon.mqttUrl, { clientId: `bench-siren-${runId}`, reconnectPeriod: 0 });
  await siren.subscribeAsync('safesphere/sirens/siren-1/set', { qos: 1 });

  const acked = new Map<string, number>();
  const sirenAt = new Map<string, number>();
  siren.on('message', (_t, payload) => {
    const msg = JSON.parse(payload.toString()) as { state: string; incident_id: string };
    if (msg.state === 'ON' && !sirenAt.has(msg.incident_id)) sirenAt.set(msg.incident_id, performance.now());
  });

  const total = rate * SECONDS;
  const started = performance.now();
  let maxLag = 0;
  await new Promise<void>((resolve) => {
    let sent = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      maxLag = Math.max(maxLag, (due - sent - 1) / rate);
      for (; sent < due; sent++) {
        const id = `BENCH_${runId}_${sent}`;
        const camera = cameras[sent % PUBLISHERS]!;
        camera.publish(`safesphere/cameras/bench-cam-${sent % PUBLISHERS}/threats`, JSON.stringify(seedReport({ incident_id: id })), { qos: 1 }, (err) => {
          if (!err) acked.set(id, performance.now());
        });
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, (sent / rate) * 1000 - (performance.now() - started)));
    };
    tick();
  });
  // Let the last sirens arrive (bounded).
  const deadline = performance.now() + 15_000;
  while ((sirenAt.size < acked.size || acked.size < total) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const latencies = [...acked].filter(([id]) => sirenAt.has(id)).map(([id, at]) => sirenAt.get(id)! - at).sort((a, b) => a - b);
  await Promise.all([...cameras, siren].map((c) => c.endAsync()));
  return {
    rate,
    sent: total,
    acked: acked.size,
    sirens: sirenAt.size,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
    pacerLagMs: maxLag * 1000,
  };
}

const dataDir = mkdtempSync(join(tmpdir(), 'safesphere-bench-actions-'));
try {
  const daemon = await Daemon.start(
    dataDir,
    {
      SAFESPHERE_NODERED_ENABLED: 'true',
      SAFESPHERE_DEVICES_SIRENS: JSON.stringify([{ id: 'siren-1', cameras: ['*'], zones: [], duration_s: 1 }]),
    },
    60_000,
    { built: true }, // measure memory as deployed: compiled JS, no tsx in the process
  );
  const rssAfterStart = rssMb(daemon.pid);
  const rows = [];
  for (const rate of RATES) rows.push(await run(daemon, rate, `r${rate}`));
  const rssAfterLoad = rssMb(daemon.pid);
  await daemon.kill('SIGTERM');

  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '—');
  process.stdout.write(
    [
      '',
      '## Report-to-siren latency (default flows, Node-RED in its own thread unless nodered.isolation says otherwise)',
      '',
      `CRITICAL reports over MQTT QoS 1 from ${PUBLISHERS} publishers, paced, ${SECONDS} s per rate; latency from each report's PUBACK to the siren's ON on safesphere/sirens/siren-1/set, in ms.`,
      '',
      '| offered rate | reports acked | siren ONs | p50 | p99 | max | target | result |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.rate}/s | ${r.acked}/${r.sent} | ${r.sirens} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.rate === 10 ? 'p99 < 50 ms' : '—'} | ${
            r.rate === 10 ? (r.p99 < 50 && r.sirens === r.sent ? '**PASS**' : '**FAIL**') : r.sirens === r.sent ? 'all sounded' : `${r.sent - r.sirens} missing`
          } |`,
      ),
      '',
      `Gateway resident memory with Node-RED loaded: ${rssAfterStart.toFixed(0)} MB after start (target < 200 MB: ${rssAfterStart < 200 ? '**PASS**' : '**FAIL**'}), ${rssAfterLoad.toFixed(0)} MB after the runs above.`,
      `Pacer max lag: ${rows.map((r) => `${r.rate}/s ${r.pacerLagMs.toFixed(1)} ms`).join(', ')}.`,
      '',
    ].join('\n'),
  );
} finally {
  await reapDaemons();
  rmSync(dataDir, { recursive: true, force: true });
}
