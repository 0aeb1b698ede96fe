// npm run make:upgrade-fixture [-- --out test/fixtures/upgrade-v7]
// Writes a data dir made by this release through its own API and repositories: incidents of
// every level, actions in every state, alerts, labels, operator status, outbox entries pending
// and delivered (a pull cursor and ack), snapshots and a held snapshot, detections, annotations.
// test/upgrade.test.ts runs every migration over a copy and checks that every row and the cursor
// survive. Regenerate it only for a new release's fixture (add a directory, keep the old ones).
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { SCHEMA_VERSION } from '../src/store/store.js';
import { startGateway } from '../test/helpers.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: `test/fixtures/upgrade-v${SCHEMA_VERSION}` } } });
const out = resolve(values.out!);
const SYNC_TOKEN = 'fixture-sync-token-0123456789abcdef';

const jpeg = (r: number, g: number, b: number) =>
  sharp({ create: { width: 48, height: 32, channels: 3, background: { r, g, b } } }).jpeg({ quality: 80 }).toBuffer();

const gw = await startGateway({ site_id: 'fixture', scoring: { enabled: false }, sync: { token: SYNC_TOKEN } });
const base = gw.httpUrl;
const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
};
const levels = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
let n = 0;
for (const level of levels) {
  for (let i = 0; i < 3; i++) {
    n++;
    await post('/threats/report', {
      incident_id: `FIX_${level}_${i}`,
      timestamp: `2026-02-10T14:${String(10 + n).padStart(2, '0')}:00.000`,
      threat_level: level,
      threat_score: { LOW: 0.2, MEDIUM: 0.45, HIGH: 0.7, CRITICAL: 0.9 }[level],
      people_count: i + 1,
      weapon_detected: level === 'CRITICAL' && i === 0,
      weapon_types: level === 'CRITICAL' && i === 0 ? ['gun'] : [],
      behavior_summary: i === 1 ? 'Following + approaching rapidly' : 'Loitering',
      is_critical: level === 'CRITICAL',
      full_telemetry: { frame: n, tracks: [{ id: i }] },
      camera_id: `cam-${(n % 3) + 1}`,
      firmware: 'fx-1.2', // an unknown field, kept in extra_fields
    });
  }
}
// Actions in every state (pending stays pending): the automation stage's own write path.
const { store } = gw.gateway;
const at = '2026-02-10T14:40:00.000Z';
const acts = [...store.actionsFor('FIX_CRITICAL_0'), ...store.actionsFor('FIX_HIGH_0')];
const states = ['dispatched', 'succeeded', 'failed', 'timed_out'];
store.actions.write({
  transitions: acts.slice(0, states.length).flatMap((a, i) => [
    { id: a.id, status: 'dispatched', at, result: null, attempts: 1 },
    ...(states[i] === 'dispatched' ? [] : [{ id: a.id, status: states[i]!, at, result: `fixture ${states[i]}`, attempts: 1 + (i % 2) }]),
  ]),
  alerts: [
    { incidentId: 'FIX_CRITICAL_0', alertType: 'police', recipient: 'dispatch', message: 'armed threat', sentAt: at, status: 'sent' },
    { incidentId: 'FIX_HIGH_0', alertType: 'contacts', recipient: 'family', message: 'high threat', sentAt: at, status: 'failed' },
  ],
  responseTimes: [['FIX_CRITICAL_0', 412]],
});
await post('/incidents/FIX_HIGH_1/label', { label: 'confirmed', by: 'guard-1', note: 'seen on camera' });
await post('/incidents/FIX_LOW_1/label', { label: 'false_alarm', by: 'guard-2' });
await post('/incidents/FIX_CRITICAL_1/acknowledge', { by: 'guard-1', note: 'on my way' });
await post('/incidents/FIX_MEDIUM_2/resolve', { by: 'guard-2' });
// A snapshot attached, one held for a report that has not arrived.
for (const [id, [r, g, b]] of [['FIX_CRITICAL_0', [200, 30, 30]], ['FIX_PENDING_REPORT', [30, 30, 200]]] as const) {
  const form = new FormData();
  form.append('incident_id', id);
  form.append('file', new Blob([new Uint8Array(await jpeg(r, g, b))], { type: 'image/jpeg' }), 'shot.jpg');
  const res = await fetch(`${base}/upload/screenshot`, { method: 'POST', body: form });
  if (res.status !== 200) throw new Error(`snapshot ${id}: ${res.status} ${await res.text()}`);
}
store.snapshots.storeDetection(
  'FIX_CRITICAL_0',
  { model: 'tiny-detector:abc123', person_conf: 0.91, weapon_conf: 0.77, boxes: [{ label: 'person', confidence: 0.91, box: [1, 2, 30, 31] }], inference_ms: 12 },
  at,
  { model: 'tiny-detector:abc123' },
);
store.annotations.addOpinion(
  {
    incident_id: 'FIX_CRITICAL_0',
    model: 'gemini-2.5-flash',
    summary: 'Armed person approaching the entrance',
    threat_confirmed: true,
    confidence: 0.82,
    potential_threat_level: 'CRITICAL',
    recommended_actions: ['dispatch police'],
    needs_review: false,
    review_reason: null,
    images_sent: true,
    created_at: at,
  },
  (id) => ({ annotation_id: id }),
);
// The pull cursor: the first page taken and acked; the rest pending.
const auth = { authorization: `Bearer ${SYNC_TOKEN}` };
const page = (await (await fetch(`${base}/sync/incidents?after=0&limit=8`, { headers: auth })).json()) as { next_after: number };
await post('/sync/ack', { upto: page.next_after }, auth);

await gw.gateway.stop();
if (existsSync(out)) rmSync(out, { recursive: true });
mkdirSync(out, { recursive: true });
cpSync(join(gw.dataDir, 'safesphere.db'), join(out, 'safesphere.db'));
cpSync(join(gw.dataDir, 'snapshots'), join(out, 'snapshots'), { recursive: true });
rmSync(gw.dataDir, { recursive: true, force: true });
process.stdout.write(`wrote ${out} (schema ${SCHEMA_VERSION}; pull cursor acked up to ${page.next_after})\n`);
