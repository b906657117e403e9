/**
 * `createVerifier(options)`: extract the bearer token → read its shape (header allowlist, claims
 * the broker could have issued: token-shape.ts, the same check in every mode) → verify it (remote,
 * local or hybrid) → check what the broker does not (token kind, trust domain, issuer, audience) →
 * identity. Framework-free; every adapter is a thin translation of this.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { createAcceptance } from './acceptance.js'
import { assertBearerSyntax, hasQueryToken, looksLikeJws, readBearer } from './bearer.js'
import { tokenKey } from './cache.js'
import { type AgentIdentity, type AgentWritClaims, type IdentityBase, identityFrom } from './claims.js'
import { type ConnectionMemo, createConnectionMemos } from './connection-memo.js'
import { AgentAuthError } from './errors.js'
import { createHybridStrategy } from './hybrid.js'
import { createLocalStrategy } from './local.js'
import { type AgentAuthOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { createRemoteStrategy, type RemoteStrategy } from './remote.js'
import { createRevocationFeed, type RevocationFeed, type RevocationFeedStats } from './revocation-feed.js'
import type { VerifiedToken } from './strategy.js'
import { createTokenShapeReader, type ShapedStrategy } from './token-shape.js'

/** The parts of an incoming request the verifier reads (Node `IncomingMessage` fits). */
export interface AuthRequest {
  readonly headers: IncomingHttpHeaders
  /** Node's `rawHeaders`, used to detect a duplicated `Authorization` header. */
  readonly rawHeaders?: readonly string[]
  /** Request target (path and query), used to refuse `access_token` in the query string. */
  readonly url?: string
  /**
   * The connection (Node's `req.socket`). A keep-alive connection usually repeats one token: the
   * verifier remembers the connection's last token (compared by exact equality), its hash and its
   * cached answer, so a repeat skips the SHA-256 and the cache lookup until that answer's cache
   * entry expires.
   */
  readonly socket?: object | null
}

/** Counters for logging and monitoring. */
export interface VerifierStats {
  /** Validate calls made to the broker (remote and hybrid modes). */
  readonly brokerCalls: number
  /** Entries in the remote result cache. */
  readonly cacheEntries: number
  /** The revocation feed's state (lag, polls, predicates), when one is configured. */
  readonly revocationFeed?: RevocationFeedStats
}

/** A configured verifier. Create one per application and share it between routes. */
export interface Verifier {
  /** Resolved, frozen options. */
  readonly options: ResolvedOptions
  /**
   * Extract the bearer token from the request and verify it.
   * @throws AgentAuthError — 400/401/403/503 as documented in the README's error table.
   */
  authenticate(request: AuthRequest): Promise<AgentIdentity>
  /** Verify an already extracted token. @throws AgentAuthError */
  verifyToken(token: string): Promise<AgentIdentity>
  /** Counters (broker calls, cache size). */
  stats(): VerifierStats
  /** Close sockets and timers; the verifier must not be used afterwards. */
  close(): Promise<void>
}

/**
 * An adapter's way in: authenticate a request, returning the identity synchronously when the
 * answer is cached (no promise on the warm path) and a promise otherwise; may throw synchronously.
 * `owner` (the adapter's settings for this request) goes into the identity, read back with
 * `identityOwner`.
 */
export type RequestAuthenticator = (
  request: AuthRequest,
  owner?: object,
) => AgentIdentity | Promise<AgentIdentity>

/** The synchronous-when-cached authenticator of each verifier made by {@link createVerifier}. */
const syncWhenCached = new WeakMap<Verifier, RequestAuthenticator>()

/**
 * The {@link RequestAuthenticator} of a verifier, looked up once when an adapter is set up: ours
 * answers a cached request synchronously; any other {@link Verifier} (hand-written, or a copy of
 * ours such as `{ ...verifier, authenticate }`) is asked through its own `authenticate` on every
 * request, and its identities carry no owner.
 */
export function requestAuthenticator(verifier: Verifier): RequestAuthenticator {
  return syncWhenCached.get(verifier) ?? ((request) => verifier.authenticate(request))
}

/**
 * Create a verifier. Options are validated now: a bad option throws a `TypeError` naming it.
 * @see AgentAuthOptions for every option, its default and unit.
 */
export function createVerifier(input: AgentAuthOptions): Verifier {
  const options = resolveOptions(input)
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
    })
  }
  /** Whether a cached answer's age is bounded by the feed's lag (remote and hybrid: the broker can be asked). */
  const lagBounded = feed !== undefined && remote !== undefined
  const acceptedBase = createAcceptance(options)
  const memos = createConnectionMemos()
  const infraCode = options.mode === 'local' ? 'key_source_unavailable' : 'broker_unavailable'
  const extractOptions = { maxTokenLength: options.maxTokenLength }

  function invalid(reason: string): AgentAuthError {
    return new AgentAuthError('invalid_token', { reason })
  }

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
   * Verify a token that passed {@link looksLikeJws}, under its {@link tokenKey}, with no usable
   * cached answer. (The broker refuses anything that is not three base64url segments: callers
   * refuse it first, no network.) Its shape is read first, here, for every mode: a header or
   * claims the broker never writes are refused before any key lookup or broker call, and the
   * strategy is handed what was read, so nothing is decoded twice.
   */
  async function verifyJws(token: string, key: string, owner?: object): Promise<AgentIdentity> {
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
    if (feed?.revokes(claims)) throw invalid('revoked_per_feed')
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

  /** The refusal of a public entry point, in this verifier's realm. */
  function refusedHere(err: unknown): Promise<never> {
    return Promise.reject(err instanceof AgentAuthError ? err.inRealm(options.realm) : err)
  }

  async function verifyTokenUnstamped(token: string): Promise<AgentIdentity> {
    if (typeof token !== 'string' || token.length === 0) throw invalid('empty')
    if (token.length > options.maxTokenLength) {
      throw new AgentAuthError('invalid_request', {
        detail: 'bearer token is too long',
        reason: 'token_too_long',
      })
    }
    if (!looksLikeJws(token)) throw invalid('malformed')
    const key = tokenKey(token)
    // A cached answer first, as for authenticate(): its token passed the shape check already.
    const hit = cachedAnswer(key)
    return hit !== undefined ? identify(hit, undefined) : verifyJws(token, key)
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

  const authenticateSyncWhenCached: RequestAuthenticator = (request, owner) => {
    if (request.url !== undefined && hasQueryToken(request.url)) {
      throw new AgentAuthError('invalid_request', {
        detail: 'access tokens are accepted only in the Authorization header',
        reason: 'query_token',
      })
    }
    const token = readBearer(request.headers, request.rawHeaders, extractOptions)
    const memo = memos.memoFor(request.socket, token)
    if (memo.base !== undefined) {
      const now = options.now()
      const base = rememberedBase(memo, now)
      if (base !== undefined) {
        return identityFrom(base, { source: 'cache', cacheAgeMs: Math.max(0, now - memo.storedAt) }, owner)
      }
      memo.base = undefined
    }
    // A cache entry only ever exists for a token that passed every syntax check.
    const hit = cachedAnswer(memo.key)
    if (hit !== undefined) {
      const base = acceptedBase(hit.claims)
      memos.remember(memo, base, hit, options.now(), feed?.generation ?? 0)
      return identityFrom(base, hit, owner)
    }
    // Three base64url segments are a b64token too: one scan of the token decides both, and the
    // b64token check only runs to tell a malformed header (400) from a malformed token (401).
    if (!looksLikeJws(token)) {
      assertBearerSyntax(token)
      throw invalid('malformed')
    }
    return verifyJws(token, memo.key, owner)
  }

  function verifyToken(token: string): Promise<AgentIdentity> {
    return verifyTokenUnstamped(token).catch(refusedHere)
  }

  function authenticate(request: AuthRequest): Promise<AgentIdentity> {
    try {
      const result = authenticateSyncWhenCached(request)
      return result instanceof Promise ? result.catch(refusedHere) : Promise.resolve(result)
    } catch (err) {
      return refusedHere(err)
    }
  }

  const verifier: Verifier = Object.freeze({
    options,
    verifyToken,
    authenticate,
    stats(): VerifierStats {
      const counters = { brokerCalls: remote?.brokerCalls ?? 0, cacheEntries: remote?.cache.size ?? 0 }
      return feed === undefined ? counters : { ...counters, revocationFeed: feed.stats() }
    },
    async close() {
      memos.clear()
      await feed?.close()
      await strategy.close()
      if (options.mode === 'hybrid') {
        // createHybridStrategy does not own its parts.
        await Promise.all([local!.close(), remote!.close()])
      }
    },
  })
  syncWhenCached.set(verifier, authenticateSyncWhenCached)
  return verifier
}

/** The strategies of a mode: remote, local, or both combined (hybrid). */
function createStrategies(
  options: ResolvedOptions,
  feedOf: () => RevocationFeed | undefined,
): { remote?: RemoteStrategy; local?: ShapedStrategy; strategy: ShapedStrategy } {
  const { mode } = options
  /** While the feed lags, broker answers older than its `laggingCacheTtlMs` are not used. */
  const answerAge =
    options.revocationFeed === undefined ? undefined : () => feedOf()?.maxCacheAgeMs(options.now()) ?? 0
  const remote = mode === 'local' ? undefined : createRemoteStrategy(options, undefined, answerAge)
  const local = mode === 'remote' ? undefined : createLocalStrategy(options)
  if (remote === undefined) return { local, strategy: local! }
  if (local === undefined) return { remote, strategy: remote }
  const hybrid = createHybridStrategy(local, remote, { retryAfterSeconds: options.retryAfterSeconds })
  return { remote, local, strategy: hybrid }
}

/** Whether a value is a {@link Verifier} (adapters accept either options or a verifier). */
export function isVerifier(value: unknown): value is Verifier {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Verifier).authenticate === 'function' &&
    typeof (value as Verifier).verifyToken === 'function' &&
    typeof (value as Verifier).options === 'object'
  )
}
