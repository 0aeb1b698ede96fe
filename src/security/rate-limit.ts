// Token buckets per client key, with a bounded number of keys so a scan from many
// addresses cannot grow memory without limit (idle buckets are full, so dropping the
// oldest one forgets nothing that matters).
export interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBucket {
  private readonly bucket: Bucket;
  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    now = performance.now(),
  ) {
    this.bucket = { tokens: burst, at: now };
  }

  /** Takes one token; returns 0 if it was available, else the ms until one is (the token is then reserved). */
  take(now = performance.now()): number {
    if (this.ratePerS <= 0) return 0;
    const b = this.bucket;
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.ratePerS) / 1000);
    b.at = now;
    b.tokens -= 1;
    if (b.tokens >= 0) return 0;
    return (-b.tokens * 1000) / this.ratePerS;
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  constructor(
    readonly ratePerS: number,
    readonly burst: number,
    private readonly maxKeys = 50_000,
  ) {}

  get enabled(): boolean {
    return this.ratePerS > 0;
  }

  /** 0 when the request may go now; otherwise how many ms the client should wait (nothing is reserved). */
  check(key: string, now = performance.now()): number {
    if (!this.enabled) return 0;
    let bucket = this.buckets.get(key);
    if (bucket) {
      // Keep the map in recency order so the eviction below drops the idlest key.
      this.buckets.delete(key);
    } else {
      bucket = new TokenBucket(this.ratePerS, this.burst, now);
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    const wait = bucket.take(now);
    if (wait > 0) {
      // Refused: give the token back, a refused request costs nothing.
      (bucket as unknown as { bucket: Bucket }).bucket.tokens += 1;
    }
    return wait;
  }

  get size(): number {
    return this.buckets.size;
  }
}
