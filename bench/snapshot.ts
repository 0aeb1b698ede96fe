// Evidence and AI bench.
//
// 1. Snapshots/s for a 1920x1080 JPEG: sharp alone (decode, auto-orient, strip, re-encode,
//    320-px thumbnail), at concurrency 1 and 2 (snapshots.max_concurrent); then end to end
//    over HTTP (multipart upload -> sharp -> fsynced files -> SQLite row + outbox entry).
// 2. What the AI stage adds to the report path: paced HIGH reports over HTTP, each followed
//    by its snapshot, with AI off and then on (a local fake Gemini answering after 200 ms).
//    Latency is the report POST's (it answers after the durable commit). AI is asynchronous,
//    so the target is "nothing added"; the figure shows what sharing one process costs.
//
// In-process (the gateway and the load share this process and its event loop), loopback only.
// Run: npx tsx bench/snapshot.ts   (BENCH_SECONDS=20 per latency run, BENCH_RATE=5 reports/s)
import { cpus } from 'node:os';
import sharp from 'sharp';
import { processImage } from '../src/evidence/image.js';
import { postJson, seedReport, startGateway, type TestGateway } from '../test/helpers.js';
import { startFakeGemini } from '../test/evidence-fixtures.js';
import { sqlite } from '../test/sqlite.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
// 5/s: each report brings a 1080p snapshot, about a third of this 2-core machine's snapshot capacity.
const RATE = Number(process.env.BENCH_RATE ?? 5);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const f = (v: number, d = 1) => v.toFixed(d);

/** A camera-like 1920x1080 frame: gradients plus texture, so the JPEG has a realistic size. */
async function frame(): Promise<Buffer> {
  const w = 1920;
  const h = 1080;
  const raw = Buffer.alloc(w * h * 3);
  let seed = 12345;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = (seed >> 16) % 24;
      const i = (y * w + x) * 3;
      raw[i] = (x * 255) / w + n;
      raw[i + 1] = (y * 255) / h + n;
      raw[i + 2] = ((x + y) % 256) ^ n;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 85 })
    .withExif({ IFD0: { Make: 'BenchCam' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
    .toBuffer();
}

async function throughput(n: number, concurrency: number, work: (i: number) => Promise<unknown>): Promise<{ perS: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await work(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const s = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perS: n / s, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function upload(gw: TestGateway, id: string, bytes: Buffer): Promise<number> {
  const form = new FormData();
  form.append('incident_id', id);
  form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'frame.jpg');
  const res = await fetch(`${gw.httpUrl}/upload/screenshot`, { method: 'POST', body: form });
  await res.arrayBuffer();
  return res.status;
}

async function reportPath(ai: boolean, jpeg: Buffer): Promise<{ p50: number; p99: number; max: number; reports: number; stored: number; aiRequests: number; annotations: number }> {
  const fake = await startFakeGemini();
  const answer = { summary: 'bench', threat_confirmed: true, confidence: 0.9, potential_threat_level: 'HIGH', recommended_actions: [] };
  fake.fallback = { kind: 'json', value: answer };
  fake.latencyMs = 200; // like a real model call
  const gw = await startGateway({
    log: { level: 'warn' },
    nodered: { enabled: false, port: 0 },
    ai: ai ? { enabled: true, api_key: 'bench', base_url: fake.url, daily_budget: 100000, per_incident_cap: 3, queue_max: 10000 } : { enabled: false },
  });
  const latencies: number[] = [];
  const uploads: Promise<number>[] = [];
  const total = RATE * SECONDS;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `BENCH_${ai ? 'AI' : 'NOAI'}_${i}`;
    const t = performance.now();
    inflight.push(
      postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, threat_level: 'HIGH', threat_score: 0.8, camera_id: `cam-${i % 8}` })).then((r) => {
        if (r.status !== 200) throw new Error(`report ${id}: ${r.status}`);
        latencies.push(performance.now() - t);
        uploads.push(upload(gw, id, jpeg));
      }),
    );
  }
  await Promise.all(inflight);
  const stored = (await Promise.all(uploads)).filter((status) => status === 200).length;
  await gw.gateway.get('snapshots')!.settled();
  await gw.gateway.get('ai')!.opinion?.idle();
  const annotations = (sqlite(gw.gateway.store).prepare('SELECT count(*) AS n FROM annotations').get() as { n: number }).n;
  await gw.stop();
  await fake.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)!, reports: latencies.length, stored, aiRequests: fake.calls.length, annotations };
}

async function main(): Promise<void> {
  const jpeg = await frame();
  const limits = { maxBytes: 16 * 1024 * 1024, maxPixels: 24_000_000, jpegQuality: 85, thumbnailPx: 320 };
  await processImage(jpeg, limits); // warm-up
  const seq = await throughput(30, 1, () => processImage(jpeg, limits));
  const par = await throughput(40, 2, () => processImage(jpeg, limits));

  const gw = await startGateway({ log: { level: 'warn' }, nodered: { enabled: false, port: 0 } });
  for (let i = 0; i < 40; i++) await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: `UP_${i}`, threat_level: 'LOW', threat_score: 0.1, weapon_detected: false, weapon_types: [], is_critical: false }));
  await upload(gw, 'UP_WARM', jpeg);
  const http = await throughput(40, 2, async (i) => {
    const status = await upload(gw, `UP_${i}`, jpeg);
    if (status !== 200) throw new Error(`upload ${i}: ${status}`);
  });
  await gw.stop();

  const off = await reportPath(false, jpeg);
  const on = await reportPath(true, jpeg);

  console.log(`\n### Snapshots (${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, Node ${process.version})\n`);
  console.log(`1920x1080 JPEG of ${(jpeg.length / 1024).toFixed(0)} KiB with EXIF/GPS.\n`);
  console.log('| path | concurrency | snapshots/s | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|');
  console.log(`| sharp: decode, orient, strip, JPEG + thumbnail | 1 | ${f(seq.perS)} | ${f(seq.p50)} | ${f(seq.p99)} |`);
  console.log(`| sharp: decode, orient, strip, JPEG + thumbnail | 2 | ${f(par.perS)} | ${f(par.p50)} | ${f(par.p99)} |`);
  console.log(`| HTTP POST /upload/screenshot, stored (fsync + SQLite + outbox) | 2 | ${f(http.perS)} | ${f(http.p50)} | ${f(http.p99)} |`);
  console.log(`\n### Report path with AI (${RATE} HIGH reports/s for ${SECONDS} s over HTTP, each followed by its snapshot)\n`);
  console.log('| AI | reports | snapshots stored | report p50 ms | report p99 ms | max ms | Gemini requests | annotations |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, r] of [['off', off], ['on (fake Gemini)', on]] as const) {
    console.log(`| ${name} | ${r.reports} | ${r.stored} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.max, 2)} | ${r.aiRequests} | ${r.annotations} |`);
  }
  console.log(`\nAdded p99 on the report path with AI on: ${f(on.p99 - off.p99, 2)} ms (p50 ${f(on.p50 - off.p50, 2)} ms).`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
