/**
 * `verifier.stats()`: one snapshot of what a verifier did since it was created and of the state of
 * its parts, for monitoring (README, "Observability").
 */
import type { BrokerStats } from './broker-client.js'
import type { CacheStats } from './cache.js'
import type { KeySourceStats } from './key-source.js'
import type { RevocationFeedStats } from './revocation-feed.js'
import type { SharedCache } from './shared-cache.js'
import type { PartsStats } from './token-verification.js'
import type { RefusalStats, VerificationCounters, VerificationStats } from './verification-counters.js'

/** A snapshot of what the verifier did since it was created, for monitoring (README, "Observability"). */
export interface VerifierStats {
  readonly mode: 'remote' | 'local' | 'hybrid'
  /** Validate calls made to the broker (remote and hybrid modes); the same as `broker.calls`. */
  readonly brokerCalls: number
  /** Entries in the broker answers' cache; the same as `cache.remote.entries`. */
  readonly cacheEntries: number
  /** Verifications accepted and refused, and the latency of those not answered from a cached answer. */
  readonly verifications: VerificationStats
  /** Refusals by code and reason: verifications' and guards' (`insufficient_scope`, `delegation_not_allowed`). */
  readonly refusals: RefusalStats
  /** Cached answers used (`hits`) and verifications that needed the broker or a signature check (`misses`), and each cache's counters. */
  readonly cache: {
    readonly hits: number
    readonly misses: number
    /** The broker answers' cache (remote and hybrid modes). */
    readonly remote?: CacheStats
    /** The signature checks' cache (local and hybrid modes). */
    readonly local?: CacheStats
  }
  /** Broker calls, errors, the circuit breaker and call latency (remote and hybrid modes). */
  readonly broker?: BrokerStats
  /** The key set (local and hybrid modes). */
  readonly keys?: KeySourceStats
  /** The revocation feed's state (lag, polls, predicates), when one is configured. */
  readonly revocationFeed?: RevocationFeedStats
  /** The shared cache's counters (`sharedCache` option), as the store reports them. */
  readonly sharedCache?: object
}

/** The snapshot of a verifier's counters and parts. */
export function verifierStats(
  mode: VerifierStats['mode'],
  counters: VerificationCounters,
  parts: PartsStats,
  sharedCache: SharedCache | undefined,
): VerifierStats {
  return {
    mode,
    brokerCalls: parts.brokerCalls,
    cacheEntries: parts.cacheEntries,
    verifications: counters.verifications(),
    refusals: counters.refusals(),
    cache: { hits: counters.hits, misses: counters.misses, ...parts.caches },
    ...(parts.broker === undefined ? {} : { broker: parts.broker }),
    ...(parts.keys === undefined ? {} : { keys: parts.keys }),
    ...(parts.revocationFeed === undefined ? {} : { revocationFeed: parts.revocationFeed }),
    ...(sharedCache === undefined ? {} : { sharedCache: sharedCache.stats() }),
  }
}
