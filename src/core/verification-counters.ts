/**
 * What one verifier counts about its requests, for `verifier.stats()`: verifications accepted and
 * refused, answered from a cached answer or computed, refusals by code and reason (guards'
 * included) and the latency of computed verifications. Counting is a few increments; nothing is
 * published here (the channels are diagnostics.ts').
 */
import { isAgentAuthError } from './errors.js'
import { type LatencySummary, LatencyWindow } from './latency-window.js'

/** Verification outcomes (in `verifier.stats().verifications`). */
export interface VerificationStats {
  /** Verifications that ended in an identity. */
  readonly accepted: number
  /** Verifications that ended in a refusal (4xx or 503). Guard refusals are counted in `refusals` only. */
  readonly refused: number
  /** Latency of the verifications that were not answered from a cached answer (broker call or signature check), ms. */
  readonly latencyMs: LatencySummary
}

/** Refusals by stable code and by reason (in `verifier.stats().refusals`), verifications' and guards'. */
export interface RefusalStats {
  readonly byCode: Readonly<Record<string, number>>
  readonly byReason: Readonly<Record<string, number>>
}

export class VerificationCounters {
  accepted = 0
  refused = 0
  /** Verifications answered from a cached answer (the connection's or the cache's). */
  hits = 0
  /** Verifications with no usable cached answer. */
  misses = 0
  readonly latency = new LatencyWindow()
  readonly #byCode = new Map<string, number>()
  readonly #byReason = new Map<string, number>()

  /** Count a refusal by its code and reason (anything that is not an `AgentAuthError` counts as `unexpected`). */
  countRefusal(err: unknown): void {
    const code = isAgentAuthError(err) ? err.code : 'unexpected'
    this.#byCode.set(code, (this.#byCode.get(code) ?? 0) + 1)
    const reason = isAgentAuthError(err) ? err.reason : undefined
    if (reason !== undefined) this.#byReason.set(reason, (this.#byReason.get(reason) ?? 0) + 1)
  }

  /** A verification ended in a refusal. */
  verificationRefused(err: unknown): void {
    this.refused++
    this.countRefusal(err)
  }

  verifications(): VerificationStats {
    return { accepted: this.accepted, refused: this.refused, latencyMs: this.latency.summary() }
  }

  refusals(): RefusalStats {
    return { byCode: Object.fromEntries(this.#byCode), byReason: Object.fromEntries(this.#byReason) }
  }
}
