// CRITICAL first (issue 19): a CRITICAL's actions go to the flows ahead of queued LOW work,
// in the tracker and in the order the pipeline hands stored incidents to the act stage.
// Real store and pipeline; the flows are action-node handles that record what they get.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActionStore } from '../src/automation/action-store.js';
import { DeviceMap } from '../src/automation/devices.js';
import { DispatchQueue } from '../src/automation/dispatch-queue.js';
import { ActionTracker } from '../src/automation/tracker.js';
import type { ActionMessage } from '../src/automation/types.js';
import { loadConfig } from '../src/config/load.js';
import type { ThreatLevel } from '../src/config/schema.js';
import { EventBus } from '../src/events/bus.js';
import { createLogger } from '../src/logger.js';
import { IngestPipeline, type IngestOutcome } from '../src/pipeline/ingest.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { ReportValidator } from '../src/validate/report.js';
import { seedReport, tempDir } from './helpers.js';

const LOW_ACTIONS = 10_000;

// LOW plans one action here (by default it plans none), so a storm of LOW work exists to queue behind.
const config = loadConfig({
  overrides: {
    policy: { LOW: { actions: [{ type: 'log_event', description: 'bench of the queue' }] } },
    ingest: { commit_window_ms: 0, commit_max_batch: 2000, max_pending: 20_000 },
  },
});

/** Lets `turns` event-loop turns run (the queue hands over one slice per turn). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

describe('dispatch priority', () => {
  let dir: string;
  let store: Store;
  let bus: EventBus;
  let actions: ActionStore;
  let tracker: ActionTracker;
  let pipeline: IngestPipeline;
  const validator = new ReportValidator(config.report);
  const log = createLogger('silent');

  const submit = (id: string, level: ThreatLevel) =>
    pipeline.submit(validator.validate(seedReport({ incident_id: id, threat_level: level, weapon_detected: level === 'CRITICAL', weapon_types: level === 'CRITICAL' ? ['gun'] : [], is_critical: level === 'CRITICAL' }), 'http', null));
  const plan = (outcome: IngestOutcome) => {
    for (const a of outcome.actions) tracker.actionPlanned(outcome.incident, a);
  };

  beforeEach(async () => {
    dir = tempDir();
    store = new Store(dir, log);
    await store.start();
    bus = new EventBus(log);
    actions = new ActionStore(store.actions, log);
    tracker = new ActionTracker(config.automation, new DeviceMap(config.devices, config.zones), actions, bus, log);
    pipeline = new IngestPipeline(config.ingest, store, new ReportedLevelScorer(), new ActionPolicy(config.policy), bus, log);
    await pipeline.start();
  });
  afterEach(async () => {
    tracker.close();
    actions.close();
    await pipeline.stop();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function storm(): Promise<{ low: IngestOutcome[]; critical: IngestOutcome }> {
    const low = await Promise.all(Array.from({ length: LOW_ACTIONS }, (_, i) => submit(`INC_LOW_${i}`, 'LOW')));
    const critical = await submit('INC_CRIT', 'CRITICAL');
    expect(low.every((o) => o.actions.length === 1)).toBe(true);
    return { low, critical };
  }

  it('a CRITICAL planned behind 10,000 queued LOW actions is dispatched first', async () => {
    const { low, critical } = await storm();
    const got: ActionMessage[] = [];
    tracker.registerActionNode({ id: 'all', filter: { types: [], levels: [], cameras: [], zones: [] }, deliver: (m) => got.push(m) });
    tracker.setFlowsRunning(true);

    for (const o of low) plan(o);
    // One slice went straight to the flows; the rest of the LOW work waits in the queue.
    const direct = got.length;
    expect(direct).toBeLessThan(LOW_ACTIONS);
    expect(tracker.queuedForDispatch).toBe(LOW_ACTIONS - direct);
    plan(critical);
    expect(got.length).toBe(direct); // it queued too: this turn's slice is used up

    await turns(1);
    const next = got.slice(direct, direct + critical.actions.length);
    expect(next.map((m) => m.level)).toEqual(critical.actions.map(() => 'CRITICAL'));
    expect(new Set(next.map((m) => m.action.id))).toEqual(new Set(critical.actions.map((a) => a.id)));

    // And every LOW action is still handed over, each once, in arrival order.
    for (let i = 0; i < LOW_ACTIONS && tracker.queuedForDispatch > 0; i++) await turns(1);
    expect(tracker.queuedForDispatch).toBe(0);
    const lows = got.filter((m) => m.level === 'LOW').map((m) => m.action.id);
    expect(lows).toEqual(low.map((o) => o.actions[0]!.id));
  });

  it('a HIGH report naming a firearm runs the CRITICAL response, and goes ahead of queued HIGH work', async () => {
    const highs = await Promise.all(Array.from({ length: LOW_ACTIONS / 4 }, (_, i) => submit(`INC_HIGH_${i}`, 'HIGH')));
    const armed = await pipeline.submit(validator.validate(seedReport({ incident_id: 'INC_HIGH_PISTOL', threat_level: 'HIGH', threat_score: 0.7, is_critical: false, weapon_detected: true, weapon_types: ['pistols'] }), 'http', null));
    const got: ActionMessage[] = [];
    tracker.registerActionNode({ id: 'all', filter: { types: [], levels: [], cameras: [], zones: [] }, deliver: (m) => got.push(m) });
    tracker.setFlowsRunning(true);
    for (const o of highs) plan(o);
    const direct = got.length;
    expect(tracker.queuedForDispatch).toBeGreaterThan(0);
    plan(armed);
    expect(got.length).toBe(direct);
    await turns(1);
    // Its level stays HIGH; its actions are the CRITICAL response's and leave ahead of the other HIGH work.
    expect(armed.actions.map((a) => a.action_type)).toContain('police_dispatch');
    const next = got.slice(direct, direct + armed.actions.length);
    expect(new Set(next.map((m) => m.action.id))).toEqual(new Set(armed.actions.map((a) => a.id)));
  });

  it('after a deploy, the CRITICAL waiting behind 10,000 pending LOW actions goes first', async () => {
    const { low, critical } = await storm();
    const got: ActionMessage[] = [];
    // Flows are (re)deploying: everything planned waits as pending.
    tracker.registerActionNode({ id: 'all', filter: { types: [], levels: [], cameras: [], zones: [] }, deliver: (m) => got.push(m) });
    for (const o of low) plan(o);
    plan(critical);
    expect(got).toHaveLength(0);

    tracker.setFlowsRunning(true);
    expect(got.slice(0, critical.actions.length).map((m) => m.incident.incident_id)).toEqual(critical.actions.map(() => 'INC_CRIT'));
  });

  it('the pipeline hands a batch to the act stage CRITICAL first, after every ack', async () => {
    const order: string[] = [];
    const acked = new Set<string>();
    bus.on('incident.stored', ({ incident }) => {
      // Every report of the batch has its ack by now.
      expect(acked.size).toBe(4);
      order.push(incident.incident_id);
    });
    const ids: [string, ThreatLevel][] = [
      ['B_LOW_1', 'LOW'],
      ['B_HIGH', 'HIGH'],
      ['B_LOW_2', 'LOW'],
      ['B_CRIT', 'CRITICAL'],
    ];
    await Promise.all(ids.map(([id, level]) => submit(id, level).then(() => acked.add(id))));
    await turns(2);
    expect(order).toEqual(['B_CRIT', 'B_HIGH', 'B_LOW_1', 'B_LOW_2']);
  });
});

describe('DispatchQueue', () => {
  it('runs at most one slice per turn, highest level first, FIFO within a level', async () => {
    const ran: string[] = [];
    const queue = new DispatchQueue<string>((item) => ran.push(item), 2);
    queue.push('LOW', 'l1');
    queue.push('LOW', 'l2'); // the slice is used up: the rest queue
    queue.push('LOW', 'l3');
    queue.push('MEDIUM', 'm1');
    queue.push('LOW', 'l4');
    queue.push('CRITICAL', 'c1');
    queue.push('HIGH', 'h1');
    expect(ran).toEqual(['l1', 'l2']);
    await turns(1);
    expect(ran).toEqual(['l1', 'l2', 'c1', 'h1']);
    await turns(1);
    expect(ran).toEqual(['l1', 'l2', 'c1', 'h1', 'm1', 'l3']);
    // While work is queued, a new item waits behind it.
    queue.push('LOW', 'l5');
    await turns(2);
    expect(ran).toEqual(['l1', 'l2', 'c1', 'h1', 'm1', 'l3', 'l4', 'l5']);
    expect(queue.queued).toBe(0);
    queue.close();
    queue.push('CRITICAL', 'after-close');
    await turns(1);
    expect(ran).not.toContain('after-close');
  });
});
