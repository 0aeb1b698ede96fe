// CRITICAL first: how planned actions are handed to the flows. Up to `slice` dispatches run
// straight away in one event-loop turn; past that, work waits in one FIFO lane per level and
// is handed over `slice` at a time per turn, highest level first. So a storm of LOW work
// neither holds the event loop (ingest and PUBACKs run between slices) nor fills Node-RED's
// own message queue ahead of a CRITICAL: one planned behind 10,000 queued LOW actions goes next.
import { levelRank, LEVELS, type ThreatLevel } from '../levels.js';

/** A FIFO with a moving head: O(1) push and shift without Array.prototype.shift's copying. */
class Lane<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T; // let it be collected
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class DispatchQueue<T> {
  private readonly lanes: Lane<T>[] = LEVELS.map(() => new Lane<T>());
  /** Dispatches run in this turn; reset by the turn's drain. */
  private used = 0;
  private turn: NodeJS.Immediate | null = null;
  private closed = false;

  constructor(
    /** Hands one item over; must not throw (the tracker's catches and logs). */
    private readonly run: (item: T) => void,
    private readonly slice = 64,
  ) {}

  get queued(): number {
    return this.lanes.reduce((n, lane) => n + lane.size, 0);
  }

  /** Dispatches now if nothing waits and this turn's slice has room; else queues by level. */
  push(level: ThreatLevel, item: T): void {
    if (this.closed) return;
    this.scheduleTurn();
    if (this.used < this.slice && this.queued === 0) {
      this.used++;
      this.run(item);
      return;
    }
    this.lanes[levelRank(level)]!.push(item);
  }

  close(): void {
    this.closed = true;
    if (this.turn) clearImmediate(this.turn);
    this.turn = null;
    for (const lane of this.lanes) lane.clear();
  }

  private scheduleTurn(): void {
    this.turn ??= setImmediate(() => {
      this.turn = null;
      this.used = 0;
      this.drain();
    });
  }

  /** One slice, highest level first; the rest waits for the next turn. */
  private drain(): void {
    for (const lane of this.lanes) {
      while (this.used < this.slice && lane.size > 0) {
        this.used++;
        this.run(lane.shift()!);
      }
    }
    if (this.queued > 0) this.scheduleTurn();
  }
}
