import type { Clock } from "../platform/index.js";

/**
 * A token bucket: starts full with `burst` tokens, gains one token every `refillIntervalMs`
 * (never above `burst`). Time comes from the injected Clock so tests need not sleep.
 */
export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(
    private readonly burst: number,
    private readonly refillIntervalMs: number,
    private readonly clock: Clock,
  ) {
    if (!Number.isInteger(burst) || burst < 1)
      throw new RangeError("burst must be a positive integer");
    if (!(refillIntervalMs > 0)) throw new RangeError("refill interval must be positive");
    this.tokens = burst;
    this.lastRefill = clock.now();
  }

  /** Takes a token if one is available; false means "rate limited". */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  available(): number {
    this.refill();
    return this.tokens;
  }

  private refill(): void {
    const now = this.clock.now();
    const earned = Math.floor((now - this.lastRefill) / this.refillIntervalMs);
    if (earned <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + earned);
    // keep the fractional progress toward the next token, unless the bucket is full anyway
    this.lastRefill =
      this.tokens === this.burst ? now : this.lastRefill + earned * this.refillIntervalMs;
  }
}

/** One bucket per key (e.g. per workspace and method), created on first use. */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly burst: number,
    private readonly refillIntervalMs: number,
    private readonly clock: Clock,
  ) {}

  tryTake(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.burst, this.refillIntervalMs, this.clock);
      this.buckets.set(key, bucket);
    }
    return bucket.tryTake();
  }

  /** Forget a key's bucket, e.g. when its workspace is disposed. */
  delete(key: string): void {
    this.buckets.delete(key);
  }
}
