// Ingest benchmark: durable reports/s and acknowledgement latency over MQTT and HTTP,
// against a bare-aedes ceiling, printed as one markdown table for the README.
//
// Design
// ------
// * The server under test (a real Gateway, or a bare aedes broker) runs in THIS process;
//   the load generator runs in a child process (`node --import tsx bench/loadgen.ts`,
//   forked per scenario). On a 2-core box an in-process load generator would share one
//   event loop (one core) with the gateway: every mqtt.js publish, every PUBACK parse
//   and every autocannon request would be queued behind the gateway's own work, so
//   latencies would include the client's CPU time and throughput would be capped at
//   "server + client on one core". In a separate process the OS schedules each on its
//   own core, the way a camera fleet and the gateway really are separate. A worker
//   thread would work too, but a process also keeps GC and V8 heaps apart and lets us
//   read each side's CPU time separately (process.cpuUsage()). (Tried on the 2-core dev
//   VM: with the load generator in-process the bare-aedes figure fell from ~95k to ~63k
//   msgs/s, and the gateway's MQTT figure by ~5 %.)
// * The child reports when its measured window starts and ends (after a warm-up that
//   JIT-compiles both sides and fills the SQLite page cache); the parent samples the
//   server's CPU, event-loop utilisation and group-commit batches inside that window.
// * Every scenario gets a fresh gateway with a fresh temp data_dir, removed afterwards.
//   Each report has a unique incident_id, so every ack must be exactly one stored
//   row; after the load has drained the bench counts the rows and compares.
// * The report is the seed example from test/helpers.ts (CRITICAL with a weapon: the
//   heaviest policy, 7 action rows per incident), so the figures are a lower bound.
// * Shared VMs change speed from minute to minute. A CPU probe and an fsync probe run
//   before every scenario and are printed next to it, so a slow row can be told apart
//   from a slow machine.
// * Closed-loop scenarios measure capacity: throughput and latency under saturation.
//   Paced scenarios offer a fixed 1,000 reports/s from a timer-based pacer and measure
//   the latency a camera sees at a realistic load (open loop, no coordinated omission
//   from waiting on acks).
//
// Run: npm run bench   (env: BENCH_SECONDS=5 measured seconds per scenario,
//                       BENCH_WINDOW=4 in-flight QoS 1 publishes per MQTT client,
//                       BENCH_CONFIG='{"ingest":{"commit_window_ms":1}}' gateway config overrides)
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import type { IngestObserver } from '../src/pipeline/ingest.js';
import { seedReport } from '../test/helpers.js';
import { summarize, type ChildMessage, type Job, type LoadResult, type ReportTemplate } from './protocol.js';
import { sqlite } from '../test/sqlite.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));

const CLIENTS = 50;
const WINDOW = Number(process.env.BENCH_WINDOW ?? 4);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_MS = 1000;
const PACED_RATE = 1000;
const SCENARIO_TIMEOUT_MS = 90_000;
/** Extra gateway configuration for every gateway scenario, e.g. to try another commit window. */
const CONFIG_OVERRIDES = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as Record<string, unknown>;
/** Above this a load generator is the bottleneck, and its figure only a lower bound. */
const LOADGEN_SATURATED_PERCENT = 85;

const TARGETS = {
  mqttRate: 5000,
  httpRate: 5000,
  pacedP99Ms: 50,
  ceilingShare: 0.5,
};

// ------------------------------------------------------------------ server-side metrics

interface ServerMetrics {
  cpuPercent: number;
  elu: number;
  batches: number;
  meanBatch: number;
  meanCommitMs: number;
  p99CommitMs: number;
  maxCommitMs: number;
  /** Share of the window the event loop spent inside commitBatch (inserts + fsync). */
  commitShare: number;
}

/** Samples this process (the server) inside the load generator's measured window. */
class ServerRecorder implements IngestObserver {
  private measuring = false;
  private sizes: number[] = [];
  private durations: number[] = [];
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage = process.cpuUsage();
  private elu0: EventLoopUtilization = performance.eventLoopUtilization();
  metrics: ServerMetrics | null = null;

  batchCommitted(size: number, durationMs: number): void {
    if (!this.measuring) return;
    this.sizes.push(size);
    this.durations.push(durationMs);
  }

  begin(): void {
    this.measuring = true;
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.elu0 = performance.eventLoopUtilization();
  }

  end(): void {
    if (!this.measuring) return;
    this.measuring = false;
    const wallMs = performance.now() - this.t0;
    const cpu = process.cpuUsage(this.cpu0);
    const elu = performance.eventLoopUtilization(this.elu0);
    const commitTotal = this.durations.reduce((a, b) => a + b, 0);
    const commits = summarize([...this.durations]);
    this.metrics = {
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      elu: elu.utilization,
      batches: this.sizes.length,
      meanBatch: this.sizes.length ? this.sizes.reduce((a, b) => a + b, 0) / this.sizes.length : NaN,
      meanCommitMs: commits.mean,
      p99CommitMs: commits.p99,
      maxCommitMs: commits.max,
      commitShare: commitTotal / wallMs,
    };
  }
}

/** Keeps the gateway's warn/error log lines off the table but counts and shows a few. */
class LogSink extends Writable {
  lines = 0;
  readonly first: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      this.lines++;
      if (this.first.length < 3) this.first.push(line.slice(0, 300));
    }
    cb();
  }
}

// ------------------------------------------------------------------ load generator child

/** Forks the load generator, runs one job, and feeds its window marks to the recorder. */
function runLoad(job: Job, recorder: ServerRecorder | null): Promise<{ load: LoadResult; server: ServerMetrics | null }> {
  const server = recorder ?? new ServerRecorder(); // bare aedes: CPU/ELU only
  return new Promise((resolve, reject) => {
    const child = fork(LOADGEN, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const finish = (err: Error | null, load?: LoadResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.end();
      // The next scenario starts only once this load generator is gone.
      const gone = Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000).unref())]).then(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      void gone.then(() => {
        if (err || !load) reject(err ?? new Error('load generator gave no result'));
        else resolve({ load, server: server.metrics });
      });
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`${job.kind}: load generator did not finish within ${SCENARIO_TIMEOUT_MS} ms`));
    }, SCENARIO_TIMEOUT_MS);
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'ready':
          child.send({ type: 'run', job });
          break;
        case 'phase':
          if (message.phase === 'measure-start') server.begin();
          else server.end();
          break;
        case 'result':
          finish(null, message.result);
          break;
        case 'error':
          finish(new Error(`${job.kind}: load generator failed: ${message.message}`));
          break;
      }
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code) => {
      if (!settled) finish(new Error(`${job.kind}: load generator exited with code ${code} before answering`));
    });
  });
}

// ------------------------------------------------------------------ scenarios

interface Scenario {
  name: string;
  load: LoadResult;
  server: ServerMetrics | null;
  /** Rows in the incidents table after the load drained (null for bare aedes). */
  stored: number | null;
  /** The gateway's own accounting: MQTT accepted counter or /statistics total. */
  counted: number | null;
  warnings: LogSink | null;
  /** The machine, probed just before this scenario. */
  probe: MachineProbe;
}

const TEMPLATE: ReportTemplate = seedReport();

interface MachineProbe {
  /** Best-of-5 time of a fixed CPU workload (ms; lower is faster), before the scenario. */
  cpuMs: number;
  /** The same right after the scenario's load ended. */
  cpuAfterMs: number;
  /** Single-row WAL commits with synchronous=FULL, i.e. mostly one fsync (ms). */
  fsyncP50: number;
  fsyncP99: number;
}

/**
 * Probes CPU speed and fsync latency just before each scenario. Shared VMs change speed
 * from minute to minute (both CPU and disk); printed next to each row, these show
 * whether a slow row is the code or the machine.
 */
function probeMachine(): MachineProbe {
  calibrate(); // JIT warm-up
  const cpuMs = calibrate();
  const fsync = probeFsync();
  return { cpuMs, cpuAfterMs: NaN, fsyncP50: fsync.p50, fsyncP99: fsync.p99 };
}

/** A fixed CPU workload: JSON and SHA-256 over report-sized data, like the ingest path. */
function calibrate(): number {
  const text = JSON.stringify(TEMPLATE);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) {
      const body = JSON.parse(text) as Record<string, unknown>;
      body.incident_id = `CAL_${i}`;
      createHash('sha256').update(JSON.stringify(body)).digest('hex');
    }
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

let scenarioNo = 0;
const idPrefix = (tag: string) => `BENCH_${tag}_${process.pid}_${++scenarioNo}`;

async function withGateway(
  name: string,
  makeJob: (gateway: Gateway) => Job,
  counted: (gateway: Gateway) => number,
): Promise<Scenario> {
  const probe = probeMachine();
  const dataDir = mkdtempSync(join(os.tmpdir(), 'safesphere-bench-'));
  const recorder = new ServerRecorder();
  const logs = new LogSink();
  const config = loadConfig({
    overrides: {
      ...CONFIG_OVERRIDES,
      data_dir: dataDir,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { host: '127.0.0.1', port: 0 },
      log: { level: 'warn' },
      // The ingest path only: carrying out 7 actions per report at thousands of reports/s is
      // not what a site does; bench/action-latency.ts measures the act stage.
      nodered: { enabled: false },
    },
  });
  const gateway = new Gateway(config, createLogger(config.log.level, logs), { ingestObserver: recorder });
  try {
    await gateway.start();
    const { load, server } = await runLoad(makeJob(gateway), recorder);
    probe.cpuAfterMs = calibrate();
    await gateway.get('pipeline')!.drain();
    const stored = (sqlite(gateway.store).prepare('SELECT count(*) AS n FROM incidents').get() as { n: number }).n;
    return { name, load, server, stored, counted: counted(gateway), warnings: logs, probe };
  } finally {
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function bareAedes(name: string): Promise<Scenario> {
  const probe = probeMachine();
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const port = (server.address() as AddressInfo).port;
    const { load, server: metrics } = await runLoad(mqttClosedJob(`mqtt://127.0.0.1:${port}`, 'AEDES'), null);
    probe.cpuAfterMs = calibrate();
    return { name, load, server: metrics, stored: null, counted: null, warnings: null, probe };
  } finally {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function mqttClosedJob(url: string, tag: string): Job {
  return {
    kind: 'mqtt-closed',
    url,
    clients: CLIENTS,
    window: WINDOW,
    warmupMs: WARMUP_MS,
    durationMs: SECONDS * 1000,
    idPrefix: idPrefix(tag),
    template: TEMPLATE,
  };
}

const mqttUrl = (g: Gateway) => `mqtt://127.0.0.1:${g.get('broker')!.port}`;
const httpUrl = (g: Gateway) => `http://127.0.0.1:${g.get('http')!.port}`;
const mqttAccepted = (g: Gateway) => g.get('broker')!.counters.accepted;
const statisticsTotal = (g: Gateway) => g.store.statistics().total_incidents;

/** fsync cost of this disk: single-row WAL commits with synchronous=FULL, as the store does. */
function probeFsync(): { p50: number; p99: number } {
  const dir = mkdtempSync(join(os.tmpdir(), 'safesphere-bench-fsync-'));
  try {
    const db = new Database(join(dir, 'probe.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const times: number[] = [];
    for (let i = 0; i < 120; i++) {
      const t0 = performance.now();
      insert.run('x'.repeat(100)); // autocommit: one transaction, one WAL fsync
      times.push(performance.now() - t0);
    }
    db.close();
    const s = summarize(times.slice(20));
    return { p50: s.p50, p99: s.p99 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ formatting

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '—');
const pct = (n: number) => (Number.isFinite(n) ? `${n.toFixed(0)} %` : '—');
const verdict = (ok: boolean) => (ok ? '**PASS**' : '**FAIL**');

function check(s: Scenario, ackLabel: string): { text: string; ok: boolean } {
  if (s.stored === null) return { text: '—', ok: true };
  const ok = s.stored === s.load.acked && s.counted === s.load.acked && s.load.failed === 0;
  const mark = ok ? '✓' : '✗';
  const extra = s.load.failed ? `, ${int(s.load.failed)} failed` : '';
  return { text: `stored ${int(s.stored)} = ${ackLabel} ${int(s.load.acked)} ${mark}${extra}`, ok };
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const cpus = os.cpus();
  const started = performance.now();
  process.stderr.write('probing the machine...\n');
  const first = probeMachine();

  process.stderr.write('1/5 gateway MQTT closed loop...\n');
  const mqttGw = await withGateway('MQTT QoS 1 → gateway', (g) => mqttClosedJob(mqttUrl(g), 'MQTT'), mqttAccepted);
  process.stderr.write('2/5 bare aedes MQTT closed loop...\n');
  const aedes = await bareAedes('MQTT QoS 1 → bare aedes');
  process.stderr.write('3/5 gateway HTTP closed loop (autocannon)...\n');
  const httpGw = await withGateway(
    'HTTP POST → gateway',
    (g) => ({
      kind: 'http-closed',
      url: httpUrl(g),
      connections: CLIENTS,
      warmupAmount: 3000,
      targetSeconds: SECONDS,
      minAmount: 5000,
      maxAmount: 60_000,
      idPrefix: idPrefix('HTTP'),
      template: TEMPLATE,
    }),
    statisticsTotal,
  );
  process.stderr.write('4/5 gateway MQTT paced 1,000/s...\n');
  const mqttPaced = await withGateway(
    'MQTT paced 1,000/s',
    (g) => ({
      kind: 'mqtt-paced',
      url: mqttUrl(g),
      clients: CLIENTS,
      rate: PACED_RATE,
      warmupMs: WARMUP_MS,
      durationMs: SECONDS * 1000,
      idPrefix: idPrefix('MQTTP'),
      template: TEMPLATE,
    }),
    mqttAccepted,
  );
  process.stderr.write('5/5 gateway HTTP paced 1,000/s...\n');
  const httpPaced = await withGateway(
    'HTTP paced 1,000/s',
    (g) => ({
      kind: 'http-paced',
      url: httpUrl(g),
      connections: CLIENTS,
      rate: PACED_RATE,
      warmupMs: WARMUP_MS,
      durationMs: SECONDS * 1000,
      idPrefix: idPrefix('HTTPP'),
      template: TEMPLATE,
    }),
    statisticsTotal,
  );

  const checks = {
    mqtt: check(mqttGw, 'PUBACKs'),
    http: check(httpGw, '2xx'),
    mqttPaced: check(mqttPaced, 'PUBACKs'),
    httpPaced: check(httpPaced, '2xx'),
  };
  const share = mqttGw.load.rate / aedes.load.rate;

  const out: string[] = [];
  out.push('## Ingest benchmark');
  out.push('');
  out.push(
    `Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.platform()} ${os.release()}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}. ` +
      `Disk: single-row WAL commit (synchronous=FULL) p50 ${ms(first.fsyncP50)} ms, p99 ${ms(first.fsyncP99)} ms. ` +
      `CPU probe ${ms(first.cpuMs)} ms (see below).`,
  );
  out.push('');
  const ingest = loadConfig({ overrides: { ...CONFIG_OVERRIDES } }).ingest;
  out.push(
    `Gateway: default configuration${Object.keys(CONFIG_OVERRIDES).length ? ` + ${JSON.stringify(CONFIG_OVERRIDES)}` : ''} ` +
      `(group commit window ${ingest.commit_window_ms} ms, max batch ${ingest.commit_max_batch}), log level warn.`,
  );
  out.push('');
  out.push(
    `Load: ${CLIENTS} mqtt.js publishers (one connection each, ${WINDOW} QoS 1 publishes in flight per client) or ` +
      `${CLIENTS} HTTP connections, in a separate process; report = the seed example (CRITICAL + weapon, 7 actions) ` +
      `with a unique incident_id; ${SECONDS} s measured after ${WARMUP_MS / 1000} s warm-up. Latency = publish/request ` +
      'to PUBACK/response, in ms.',
  );
  out.push('');
  out.push(row(['Scenario', 'Load', 'Acked/s', 'p50', 'p99', 'max', 'Durability check', 'Target', 'Result']));
  out.push(row(['---', '---', '---:', '---:', '---:', '---:', '---', '---', '---']));
  const l = (s: Scenario) => s.load.latency;
  out.push(
    row([
      'MQTT QoS 1 durable ingest',
      `${CLIENTS} clients × ${WINDOW} in flight`,
      int(mqttGw.load.rate),
      ms(l(mqttGw).p50),
      ms(l(mqttGw).p99),
      ms(l(mqttGw).max),
      checks.mqtt.text,
      `≥ ${int(TARGETS.mqttRate)}/s`,
      verdict(mqttGw.load.rate >= TARGETS.mqttRate && checks.mqtt.ok),
    ]),
  );
  out.push(
    row([
      'HTTP POST /threats/report durable ingest',
      `autocannon, ${CLIENTS} connections, ${int(httpGw.load.measuredAcks)} requests`,
      int(httpGw.load.rate),
      ms(l(httpGw).p50),
      ms(l(httpGw).p99),
      ms(l(httpGw).max),
      `${checks.http.text}; non-2xx ${int(httpGw.load.non2xx)}`,
      `≥ ${int(TARGETS.httpRate)}/s`,
      verdict(httpGw.load.rate >= TARGETS.httpRate && checks.http.ok && httpGw.load.non2xx === 0),
    ]),
  );
  out.push(
    row([
      'Bare aedes QoS 1 ceiling (no gateway logic)',
      `${CLIENTS} clients × ${WINDOW} in flight`,
      int(aedes.load.rate),
      ms(l(aedes).p50),
      ms(l(aedes).p99),
      ms(l(aedes).max),
      aedes.load.failed ? `${int(aedes.load.failed)} failed` : '—',
      '—',
      '—',
    ]),
  );
  out.push(
    row([
      'Gateway MQTT as % of bare aedes',
      '',
      pct(share * 100),
      '',
      '',
      '',
      '',
      `≥ ${pct(TARGETS.ceilingShare * 100)}`,
      verdict(share >= TARGETS.ceilingShare),
    ]),
  );
  for (const [s, c] of [
    [mqttPaced, checks.mqttPaced],
    [httpPaced, checks.httpPaced],
  ] as const) {
    const transport = s.load.kind === 'mqtt-paced' ? `${CLIENTS} publishers` : `${CLIENTS} keep-alive connections`;
    out.push(
      row([
        `${s.load.kind === 'mqtt-paced' ? 'MQTT QoS 1' : 'HTTP POST'} at a paced ${int(PACED_RATE)}/s`,
        `offered ${int(s.load.offeredRate ?? NaN)}/s over ${transport}`,
        int(s.load.rate),
        ms(l(s).p50),
        ms(l(s).p99),
        ms(l(s).max),
        `${c.text}${s.load.non2xx ? `; non-2xx ${int(s.load.non2xx)}` : ''}`,
        `p99 < ${TARGETS.pacedP99Ms} ms`,
        verdict(l(s).p99 < TARGETS.pacedP99Ms && c.ok),
      ]),
    );
  }

  out.push('');
  out.push(
    'Where the time goes (measured window; CPU in % of one core; commit = `Store.commitBatch`, inserts + fsync). ' +
      'The last two columns probe the machine: a fixed JSON/SHA-256 workload (lower = faster) before and after each ' +
      'scenario, and single-row durable commits before it. If they moved, so did the machine:',
  );
  out.push('');
  out.push(
    row([
      'Scenario',
      'Server CPU',
      'Server CPU µs/ack',
      'Server event loop busy',
      'Loadgen CPU',
      'Commits',
      'Mean batch',
      'Mean commit ms',
      'p99 commit ms',
      'Loop time in commits',
      'CPU probe ms before → after',
      'fsync p50/p99 ms',
    ]),
  );
  out.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const s of [mqttGw, aedes, httpGw, mqttPaced, httpPaced]) {
    const m = s.server;
    const gw = s.stored !== null;
    const cpuPerAck = m ? ((m.cpuPercent / 100) * s.load.measuredSeconds * 1e6) / s.load.measuredAcks : NaN;
    out.push(
      row([
        s.name,
        m ? pct(m.cpuPercent) : '—',
        int(cpuPerAck),
        m ? pct(m.elu * 100) : '—',
        pct(s.load.cpuPercent),
        m && gw ? int(m.batches) : '—',
        m && gw ? m.meanBatch.toFixed(1) : '—',
        m && gw ? ms(m.meanCommitMs) : '—',
        m && gw ? ms(m.p99CommitMs) : '—',
        m && gw ? pct(m.commitShare * 100) : '—',
        `${ms(s.probe.cpuMs)} → ${ms(s.probe.cpuAfterMs)}`,
        `${ms(s.probe.fsyncP50)} / ${ms(s.probe.fsyncP99)}`,
      ]),
    );
  }
  const pacerNotes = [mqttPaced, httpPaced]
    .map((s) => `${s.name}: pacer max lag ${ms(s.load.pacerLagMaxMs ?? NaN)} ms`)
    .join('; ');
  out.push('');
  out.push(`Paced load generator health: ${pacerNotes}.`);
  for (const s of [mqttGw, aedes, httpGw]) {
    if (s.load.cpuPercent > LOADGEN_SATURATED_PERCENT) {
      out.push('');
      out.push(
        `Note: the load generator was CPU-bound (${pct(s.load.cpuPercent)} of a core) in "${s.name}": ` +
          'that figure is what one load-generator core can push, a lower bound of the server\'s capacity.',
      );
    }
  }
  const warned = [mqttGw, httpGw, mqttPaced, httpPaced].filter((s) => s.warnings && s.warnings.lines > 0);
  for (const s of warned) {
    out.push('');
    out.push(`Gateway logged ${s.warnings!.lines} warn/error line(s) during "${s.name}", first: \`${s.warnings!.first[0]}\``);
  }
  out.push('');
  out.push(`_Bench wall time ${((performance.now() - started) / 1000).toFixed(0)} s._`);
  console.log(out.join('\n'));

  if (!Object.values(checks).every((c) => c.ok)) {
    console.error('\nDURABILITY CHECK FAILED: stored rows do not match acknowledgements.');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
