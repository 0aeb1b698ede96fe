// The floor under the ingest figures: what the durable SQLite write alone costs, with no
// network, parsing or broker. It is why a durable gateway cannot reach the throughput of
// a broker that acknowledges from memory (the bare-aedes row of bench/ingest.ts).
//
// Run: npm run bench (after bench/ingest.ts), or npx tsx bench/store-commit.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import type { ThreatLevel } from '../src/config/schema.js';
import { createLogger } from '../src/logger.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { Store } from '../src/store/store.js';
import type { IncidentDraft } from '../src/store/types.js';
import { ReportValidator } from '../src/validate/report.js';
import { seedReport } from '../test/helpers.js';

const BATCH = 100;
const BATCHES = 200;
const config = loadConfig();
const validator = new ReportValidator(config.report);
const policy = new ActionPolicy(config.policy);

function makeDrafts(level: ThreatLevel, weapon: boolean, start: number): IncidentDraft[] {
  return Array.from({ length: BATCH }, (_, i) => {
    const n = start + i;
    const valid = validator.validate(
      seedReport({ incident_id: `SB_${level}_${n}`, threat_level: level, weapon_detected: weapon, camera_id: `cam-${n % 8}` }),
      'http',
      null,
    );
    const plan = policy.plan(level, weapon);
    return {
      incidentId: valid.report.incident_id,
      timestamp: valid.report.timestamp,
      level,
      score: valid.report.threat_score,
      reportedLevel: level,
      reportedScore: valid.report.threat_score,
      modelVersion: null,
      peopleCount: 2,
      weaponDetected: weapon,
      weaponTypes: weapon ? ['gun'] : [],
      behaviorSummary: valid.report.behavior_summary ?? null,
      isCritical: level === 'CRITICAL',
      fullTelemetry: (valid.report.full_telemetry as Record<string, unknown>) ?? null,
      extraFields: null,
      cameraId: valid.cameraId,
      source: 'http',
      contentHash: valid.contentHash,
      receivedAtMs: Date.now(),
      actionTaken: plan.status,
      actions: plan.actions,
    };
  });
}

async function measure(level: ThreatLevel, weapon: boolean): Promise<{ rows: number; usPerReport: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'safesphere-storebench-'));
  const store = new Store(dir, createLogger('silent'));
  await store.start();
  for (let w = 0; w < 20; w++) store.commitBatch(makeDrafts(level, weapon, -1 - w * BATCH - BATCH)); // warm-up
  const batches = Array.from({ length: BATCHES }, (_, b) => makeDrafts(level, weapon, b * BATCH));
  const started = performance.now();
  for (const batch of batches) store.commitBatch(batch);
  const elapsed = performance.now() - started;
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
  return { rows: 1 + policy.plan(level, weapon).actions.length, usPerReport: (elapsed * 1000) / (BATCH * BATCHES) };
}

const rows: string[] = [];
for (const [level, weapon] of [['CRITICAL', true], ['HIGH', false], ['LOW', false]] as const) {
  const { rows: n, usPerReport } = await measure(level, weapon);
  rows.push(
    `| ${level}${weapon ? ' + weapon' : ''} | ${n} | ${usPerReport.toFixed(1)} | ${Math.round(1e6 / usPerReport).toLocaleString('en-US')} |`,
  );
}
process.stdout.write(
  [
    '',
    '## Durable commit alone (store floor)',
    '',
    `\`Store.commitBatch\` in batches of ${BATCH} (WAL, synchronous=FULL), ${BATCH * BATCHES} reports each, one core, no network:`,
    '',
    '| report | rows written | µs per report | max reports/s on one core |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'),
);
