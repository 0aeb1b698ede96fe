// A camera's PUBACK latency while 16 connections try wrong MQTT passwords (issue 21: brute
// force must cost the attacker, not the cameras; the bound is p99 within 2x of idle).
//
// The gateway runs as shipped (node dist/bin/safesphere-edge.js, Node-RED on) with a camera
// account whose password hash has the production cost (10). One camera, connected before the
// flood, publishes QoS 1 LOW reports (no actions: the figure is the auth path's cost, not the
// act stage's) at a steady rate; latency is publish() to PUBACK. Idle first,
// then with 16 attacker connections, one per loopback address 127.0.0.2..17, each reconnecting
// as fast as its CONNACKs come, with wrong passwords for the camera's username and for unknown
// ones. Both phases are bounded by a count of reports, not by time.
//
// Run: npm run build && npx tsx bench/auth-flood.ts   (BENCH_REPORTS=600 per phase, BENCH_RATE=20/s)
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import mqtt, { type MqttClient } from 'mqtt';
import { Daemon, reapDaemons } from '../test/daemon.js';
import { seedReport } from '../test/helpers.js';
import { connackCode } from '../test/wire.js';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 600);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const ATTACKERS = 16;
const PASSWORD = 'bench-camera-password';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

async function phase(cam: MqttClient, name: string): Promise<{ p50: number; p99: number; max: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < REPORTS; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      cam.publishAsync('safesphere/cameras/bench-cam/threats', JSON.stringify(seedReport({ incident_id: `AUTH_${name}_${i}`, threat_level: 'LOW', threat_score: 0.1, weapon_detected: false, weapon_types: [], is_critical: false })), { qos: 1 }).then(() => {
        latencies.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1]! };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'safesphere-bench-auth-'));
  const daemon = await Daemon.start(
    dataDir,
    {
      SAFESPHERE_NODERED_ENABLED: 'true',
      SAFESPHERE_MQTT_ALLOW_ANONYMOUS_LOOPBACK: 'false',
      SAFESPHERE_MQTT_ACCOUNTS: JSON.stringify([{ username: 'bench-cam', role: 'camera', password_hash: hashSync(PASSWORD, 10) }]),
    },
    60_000,
    { built: true },
  ).catch(async (err) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  try {
    const cam = await mqtt.connectAsync(daemon.mqttUrl, { clientId: 'bench-cam', username: 'bench-cam', password: PASSWORD, reconnectPeriod: 0 });
    await phase(cam, 'warmup');
    const idle = await phase(cam, 'idle');

    let stop = false;
    const codes = new Map<number | null, number>();
    const attackers = Array.from({ length: ATTACKERS }, async (_, a) => {
      for (let n = 0; !stop; n++) {
        const code = await connackCode(daemon.mqttPort, {
          clientId: `atk-${a}-${n}`,
          username: n % 2 ? 'bench-cam' : `guess-${a}-${n}`,
          password: `wrong-${n}`,
          localAddress: `127.0.0.${a + 2}`,
        });
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    });
    const flood = await phase(cam, 'flood');
    stop = true;
    await Promise.all(attackers);
    await cam.endAsync();

    const ratio = flood.p99 / idle.p99;
    const attempts = [...codes.values()].reduce((a, b) => a + b, 0);
    const f = (n: number) => n.toFixed(1);
    console.log(`\n### MQTT camera PUBACK under a wrong-password flood (${ATTACKERS} connections)\n`);
    console.log('| phase | reports | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(`| idle | ${REPORTS} | ${f(idle.p50)} | ${f(idle.p99)} | ${f(idle.max)} |`);
    console.log(`| flood | ${REPORTS} | ${f(flood.p50)} | ${f(flood.p99)} | ${f(flood.max)} |`);
    console.log(
      `\nflood p99 / idle p99 = ${ratio.toFixed(2)} (bound: 2.00) ${ratio <= 2 ? '✓' : '✗'}; ` +
        `${attempts} wrong-password attempts, CONNACK codes ${JSON.stringify(Object.fromEntries(codes))} (4: refused after its delay, 3: busy, null: still held for its delay when the phase ended)`,
    );
    if (ratio > 2) process.exitCode = 1;
    await daemon.kill('SIGTERM');
  } finally {
    await reapDaemons();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
