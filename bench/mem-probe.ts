// Investigation tool (not in npm run bench): the daemon as shipped, its smaps by mapping at start, right
// after a 20,000-report burst and after PROBE_SETTLE ms, with its CPU per report. DAEMON_NODE_ARGS
// and BENCH_ENV as in bench/shipped.ts; PROBE_HOLD keeps it for a heap snapshot.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, NOTIFY_AS_SHIPPED } from '../test/daemon.js';
import type { LoadJob, LoadOutcome } from './shipped-load.js';

function load(job: LoadJob): Promise<LoadOutcome> {
  const child = fork(new URL('./shipped-load.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { ok: boolean; outcome?: LoadOutcome; error?: string }) => (m.ok ? resolve(m.outcome!) : reject(new Error(m.error))));
    child.send(job);
  });
}
function smaps(pid: number, tag: string) {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const groups = new Map<string, number>();
  let name = '';
  let total = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { name = head[1] || '[anon]'; if (name.includes('/')) name = name.split('/').pop()!; continue; }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) { groups.set(name, (groups.get(name) ?? 0) + Number(m[1])); total += Number(m[1]); }
  }
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const g = (k: string) => /\d+/.exec(new RegExp(`${k}:.*`).exec(st)?.[0] ?? '')?.[0];
  console.log(`== ${tag}: RSS ${(total / 1024).toFixed(0)} MB (anon ${(Number(g('RssAnon')) / 1024).toFixed(0)}, file ${(Number(g('RssFile')) / 1024).toFixed(0)}), threads ${g('Threads')}`);
  for (const [k, v] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  ${(v / 1024).toFixed(1).padStart(7)} MB  ${k}`);
  // anon mappings by size class
  const cls = new Map<string, [number, number]>();
  let cur = ''; let size = 0;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { cur = head[3] ?? ''; size = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024; continue; }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m && cur === '') { const c = size >= 65536 ? '>=64M' : size >= 1024 ? `${Math.round(size / 1024)}M` : '<1M'; const a = cls.get(c) ?? [0, 0]; a[0] += Number(m[1]); a[1]++; cls.set(c, a); }
  }
  console.log('   anon by mapping size: ' + [...cls].sort((a, b) => b[1][0] - a[1][0]).slice(0, 10).map(([c, [r, n]]) => `${c}×${n}=${(r / 1024).toFixed(0)}`).join(' '));
}
const env: Record<string, string> = { SAFESPHERE_NODERED_ENABLED: 'true', ...NOTIFY_AS_SHIPPED, ...JSON.parse(process.env.BENCH_ENV ?? '{}') };
const dir = mkdtempSync(join(tmpdir(), 'memprobe-'));
const gw = await Daemon.start(dir, env, 60_000, { built: true });
await new Promise((r) => setTimeout(r, 3000));
smaps(gw.pid, 'after start');
const total = Number(process.env.PROBE_TOTAL ?? 20000);
const cpu = () => { const f = readFileSync(`/proc/${gw.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const cpu0 = cpu();
const r = await load({ kind: 'burst', url: gw.mqttUrl, clients: 50, inflight: 10, total, level: 'HIGH', prefix: 'BURST' });
console.log(`burst: ${r.acked} acked in ${r.seconds.toFixed(1)} s, daemon CPU ${((cpu() - cpu0) / r.acked * 1000).toFixed(0)} µs/report (all threads, to the last ack)`);
smaps(gw.pid, 'right after burst');
await new Promise((r) => setTimeout(r, Number(process.env.PROBE_SETTLE ?? 15000)));
smaps(gw.pid, 'after settle');
if (process.env.PROBE_HOLD) { console.log(`pid ${gw.pid} held`); await new Promise((r) => setTimeout(r, Number(process.env.PROBE_HOLD))); }
await gw.kill('SIGTERM', 30_000);
