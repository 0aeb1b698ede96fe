// Commit-to-route latency of live safe routes, against the daemon as shipped (dist/, Node-RED
// on, the default flows). This process is a camera (HTTP reports), a guard's /ws/navigation
// client and an MQTT signage subscriber on safesphere/routes/lobby. Each cycle posts a CRITICAL
// in the hall (the route from the lobby moves south) and then resolves it (it moves back).
// Latency is measured on this process's clock to the route message naming that incident, on
// the WebSocket and on MQTT: from the moment the request was sent (an upper bound on commit ->
// route that includes the commit's own fsync), and from the HTTP 200, which is sent after the
// commit (the closest point to the commit visible from outside the daemon).
//
// Run: npm run build && npx tsx bench/navigation.ts   (BENCH_CYCLES=50)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { Daemon, reapDaemons } from '../test/daemon.js';
import { seedReport } from '../test/helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE } from '../test/ops-fixtures.js';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 50);
type Route = { type: string; reason: string; incident_ids: string[]; route: { path: string[] } | null };

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'safesphere-bench-nav-'));
  // BENCH_NAV_SHIPPED=1: re-scoring on, as shipped (the default run turns it off, and says so).
  const shipped = process.env.BENCH_NAV_SHIPPED === '1';
  writeFileSync(join(dir, 'site.yaml'), JSON.stringify(shipped ? SITE : { ...SITE, scoring: { enabled: false } }));
  const daemon = await Daemon.start(dir, { SAFESPHERE_CONFIG: join(dir, 'site.yaml'), SAFESPHERE_NODERED_ENABLED: 'true' }, 60_000, { built: true });
  const headers = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

  const waiters = new Map<string, (at: number) => void>();
  const arrived = (key: string) => new Promise<number>((resolve) => waiters.set(key, resolve));
  const seen = (key: string) => {
    const w = waiters.get(key);
    if (w) {
      waiters.delete(key);
      w(performance.now());
    }
  };

  const ws = new WebSocket(`${daemon.httpUrl.replace('http', 'ws')}/ws/navigation?from=lobby&access_token=${OPERATOR_TOKEN}`);
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as Route;
    if (m.type === 'route' && m.reason !== 'current') for (const id of m.incident_ids) seen(`ws:${m.reason}:${id}`);
  });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const sub = await mqtt.connectAsync(daemon.mqttUrl, { reconnectPeriod: 0 });
  sub.on('message', (_t, payload) => {
    const m = JSON.parse(payload.toString()) as Route;
    if (m.reason !== 'current') for (const id of m.incident_ids) seen(`mqtt:${m.reason}:${id}`);
  });
  await sub.subscribeAsync('safesphere/routes/lobby', { qos: 1 });

  const lat = { wsIncident: [] as number[], mqttIncident: [] as number[], wsResolved: [] as number[], mqttResolved: [] as number[], ackToWs: [] as number[] };
  for (let i = 0; i < CYCLES; i++) {
    const id = `BENCH_NAV_${i}`;
    const wsIn = arrived(`ws:incident:${id}`);
    const mqttIn = arrived(`mqtt:incident:${id}`);
    const t0 = performance.now();
    const res = await fetch(`${daemon.httpUrl}/threats/report`, {
      method: 'POST',
      headers: headers(CAMERA_TOKEN),
      body: JSON.stringify(seedReport({ incident_id: id, camera_id: 'cam-2', threat_level: 'CRITICAL' })),
    });
    const acked = performance.now();
    if (res.status !== 200) throw new Error(`report ${id}: HTTP ${res.status}`);
    const [w, m] = await Promise.all([wsIn, mqttIn]);
    lat.wsIncident.push(w - t0);
    lat.mqttIncident.push(m - t0);
    lat.ackToWs.push(w - acked);

    const wsOut = arrived(`ws:resolved:${id}`);
    const mqttOut = arrived(`mqtt:resolved:${id}`);
    const t1 = performance.now();
    const r = await fetch(`${daemon.httpUrl}/incidents/${id}/resolve`, { method: 'POST', headers: headers(OPERATOR_TOKEN), body: JSON.stringify({ by: 'bench' }) });
    if (r.status !== 200) throw new Error(`resolve ${id}: HTTP ${r.status}`);
    const [w2, m2] = await Promise.all([wsOut, mqttOut]);
    lat.wsResolved.push(w2 - t1);
    lat.mqttResolved.push(m2 - t1);
  }
  ws.terminate();
  await sub.endAsync();
  await reapDaemons();
  rmSync(dir, { recursive: true, force: true });

  console.log(`## Live safe routes (${CYCLES} cycles, daemon from dist/, Node-RED on; config changed: ${shipped ? 'none (BENCH_NAV_SHIPPED=1)' : 'scoring.enabled: false'})\n`);
  console.log(`CRITICAL in the hall, request sent -> new route on /ws/navigation : ${fmt(lat.wsIncident)}`);
  console.log(`CRITICAL in the hall, request sent -> new retained route on MQTT  : ${fmt(lat.mqttIncident)}`);
  console.log(`  (HTTP 200, i.e. after the commit, -> WS route: ${fmt(lat.ackToWs)}; negative: the route came first)`);
  console.log(`resolve, request sent -> old route on /ws/navigation              : ${fmt(lat.wsResolved)}`);
  console.log(`resolve, request sent -> old route on MQTT                        : ${fmt(lat.mqttResolved)}`);
  // The commit's instant is not visible from outside; its acknowledgement (sent after it) is the closest point.
  const over = lat.ackToWs.filter((x) => x > 100).length;
  console.log(`${over === 0 ? '✓' : '✗'} every WS re-route within 100 ms of the commit's acknowledgement (${over} over)`);
}

main().catch(async (err) => {
  console.error(err);
  await reapDaemons();
  process.exit(1);
});
