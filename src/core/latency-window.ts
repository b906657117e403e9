/**
 * Latency of the most recent operations of one kind (broker calls, cold verifications), kept in a
 * fixed ring of samples, summarised on demand for `verifier.stats()`. Recording is one array
 * write; quantiles are computed only when a summary is read.
 */

/** Samples kept per window: quantiles are those of the last this many operations. */
export const LATENCY_WINDOW_SIZE = 1024

/** A summary of a latency window, in milliseconds (`null` while nothing was recorded). */
export interface LatencySummary {
  /** Operations recorded since the verifier was created (not only those in the window). */
  readonly count: number
  /** Quantiles and extremes over the last {@link LATENCY_WINDOW_SIZE} operations, ms. */
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
  readonly max: number | null
  readonly mean: number | null
}

export class LatencyWindow {
  readonly #samples = new Float64Array(LATENCY_WINDOW_SIZE)
  #count = 0

  /** Record one operation's duration, ms. */
  record(ms: number): void {
    this.#samples[this.#count % LATENCY_WINDOW_SIZE] = ms
    this.#count++
  }

  get count(): number {
    return this.#count
  }

  summary(): LatencySummary {
    const n = Math.min(this.#count, LATENCY_WINDOW_SIZE)
    if (n === 0) return { count: 0, p50: null, p90: null, p99: null, max: null, mean: null }
    const sorted = this.#samples.slice(0, n).sort()
    let sum = 0
    for (const v of sorted) sum += v
    return {
      count: this.#count,
      p50: rounded(quantile(sorted, 0.5)),
      p90: rounded(quantile(sorted, 0.9)),
      p99: rounded(quantile(sorted, 0.99)),
      max: rounded(sorted[n - 1]!),
      mean: rounded(sum / n),
    }
  }
}

/** The nearest-rank quantile of sorted samples. */
function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

/** Milliseconds to the microsecond. */
function rounded(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
