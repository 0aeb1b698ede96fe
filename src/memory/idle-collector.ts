// Gives a burst's memory back once the thread is idle. Measured on the daemon as shipped: an
// idle Node process never collects. V8 starts a full collection only when allocation pushes the
// old generation past its limit, so after a 20,000-report burst the gateway's thread held 99 MB
// of old generation with 37 MB live, and kept it (no allocation, no collection) until the next
// burst. V8's own alternative, --optimize-for-size, made allocation-heavy work 5.6 times
// slower in a worker (README, "Memory").
//
// So each thread that bursts (the gateway's, Node-RED's) runs one of these: every `checkMs` it
// reads its own event-loop utilisation; once it has been under IDLE_ELU for `idleAfterMs` and
// its heap has grown `growthMb` since the last collection, it runs a full collection, and a
// second one on the next check (the first frees the objects, the second lets V8 release the
// emptied pages). A collection of a heap that size took 13-69 ms in a test script; it only runs when nothing is
// happening, and a report that arrives during one waits that long once.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';

/** Event-loop utilisation under which a check counts as idle (heartbeats and timers only). */
export const IDLE_ELU = 0.05;

export interface IdleCollectorOptions {
  idleAfterMs: number;
  growthMb: number;
  checkMs?: number;
}

export interface CollectionReport {
  heapBeforeMb: number;
  heapAfterMb: number;
  ms: number;
}

const MB = 1024 * 1024;

/**
 * V8's gc(), without exposing it to code: the flag is on only while one new context is made
 * (a Node-RED function node's sandbox made later does not get a `gc` global).
 */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as () => void;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

export class IdleCollector {
  private timer: NodeJS.Timeout | null = null;
  private gc: (() => void) | null = null;
  private lastElu: EventLoopUtilization | null = null;
  private idleSinceMs: number | null = null;
  /** The heap's physical size after the last collection (or at start). */
  private baselineBytes = 0;
  /** A second collection is due on the next idle check. */
  private followUp = false;
  readonly stats = { collections: 0, last: null as (CollectionReport & { at: string }) | null };

  constructor(
    private readonly options: IdleCollectorOptions,
    private readonly onCollected: (report: CollectionReport) => void = () => {},
    /** Injectable for tests: a heap reading in bytes and the clock. */
    private readonly heapBytes: () => number = () => v8.getHeapStatistics().total_physical_size,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.timer) return;
    this.gc ??= gcFunction();
    this.baselineBytes = this.heapBytes();
    this.lastElu = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.check(performance.eventLoopUtilization(this.lastElu!)), this.options.checkMs ?? 1000);
    this.timer.unref(); // never what keeps a stopping process alive
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check, given the event-loop utilisation since the previous one (public for tests). */
  check(sinceLast: EventLoopUtilization): void {
    try {
      this.step(sinceLast.utilization);
    } finally {
      // From here: a collection's own pause does not count against the next check.
      this.lastElu = performance.eventLoopUtilization();
    }
  }

  private step(utilization: number): void {
    const now = this.now();
    if (utilization >= IDLE_ELU) {
      this.idleSinceMs = null;
      return;
    }
    this.idleSinceMs ??= now;
    if (now - this.idleSinceMs < this.options.idleAfterMs) return;
    if (this.followUp) {
      this.followUp = false;
      this.collect();
      return;
    }
    if (this.heapBytes() - this.baselineBytes < this.options.growthMb * MB) return;
    this.followUp = true;
    this.collect();
  }

  private collect(): void {
    const before = this.heapBytes();
    const t = this.now();
    this.gc!();
    const ms = this.now() - t;
    const after = this.heapBytes();
    this.baselineBytes = after;
    this.stats.collections++;
    const report = { heapBeforeMb: before / MB, heapAfterMb: after / MB, ms };
    this.stats.last = { ...report, at: new Date().toISOString() };
    this.onCollected(report);
  }
}

/** The collector `memory` configures for one thread (null when memory.idle_collect is off); it logs each collection. */
export function idleCollectorFor(memory: GatewayConfig['memory'], log: Logger): IdleCollector | null {
  if (!memory.idle_collect) return null;
  return new IdleCollector({ idleAfterMs: memory.idle_after_ms, growthMb: memory.collect_growth_mb }, (r) =>
    log.info({ heap_before_mb: Math.round(r.heapBeforeMb), heap_after_mb: Math.round(r.heapAfterMb), ms: Math.round(r.ms) }, 'idle: heap collected'),
  );
}
