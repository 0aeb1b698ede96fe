// Property tests of the shipped re-scorer over 100,000 random reports and contexts: the
// shipped models/rescorer.onnx through onnxruntime-node (batched: one run per 50,000 rows) and
// the shipped decide() with the default floor (8 variants of each: 800,000 decisions). Every floor rule and every monotonicity
// direction is counted over all samples and must have 0 violations. The firearm names are
// generated broadly (generic names, brands, models, in plurals, cases, separators and with
// model numbers) and must all read as firearms.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { LEVELS, type ThreatLevel } from '../src/config/schema.js';
import { decide, levelScore, SCORE_BANDS } from '../src/scoring/decision.js';
import { extractFeatures, FEATURE_COUNT, type FeatureContext, type FeatureReport } from '../src/scoring/features.js';
import { validateManifest, type ModelManifest } from '../src/scoring/manifest.js';
import { weaponFacts, weaponFamily } from '../src/scoring/vocabulary.js';

const SAMPLES = 100_000;
const BATCH_ROWS = 50_000;
const floor = loadConfig({}).scoring.floor;
const idx = (l: ThreatLevel) => LEVELS.indexOf(l);

let session: ort.InferenceSession;
let manifest: ModelManifest;

beforeAll(async () => {
  manifest = validateManifest(JSON.parse(readFileSync(new URL('../models/rescorer.json', import.meta.url), 'utf8')));
  session = await ort.InferenceSession.create(readFileSync(new URL('../models/rescorer.onnx', import.meta.url)));
});

// ------------------------------------------------------------------ firearm names, broadly

const FIREARM_BASES = [
  'gun', 'pistol', 'rifle', 'handgun', 'shotgun', 'revolver', 'firearm', 'carbine', 'smg', 'submachine gun', 'machine gun',
  'assault rifle', 'sniper rifle', 'sidearm', 'glock', 'beretta', 'colt', 'ruger', 'sig sauer', 'walther', 'uzi', 'mp5',
  'ak47', 'ak-47', 'ar-15', 'ar15', 'm4', 'm16', 'm1911', 'kalashnikov', 'desert eagle', 'smith & wesson', 'mac-10', 'tec-9',
  'remington', 'mossberg', 'winchester', 'derringer', 'magnum', 'luger', 'makarov', '9mm', 'long gun', 'air gun', 'musket',
];
const firearmName = fc
  .record({
    base: fc.constantFrom(...FIREARM_BASES),
    plural: fc.boolean(),
    kase: fc.constantFrom('lower', 'upper', 'title', 'as is'),
    sep: fc.constantFrom(' ', '_', '-'),
    prefix: fc.constantFrom('', 'black ', 'person with ', 'detected_', 'Weapon: '),
    suffix: fc.constantFrom('', ' 19', '_detected', ' (partial)', ' x2', '.'),
  })
  .map(({ base, plural, kase, sep, prefix, suffix }) => {
    let name = plural && /[a-z]$/.test(base) ? `${base}${base.endsWith('s') ? 'es' : 's'}` : base;
    name = `${prefix}${name.replace(/ /g, sep)}${suffix}`;
    if (kase === 'upper') name = name.toUpperCase();
    else if (kase === 'title') name = name.replace(/\b[a-z]/g, (c) => c.toUpperCase());
    else if (kase === 'lower') name = name.toLowerCase();
    return name;
  });

// ------------------------------------------------------------------ random reports and contexts

const level = fc.constantFrom<ThreatLevel>(...LEVELS);
const otherWeapon = fc.constantFrom('knife', 'machete', 'knives', 'box cutter', 'bat', 'baseball bat', 'bottle', 'stick', 'weapon', 'umbrella', 'object');
const weaponType = fc.oneof(firearmName, otherWeapon);
const sampleArb = fc.record({
  report: fc.record({
    threat_level: level,
    threat_score: fc.double({ min: 0, max: 0.95, noNaN: true }),
    weapon_detected: fc.boolean(),
    weapon_types: fc.array(weaponType, { maxLength: 2 }),
    people_count: fc.integer({ min: 0, max: 40 }),
    behavior_summary: fc.subarray(['following', 'approaching', 'running', 'fighting', 'loitering', 'fallen']).map((b) => b.join(' + ') || null),
    timestamp: fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `2026-02-10T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`),
  }),
  context: fc.record({
    corroboratingCameras: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3, noNaN: true })),
    cameraRepeats: fc.integer({ min: 0, max: 12 }),
    labels: fc.integer({ min: 0, max: 60 }),
    faShare: fc.double({ min: 0, max: 1, noNaN: true }),
    zoneRisk: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  scoreUp: fc.double({ min: 0.001, max: 0.05, noNaN: true }),
  corroborationUp: fc.double({ min: 0.01, max: 1, noNaN: true }),
  addedWeapon: weaponType,
  addedFirearm: firearmName,
  addedBehaviour: fc.constantFrom('following', 'approaching', 'running', 'fighting', 'person down'),
});

interface Case {
  report: FeatureReport;
  context: FeatureContext;
}

/** Each sample's variants, in this order. */
const VARIANTS = ['base', 'score_up', 'unarmed', 'weapon_added', 'firearm_added', 'corroboration_added', 'false_alarm_added', 'threat_behaviour_added'] as const;

type Sample = typeof sampleArb extends fc.Arbitrary<infer T> ? T : never;

function variants(s: Sample): Case[] {
  const ctx: FeatureContext = {
    corroboratingCameras: s.context.corroboratingCameras,
    cameraRepeats: s.context.cameraRepeats,
    labels: s.context.labels,
    falseAlarms: Math.round(s.context.labels * s.context.faShare),
    zoneRisk: s.context.zoneRisk,
  };
  const base: FeatureReport = { ...s.report, full_telemetry: null };
  const unarmed: FeatureReport = { ...base, weapon_detected: false, weapon_types: [] };
  return [
    { report: base, context: ctx },
    { report: { ...base, threat_score: base.threat_score + s.scoreUp }, context: ctx },
    { report: unarmed, context: ctx },
    { report: { ...unarmed, weapon_detected: true, weapon_types: [s.addedWeapon] }, context: ctx },
    { report: { ...base, weapon_detected: true, weapon_types: [...(base.weapon_types ?? []), s.addedFirearm] }, context: ctx },
    { report: base, context: { ...ctx, corroboratingCameras: ctx.corroboratingCameras + s.corroborationUp } },
    { report: base, context: { ...ctx, falseAlarms: ctx.falseAlarms + 1, labels: ctx.labels + 1 } },
    { report: { ...base, behavior_summary: [base.behavior_summary, s.addedBehaviour].filter(Boolean).join(' + ') }, context: ctx },
  ];
}

async function probabilities(cases: Case[]): Promise<Float32Array> {
  const out = new Float32Array(cases.length);
  for (let start = 0; start < cases.length; start += BATCH_ROWS) {
    const chunk = cases.slice(start, start + BATCH_ROWS);
    const rows = new Float32Array(chunk.length * FEATURE_COUNT);
    chunk.forEach((c, i) => extractFeatures(c.report, c.context, rows, i * FEATURE_COUNT));
    const result = await session.run({ [manifest.input.name]: new ort.Tensor('float32', rows, [chunk.length, FEATURE_COUNT]) });
    out.set(result[manifest.output.name]!.data as Float32Array, start);
  }
  return out;
}

describe(`the shipped decide() and ONNX model over ${SAMPLES.toLocaleString('en')} random reports`, () => {
  it('reads every generated firearm name as a firearm, and no blade or blunt object as one', () => {
    const names = fc.sample(firearmName, { numRuns: 20_000, seed: 18 });
    const missed = names.filter((n) => weaponFamily(n) !== 'firearm');
    expect(missed.slice(0, 10)).toEqual([]);
    for (const t of ['knife', 'knives', 'box cutter', 'machete', 'baseball bat', 'bottle', 'stick']) expect(weaponFamily(t)).not.toBe('firearm');
  });

  it('0 violations of each floor rule and of each monotonicity direction', async () => {
    const samples = fc.sample(sampleArb, { numRuns: SAMPLES, seed: 1818 });
    const cases = samples.flatMap((s) => variants(s));
    const p = await probabilities(cases);
    const V = VARIANTS.length;
    const violations: Record<string, number> = {
      firearm_at_least_high_and_not_lowered: 0,
      at_most_one_level_down: 0,
      at_most_one_level_up_unless_firearm: 0,
      critical_without_false_alarms_kept: 0,
      stored_score_agrees_with_level: 0,
      score_up: 0,
      weapon_added: 0,
      firearm_added: 0,
      corroboration_added: 0,
      false_alarm_label_added: 0,
      threat_behaviour_added: 0,
    };
    const examples: Record<string, unknown> = {};
    const count = (rule: string, bad: boolean, example: unknown) => {
      if (!bad) return;
      violations[rule]!++;
      examples[rule] ??= example;
    };
    const levels = new Array<ThreatLevel>(cases.length);
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const facts = weaponFacts(c.report);
      const d = decide(
        { reportedLevel: c.report.threat_level, probability: p[i]!, firearm: facts.floorFirearm, cameraFalseAlarms: c.context.falseAlarms },
        manifest.thresholds,
        floor,
      );
      levels[i] = d.level;
      const reported = idx(c.report.threat_level);
      const final = idx(d.level);
      count('firearm_at_least_high_and_not_lowered', facts.floorFirearm && final < Math.max(2, reported), c);
      count('at_most_one_level_down', final < reported - 1, c);
      count('at_most_one_level_up_unless_firearm', final > reported + 1 && !(facts.floorFirearm && final === 2), c);
      count('critical_without_false_alarms_kept', c.report.threat_level === 'CRITICAL' && c.context.falseAlarms === 0 && d.level !== 'CRITICAL', c);
      const stored = levelScore(d.level, c.report.threat_score);
      const [lo, hi] = SCORE_BANDS[d.level];
      count('stored_score_agrees_with_level', !(stored >= lo && (stored < hi || (d.level === 'CRITICAL' && stored <= hi))), { stored, level: d.level });
    }
    for (let s = 0; s < samples.length; s++) {
      const at = (v: (typeof VARIANTS)[number]) => idx(levels[s * V + VARIANTS.indexOf(v)]!);
      const example = () => cases.slice(s * V, s * V + V);
      count('score_up', at('score_up') < at('base'), example());
      count('weapon_added', at('weapon_added') < at('unarmed'), example());
      count('firearm_added', at('firearm_added') < at('base'), example());
      count('corroboration_added', at('corroboration_added') < at('base'), example());
      count('false_alarm_label_added', at('false_alarm_added') > at('base'), example());
      count('threat_behaviour_added', at('threat_behaviour_added') < at('base'), example());
    }
    expect({ violations, examples }).toEqual({ violations: Object.fromEntries(Object.keys(violations).map((k) => [k, 0])), examples: {} });
    // The samples exercise every rule: each is reached many times, not vacuously true.
    const firearmCases = cases.filter((c) => weaponFacts(c.report).floorFirearm).length;
    const criticalClean = cases.filter((c) => c.report.threat_level === 'CRITICAL' && c.context.falseAlarms === 0).length;
    expect(firearmCases).toBeGreaterThan(SAMPLES / 2);
    expect(criticalClean).toBeGreaterThan(SAMPLES / 100);
    const moved = levels.filter((l, i) => l !== cases[i]!.report.threat_level).length;
    expect(moved).toBeGreaterThan(cases.length / 20);
  }, 240_000);
});
