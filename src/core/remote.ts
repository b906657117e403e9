/**
 * Remote strategy: the broker's `POST /v1/token/validate` (the only place that knows about
 * revocation and release) behind a short-TTL, single-flight cache keyed by token hash.
 *
 * - positive answers are reused for `min(cacheTtlMs, exp − now)`: `cacheTtlMs` is the revocation
 *   staleness bound;
 * - negative answers (`valid: false`, permanent at the broker) for `negativeCacheTtlMs`;
 * - timeouts, connection errors, non-200 and unreadable answers are never cached (503);
 * - concurrent requests for one uncached token share one broker call.
 */

import { LRUCache } from 'lru-cache'
import { type BrokerClient, createBrokerClient } from './broker-client.js'
import { tokenKey, VerificationCache } from './cache.js'
import { AgentAuthError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { type TokenStrategy, type VerifiedToken, verifiedFrom } from './strategy.js'

export interface RemoteStrategy extends TokenStrategy {
  /** The result cache (exposed for stats and tests). */
  readonly cache: VerificationCache
  /** Number of validate calls this strategy made to the broker. */
  readonly brokerCalls: number
}

export function createRemoteStrategy(
  options: ResolvedOptions,
  client: BrokerClient = createBrokerClient({
    broker: options.broker!,
    timeoutMs: options.timeoutMs,
    dispatcher: options.dispatcher,
    realm: options.realm,
    retryAfterSeconds: options.retryAfterSeconds,
  }),
): RemoteStrategy {
  const cache = new VerificationCache({ max: options.cacheMaxEntries, now: options.now })
  let brokerCalls = 0
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
    return new AgentAuthError('invalid_token', { reason, realm: options.realm })
  }

  async function ask(token: string) {
    brokerCalls++
    const verdict = await client.validate(token)
    if (!verdict.valid) return { outcome: verdict, ttlMs: options.negativeCacheTtlMs }
    if (!sameToken(token, verdict.claims.jti, verdict.claims.sub)) {
      // The broker answered about another token (a proxy mix-up, a buggy broker): unusable, not cached.
      throw new AgentAuthError('broker_unavailable', {
        reason: 'claims_mismatch',
        realm: options.realm,
        retryAfterSeconds: options.retryAfterSeconds,
      })
    }
    const untilExpiry = verdict.claims.exp * 1000 - options.now()
    return { outcome: verdict, ttlMs: Math.min(options.cacheTtlMs, untilExpiry) }
  }

  return {
    cache,
    get brokerCalls() {
      return brokerCalls
    },
    peek(key: string): VerifiedToken | undefined {
      const lookup = cache.get(key)
      if (lookup === undefined) return undefined
      if (!lookup.outcome.valid) throw invalid('rejected_by_broker')
      return verifiedFrom(lookup.outcome.claims, lookup, 'broker')
    },
    async verify(token: string, key = tokenKey(token)): Promise<VerifiedToken> {
      const recent = failures?.get(key)
      if (recent !== undefined) throw recent
      let lookup: Awaited<ReturnType<typeof cache.run>>
      try {
        lookup = await cache.run(key, () => ask(token))
      } catch (err) {
        if (err instanceof AgentAuthError && err.status === 503) failures?.set(key, err)
        throw err
      }
      if (!lookup.outcome.valid) throw invalid('rejected_by_broker')
      return verifiedFrom(lookup.outcome.claims, lookup, 'broker')
    },
    async close() {
      cache.clear()
      failures?.clear()
      await client.close()
    },
  }
}

/** Does the token's own (unverified) payload name this jti and subject? */
function sameToken(token: string, jti: string, sub: string): boolean {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0) return false
  try {
    const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8')) as {
      jti?: unknown
      sub?: unknown
    }
    return payload.jti === jti && payload.sub === sub
  } catch {
    return false
  }
}
