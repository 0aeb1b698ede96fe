// Upstream sync drain bench: how long a 100,000-incident backlog takes to drain to an HTTP
// receiver and through the MQTT bridge to a real Mosquitto, and whether ingest keeps its
// throughput while a drain runs. Prints markdown for the README.
//
// Run: npm run bench (last), or npx tsx bench/sync-drain.ts. BENCH_BACKLOG (100000) and
// BENCH_SECONDS (5) change the sizes. Needs Debian's mosquitto for the MQTT row.
//
// The gateway under test runs in this process; the HTTP receiver / MQTT subscriber and the
// ingest load generator each run in a child process (this file, forked with a role), so on
// a 2-core machine they do not share the gateway's event loop.
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { cpus } from 'node:os';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { loadConfig } from '../src/config/load.js';
import { LEVELS, type ThreatLevel } from '../src/config/schema.js';
import { Gateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { CONSUMER } from '../src/store/outbox.js';
import type { IncidentDraft } from '../src/store/types.js';
import { seedReport, tempDir } from '../test/helpers.js';
import { freePort, Mosquitto, mosquittoAvailable } from '../test/mosquitto.js';

const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CAMERAS = 50;

type Msg = Record<string, any>;

// --- child: HTTP receiver + MQTT subscriber ----------------------------------------------
async function receiverChild(): Promise<void> {
  const keys = new Set<string>();
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      keys.add(String(req.headers['idempotency-key']));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const mqttKeys = new Set<string>();
  let mqttMessages = 0;
  process.on('message', async (m: Msg) => {
    if (m.type === 'subscribe') {
      const client = await mqtt.connectAsync(m.url, { clientId: 'bench-cloud', clean: false, reconnectPeriod: 200 });
      client.on('message', (_t, payload) => {
        mqttMessages++;
        mqttKeys.add((JSON.parse(payload.toString()) as { sync: { idempotency_key: string } }).sync.idempotency_key);
      });
      await client.subscribeAsync('bench/sites/+/incidents/#', { qos: 1 });
      process.send!({ type: 'subscribed' });
    } else if (m.type === 'stats') {
      process.send!({ type: 'stats', keys: keys.size, requests, mqttKeys: mqttKeys.size, mqttMessages });
    } else if (m.type === 'exit') process.exit(0);
  });
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
}

// --- child: ingest load (closed loop, keep-alive HTTP POST /threats/report) ---------------
async function loadChild(): Promise<void> {
  process.on('message', async (m: Msg) => {
    if (m.type !== 'run') return;
    const agent = new http.Agent({ keepAlive: true, maxSockets: m.connections });
    const url = new URL('/threats/report', m.url);
    let acked = 0;
    let failed = 0;
    let n = 0;
    const until = performance.now() + m.seconds * 1000;
    const one = () =>
      new Promise<void>((resolve) => {
        const body = JSON.stringify(
          seedReport({ incident_id: `${m.prefix}_${n++}`, threat_level: LEVELS[n % 4], camera_id: `cam-${n % CAMERAS}`, weapon_detected: false }),
        );
        const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) acked++;
            else failed++;
            resolve();
          });
        });
        req.on('error', () => {
          failed++;
          resolve();
        });
        req.end(body);
      });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: m.connections }, async () => {
        while (performance.now() < until) await one();
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    agent.destroy();
    process.send!({ type: 'done', acked, failed, seconds });
  });
  process.send!({ type: 'ready' });
}

// --- parent -----------------------------------------------------------------------------
function child(role: string): Promise<{ proc: ChildProcess; ready: Msg }> {
  const proc = fork(new URL(import.meta.url).pathname, [role], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (ready: Msg) => resolve({ proc, ready }));
    proc.once('error', reject);
  });
}

function ask(proc: ChildProcess, message: Msg, reply: string): Promise<Msg> {
  return new Promise((resolve) => {
    const on = (m: Msg) => {
      if (m.type !== reply) return;
      proc.off('message', on);
      resolve(m);
    };
    proc.on('message', on);
    proc.send(message);
  });
}

const policy = new ActionPolicy(loadConfig().policy);
const levelFor = (i: number): ThreatLevel => (i % 10 === 0 ? 'CRITICAL' : i % 10 < 3 ? 'HIGH' : i % 10 < 6 ? 'MEDIUM' : 'LOW');

/** Writes `n` incidents straight into a store (10% CRITICAL, 20% HIGH, 30% MEDIUM, 40% LOW). */
async function buildBacklog(dataDir: string, n: number, consumers: number): Promise<number> {
  const store = new Store(dataDir, createLogger('silent'));
  store.outbox.consumers = consumers;
  await store.start();
  const started = performance.now();
  for (let b = 0; b < n; b += 500) {
    const drafts: IncidentDraft[] = [];
    for (let i = b; i < Math.min(n, b + 500); i++) {
      const level = levelFor(i);
      const r = seedReport({ incident_id: `BL_${i}` });
      const plan = policy.plan(level, false);
      drafts.push({
        incidentId: `BL_${i}`,
        timestamp: r.timestamp as string,
        level,
        score: 0.5,
        reportedLevel: level,
        reportedScore: 0.5,
        modelVersion: null,
        peopleCount: 2,
        weaponDetected: false,
        weaponTypes: [],
        behaviorSummary: r.behavior_summary as string,
        isCritical: level === 'CRITICAL',
        fullTelemetry: r.full_telemetry as Record<string, unknown>,
        extraFields: null,
        cameraId: `cam-${i % CAMERAS}`,
        source: 'http',
        contentHash: `h${i}`,
        receivedAtMs: Date.now(),
        actionTaken: plan.status,
        actions: plan.actions,
      });
    }
    store.commitBatch(drafts);
  }
  const ms = performance.now() - started;
  await store.stop();
  return ms;
}

async function gatewayOn(dataDir: string, upstream: Record<string, unknown>): Promise<Gateway> {
  const config = loadConfig({
    overrides: {
      data_dir: dataDir,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { host: '127.0.0.1', port: 0 },
      nodered: { enabled: false, port: 0 },
      log: { level: 'warn' },
      retention: { max_age_days: 0, max_db_mb: 0, max_snapshot_mb: 0 },
      upstream,
    },
  });
  const gateway = new Gateway(config, createLogger('warn'), { scorer: new ReportedLevelScorer() });
  await gateway.start();
  return gateway;
}

/** Resolves when the transport has delivered `n` entries (checked after every round). */
function delivered(gateway: Gateway, name: 'http' | 'mqtt', n: number): Promise<void> {
  const d = gateway.get('sync')!.drainer(name)!;
  return new Promise((resolve) => {
    if (d.stats.delivered >= n) return resolve();
    const off = d.onRound(() => {
      if (d.stats.delivered >= n) {
        off();
        resolve();
      }
    });
  });
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const notes: string[] = [];
  const receiver = await child('receiver');
  const receiverUrl = `http://127.0.0.1:${receiver.ready.port}`;

  // 1. HTTP drain of the backlog.
  {
    const dir = tempDir('safesphere-drain-');
    const buildMs = await buildBacklog(dir, BACKLOG, CONSUMER.http);
    notes.push(`Backlog of ${BACKLOG.toLocaleString('en-US')} written straight to the store in ${(buildMs / 1000).toFixed(1)} s (not part of any figure).`);
    const started = performance.now();
    const gw = await gatewayOn(dir, { http: { enabled: true, url: receiverUrl } });
    await delivered(gw, 'http', BACKLOG);
    const seconds = (performance.now() - started) / 1000;
    const backlog = gw.get('sync')!.status(0).transports.http!.backlog.total;
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
    const stats = await ask(receiver.proc, { type: 'stats' }, 'stats');
    const rate = BACKLOG / seconds;
    rows.push(
      `| HTTP push → local receiver | ${BACKLOG.toLocaleString('en-US')} | ${seconds.toFixed(1)} | **${Math.round(rate).toLocaleString('en-US')}** | ${stats.keys.toLocaleString('en-US')} unique / ${stats.requests.toLocaleString('en-US')} requests, backlog left ${backlog} | ≥ 2,000/s ${rate >= 2000 ? 'PASS' : 'FAIL'} |`,
    );
  }

  // 2. MQTT bridge drain to a real Mosquitto, with a persistent-session subscriber.
  if (mosquittoAvailable()) {
    const broker = new Mosquitto(await freePort());
    await broker.start();
    await ask(receiver.proc, { type: 'subscribe', url: broker.url }, 'subscribed');
    const dir = tempDir('safesphere-drain-');
    await buildBacklog(dir, BACKLOG, CONSUMER.mqtt);
    const started = performance.now();
    const gw = await gatewayOn(dir, { mqtt: { enabled: true, url: broker.url, topic_prefix: 'bench', client_id: 'bench-edge' } });
    await delivered(gw, 'mqtt', BACKLOG);
    const seconds = (performance.now() - started) / 1000;
    let stats = await ask(receiver.proc, { type: 'stats' }, 'stats');
    const subWaitStart = performance.now();
    while (stats.mqttKeys < BACKLOG && performance.now() - subWaitStart < 60_000) {
      await new Promise((r) => setTimeout(r, 200)); // the subscriber is in another process: poll its count
      stats = await ask(receiver.proc, { type: 'stats' }, 'stats');
    }
    const subSeconds = (performance.now() - started) / 1000;
    await gw.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
    rows.push(
      `| MQTT bridge → Mosquitto (PUBACK) | ${BACKLOG.toLocaleString('en-US')} | ${seconds.toFixed(1)} | **${Math.round(BACKLOG / seconds).toLocaleString('en-US')}** | subscriber had ${stats.mqttKeys.toLocaleString('en-US')} unique (${stats.mqttMessages.toLocaleString('en-US')} messages) after ${subSeconds.toFixed(1)} s | — |`,
    );
  } else {
    notes.push('MQTT row skipped: mosquitto is not installed (apt-get install -y mosquitto).');
  }

  // 3. Ingest throughput, idle versus during an HTTP drain of the backlog.
  const load = await child('load');
  const ingest = async (gw: Gateway, prefix: string) =>
    ask(load.proc, { type: 'run', url: `http://127.0.0.1:${gw.get('http')!.port}`, seconds: SECONDS, connections: 50, prefix }, 'done');
  // Idle is measured before and after the drain run and averaged: on a shared machine the
  // background load drifts over the minutes this bench takes.
  const idle = async (prefix: string): Promise<number> => {
    const dir = tempDir('safesphere-drain-');
    const gw = await gatewayOn(dir, { http: { enabled: true, url: receiverUrl } });
    await ingest(gw, `${prefix}_WARM`); // warm-up
    const r = await ingest(gw, prefix);
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
    return r.acked / r.seconds;
  };
  const idleBefore = await idle('IDLE1');
  {
    const dir = tempDir('safesphere-drain-');
    await buildBacklog(dir, BACKLOG, CONSUMER.http);
    const gw = await gatewayOn(dir, { http: { enabled: true, url: receiverUrl } });
    const before = gw.get('sync')!.drainer('http')!.stats.delivered;
    const r = await ingest(gw, 'DURING');
    const drained = gw.get('sync')!.drainer('http')!.stats.delivered - before;
    const rate = r.acked / r.seconds;
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
    const idleAfter = await idle('IDLE2');
    const idleRate = (idleBefore + idleAfter) / 2;
    const ratio = rate / idleRate;
    rows.push(
      `| Ingest while draining (HTTP, 50 conns) | — | ${r.seconds.toFixed(1)} | ${Math.round(rate).toLocaleString('en-US')} ingested/s | idle ${Math.round(idleBefore).toLocaleString('en-US')} and ${Math.round(idleAfter).toLocaleString('en-US')}/s (before, after) → ${(ratio * 100).toFixed(0)} % of idle; drained ${Math.round(drained / r.seconds).toLocaleString('en-US')}/s meanwhile | ≥ 80 % ${ratio >= 0.8 ? 'PASS' : 'FAIL'} |`,
    );
  }
  load.proc.kill();
  receiver.proc.send({ type: 'exit' });

  const cpu = cpus();
  process.stdout.write(
    [
      '',
      '## Upstream sync drain',
      '',
      `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, Node ${process.version}. Backlog mix: 10 % CRITICAL, 20 % HIGH, 30 % MEDIUM, 40 % LOW over ${CAMERAS} cameras.`,
      '',
      '| scenario | entries | seconds | entries/s | check | target |',
      '| --- | ---: | ---: | ---: | --- | --- |',
      ...rows,
      '',
      ...notes.map((n) => `- ${n}`),
      '',
    ].join('\n'),
  );
}

const role = process.argv[2];
if (role === 'receiver') await receiverChild();
else if (role === 'load') await loadChild();
else {
  await main();
  process.exit(0);
}
