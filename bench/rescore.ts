// Re-scoring benchmark.
//
// 1. Cost per report of the re-score stage (RescoreStage.scoreBatch: context lookup,
//    feature extraction, the worker round trip with onnxruntime, the floor), at batch 1 and
//    batch 64, against the shipped model; plus onnxruntime's own session.run on the main
//    thread for reference. Target: < 200 µs per report in batches of 64.
// 2. Ingest throughput with re-scoring on vs off, by running the ingest bench
//    (bench/ingest.ts, unchanged: a real gateway, load in a child process, every ack checked
//    against the database) twice: BENCH_CONFIG scoring.enabled=false, then the default
//    (enabled). Target: on within 15 % of off.
//
// Run: npm run bench:rescore   (env: RESCORE_ITERATIONS=4000 timed batches of 1,
//      RESCORE_SKIP_INGEST=1 to run part 1 only; BENCH_SECONDS is passed on to ingest.ts)
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logger.js';
import { FEATURE_COUNT, extractFeatures } from '../src/scoring/features.js';
import { RescoreStage } from '../src/scoring/rescorer.js';
import { Store } from '../src/store/store.js';
import type { ValidReport } from '../src/validate/report.js';
import { seedReport } from '../test/helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ITERATIONS = Number(process.env.RESCORE_ITERATIONS ?? 4000);
const TARGET_US = 200;
const TARGET_SHARE = 0.85;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const f1 = (v: number) => v.toFixed(1);

function reports(n: number, start: number): ValidReport[] {
  const levels = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
  return Array.from({ length: n }, (_, i) => {
    const k = start + i;
    const report = seedReport({
      incident_id: `RB_${k}`,
      threat_level: levels[k % 4],
      threat_score: (k % 100) / 100,
      weapon_types: k % 3 === 0 ? ['knife'] : ['gun'],
      camera_id: `cam-${k % 16}`,
    }) as unknown as ValidReport['report'];
    return { report, cameraId: `cam-${k % 16}`, source: 'http', contentHash: String(k), receivedAt: Date.now() };
  });
}

async function stageCost(): Promise<{ batch: number; usPerReport: number; p50BatchUs: number; p99BatchUs: number }[]> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'safesphere-rescore-bench-'));
  const log = createLogger('warn');
  const store = new Store(dataDir, log);
  await store.start();
  const config = loadConfig({
    overrides: {
      data_dir: dataDir,
      scoring: { model_dir: join(ROOT, 'models'), watch: false },
      zones: [{ id: 'z1', cameras: Array.from({ length: 8 }, (_, i) => `cam-${i}`) }],
    },
  });
  const stage = new RescoreStage(config, store, null, log);
  await stage.start();
  const results = [];
  try {
    let next = 0;
    for (const batch of [1, 64]) {
      const rounds = batch === 1 ? ITERATIONS : Math.max(200, Math.round(ITERATIONS / 16));
      for (let i = 0; i < 200; i++) await stage.scoreBatch(reports(batch, (next += batch))); // warm-up
      const times: number[] = [];
      const inputs = Array.from({ length: rounds }, () => reports(batch, (next += batch)));
      const t0 = performance.now();
      for (const input of inputs) {
        const t = performance.now();
        const scores = await stage.scoreBatch(input);
        times.push((performance.now() - t) * 1000);
        if (scores[0]!.modelVersion === null) throw new Error('the model did not score a batch (fallback); the figures would be wrong');
      }
      const total = (performance.now() - t0) * 1000;
      results.push({ batch, usPerReport: total / (rounds * batch), p50BatchUs: quantile(times, 0.5), p99BatchUs: quantile(times, 0.99) });
    }
  } finally {
    await stage.stop();
    await store.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}

async function rawOrt(): Promise<{ batch: number; usPerReport: number }[]> {
  const session = await ort.InferenceSession.create(readFileSync(join(ROOT, 'models', 'rescorer.onnx')), { intraOpNumThreads: 1 });
  const out = [];
  for (const batch of [1, 64]) {
    const data = new Float32Array(batch * FEATURE_COUNT);
    reports(batch, 0).forEach((r, i) =>
      extractFeatures(r.report as never, { corroboratingCameras: 0, cameraRepeats: 0, falseAlarms: 0, labels: 0, zoneRisk: 0.5 }, data, i * FEATURE_COUNT),
    );
    const rounds = batch === 1 ? ITERATIONS : Math.round(ITERATIONS / 8);
    for (let i = 0; i < 200; i++) await session.run({ features: new ort.Tensor('float32', data, [batch, FEATURE_COUNT]) });
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) await session.run({ features: new ort.Tensor('float32', data, [batch, FEATURE_COUNT]) });
    out.push({ batch, usPerReport: ((performance.now() - t0) * 1000) / (rounds * batch) });
  }
  await session.release();
  return out;
}

interface IngestRates {
  mqtt: number;
  http: number;
  ok: boolean;
  text: string;
}

/** Runs bench/ingest.ts with extra config and reads its two closed-loop Acked/s figures. */
function ingestBench(config: Record<string, unknown>, label: string): IngestRates {
  process.stderr.write(`ingest bench, ${label} (about 40 s)...\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'ingest.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rate = (name: string) => {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`| ${name}`));
    const cell = line?.split('|')[3]?.trim().replace(/,/g, '');
    return cell ? Number(cell) : Number.NaN;
  };
  return { mqtt: rate('MQTT QoS 1 durable ingest'), http: rate('HTTP POST /threats/report durable ingest'), ok: r.status === 0, text: r.stdout };
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  process.stderr.write('re-score stage cost...\n');
  const stage = await stageCost();
  const raw = await rawOrt();
  const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'rescorer.json'), 'utf8')) as { version: string };

  const out: string[] = [];
  out.push('## Re-scoring benchmark');
  out.push('');
  out.push(
    `Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}, onnxruntime-node ` +
      `${(JSON.parse(readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version}, ` +
      `model ${manifest.version}, intra_op_threads 1.`,
  );
  out.push('');
  out.push('| Batch | Stage µs/report | Stage p50 µs/batch | Stage p99 µs/batch | onnxruntime run µs/report (main thread) | Target | Result |');
  out.push('| ---: | ---: | ---: | ---: | ---: | --- | --- |');
  for (const s of stage) {
    const r = raw.find((x) => x.batch === s.batch)!;
    const target = s.batch === 64 ? `< ${TARGET_US} µs/report` : '—';
    const verdict = s.batch === 64 ? (s.usPerReport < TARGET_US ? 'PASS' : 'FAIL') : '—';
    out.push(`| ${s.batch} | ${f1(s.usPerReport)} | ${f1(s.p50BatchUs)} | ${f1(s.p99BatchUs)} | ${f1(r.usPerReport)} | ${target} | ${verdict} |`);
  }
  out.push('');
  out.push(
    'Stage = `RescoreStage.scoreBatch`: context window lookups, feature extraction, the worker-thread round trip with ' +
      "onnxruntime's `session.run`, and the safety floor, for reports of 16 cameras (8 in one zone).",
  );

  let failed = stage.some((s) => s.batch === 64 && s.usPerReport >= TARGET_US);
  if (!process.env.RESCORE_SKIP_INGEST) {
    const off = ingestBench({ scoring: { enabled: false } }, 're-scoring off');
    const on = ingestBench({}, 're-scoring on (default)');
    out.push('');
    out.push('Ingest throughput, `bench/ingest.ts` closed-loop scenarios (durable acks/s; the seed report, 50 cameras):');
    out.push('');
    out.push('| Transport | Re-scoring off | Re-scoring on | On / off | Target | Result |');
    out.push('| --- | ---: | ---: | ---: | --- | --- |');
    for (const [name, a, b] of [
      ['MQTT QoS 1', off.mqtt, on.mqtt],
      ['HTTP POST', off.http, on.http],
    ] as const) {
      const share = b / a;
      const pass = share >= TARGET_SHARE && off.ok && on.ok;
      failed ||= !pass;
      out.push(`| ${name} | ${Math.round(a).toLocaleString('en-US')} | ${Math.round(b).toLocaleString('en-US')} | ${(share * 100).toFixed(1)} % | ≥ ${TARGET_SHARE * 100} % | ${pass ? 'PASS' : 'FAIL'} |`);
    }
    if (!off.ok || !on.ok) out.push('', 'An ingest run failed its own checks (see its output above).');
  }
  process.stdout.write(`${out.join('\n')}\n`);
  process.exitCode = failed ? 1 : 0;
}

await main();
