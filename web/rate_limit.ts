// Token-bucket rate limiting per caller (an API key, an address). `RateLimiter` keeps its buckets
// in memory (one instance); `PgRateLimiter` (web/state/) keeps them in PostgreSQL, shared by every
// instance. Both answer the same question the same way.

/** A bucket's shape: `ratePerSec` refill, `burst` capacity; a rate of 0 never limits. */
export interface RateLimits {
  ratePerSec: number;
  burst: number;
}

/** Takes one token for a caller; resolves to the seconds to wait when none is left, else 0. */
export interface Limiter {
  take(key: string): number | Promise<number>;
}

/** A token bucket per key, in this process's memory. */
export class RateLimiter implements Limiter {
  #buckets = new Map<string, { tokens: number; at: number }>();
  #rate: number;
  #burst: number;

  constructor(opts: RateLimits) {
    this.#rate = opts.ratePerSec;
    this.#burst = opts.burst;
  }

  /** Takes one token for `key`; returns the seconds to wait when none is left, else 0. */
  take(key: string, nowMs = Date.now()): number {
    if (this.#rate <= 0) return 0;
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: nowMs };
    b.tokens = Math.min(this.#burst, b.tokens + ((nowMs - b.at) / 1000) * this.#rate);
    b.at = nowMs;
    if (this.#buckets.size > 100_000) this.#buckets.clear();
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.#rate);
  }
}
