/**
 * Verification of an extracted token, cached answers first: the strategies of the mode (remote,
 * local or hybrid), the shape check (token-shape.ts, the same in every mode), the revocation feed
 * and the acceptance checks (acceptance.ts) of one verifier. Framework-free; the verifier
 * (verifier.ts) adds extraction, the per-connection memo and the public API.
 */
import { createAcceptance } from './acceptance.js'
import type { BrokerStats } from './broker-client.js'
import type { CacheStats } from './cache.js'
import { type AgentIdentity, type AgentWritClaims, type IdentityBase, identityFrom } from './claims.js'
import type { ConnectionMemo } from './connection-memo.js'
import { cacheChannel, ms, publish } from './diagnostics.js'
import { AgentAuthError } from './errors.js'
import { createHybridStrategy } from './hybrid.js'
import type { KeySourceStats } from './key-source.js'
import { createLocalStrategy, type LocalStrategy } from './local.js'
import type { ResolvedOptions } from './options.js'
import { createReadinessCheck, type Readiness } from './readiness.js'
import { createRemoteStrategy, type RemoteStrategy } from './remote.js'
import { createRevocationFeed, type RevocationFeed, type RevocationFeedStats } from './revocation-feed.js'
import type { VerifiedToken } from './strategy.js'
import { createTokenShapeReader, type ShapedStrategy } from './token-shape.js'
import type { VerificationCounters } from './verification-counters.js'

/** The parts' counters, for `verifier.stats()`. */
export interface PartsStats {
  readonly brokerCalls: number
  readonly cacheEntries: number
  /** The broker answers' cache (remote, hybrid) and the signature checks' cache (local, hybrid). */
  readonly caches: { readonly remote?: CacheStats; readonly local?: CacheStats }
  readonly broker?: BrokerStats
  readonly keys?: KeySourceStats
  readonly revocationFeed?: RevocationFeedStats
}

/** What {@link createTokenVerification} gives the verifier. */
export interface TokenVerification {
  /**
   * The cached answer for a token key, if any; throws a cached refusal, and a 401 for claims the
   * revocation feed knows were revoked.
   */
  cachedAnswer(key: string): VerifiedToken | undefined
  /** Verify a token with no usable cached answer (see the function's comment). */
  verifyJws(token: string, key: string, owner?: object): Promise<AgentIdentity>
  /** The accepted identity base of verified claims (acceptance.ts). */
  acceptedBase(claims: AgentWritClaims): IdentityBase
  /** The identity of a verified token, owned by `owner` (an adapter's settings). */
  identify(verified: VerifiedToken, owner: object | undefined): AgentIdentity
  /**
   * The identity base a connection remembered, while it stands: within its cache entry's lifetime
   * and, with a revocation feed, made since the feed's last change and no older than a lagging
   * feed allows.
   */
  rememberedBase(memo: ConnectionMemo, now: number): IdentityBase | undefined
  /** The revocation feed's generation (0 without a feed): memos record it. */
  generation(): number
  /** The counters of the broker client, the caches, the key source and the feed. */
  stats(): PartsStats
  /** Broker reachable, keys loaded, feed current (see readiness.ts). */
  ready(): Promise<Readiness>
  close(): Promise<void>
}

export function createTokenVerification(
  options: ResolvedOptions,
  counters: VerificationCounters,
): TokenVerification {
  /** The revocation feed, when configured (created below, once the strategies exist). */
  let feed: RevocationFeed | undefined
  const { remote, local, strategy } = createStrategies(options, () => feed)
  /**
   * One shape check for every mode, on the cold path only (a cached answer exists only for a token
   * that passed it). It remembers the last accepted header segment, so the header is decoded once.
   */
  const readShape = createTokenShapeReader(options)
  if (options.revocationFeed !== undefined) {
    feed = createRevocationFeed(options.revocationFeed, {
      now: options.now,
      timeoutMs: options.timeoutMs,
      dispatcher: options.dispatcher,
      // Cached answers that lost trust are dropped at once, in every mode.
      onChange: (matches) => strategy.evictWhere?.(matches),
      // With a shared cache that fans out, one replica polls the audit log for the fleet.
      fanout: options.sharedCache?.revocations,
    })
  }
  /** Whether a cached answer's age is bounded by the feed's lag (remote and hybrid: the broker can be asked). */
  const lagBounded = feed !== undefined && remote !== undefined
  const acceptedBase = createAcceptance(options)
  const infraCode = options.mode === 'local' ? 'key_source_unavailable' : 'broker_unavailable'

  function identify(verified: VerifiedToken, owner: object | undefined): AgentIdentity {
    return identityFrom(acceptedBase(verified.claims), verified, owner)
  }

  /** A failure that is not a refusal is never an acceptance and never a 401: it is a 503. */
  function asVerificationError(err: unknown): AgentAuthError {
    if (err instanceof AgentAuthError) return err
    return new AgentAuthError(infraCode, {
      reason: 'unexpected_error',
      cause: err,
      retryAfterSeconds: options.retryAfterSeconds,
    })
  }

  /**
   * Verify a token that passed `looksLikeJws` (bearer.ts), under its `tokenKey` (cache.ts), with no usable
   * cached answer. (The broker refuses anything that is not three base64url segments: callers
   * refuse it first, no network.) Its shape is read first, here, for every mode: a header or
   * claims the broker never writes are refused before any key lookup or broker call, and the
   * strategy is handed what was read, so nothing is decoded twice.
   */
  async function verifyJws(token: string, key: string, owner?: object): Promise<AgentIdentity> {
    counters.misses++
    publish(cacheChannel, () => ({ event: 'miss', mode: options.mode }))
    const started = performance.now()
    try {
      return await verifyUncached(token, key, owner)
    } finally {
      counters.latency.record(ms(performance.now() - started))
    }
  }

  async function verifyUncached(token: string, key: string, owner?: object): Promise<AgentIdentity> {
    let verified: VerifiedToken
    /** The feed's generation before asking: a change while the broker was asked may concern the answer. */
    const generation = feed?.generation
    try {
      const shape = readShape(token)
      // A token the feed knows to be revoked is refused before any key lookup or broker call (its
      // claims are unverified here, but they can only make us refuse).
      assertNotRevoked(shape.claims)
      // Local mode has no broker to know revocations: a cold check waits (at most timeoutMs) for
      // the feed to have read the history once.
      if (feed !== undefined && remote === undefined) await feed.whenSynced(options.timeoutMs)
      verified = await strategy.verify(token, key, shape)
    } catch (err) {
      throw asVerificationError(err)
    }
    assertNotRevoked(verified.claims)
    if (lagBounded && verified.source === 'broker' && feed!.generation !== generation) {
      // The feed learned something (a renewal, which no predicate covers) while the broker was
      // asked: the answer may predate it, so it serves this request but is not kept.
      const { jti } = verified.claims
      strategy.evictWhere?.((claims) => claims.jti === jti)
    }
    return identify(verified, owner)
  }

  /** 401 for claims the revocation feed knows the broker revoked or released. */
  function assertNotRevoked(claims: AgentWritClaims): void {
    if (feed?.revokes(claims)) throw new AgentAuthError('invalid_token', { reason: 'revoked_per_feed' })
  }

  /** The strategy's cached answer for a token key, if any (a cached refusal throws). */
  function cachedAnswer(key: string): VerifiedToken | undefined {
    let hit: VerifiedToken | undefined
    try {
      hit = strategy.peek?.(key)
    } catch (err) {
      throw asVerificationError(err)
    }
    if (hit !== undefined) assertNotRevoked(hit.claims)
    return hit
  }

  /**
   * The connection's remembered answer, while it stands: within its cache entry's lifetime and,
   * with a revocation feed, made since the feed's last change and no older than a lagging feed
   * allows.
   */
  function rememberedBase(memo: ConnectionMemo, now: number): IdentityBase | undefined {
    if (memo.base === undefined || now >= memo.until) return undefined
    if (feed === undefined) return memo.base
    if (memo.generation !== feed.generation) return undefined
    return !lagBounded || now - memo.storedAt <= feed.maxCacheAgeMs(now) ? memo.base : undefined
  }

  return {
    cachedAnswer,
    verifyJws,
    acceptedBase,
    identify,
    rememberedBase,
    generation: () => feed?.generation ?? 0,
    stats() {
      return {
        brokerCalls: remote?.brokerCalls ?? 0,
        cacheEntries: remote?.cache.size ?? 0,
        caches: {
          ...(remote === undefined ? {} : { remote: remote.cache.stats() }),
          ...(local === undefined ? {} : { local: local.cache.stats() }),
        },
        ...(remote === undefined ? {} : { broker: remote.brokerStats() }),
        ...(local === undefined ? {} : { keys: local.keys.stats() }),
        ...(feed === undefined ? {} : { revocationFeed: feed.stats() }),
      }
    },
    ready: createReadinessCheck({ options, remote, local, feed: () => feed }),
    async close() {
      await feed?.close()
      await strategy.close()
      if (options.mode === 'hybrid') {
        // createHybridStrategy does not own its parts.
        await Promise.all([local!.close(), remote!.close()])
      }
    },
  }
}

/** The strategies of a mode: remote, local, or both combined (hybrid). */
function createStrategies(
  options: ResolvedOptions,
  feedOf: () => RevocationFeed | undefined,
): { remote?: RemoteStrategy; local?: LocalStrategy; strategy: ShapedStrategy } {
  const { mode } = options
  /** While the feed lags, broker answers older than its `laggingCacheTtlMs` are not used. */
  const answerAge =
    options.revocationFeed === undefined ? undefined : () => feedOf()?.maxCacheAgeMs(options.now()) ?? 0
  /** A shared answer may be for a token the subject renewed away since: such tokens ask the broker. */
  const renewedLately = (claims: AgentWritClaims) => {
    const at = feedOf()?.renewedAt(claims.sub)
    return at !== undefined && options.now() - at <= options.cacheTtlMs
  }
  const remote =
    mode === 'local' ? undefined : createRemoteStrategy(options, undefined, answerAge, renewedLately)
  const local = mode === 'remote' ? undefined : createLocalStrategy(options)
  if (remote === undefined) return { local, strategy: local! }
  if (local === undefined) return { remote, strategy: remote }
  const hybrid = createHybridStrategy(local, remote, { retryAfterSeconds: options.retryAfterSeconds })
  return { remote, local, strategy: hybrid }
}
