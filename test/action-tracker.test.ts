// The action lifecycle on its own, with a real store and fake timers.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActionStore } from '../src/automation/action-store.js';
import { DeviceMap } from '../src/automation/devices.js';
import { ActionTracker } from '../src/automation/tracker.js';
import type { ActionMessage, ActionNodeHandle } from '../src/automation/types.js';
import { loadConfig } from '../src/config/load.js';
import type { ThreatLevel } from '../src/config/schema.js';
import { EventBus } from '../src/events/bus.js';
import { createLogger } from '../src/logger.js';
import { IngestPipeline } from '../src/pipeline/ingest.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { ReportValidator } from '../src/validate/report.js';
import { seedReport, tempDir } from './helpers.js';
import { sqlite } from './sqlite.js';

const config = loadConfig({
  overrides: {
    automation: { action_timeout_ms: 1000, max_attempts: 3, retry_backoff_ms: 100, redispatch_max_age_s: 60 },
    zones: [{ id: 'gate', cameras: ['cam-1'] }],
    devices: {
      sirens: [
        { id: 'siren-gate', cameras: [], zones: ['gate'], duration_s: 5 },
        { id: 'siren-all', cameras: ['*'], zones: [], duration_s: 30 },
        { id: 'siren-yard', cameras: ['cam-9'], zones: [], duration_s: 30 },
      ],
    },
  },
});

function handle(id: string, types: string[], got: ActionMessage[], levels: ThreatLevel[] = []): ActionNodeHandle {
  return { id, filter: { types, levels, cameras: [], zones: [] }, deliver: (m) => got.push(m) };
}

describe('action lifecycle', () => {
  let dir: string;
  let store: Store;
  let bus: EventBus;
  let actions: ActionStore;
  let tracker: ActionTracker;
  let pipeline: IngestPipeline;
  const validator = new ReportValidator(config.report);

  /** Stores a report through the real pipeline and hands its planned actions to the tracker. */
  async function report(id: string, level: ThreatLevel, cameraId = 'cam-1') {
    const outcome = await pipeline.submit(validator.validate(seedReport({ incident_id: id, threat_level: level, weapon_detected: false, weapon_types: [], camera_id: cameraId }), 'http', null));
    for (const a of outcome.actions) tracker.actionPlanned(outcome.incident, a);
    return outcome;
  }
  const stateOf = (actionId: number) =>
    (sqlite(store).prepare('SELECT status, attempts, result FROM actions WHERE id = ?').get(actionId) as { status: string; attempts: number; result: string | null });

  beforeEach(async () => {
    dir = tempDir();
    const log = createLogger('silent');
    store = new Store(dir, log);
    await store.start();
    bus = new EventBus(log);
    actions = new ActionStore(store.actions, log);
    tracker = new ActionTracker(config.automation, new DeviceMap(config.devices, config.zones), actions, bus, log);
    tracker.setFlowsRunning(true);
    pipeline = new IngestPipeline({ ...config.ingest, commit_window_ms: 0 }, store, new ReportedLevelScorer(), new ActionPolicy(config.policy), bus, log);
    await pipeline.start();
  });
  afterEach(async () => {
    vi.useRealTimers();
    tracker.close();
    actions.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dispatches to matching nodes with the mapped devices, and records the result', async () => {
    const sirens: ActionMessage[] = [];
    const recorders: ActionMessage[] = [];
    tracker.registerActionNode(handle('n-siren', ['voice_alert'], sirens));
    tracker.registerActionNode(handle('n-rec', ['continuous_recording'], recorders));
    const { incident, actions: planned } = await report('INC_A', 'CRITICAL');
    expect(sirens).toHaveLength(1);
    expect(recorders).toHaveLength(1);
    const msg = sirens[0]!;
    expect(msg.zones).toEqual(['gate']);
    expect(msg.devices.sirens.map((s) => s.id)).toEqual(['siren-gate', 'siren-all']);
    expect(msg.incident.incident_id).toBe(incident.incident_id);

    expect(tracker.reportResult({ action_id: msg.action.id, outcome: 'succeeded', detail: 'ON sent', alerts: [{ alert_type: 'voice_alert', message: 'x' }] })).toEqual({
      accepted: true,
      // A flow's "succeeded" is its word, not a receipt: recorded as sent_unconfirmed (migration 8).
      state: 'sent_unconfirmed',
    });
    // The first result counts; a second is refused.
    expect(tracker.reportResult({ action_id: msg.action.id, outcome: 'failed' }).accepted).toBe(false);
    actions.flush();
    expect(stateOf(msg.action.id)).toMatchObject({ status: 'sent_unconfirmed', attempts: 1, result: 'ON sent' });
    expect(stateOf(recorders[0]!.action.id).status).toBe('dispatched');
    expect(store.alertsFor('INC_A')).toHaveLength(1);
    // The response time is the time to the first action something confirmed it received: not set by a sent_unconfirmed one ...
    expect(store.getIncident('INC_A')!.response_time_ms).toBeNull();
    // ... but by a delivered one (here the recorder's NVR answered).
    expect(tracker.reportResult({ action_id: recorders[0]!.action.id, outcome: 'delivered', detail: 'Frigate answered HTTP 200', receipt: { status: 200 } })).toEqual({ accepted: true, state: 'delivered' });
    actions.flush();
    expect(stateOf(recorders[0]!.action.id)).toMatchObject({ status: 'delivered', result: 'Frigate answered HTTP 200; receipt {"status":200}' });
    expect(store.getIncident('INC_A')!.response_time_ms).toBeGreaterThanOrEqual(0);
    // Types no node handles are reported, so health can say so.
    expect(tracker.uncoveredTypes(planned.map((a) => a.action_type))).toEqual(
      expect.arrayContaining(['police_dispatch', 'live_location', 'safe_route', 'notify_all_contacts']),
    );
  });

  it('retries a CRITICAL action with backoff, then marks it timed_out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // the pipeline's setImmediate stays real
    const got: ActionMessage[] = [];
    tracker.registerActionNode(handle('n', ['voice_alert'], got));
    await report('INC_B', 'CRITICAL');
    const id = got[0]!.action.id;
    expect(got).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000 + 100); // timeout, then 100 ms backoff
    expect(got.map((m) => m.action.attempt)).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(1000 + 200); // second timeout, 200 ms backoff
    expect(got.map((m) => m.action.attempt)).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1000);
    actions.flush();
    expect(stateOf(id)).toMatchObject({ status: 'timed_out', attempts: 3 });
    expect(tracker.stats.timed_out).toBeGreaterThanOrEqual(1);
    expect(tracker.reportResult({ action_id: id, outcome: 'succeeded' }).accepted).toBe(false);
  });

  it('times a MEDIUM action out after one window, without retrying', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // the pipeline's setImmediate stays real
    const got: ActionMessage[] = [];
    tracker.registerActionNode(handle('n', ['alert_user'], got));
    await report('INC_C', 'MEDIUM');
    await vi.advanceTimersByTimeAsync(5000);
    expect(got).toHaveLength(1);
    actions.flush();
    expect(stateOf(got[0]!.action.id)).toMatchObject({ status: 'timed_out', attempts: 1 });
  });

  it('keeps an action pending until a matching node registers', async () => {
    const got: ActionMessage[] = [];
    const { actions: planned } = await report('INC_D', 'MEDIUM');
    const alertUser = planned.find((a) => a.action_type === 'alert_user')!;
    actions.flush();
    expect(stateOf(alertUser.id).status).toBe('pending');
    tracker.registerActionNode(handle('late', ['alert_user'], got));
    expect(got.map((m) => m.action.id)).toEqual([alertUser.id]);
  });

  it('hands an in-flight action to the replacement node when its node is redeployed', async () => {
    const before: ActionMessage[] = [];
    const after: ActionMessage[] = [];
    const unregister = tracker.registerActionNode(handle('old', ['voice_alert'], before));
    await report('INC_E', 'CRITICAL');
    unregister(); // redeploy: the old node closes before reporting a result
    expect(tracker.stats.redispatched).toBe(1);
    tracker.registerActionNode(handle('new', ['voice_alert'], after));
    expect(after.map((m) => m.action.id)).toEqual([before[0]!.action.id]);
    expect(tracker.reportResult({ action_id: after[0]!.action.id, outcome: 'succeeded' }).accepted).toBe(true);
  });

  it('holds actions while the flows are being deployed, and sends them once they run', async () => {
    const got: ActionMessage[] = [];
    tracker.setFlowsRunning(false);
    tracker.registerActionNode(handle('n', ['alert_user'], got));
    await report('INC_DEPLOY', 'MEDIUM');
    expect(got).toHaveLength(0);
    tracker.setFlowsRunning(true);
    expect(got.map((m) => m.incident.incident_id)).toEqual(['INC_DEPLOY']);
  });

  it('filters by level', async () => {
    const got: ActionMessage[] = [];
    tracker.registerActionNode(handle('critical-only', [], got, ['CRITICAL']));
    await report('INC_F', 'HIGH');
    expect(got).toHaveLength(0);
    await report('INC_G', 'CRITICAL');
    expect(got.length).toBeGreaterThan(0);
  });

  it('after a restart, dispatches recent open actions again and times out stale ones', async () => {
    const { actions: planned } = await report('INC_H', 'HIGH');
    actions.flush();
    // A stale one: received long before the restart.
    sqlite(store).prepare("UPDATE incidents SET received_at_ms = ? WHERE incident_id = 'INC_H'").run(Date.now() - 3600_000);
    await report('INC_I', 'HIGH');
    actions.flush();
    tracker.close();

    const fresh = new ActionTracker(config.automation, new DeviceMap(config.devices, config.zones), actions, bus, createLogger('silent'));
    fresh.setFlowsRunning(true);
    const { resumed, expired } = fresh.resume(actions.loadOpen());
    expect(expired).toBe(planned.length);
    expect(resumed).toBe(4);
    const got: ActionMessage[] = [];
    fresh.registerActionNode(handle('n', [], got));
    expect(new Set(got.map((m) => m.incident.incident_id))).toEqual(new Set(['INC_I']));
    actions.flush();
    expect(stateOf(planned[0]!.id).status).toBe('timed_out');
    fresh.close();
  });
});

describe('siren feedback', () => {
  it('recognises each dialect\'s state echo, and only ON counts', async () => {
    const { SirenFeedback } = await import('../src/automation/devices.js');
    const f = new SirenFeedback([
      { id: 's1', cameras: [], zones: [], duration_s: 1, feedback: 'safesphere', device: '' },
      { id: 's2', cameras: [], zones: [], duration_s: 1, feedback: 'tasmota', device: 'relay2' },
      { id: 's3', cameras: [], zones: [], duration_s: 1, feedback: 'shelly', device: 'shellyplus1-a' },
      { id: 's4', cameras: [], zones: [], duration_s: 1, feedback: 'shelly_gen1', device: 'shelly1-b' },
      { id: 's5', cameras: [], zones: [], duration_s: 1, feedback: 'zigbee2mqtt', device: 'hall siren' },
      { id: 's6', cameras: [], zones: [], duration_s: 1, feedback: '', device: '' },
    ]);
    const b = (s: string) => Buffer.from(s);
    expect(f.echoed('safesphere/sirens/s1/state', b('{"state":"ON"}'))).toEqual(['s1']);
    expect(f.echoed('safesphere/sirens/s1/state', b('OFF'))).toEqual([]);
    expect(f.echoed('stat/relay2/POWER', b('ON'))).toEqual(['s2']);
    expect(f.echoed('shellyplus1-a/status/switch:0', b('{"id":0,"output":true}'))).toEqual(['s3']);
    expect(f.echoed('shellyplus1-a/status/switch:0', b('{"id":0,"output":false}'))).toEqual([]);
    expect(f.echoed('shellies/shelly1-b/relay/0', b('on'))).toEqual(['s4']);
    expect(f.echoed('zigbee2mqtt/hall siren', b('{"state":"ON","battery":90}'))).toEqual(['s5']);
    expect(f.echoed('safesphere/sirens/s6/state', b('ON'))).toEqual([]);
  });
});
