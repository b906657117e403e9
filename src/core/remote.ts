/**
 * Remote strategy: the broker's `POST /v1/token/validate` (the only place that knows about
 * revocation and release) behind a short-TTL, single-flight cache keyed by token hash.
 *
 * - positive answers are reused for `min(cacheTtlMs, exp − now)`: `cacheTtlMs` is the revocation
 *   staleness bound;
 * - negative answers (`valid: false`, permanent at the broker) for `negativeCacheTtlMs`;
 * - timeouts, connection errors, non-200 and unreadable answers are never cached (503);
 * - concurrent requests for one uncached token share one broker call;
 * - the token's own payload is read before asking (token-shape.ts): a token the broker never issues
 *   is refused (401) with no call, and a positive answer must carry exactly the token's claims
 *   (`sameClaims`: every claim, arrays entry by entry) — any disagreement is an unusable answer
 *   (503 `claims_mismatch`), never cached.
 */

import { LRUCache } from 'lru-cache'
import {
  type BrokerClient,
  type BrokerStats,
  type BrokerVerdict,
  createBrokerClient,
} from './broker-client.js'
import { tokenKey, VerificationCache } from './cache.js'
import { type AgentWritClaims, sameClaims } from './claims.js'
import { AgentAuthError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import type { SharedCache } from './shared-cache.js'
import { type VerifiedToken, verifiedTokenFor } from './strategy.js'
import { readTokenClaims, type ShapedStrategy, type TokenShape } from './token-shape.js'

export interface RemoteStrategy extends ShapedStrategy {
  /** The result cache (exposed for stats and tests). */
  readonly cache: VerificationCache
  /** Number of validate calls this strategy made to the broker (circuit-breaker refusals are not calls). */
  readonly brokerCalls: number
  /** The broker client's counters, breaker and latency. */
  brokerStats(): BrokerStats
  /** The broker's base URL (for the readiness check). */
  readonly broker: URL
}

export function createRemoteStrategy(
  options: ResolvedOptions,
  client: BrokerClient = createBrokerClient({
    broker: options.broker!,
    timeoutMs: options.timeoutMs,
    dispatcher: options.dispatcher,
    retryAfterSeconds: options.retryAfterSeconds,
    breakerThreshold: options.breakerThreshold,
    breakerCooldownMs: options.breakerCooldownMs,
    now: options.now,
  }),
  /**
   * How old a positive broker answer may be when it is used, ms, asked at every read. Default: no
   * bound beyond `cacheTtlMs`. The revocation feed shortens it while it lags.
   */
  maxAnswerAgeMs?: () => number,
  /**
   * Ask the broker directly, not the shared cache, for these claims (the revocation feed saw the
   * subject renew lately: a shared answer may be for the dead predecessor).
   */
  skipShared?: (claims: AgentWritClaims) => boolean,
): RemoteStrategy {
  const cache = new VerificationCache({
    name: 'remote',
    max: options.cacheMaxEntries,
    now: options.now,
    maxAgeMs: maxAnswerAgeMs,
  })
  /**
   * Tokens whose broker check just failed (down, timeout, 5xx…): for a moment they are answered
   * 503 without asking again, so an outage does not turn every request into a broker call.
   */
  const failureTtlMs = Math.min(options.brokerFailureMemoMs, options.retryAfterSeconds * 1000)
  const failures =
    failureTtlMs > 0
      ? new LRUCache<string, AgentAuthError>({
          max: options.cacheMaxEntries,
          ttl: failureTtlMs,
          perf: { now: options.now },
          ttlResolution: 0,
        })
      : undefined

  function invalid(reason: string): AgentAuthError {
    return new AgentAuthError('invalid_token', { reason })
  }

  /** The broker's answer for a token, checked against the token's own claims. */
  async function askBroker(token: string, claims: AgentWritClaims) {
    const verdict = await client.validate(token)
    if (!verdict.valid) return { verdict, ttlMs: options.negativeCacheTtlMs }
    if (!sameClaims(claims, verdict.claims)) {
      // The broker answered about another token, or not with the claims the token carries (a proxy
      // mix-up, a buggy broker): unusable, never cached (a rejected computation is not stored).
      throw new AgentAuthError('broker_unavailable', {
        reason: 'claims_mismatch',
        retryAfterSeconds: options.retryAfterSeconds,
      })
    }
    const untilExpiry = verdict.claims.exp * 1000 - options.now()
    return { verdict, ttlMs: Math.min(options.cacheTtlMs, untilExpiry) }
  }

  /**
   * A shared answer (another replica's) is used only when it says exactly what the broker would
   * for this token: a refusal, or the token's own claims; anything else is dropped and the broker
   * asked.
   */
  async function askFleet(token: string, key: string, claims: AgentWritClaims, shared: SharedCache) {
    const found = await shared.resolve(key, () => askBroker(token, claims))
    if (found.source === 'broker') return found
    if (!found.verdict.valid) {
      return { ...found, ttlMs: Math.min(found.ttlMs, options.negativeCacheTtlMs), shared: true }
    }
    // As old as it is, within this replica's own bounds: cacheTtlMs, and a lagging feed's.
    const ageMs = found.ageMs
    const ttlMs = Math.min(found.ttlMs, options.cacheTtlMs - ageMs)
    const young = ttlMs > 0 && (maxAnswerAgeMs === undefined || ageMs <= maxAnswerAgeMs())
    if (young && sameClaims(claims, found.verdict.claims)) return { ...found, ttlMs, shared: true }
    if (young) shared.discard(key)
    return askBroker(token, claims)
  }

  async function ask(token: string, key: string, shape: TokenShape | undefined) {
    // Before the call: a token whose own payload the broker never issues is refused here (401).
    // The verifier hands the shape over (header checked too); used alone, the strategy reads the
    // claims itself.
    const claims: AgentWritClaims = shape?.claims ?? readTokenClaims(token)
    const shared = options.sharedCache
    const found: { verdict: BrokerVerdict; ttlMs: number; shared?: boolean; ageMs?: number } =
      shared === undefined || skipShared?.(claims) === true
        ? await askBroker(token, claims)
        : await askFleet(token, key, claims, shared)
    const { verdict, ttlMs } = found
    const untilExpiry = verdict.valid ? verdict.claims.exp * 1000 - options.now() : ttlMs
    return {
      outcome: verdict,
      ttlMs: Math.min(ttlMs, untilExpiry),
      shared: found.shared === true,
      ageMs: found.ageMs ?? 0,
    }
  }

  return {
    cache,
    get brokerCalls() {
      return client.calls
    },
    brokerStats: () => client.stats(),
    broker: options.broker!,
    peek(key: string): VerifiedToken | undefined {
      const lookup = cache.get(key)
      if (lookup === undefined) return undefined
      if (!lookup.outcome.valid) throw invalid('rejected_by_broker')
      return verifiedTokenFor(lookup.outcome.claims, lookup, 'broker')
    },
    async verify(token: string, key = tokenKey(token), shape?: TokenShape): Promise<VerifiedToken> {
      const recent = failures?.get(key)
      if (recent !== undefined) throw recent
      let lookup: Awaited<ReturnType<typeof cache.run>>
      try {
        lookup = await cache.run(key, () => ask(token, key, shape))
      } catch (err) {
        // A circuit-breaker refusal costs nothing and ends with the breaker: not remembered.
        if (err instanceof AgentAuthError && err.status === 503 && err.reason !== 'circuit_open')
          failures?.set(key, err)
        throw err
      }
      if (!lookup.outcome.valid) throw invalid('rejected_by_broker')
      return verifiedTokenFor(lookup.outcome.claims, lookup, 'broker')
    },
    evictWhere: (matches) => cache.deleteWhere(matches),
    async close() {
      cache.clear()
      failures?.clear()
      await client.close()
    },
  }
}
