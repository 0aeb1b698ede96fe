// The load generator, run as a child process of bench/ingest.ts
// (`node --import tsx bench/loadgen.ts`) so that it does not share an event loop
// with the server it measures. It takes one job over IPC, reports the start and end
// of its measured window (the parent samples the server's CPU there), and answers
// with a LoadResult.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import mqtt, { type MqttClient } from 'mqtt';
import {
  bodyFactory,
  summarize,
  type ChildMessage,
  type HttpClosedJob,
  type HttpPacedJob,
  type Job,
  type LoadResult,
  type MqttClosedJob,
  type MqttPacedJob,
  type ParentMessage,
} from './protocol.js';

const DRAIN_TIMEOUT_MS = 15_000;

function send(message: ChildMessage): void {
  process.send?.(message);
}

/** Marks the measured window: the parent samples the server's CPU on these messages. */
class Window {
  start = Infinity;
  end = Infinity;
  private cpu: NodeJS.CpuUsage | null = null;
  private cpuUsed: NodeJS.CpuUsage | null = null;

  open(): void {
    this.start = performance.now();
    this.cpu = process.cpuUsage();
    send({ type: 'phase', phase: 'measure-start' });
  }

  close(): void {
    this.end = performance.now();
    this.cpuUsed = process.cpuUsage(this.cpu ?? undefined);
    send({ type: 'phase', phase: 'measure-end' });
  }

  contains(t: number): boolean {
    return t >= this.start && t < this.end;
  }

  get seconds(): number {
    return (this.end - this.start) / 1000;
  }

  get cpuPercent(): number {
    const used = this.cpuUsed;
    if (!used) return NaN;
    return ((used.user + used.system) / 1000 / (this.end - this.start)) * 100;
  }
}

// ---------------------------------------------------------------- MQTT

interface Publisher {
  index: number;
  client: MqttClient;
  topic: string;
  camera: string;
  seq: number;
  inflight: number;
}

async function connectPublishers(url: string, count: number, prefix: string): Promise<Publisher[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const camera = `bench-cam-${index}`;
      const client = await mqtt.connectAsync(url, {
        clientId: `${prefix}-${index}`,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        keepalive: 60,
      });
      client.on('error', () => {}); // counted through publish callbacks
      return { index, client, topic: `safesphere/cameras/${camera}/threats`, camera, seq: 0, inflight: 0 };
    }),
  );
}

async function closePublishers(pubs: Publisher[]): Promise<void> {
  await Promise.all(pubs.map((p) => p.client.endAsync(true).catch(() => {})));
}

/** Shared QoS 1 publishing and accounting for the closed and the paced MQTT jobs. */
class MqttLoad {
  sent = 0;
  acked = 0;
  failed = 0;
  inflight = 0;
  measuredAcks = 0;
  /** Publishes whose publish() call fell in the window (the offered load there). */
  measuredSent = 0;
  readonly latencies: number[] = [];
  readonly window = new Window();
  private readonly body: (id: string, camera: string) => string;
  private idleWaiter: (() => void) | null = null;

  constructor(
    private readonly job: MqttClosedJob | MqttPacedJob,
    private readonly onAck: (p: Publisher) => void,
  ) {
    this.body = bodyFactory(job.template, false);
  }

  publish(p: Publisher): void {
    const id = `${this.job.idPrefix}_${p.index}_${p.seq++}`;
    const payload = this.body(id, p.camera);
    p.inflight++;
    this.inflight++;
    this.sent++;
    const t0 = performance.now();
    if (this.window.contains(t0)) this.measuredSent++;
    p.client.publish(p.topic, payload, { qos: 1 }, (err) => {
      const t1 = performance.now();
      p.inflight--;
      this.inflight--;
      if (err) {
        this.failed++;
      } else {
        this.acked++;
        if (this.window.contains(t1)) this.measuredAcks++;
        if (this.window.contains(t0)) this.latencies.push(t1 - t0);
      }
      if (this.inflight === 0 && this.idleWaiter) this.idleWaiter();
      else this.onAck(p);
    });
  }

  /** Waits until every publish has been acknowledged (or the drain times out). */
  async drain(): Promise<void> {
    if (this.inflight === 0) return;
    await Promise.race([new Promise<void>((resolve) => (this.idleWaiter = resolve)), sleep(DRAIN_TIMEOUT_MS)]);
    this.idleWaiter = null;
  }

  result(extra: Partial<LoadResult> = {}): LoadResult {
    return {
      kind: this.job.kind,
      sent: this.sent,
      acked: this.acked,
      // Still unacknowledged after the drain counts as a failure too.
      failed: this.failed + this.inflight,
      non2xx: 0,
      measuredAcks: this.measuredAcks,
      measuredSeconds: this.window.seconds,
      rate: this.measuredAcks / this.window.seconds,
      latency: summarize(this.latencies),
      cpuPercent: this.window.cpuPercent,
      ...extra,
    };
  }
}

async function mqttClosed(job: MqttClosedJob): Promise<LoadResult> {
  const pubs = await connectPublishers(job.url, job.clients, job.idPrefix);
  let stopping = false;
  const pump = (p: Publisher) => {
    while (!stopping && p.inflight < job.window) load.publish(p);
  };
  const load = new MqttLoad(job, pump);
  pubs.forEach(pump);
  await sleep(job.warmupMs);
  load.window.open();
  await sleep(job.durationMs);
  load.window.close();
  stopping = true;
  await load.drain();
  await closePublishers(pubs);
  return load.result();
}

/**
 * A timer-based pacer: message k is due at t0 + k/rate. Every tick (setTimeout 1 ms,
 * about 1 ms apart in practice) sends everything due, so sends come in 1-2 message
 * groups instead of a burst per second. `lagMax` is how late a due message went out.
 */
class Pacer {
  private k = 0;
  private t0 = 0;
  private timer: NodeJS.Timeout | null = null;
  lagMax = 0;

  constructor(
    private readonly rate: number,
    private readonly fire: (k: number) => void,
    private readonly track: (due: number) => boolean,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private tick = (): void => {
    const now = performance.now();
    const interval = 1000 / this.rate;
    for (;;) {
      const due = this.t0 + this.k * interval;
      if (due > now) break;
      if (this.track(due)) this.lagMax = Math.max(this.lagMax, now - due);
      this.fire(this.k++);
    }
    this.timer = setTimeout(this.tick, 1);
  };
}

async function mqttPaced(job: MqttPacedJob): Promise<LoadResult> {
  const pubs = await connectPublishers(job.url, job.clients, job.idPrefix);
  const load = new MqttLoad(job, () => {});
  const pacer = new Pacer(
    job.rate,
    (k) => load.publish(pubs[k % pubs.length]!),
    (due) => load.window.contains(due),
  );
  pacer.start();
  await sleep(job.warmupMs);
  load.window.open();
  await sleep(job.durationMs);
  load.window.close();
  pacer.stop();
  await load.drain();
  await closePublishers(pubs);
  return load.result({ pacerLagMaxMs: pacer.lagMax, offeredRate: load.measuredSent / load.window.seconds });
}

// ---------------------------------------------------------------- HTTP

function cameraFor(n: number, connections: number): string {
  return `bench-cam-${n % connections}`;
}

async function httpClosed(job: HttpClosedJob): Promise<LoadResult> {
  const body = bodyFactory(job.template, true);
  let n = 0;
  const requests = [
    {
      method: 'POST',
      path: '/threats/report',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req: { body?: string | Buffer }) => {
        const i = n++;
        return { ...req, body: body(`${job.idPrefix}_${i}`, cameraFor(i, job.connections)) };
      },
    },
  ];
  type Run = { ok: number; non2xx: number; errors: number; latencies: number[]; seconds: number };
  const run = (amount: number, record: boolean) =>
    new Promise<Run>((resolve, reject) => {
      const latencies: number[] = [];
      let ok = 0;
      let non2xx = 0;
      let last = 0;
      const started = performance.now();
      const instance = autocannon(
        { url: job.url, connections: job.connections, pipelining: 1, amount, timeout: 30, requests },
        (err, result) => {
          if (err) {
            reject(err);
            return;
          }
          // autocannon's own duration only ends at its next 1 s sampling tick: time the run ourselves.
          resolve({ ok, non2xx, errors: result.errors + result.timeouts, latencies, seconds: (last - started) / 1000 });
        },
      );
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        last = performance.now();
        if (statusCode >= 200 && statusCode < 300) {
          ok++;
          if (record) latencies.push(responseTime);
        } else {
          non2xx++;
        }
      });
    });

  const warm = await run(job.warmupAmount, false);
  const warmRate = warm.ok / Math.max(warm.seconds, 0.001);
  const amount = Math.round(Math.min(job.maxAmount, Math.max(job.minAmount, warmRate * job.targetSeconds)) / job.connections) * job.connections;

  const cpu0 = process.cpuUsage();
  send({ type: 'phase', phase: 'measure-start' });
  const main = await run(amount, true);
  const cpu = process.cpuUsage(cpu0);
  send({ type: 'phase', phase: 'measure-end' });

  return {
    kind: job.kind,
    sent: job.warmupAmount + amount,
    acked: warm.ok + main.ok,
    failed: warm.non2xx + warm.errors + main.non2xx + main.errors,
    non2xx: warm.non2xx + main.non2xx,
    measuredAcks: main.ok,
    measuredSeconds: main.seconds,
    rate: main.ok / main.seconds,
    latency: summarize(main.latencies),
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (main.seconds * 1000)) * 100,
  };
}

async function httpPaced(job: HttpPacedJob): Promise<LoadResult> {
  const target = new URL(job.url);
  const body = bodyFactory(job.template, true);
  // One keep-alive connection per simulated camera, like the 50 MQTT publishers.
  const agents = Array.from({ length: job.connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const window = new Window();
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let inflight = 0;
  let measuredAcks = 0;
  let measuredSent = 0;
  let idleWaiter: (() => void) | null = null;

  const done = (t0: number, status: number | null) => {
    const t1 = performance.now();
    inflight--;
    if (status === null) errors++;
    else if (status >= 200 && status < 300) {
      ok++;
      if (window.contains(t1)) measuredAcks++;
      if (window.contains(t0)) latencies.push(t1 - t0);
    } else non2xx++;
    if (inflight === 0) idleWaiter?.();
  };

  const post = (k: number) => {
    const payload = body(`${job.idPrefix}_${k}`, cameraFor(k, job.connections));
    sent++;
    inflight++;
    const t0 = performance.now();
    if (window.contains(t0)) measuredSent++;
    const req = http.request(
      {
        agent: agents[k % agents.length],
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: '/threats/report',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(t0, res.statusCode ?? 0));
        res.on('error', () => done(t0, null));
      },
    );
    req.on('error', () => done(t0, null));
    req.end(payload);
  };

  const pacer = new Pacer(job.rate, post, (due) => window.contains(due));
  pacer.start();
  await sleep(job.warmupMs);
  window.open();
  await sleep(job.durationMs);
  window.close();
  pacer.stop();
  if (inflight > 0) {
    await Promise.race([new Promise<void>((resolve) => (idleWaiter = resolve)), sleep(DRAIN_TIMEOUT_MS)]);
  }
  for (const a of agents) a.destroy();
  return {
    kind: job.kind,
    sent,
    acked: ok,
    failed: non2xx + errors + inflight,
    non2xx,
    measuredAcks,
    measuredSeconds: window.seconds,
    rate: measuredAcks / window.seconds,
    latency: summarize(latencies),
    cpuPercent: window.cpuPercent,
    pacerLagMaxMs: pacer.lagMax,
    offeredRate: measuredSent / window.seconds,
  };
}

// ---------------------------------------------------------------- main

function runJob(job: Job): Promise<LoadResult> {
  switch (job.kind) {
    case 'mqtt-closed':
      return mqttClosed(job);
    case 'mqtt-paced':
      return mqttPaced(job);
    case 'http-closed':
      return httpClosed(job);
    case 'http-paced':
      return httpPaced(job);
  }
}

/** Sends the last message, then exits: leftover sockets and timers must not linger into the next scenario. */
function finish(message: ChildMessage): void {
  const exit = () => process.exit(0);
  if (!process.send) exit();
  else process.send(message, undefined, {}, exit);
}

process.on('message', (message: ParentMessage) => {
  if (message.type !== 'run') return;
  runJob(message.job).then(
    (result) => finish({ type: 'result', result }),
    (err: unknown) => finish({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
send({ type: 'ready' });
