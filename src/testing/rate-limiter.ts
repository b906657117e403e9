/**
 * The broker's per-key token bucket (`internal/authz/rate_mw.go`, contract §3): a new key starts full
 * (`burst`), so after its first request it holds `burst − 1`; tokens refill continuously at `rate` per
 * second up to `burst`; a request needs one whole token; refused requests take nothing. Buckets are never
 * evicted.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; last: number }>()

  /**
   * @param ratePerSecond - refill rate, tokens per second
   * @param burst - bucket size
   * @param now - clock, milliseconds
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    readonly now: () => number,
  ) {}

  /** Take one token for `key`. @returns whether the request may proceed */
  allow(key: string): boolean {
    const t = this.now()
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.burst, last: t }
      this.#buckets.set(key, b)
    } else {
      const elapsed = Math.max(0, t - b.last) / 1000
      b.tokens = Math.min(this.burst, b.tokens + elapsed * this.ratePerSecond)
      b.last = t
    }
    if (b.tokens >= 1) {
      b.tokens -= 1
      return true
    }
    return false
  }
}
