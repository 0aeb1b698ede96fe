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
// second one FOLLOW_UP_AFTER_MS later (the first frees the objects; by the second V8 counts the
// thread as idle and gives back the emptied pages and its young generation). A collection took
// 15-30 ms in the daemon after issue 19's bench; it only runs when nothing is happening, and a
// report that arrives during one waits that long once.
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
  /** idle: the thread went idle after its heap grew; start-up: settle(), once the thread's work has started. */
  reason: 'idle' | 'start-up';
  heapBeforeMb: number;
  heapAfterMb: number;
  ms: number;
}

const MB = 1024 * 1024;
/**
 * The follow-up runs this long after the first collection. V8 gives back its young generation
 * (up to 16 MB a thread at --max-semi-space-size=8) only in a full collection whose recent
 * allocation rate is low, and it measures that rate over the last 5 s of allocation since the
 * previous collections. Measured in a script (Node 20): after a burst, gc() at +1, +2, +6 s left
 * the new space at 11.3 MB, and one at +9 s, or at +1 then +7 s, took it to 1.0 MB. In the daemon,
 * a follow-up 1 s after the first left the heaps 31-47 MB (gateway) and 36-51 MB (Node-RED),
 * from run to run.
 */
export const FOLLOW_UP_AFTER_MS = 6000;

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
  /** When the follow-up collection is due (on an idle check from then on), or null. */
  private followUpAtMs: number | null = null;
  readonly stats = { collections: 0, last: null as (CollectionReport & { at: string }) | null };

  constructor(
    private readonly options: IdleCollectorOptions,
    private readonly onCollected: (report: CollectionReport) => void = () => {},
    /** Injectable for tests: a heap reading in bytes and the clock. */
    private readonly heapBytes: () => number = () => v8.getHeapStatistics().total_physical_size,
    private readonly now: () => number = () => performance.now(),
    /** Injectable for tests: V8's gc() otherwise. */
    private readonly gcOverride?: () => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.gc ??= this.gcOverride ?? gcFunction();
    this.baselineBytes = this.heapBytes();
    this.lastElu = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.check(performance.eventLoopUtilization(this.lastElu!)), this.options.checkMs ?? 1000);
    this.timer.unref(); // never what keeps a stopping process alive
  }

  /**
   * One collection now, at the end of the thread's start-up (modules loaded, flows started). Start-up
   * leaves the most garbage this thread makes until its first burst; collected here, before the
   * daemon reports ready, it is not collected 3 s later in the middle of the first reports, which a
   * light load (10 reports/s keeps the loop under IDLE_ELU) would otherwise wait on. Measured: two
   * such collections ran inside the report → siren row's 8 s window before this, none after.
   */
  settle(): void {
    if (!this.timer) return;
    this.followUpAtMs = null;
    this.collect('start-up');
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
    if (this.followUpAtMs !== null) {
      if (now < this.followUpAtMs) return;
      this.followUpAtMs = null;
      this.collect('idle');
      return;
    }
    if (this.heapBytes() - this.baselineBytes < this.options.growthMb * MB) return;
    this.collect('idle');
    this.followUpAtMs = this.now() + FOLLOW_UP_AFTER_MS;
  }

  private collect(reason: CollectionReport['reason']): void {
    const before = this.heapBytes();
    const t = this.now();
    this.gc!();
    const ms = this.now() - t;
    const after = this.heapBytes();
    this.baselineBytes = after;
    this.stats.collections++;
    const report = { reason, heapBeforeMb: before / MB, heapAfterMb: after / MB, ms };
    this.stats.last = { ...report, at: new Date().toISOString() };
    this.onCollected(report);
  }
}

/** The collector `memory` configures for one thread (null when memory.idle_collect is off); it logs each collection. */
export function idleCollectorFor(memory: GatewayConfig['memory'], log: Logger): IdleCollector | null {
  if (!memory.idle_collect) return null;
  return new IdleCollector({ idleAfterMs: memory.idle_after_ms, growthMb: memory.collect_growth_mb }, (r) =>
    log.info({ heap_before_mb: Math.round(r.heapBeforeMb), heap_after_mb: Math.round(r.heapAfterMb), ms: Math.round(r.ms) }, `${r.reason}: heap collected`),
  );
}
