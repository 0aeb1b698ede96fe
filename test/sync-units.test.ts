// The small pieces the drain loops rely on: response classification, Retry-After,
// backoff bounds, the wakeable wait and the bandwidth bucket (fake timers).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { classifyStatus } from '../src/sync/http-push.js';
import { bridgeTopic } from '../src/sync/mqtt-bridge.js';
import { backoffDelay, ByteBucket, parseRetryAfter, Waker } from '../src/sync/timing.js';

describe('sync building blocks', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    [200, 'delivered'],
    [201, 'delivered'],
    [204, 'delivered'],
    [409, 'delivered'],
    [400, 'poisoned'],
    [404, 'poisoned'],
    [413, 'poisoned'],
    [422, 'poisoned'],
    [401, 'retry'],
    [403, 'retry'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
  ])('classifies HTTP %i as %s', (status, kind) => {
    expect(classifyStatus(status, {}, '').kind).toBe(kind);
  });

  it('reads Retry-After as seconds or an HTTP date, capped at an hour', () => {
    const now = Date.parse('2026-02-10T14:30:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Tue, 10 Feb 2026 14:30:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 10 Feb 2026 14:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(3_600_000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(classifyStatus(429, { 'retry-after': '3' }, '')).toEqual({ kind: 'retry', error: 'HTTP 429', retryAfterMs: 3000 });
  });

  it('backs off exponentially with full jitter, within [1, min(max, base * 2^n)]', () => {
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(1);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(4, 100, 10_000);
      expect(d).toBeGreaterThanOrEqual(1);
      expect(d).toBeLessThanOrEqual(1600);
    }
  });

  it('wakes a wait early, including a wake that came before the wait', async () => {
    vi.useFakeTimers();
    const waker = new Waker();
    const signal = new AbortController().signal;
    let done = false;
    const waiting = waker.wait(60_000, signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    waker.wake();
    await waiting;
    waker.wake(); // nobody waiting: remembered
    let second = false;
    await waker.wait(60_000, signal).then(() => (second = true));
    expect(second).toBe(true);
  });

  it('paces bytes to the configured rate after a one-second burst', async () => {
    vi.useFakeTimers();
    const bucket = new ByteBucket(1000);
    const signal = new AbortController().signal;
    const t0 = performance.now();
    await bucket.take(1000, signal); // the burst
    let done = false;
    const next = bucket.take(500, signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(400);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(150);
    await next;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(500);
  });

  it('builds the bridge topic', () => {
    expect(bridgeTopic('safesphere', 'site-1', 'INC_1')).toBe('safesphere/sites/site-1/incidents/INC_1');
    expect(bridgeTopic('fleet/eu/', 'depot-2', 'X')).toBe('fleet/eu/sites/depot-2/incidents/X');
    expect(bridgeTopic('', 's', 'i')).toBe('sites/s/incidents/i');
  });
});
