// Small timing primitives for the drain loops: a wakeable, abortable wait; exponential
// backoff with full jitter; Retry-After parsing; and a token bucket for the bandwidth cap.

/** A wait that ends at its timeout, on wake(), or when the signal aborts. */
export class Waker {
  private wakeUp: (() => void) | null = null;
  private pending = false;

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.pending = true;
  }

  /** Resolves after `ms`, or earlier on wake() (also one that came while nobody waited) or abort. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }
}

/** Sleeps `ms`, ending early (without error) if the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2^attempt)], at least 1 ms. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(random() * ceiling));
}

const MAX_RETRY_AFTER_MS = 3600_000;

/** Retry-After as delta-seconds or an HTTP-date, in ms from `now`; null if absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(MAX_RETRY_AFTER_MS, Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

/**
 * A token bucket in bytes/s, shared by every push transport (they share the uplink).
 * Burst is one second's worth, so a single entry bigger than that still goes, alone.
 */
export class ByteBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  get enabled(): boolean {
    return this.bytesPerSecond > 0;
  }

  /** Waits until `bytes` may be sent. */
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    if (!this.enabled) return;
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      if (this.tokens >= Math.min(bytes, this.bytesPerSecond) || signal.aborted) {
        this.tokens -= bytes;
        return;
      }
      const need = Math.min(bytes, this.bytesPerSecond) - this.tokens;
      await sleep(Math.ceil((need / this.bytesPerSecond) * 1000), signal);
    }
  }
}
