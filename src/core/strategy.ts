/**
 * The contract between the verifier and a verification strategy (remote, local, hybrid).
 */
import type { Lookup } from './cache.js'
import type { AgentWritClaims, VerificationSource } from './claims.js'

/** A successful verification: claims whose signature, expiry and (remote) revocation were checked. */
export interface VerifiedToken {
  readonly claims: AgentWritClaims
  /** `broker` (asked the broker now), `local` (verified with a key now) or `cache`. */
  readonly source: VerificationSource
  /** Age of the cached result in milliseconds; 0 unless `source` is `cache`. */
  readonly cacheAgeMs: number
  /**
   * Until when (ms on the `now` clock, exclusive) this answer stands without asking the strategy
   * again: the expiry of the cache entry that holds it. `undefined` when it was not cached.
   * The verifier reuses it for the next request carrying the same token on the same connection.
   */
  readonly reusableUntil?: number | undefined
}

/**
 * The verified token of a positive cache lookup for `claims`: its `source` is `cache` when the
 * answer was served from a cache (this process's or the replicas' shared one), `sourceIfComputed` (`broker` or `local`) when it was just
 * computed; its age and reuse bound come from the lookup.
 */
export function verifiedTokenFor(
  claims: AgentWritClaims,
  lookup: Lookup,
  sourceIfComputed: Exclude<VerificationSource, 'cache'>,
): VerifiedToken {
  return {
    claims,
    source: lookup.hit || lookup.shared === true ? 'cache' : sourceIfComputed,
    cacheAgeMs: lookup.ageMs,
    reusableUntil: lookup.expiresAt,
  }
}

/**
 * A way to verify a raw token.
 *
 * `verify` resolves with the claims, or rejects with an `AgentAuthError`:
 * `invalid_token` (401) when the token is bad, or `broker_unavailable` / `key_source_unavailable`
 * (503) when the answer could not be obtained. It must never reject with anything else: an
 * unexpected exception is turned into a 503 by the verifier, never into an acceptance.
 * The raw token must never appear in an error, a log line or a cache key.
 */
export interface TokenStrategy {
  /**
   * Verify a token. `key` is `tokenKey(token)` when the caller has already computed it.
   */
  verify(token: string, key?: string): Promise<VerifiedToken>
  /**
   * The cached answer for a token key, synchronously: the verified token, `undefined` when
   * nothing usable is cached, or a thrown `AgentAuthError` for a cached refusal. Lets the
   * verifier answer a warm request without a promise.
   */
  peek?(key: string): VerifiedToken | undefined
  /**
   * Drop every cached positive answer whose claims `matches` (the revocation feed learned they
   * lost trust). @returns how many were dropped.
   */
  evictWhere?(matches: (claims: AgentWritClaims) => boolean): number
  /** Release sockets, timers and caches. */
  close(): Promise<void>
}
