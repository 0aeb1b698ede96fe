// The shipped re-scoring model (models/rescorer.onnx + rescorer.json), run through the real
// onnxruntime-node: its monotonicity and safety-floor properties on random reports, parity
// with a TypeScript forward pass of the same weights, and the trainer's reproducibility.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { LEVELS, type ThreatLevel } from '../src/config/schema.js';
import { decide } from '../src/scoring/decision.js';
import {
  behaviourFlags,
  extractFeatures,
  FEATURE_COUNT,
  FEATURE_INDEX,
  weaponFacts,
  weaponFamily,
  type FeatureContext,
  type FeatureReport,
} from '../src/scoring/features.js';
import { levelFor, validateManifest, type ModelManifest } from '../src/scoring/manifest.js';
import { decodeLogisticModel, referenceForward } from '../tools/train/onnx-graph.js';
import { train } from '../tools/train/train.js';
import { tempDir } from './helpers.js';

const MODEL = new URL('../models/rescorer.onnx', import.meta.url);
const MANIFEST = new URL('../models/rescorer.json', import.meta.url);
const config = loadConfig({});

let session: ort.InferenceSession;
let manifest: ModelManifest;

async function probabilities(rows: Float32Array, n: number): Promise<Float32Array> {
  const out = await session.run({ [manifest.input.name]: new ort.Tensor('float32', rows, [n, FEATURE_COUNT]) });
  return out[manifest.output.name]!.data as Float32Array;
}

async function scoreOf(pairs: { report: FeatureReport; context: FeatureContext }[]): Promise<number[]> {
  const rows = new Float32Array(pairs.length * FEATURE_COUNT);
  pairs.forEach((p, i) => extractFeatures(p.report, p.context, rows, i * FEATURE_COUNT));
  return Array.from(await probabilities(rows, pairs.length));
}

// ------------------------------------------------------------------ arbitraries

const level = fc.constantFrom<ThreatLevel>(...LEVELS);
const weaponType = fc.constantFrom('gun', 'pistol', 'rifle', 'knife', 'machete', 'bat', 'bottle', 'stick');
const behaviour = fc.subarray(['following', 'approaching', 'running', 'fighting', 'loitering', 'fallen']);
const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }));

const reportArb: fc.Arbitrary<FeatureReport> = fc
  .record({
    level,
    score: fc.double({ min: 0, max: 1, noNaN: true }),
    weapons: fc.array(weaponType, { maxLength: 2 }),
    detected: fc.boolean(),
    people: fc.integer({ min: 0, max: 30 }),
    behaviours: behaviour,
    time: hhmm,
  })
  .map((r) => ({
    threat_level: r.level,
    threat_score: r.score,
    timestamp: `2026-02-10T${String(r.time[0]).padStart(2, '0')}:${String(r.time[1]).padStart(2, '0')}:00`,
    weapon_detected: r.detected || r.weapons.length > 0,
    weapon_types: r.weapons,
    people_count: r.people,
    behavior_summary: r.behaviours.join(' + '),
  }));

const contextArb: fc.Arbitrary<FeatureContext> = fc
  .record({
    corroboratingCameras: fc.integer({ min: 0, max: 4 }),
    cameraRepeats: fc.integer({ min: 0, max: 12 }),
    labels: fc.integer({ min: 0, max: 60 }),
    faShare: fc.double({ min: 0, max: 1, noNaN: true }),
    zoneRisk: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((c) => ({
    corroboratingCameras: c.corroboratingCameras,
    cameraRepeats: c.cameraRepeats,
    labels: c.labels,
    falseAlarms: Math.round(c.labels * c.faShare),
    zoneRisk: c.zoneRisk,
  }));

/** float32 rounding of the probability: "never lower" allows this much. */
const EPS = 1e-6;

beforeAll(async () => {
  manifest = validateManifest(JSON.parse(readFileSync(MANIFEST, 'utf8')));
  session = await ort.InferenceSession.create(readFileSync(MODEL), { intraOpNumThreads: 1 });
});
afterAll(async () => {
  await session.release();
});

describe('the shipped model: properties on random reports (fast-check, real onnxruntime)', () => {
  it('is monotone in the camera score', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, contextArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), async (r, c, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const [pLo, pHi] = await scoreOf([
          { report: { ...r, threat_score: lo }, context: c },
          { report: { ...r, threat_score: hi }, context: c },
        ]);
        expect(pHi!).toBeGreaterThanOrEqual(pLo! - EPS);
      }),
      { numRuns: 300 },
    );
  });

  it('is monotone in weapon presence: adding a weapon of any family never lowers the score', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, contextArb, weaponType, async (r, c, w) => {
        const without = { ...r, weapon_detected: false, weapon_types: [] };
        const withWeapon = { ...r, weapon_detected: true, weapon_types: [w] };
        const detectedOnly = { ...r, weapon_detected: true, weapon_types: [] };
        const [p0, p1, p2] = await scoreOf([
          { report: without, context: c },
          { report: withWeapon, context: c },
          { report: detectedOnly, context: c },
        ]);
        expect(p1!).toBeGreaterThanOrEqual(p0! - EPS);
        expect(p2!).toBeGreaterThanOrEqual(p0! - EPS);
      }),
      { numRuns: 300 },
    );
  });

  it('is monotone in corroboration, and one agreeing camera raises the score clearly', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, contextArb, fc.integer({ min: 0, max: 3 }), async (r, c, k) => {
        const [p0, p1] = await scoreOf([
          { report: r, context: { ...c, corroboratingCameras: k } },
          { report: r, context: { ...c, corroboratingCameras: k + 1 } },
        ]);
        expect(p1!).toBeGreaterThanOrEqual(p0! - EPS);
        // In the logit: one more camera adds at least 0.8 (the prior assumes 1.2).
        if (k < 3) expect(Math.log(p1! / (1 - p1!)) - Math.log(p0! / (1 - p0!))).toBeGreaterThan(0.8);
      }),
      { numRuns: 300 },
    );
  });

  it('is lowered by a high false-alarm rate', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, contextArb, fc.integer({ min: 10, max: 60 }), async (r, c, n) => {
        const [clean, noisy] = await scoreOf([
          { report: r, context: { ...c, labels: 0, falseAlarms: 0 } },
          { report: r, context: { ...c, labels: n, falseAlarms: Math.ceil(n * 0.8) } },
        ]);
        expect(noisy!).toBeLessThan(clean!);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the safety floor on random reports: firearm ≥ HIGH, at most one level down, CRITICAL without false alarms kept', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, contextArb, async (r, c) => {
        const [p] = await scoreOf([{ report: r, context: c }]);
        const firearm = weaponFacts(r).firearm;
        const d = decide({ reportedLevel: r.threat_level, probability: p!, firearm, cameraFalseAlarms: c.falseAlarms }, manifest.thresholds, config.scoring.floor);
        const final = LEVELS.indexOf(d.level);
        const reported = LEVELS.indexOf(r.threat_level);
        if (firearm) expect(final).toBeGreaterThanOrEqual(LEVELS.indexOf('HIGH'));
        expect(final).toBeGreaterThanOrEqual(reported - 1);
        if (r.threat_level === 'CRITICAL' && c.falseAlarms === 0) expect(d.level).toBe('CRITICAL');
        if (!firearm) expect(final).toBeLessThanOrEqual(reported + 1);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the camera level for reports with neutral context (no corroboration, no labels, neutral zone)', async () => {
    // The seed's examples and threat_cv's usual score bands.
    const cases: [ThreatLevel, number][] = [
      ['LOW', 0.2],
      ['MEDIUM', 0.5],
      ['HIGH', 0.7],
      ['CRITICAL', 0.87],
    ];
    const neutral: FeatureContext = { corroboratingCameras: 0, cameraRepeats: 0, labels: 0, falseAlarms: 0, zoneRisk: 0.5 };
    const ps = await scoreOf(cases.map(([l, s]) => ({ report: { threat_level: l, threat_score: s, timestamp: '2026-02-10T14:30:45' }, context: neutral })));
    expect(ps.map((p) => levelFor(p, manifest.thresholds))).toEqual(cases.map(([l]) => l));
  });
});

describe('parity: onnxruntime vs the TypeScript reference forward pass of the same weights', () => {
  it('agrees within 1e-5 on 2,000 random feature vectors, in batches of 1 and 64', async () => {
    const weights = decodeLogisticModel(readFileSync(MODEL));
    const samples = fc.sample(fc.tuple(reportArb, contextArb), { numRuns: 2000, seed: 42 });
    const rows = new Float32Array(samples.length * FEATURE_COUNT);
    samples.forEach(([r, c], i) => extractFeatures(r, c, rows, i * FEATURE_COUNT));
    const reference = referenceForward(weights, rows, samples.length);
    let worst = 0;
    for (let start = 0; start < samples.length; start += 64) {
      const n = Math.min(64, samples.length - start);
      const got = await probabilities(rows.slice(start * FEATURE_COUNT, (start + n) * FEATURE_COUNT), n);
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i]! - reference[start + i]!));
    }
    for (let i = 0; i < 50; i++) {
      const got = await probabilities(rows.slice(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), 1);
      worst = Math.max(worst, Math.abs(got[0]! - reference[i]!));
    }
    expect(worst).toBeLessThan(1e-5);
    // The same weights, and a vector the manifest pins.
    expect(Math.abs(referenceForward(weights, Float32Array.from(manifest.check.features), 1)[0]! - manifest.check.probability)).toBeLessThan(1e-6);
  });

  it('the manifest describes this ONNX file and the features this gateway computes', () => {
    const sha = createHash('sha256').update(readFileSync(MODEL)).digest('hex');
    expect(manifest.onnx_sha256).toBe(sha);
    expect(manifest.input.shape).toEqual([-1, FEATURE_COUNT]);
    expect(manifest.training_data.prior.note).toMatch(/not field data/i);
    expect(manifest.metrics.held_out.auc).toBeGreaterThan(0.8);
    expect(manifest.metrics.held_out.brier).toBeLessThan(0.2);
  });
});

describe('features', () => {
  it('reads weapon families, behaviours from summary and telemetry, and the cyclic hour', () => {
    // 'bat' was 'other' before the vocabulary (issue 18): blunt objects are now their own family.
    expect(['gun', 'Pistol', 'assault_rifle', 'knife', 'box cutter', 'bat', 'umbrella'].map((t) => weaponFamily(t))).toEqual([
      'firearm',
      'firearm',
      'firearm',
      'blade',
      'blade',
      'blunt',
      'other',
    ]);
    expect([...behaviourFlags('Following + approaching rapidly', null)].sort()).toEqual(['approaching', 'following']);
    expect([...behaviourFlags(null, { tracks: [{ id: 1, behaviors: ['running'] }, { id: 2, fallen: true }], events: 'fight started' })].sort()).toEqual([
      'fallen',
      'fighting',
      'running',
    ]);
    expect(behaviourFlags('a person walking', { speed: 1 }).size).toBe(0);
    const v = extractFeatures(
      { threat_level: 'HIGH', threat_score: 0.7, timestamp: '2026-02-10T06:00:00', weapon_types: ['knife'], people_count: 3 },
      { corroboratingCameras: 5, cameraRepeats: 20, falseAlarms: 4, labels: 10, zoneRisk: 0.9 },
    );
    expect(v[FEATURE_INDEX.reported_level]).toBe(2);
    expect(v[FEATURE_INDEX.weapon]).toBe(1);
    expect(v[FEATURE_INDEX.weapon_blade]).toBe(1);
    expect(v[FEATURE_INDEX.corroborating_cameras]).toBe(3);
    expect(v[FEATURE_INDEX.camera_repeats]).toBe(1);
    expect(v[FEATURE_INDEX.false_alarm_rate]).toBeCloseTo(5 / 20, 6);
    expect(v[FEATURE_INDEX.hour_sin]).toBeCloseTo(1, 6);
    expect(v[FEATURE_INDEX.hour_cos]).toBeCloseTo(0, 6);
  });

  it('bounds the telemetry walk: a 100,000-node telemetry blob costs at most 256 nodes', () => {
    // The work is counted, not timed: each item counts once when the walk lists its keys.
    let opened = 0;
    const item = (i: number) => new Proxy({ i, behaviors: ['fighting'] }, { ownKeys: (t) => (opened++, Reflect.ownKeys(t)) });
    const wide = { items: Array.from({ length: 100_000 }, (_, i) => item(i)) };
    expect(behaviourFlags(null, wide).has('fighting')).toBe(true);
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThanOrEqual(256);
  });
});

describe('npm run train', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const run = (seed: number) => {
    const outDir = tempDir('safesphere-train-');
    dirs.push(outDir);
    return train({ seed, priorSamples: 3000, config, dbFile: null, outDir, producerVersion: 'test' });
  };

  it('gives the same bytes for the same seed, and other bytes for another seed', () => {
    const a = run(7);
    const b = run(7);
    const c = run(8);
    expect(Buffer.from(readFileSync(a.onnxFile)).equals(readFileSync(b.onnxFile))).toBe(true);
    expect(readFileSync(a.manifestFile, 'utf8')).toBe(readFileSync(b.manifestFile, 'utf8'));
    expect(Buffer.from(readFileSync(a.onnxFile)).equals(readFileSync(c.onnxFile))).toBe(false);
    expect(a.manifest.metrics.held_out.samples).toBe(600);
    expect(a.manifest.metrics.held_out.auc).toBeGreaterThan(0.7);
  });

  it('reproduces the shipped model byte for byte from its recorded seed and sample count', () => {
    const outDir = tempDir('safesphere-train-');
    dirs.push(outDir);
    const r = train({
      seed: manifest.training_data.seed,
      priorSamples: manifest.training_data.prior.samples,
      config,
      dbFile: null,
      outDir,
      producerVersion: JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version,
    });
    expect(Buffer.from(r.onnx).equals(readFileSync(MODEL))).toBe(true);
    expect(readFileSync(join(outDir, 'rescorer.json'), 'utf8')).toBe(readFileSync(MANIFEST, 'utf8'));
  });
});
