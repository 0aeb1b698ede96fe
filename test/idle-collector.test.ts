// The idle collector (src/memory/idle-collector.ts): collects only when idle and grown, then
// once more on the next idle check, and never while the event loop is busy.
import { describe, expect, it } from 'vitest';
import { IdleCollector } from '../src/memory/idle-collector.js';

const MB = 1024 * 1024;
const elu = (utilization: number) => ({ idle: 0, active: 0, utilization });

describe('IdleCollector', () => {
  it('collects after idle_after_ms of idle checks once the heap grew, then once more, and not while busy', () => {
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
});
