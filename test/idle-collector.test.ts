// The idle collector (src/memory/idle-collector.ts): collects only when idle and grown, then
// once more FOLLOW_UP_AFTER_MS later, and never while the event loop is busy; settle() collects
// start-up's garbage at once, so the first light load after start does not wait on it.
import { describe, expect, it } from 'vitest';
import { FOLLOW_UP_AFTER_MS, IdleCollector } from '../src/memory/idle-collector.js';

const MB = 1024 * 1024;
const elu = (utilization: number) => ({ idle: 0, active: 0, utilization });

describe('IdleCollector', () => {
  it('collects after idle_after_ms of idle checks once the heap grew, then once more FOLLOW_UP_AFTER_MS later, and not while busy', () => {
    let heap = 40 * MB;
    let now = 0;
    const reports: number[] = [];
    const c = new IdleCollector({ idleAfterMs: 3000, growthMb: 16 }, (r) => reports.push(r.heapAfterMb), () => heap, () => now);
    c.start();
    try {
      heap = 100 * MB; // a burst grew it
      for (now = 1000; now <= 10_000; now += 1000) c.check(elu(0.9)); // busy: never
      expect(c.stats.collections).toBe(0);
      c.check(elu(0.01)); // idle from here
      now += 1000;
      c.check(elu(0.01));
      now += 1000;
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(0); // 2 s idle < 3 s
      now += 1000;
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(1); // real gc() ran; this fake heap still reads 100 MB
      for (let s = 1000; s < FOLLOW_UP_AFTER_MS; s += 1000) {
        now += 1000;
        c.check(elu(0.01));
      }
      expect(c.stats.collections).toBe(1); // V8 gives the young generation back only after 5 s of low allocation
      now += 1000;
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(2); // the follow-up
      now += 1000;
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(2); // no growth since the last: nothing more
      heap = 110 * MB; // < 16 MB more: nothing
      now += 1000;
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(2);
      expect(reports).toHaveLength(2);
    } finally {
      c.stop();
    }
  });

  it('settle() collects at once and makes that the baseline; the light load after it triggers nothing', () => {
    let heap = 40 * MB;
    let now = 0;
    const reasons: string[] = [];
    const c = new IdleCollector({ idleAfterMs: 3000, growthMb: 16 }, (r) => reasons.push(r.reason), () => heap, () => now);
    c.settle(); // before start(): nothing to settle, no gc() yet
    expect(c.stats.collections).toBe(0);
    c.start();
    try {
      heap = 70 * MB; // start-up (Node-RED's load, the flows) grew it
      c.settle(); // this fake heap reads 70 MB after it: the new baseline
      expect(c.stats.collections).toBe(1);
      expect(reasons).toEqual(['start-up']);
      // Without settle() this growth (30 MB since start) would be collected after 3 s idle, i.e.
      // during a light load; after it, the baseline is the settled 70 MB and nothing is due.
      for (now = 1000; now <= 10_000; now += 1000) c.check(elu(0.02));
      expect(c.stats.collections).toBe(1);
      heap = 90 * MB; // a burst after start-up: the idle path still works
      for (now = 11_000; now <= 24_000; now += 1000) c.check(elu(0.01));
      expect(reasons).toEqual(['start-up', 'idle', 'idle']);
    } finally {
      c.stop();
    }
  });

  it('a busy spell delays the follow-up to the next idle spell; it is never skipped', () => {
    let now = 0;
    let heap = 40 * MB;
    const c = new IdleCollector({ idleAfterMs: 3000, growthMb: 16 }, () => {}, () => heap, () => now, () => {});
    c.start();
    try {
      heap = 100 * MB;
      for (now = 1000; now <= 4000; now += 1000) c.check(elu(0.01));
      expect(c.stats.collections).toBe(1);
      for (; now <= 4000 + FOLLOW_UP_AFTER_MS + 2000; now += 1000) c.check(elu(0.5)); // the follow-up falls due while busy
      expect(c.stats.collections).toBe(1);
      const idleFrom = now;
      for (; now < idleFrom + 3000; now += 1000) c.check(elu(0.01));
      expect(c.stats.collections).toBe(1); // not idle for idle_after_ms yet
      c.check(elu(0.01));
      expect(c.stats.collections).toBe(2);
    } finally {
      c.stop();
    }
  });
});
