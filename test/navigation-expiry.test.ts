// The active window's expiry re-evaluates the routes by itself: the navigator sets a timer for
// the instant the oldest active incident stops counting (site.active_window_s after it was
// received), so a route opens again without any new event. Fake timers and a fake clock; a real
// store with real incident rows.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { EventBus } from '../src/events/bus.js';
import { HealthRegistry } from '../src/health.js';
import { createLogger } from '../src/logger.js';
import { Navigator, type RouteUpdate } from '../src/navigation/navigator.js';
import { Operations } from '../src/operations/service.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';
import { SITE } from './ops-fixtures.js';
import { sqlite } from './sqlite.js';

const WINDOW_S = 60;

describe('navigator: active-window expiry', () => {
  let dir: string;
  let store: Store;
  let navigator: Navigator;

  beforeEach(async () => {
    dir = tempDir();
    store = new Store(dir, createLogger('silent'));
    await store.start();
  });
  afterEach(async () => {
    navigator?.stop();
    vi.useRealTimers();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A stored, unresolved incident received now (by the fake clock). */
  function incident(id: string, camera: string, level: string, seq: number): void {
    const iso = new Date().toISOString();
    sqlite(store)
      .prepare(`INSERT INTO incidents (incident_id, seq, timestamp, threat_level, threat_score, reported_level, reported_score,
        weapon_detected, weapon_types, behavior_summary, is_critical, camera_id, source, content_hash, action_taken, received_at_ms, created_at, updated_at)
        VALUES (?, ?, ?, ?, 0.9, ?, 0.9, 0, '[]', NULL, 0, ?, 'http', ?, 'ALERT_POLICE', ?, ?, ?)`)
      .run(id, seq, iso, level, level, camera, `h-${id}`, Date.now(), iso, iso);
  }

  it('re-routes through a zone the moment its incident leaves the window, then re-arms for the next one', () => {
    vi.useFakeTimers({ now: Date.parse('2026-03-01T12:00:00.000Z'), toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
    const config = loadConfig({ overrides: { ...SITE, data_dir: dir, site: { ...SITE.site, active_window_s: WINDOW_S } } });
    const bus = new EventBus(createLogger('silent'));
    const ops = new Operations(config, store, bus, new HealthRegistry(), createLogger('silent'));
    navigator = new Navigator(ops, bus, config, createLogger('silent'), true);
    const lobby: RouteUpdate[] = [];
    navigator.onChange((u) => {
      if (u.from === 'lobby') lobby.push(u);
    });

    incident('EXP_HALL', 'cam-2', 'CRITICAL', 1);
    vi.advanceTimersByTime(20_000);
    incident('EXP_NORTH', 'cam-3', 'HIGH', 2);
    navigator.start();
    expect(lobby.at(-1)).toMatchObject({ reason: 'current', incident_ids: ['EXP_HALL', 'EXP_NORTH'], route: { path: ['lobby', 'south'] } });
    expect(navigator.stats.next_expiry).toBe('2026-03-01T12:01:00.001Z');

    // At exactly created_at + window the hall incident still counts; 1 ms later it does not.
    vi.advanceTimersByTime(40_000);
    expect(lobby).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lobby).toHaveLength(2);
    expect(lobby[1]).toMatchObject({ reason: 'expired', incident_ids: ['EXP_HALL'], status: 200 });
    // North is still blocked: the direct way south stays the cheapest, but the hall is no longer avoided.
    expect(lobby[1]!.route).toMatchObject({ path: ['lobby', 'south'], avoided_zones: ['north'] });
    expect(ops.routeAnswer('lobby').body).toEqual(lobby[1]!.route);
    expect(navigator.stats.next_expiry).toBe('2026-03-01T12:01:20.001Z');

    vi.advanceTimersByTime(20_000);
    expect(lobby).toHaveLength(3);
    expect(lobby[2]).toMatchObject({ reason: 'expired', incident_ids: ['EXP_NORTH'], route: { path: ['lobby', 'hall', 'north'], avoided_zones: [] } });
    expect(navigator.stats.next_expiry).toBeNull();
  });
});
