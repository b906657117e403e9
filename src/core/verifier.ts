/**
 * `createVerifier(options)`: extract the bearer token → read its shape (header allowlist, claims
 * the broker could have issued: token-shape.ts, the same check in every mode) → verify it (remote,
 * local or hybrid) → check what the broker does not (token kind, trust domain, issuer, audience) →
 * identity. Framework-free; every adapter is a thin translation of this.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { assertBearerSyntax, hasQueryToken, looksLikeJws, readBearer } from './bearer.js'
import { tokenKey } from './cache.js'
import {
  type AgentIdentity,
  type AgentWritClaims,
  type IdentityBase,
  identityBase,
  identityFrom,
  tokenKindOf,
} from './claims.js'
import { chainAttenuates } from './delegation.js'
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
 * Create a verifier. Options are validated now: a bad option throws a `TypeError` naming it.
 * @see AgentAuthOptions for every option, its default and unit.
 */
export function createVerifier(input: AgentAuthOptions): Verifier {
  const options = resolveOptions(input)
  const { realm } = options
  /** The revocation feed, when configured (created below, once the strategies exist). */
  let feed: RevocationFeed | undefined
  /** While the feed lags, broker answers older than its `laggingCacheTtlMs` are not used. */
  const answerAge =
    options.revocationFeed === undefined ? undefined : () => feed?.maxCacheAgeMs(options.now()) ?? 0
  const remote: RemoteStrategy | undefined =
    options.mode === 'remote' || options.mode === 'hybrid'
      ? createRemoteStrategy(options, undefined, answerAge)
      : undefined
  const local: ShapedStrategy | undefined =
    options.mode === 'local' || options.mode === 'hybrid' ? createLocalStrategy(options) : undefined
  const strategy: ShapedStrategy =
    options.mode === 'remote'
      ? remote!
      : options.mode === 'local'
        ? local!
        : createHybridStrategy(local!, remote!, { realm, retryAfterSeconds: options.retryAfterSeconds })
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
  const infraCode = options.mode === 'local' ? 'key_source_unavailable' : 'broker_unavailable'
  const extractOptions = { maxTokenLength: options.maxTokenLength, realm }

  function invalid(reason: string): AgentAuthError {
    return new AgentAuthError('invalid_token', { reason, realm })
  }

  /** What the broker's validate endpoint does not check. */
  function admit(claims: AgentWritClaims): void {
    const kind = tokenKindOf(claims.sub)
    if (kind === null) throw invalid('unknown_subject_kind')
    if (kind.kind === 'admin' && !options.allowAdminTokens) throw invalid('admin_token_refused')
    if (kind.kind === 'app' && !options.allowAppTokens) throw invalid('app_token_refused')
    if (
      kind.kind === 'agent' &&
      options.trustDomain !== undefined &&
      kind.trustDomain !== options.trustDomain
    ) {
      throw invalid('foreign_trust_domain')
    }
    if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalid('issuer_mismatch')
    if (options.audience !== undefined) {
      const aud = claims.aud ?? []
      if (!aud.some((a) => options.audience!.includes(a))) throw invalid('audience_mismatch')
    }
    const depth = claims.delegation_chain?.length ?? 0
    if (depth > 0 && !chainAttenuates(claims)) throw invalid('delegation_not_attenuated')
    // Authentic but not accepted here: a 403, checked after every 401 reason.
    if (options.maxDelegationDepth !== undefined && depth > options.maxDelegationDepth) {
      throw new AgentAuthError('delegation_not_allowed', { reason: 'delegation_too_deep', realm })
    }
  }

  /**
   * Identity bases by claim set. Cached verification results share one frozen claims object, so
   * a warm request reuses the admission verdict and the claims-only identity fields.
   */
  const bases = new WeakMap<AgentWritClaims, IdentityBase>()

  /** The admitted identity base of a claim set (admission runs on the first sight of it). */
  function baseFor(claims: AgentWritClaims): IdentityBase {
    let base = bases.get(claims)
    if (base === undefined) {
      admit(claims)
      base = identityBase(claims)
      bases.set(claims, base)
    }
    return base
  }

  function identify(verified: VerifiedToken, origin: unknown): AgentIdentity {
    return identityFrom(baseFor(verified.claims), verified, origin)
  }

  function unexpected(err: unknown): AgentAuthError {
    if (err instanceof AgentAuthError) return err
    // An unexpected failure is never an acceptance and never a 401.
    return new AgentAuthError(infraCode, {
      reason: 'unexpected_error',
      cause: err,
      realm,
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
  async function verifyJws(token: string, key: string, origin?: unknown): Promise<AgentIdentity> {
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
      throw unexpected(err)
    }
    assertNotRevoked(verified.claims)
    if (lagBounded && verified.source === 'broker' && feed!.generation !== generation) {
      // The feed learned something (a renewal, which no predicate covers) while the broker was
      // asked: the answer may predate it, so it serves this request but is not kept.
      const { jti } = verified.claims
      strategy.evictWhere?.((claims) => claims.jti === jti)
    }
    return identify(verified, origin)
  }

  /** 401 for claims the revocation feed knows the broker revoked or released. */
  function assertNotRevoked(claims: AgentWritClaims): void {
    if (feed?.revokes(claims)) throw invalid('revoked_per_feed')
  }

  /** The strategy's cached answer for a token key, if any (a cached refusal throws). */
  function peek(key: string): VerifiedToken | undefined {
    try {
      return strategy.peek?.(key)
    } catch (err) {
      throw unexpected(err)
    }
  }

  async function verifyToken(token: string): Promise<AgentIdentity> {
    if (typeof token !== 'string' || token.length === 0) throw invalid('empty')
    if (token.length > options.maxTokenLength) {
      throw new AgentAuthError('invalid_request', {
        detail: 'bearer token is too long',
        reason: 'token_too_long',
        realm,
      })
    }
    if (!looksLikeJws(token)) throw invalid('malformed')
    const key = tokenKey(token)
    // A cached answer first, as for authenticate(): its token passed the shape check already.
    const hit = peek(key)
    if (hit !== undefined) {
      assertNotRevoked(hit.claims)
      return identify(hit, undefined)
    }
    return verifyJws(token, key)
  }

  /**
   * The last token seen on each connection, its key and, once a cached answer was found for it,
   * that answer until its cache entry expires. A keep-alive connection usually repeats one token:
   * a repeat then skips the SHA-256 and the cache lookup. A WeakMap rather than a property on the
   * socket, so Node's sockets keep the hidden class Node's own code expects. The memo lives and
   * dies with the connection and is never a cache key, a log line or an error; `close()` drops it.
   */
  let connections = new WeakMap<object, ConnectionMemo>()

  /** A memo made before the feed's last change, or older than a lagging feed allows, is asked again. */
  function memoTrusted(memo: ConnectionMemo, now: number): boolean {
    if (memo.generation !== feed!.generation) return false
    return !lagBounded || now - memo.storedAt <= feed!.maxCacheAgeMs(now)
  }

  function memoFor(socket: object | null | undefined, token: string): ConnectionMemo {
    if (socket === undefined || socket === null) return newMemo(token)
    const last = connections.get(socket)
    if (last !== undefined && last.token === token) return last
    const memo = newMemo(token)
    connections.set(socket, memo)
    return memo
  }

  /**
   * The identity synchronously when the answer is cached, a promise otherwise. Throws
   * synchronously for a request refused before verification or by a cached refusal.
   * `origin` goes into the identity (see `identityOrigin`).
   */
  function authenticateNow(request: AuthRequest, origin?: unknown): AgentIdentity | Promise<AgentIdentity> {
    if (request.url !== undefined && hasQueryToken(request.url)) {
      throw new AgentAuthError('invalid_request', {
        detail: 'access tokens are accepted only in the Authorization header',
        reason: 'query_token',
        realm,
      })
    }
    const token = readBearer(request.headers, request.rawHeaders, extractOptions)
    const memo = memoFor(request.socket, token)
    if (memo.base !== undefined) {
      // Same token as the previous request on this connection, answer still within its cache TTL
      // (and, with a revocation feed, nothing revoked since and not older than the feed allows).
      const now = options.now()
      if (now < memo.until && (feed === undefined || memoTrusted(memo, now))) {
        const cacheAgeMs = Math.max(0, now - memo.storedAt)
        return identityFrom(memo.base, { source: 'cache', cacheAgeMs }, origin)
      }
      memo.base = undefined
    }
    const hit = peek(memo.key)
    // A cache entry only ever exists for a token that passed every syntax check.
    if (hit !== undefined) {
      assertNotRevoked(hit.claims)
      const base = baseFor(hit.claims)
      if (hit.reusableUntil !== undefined) {
        memo.base = base
        memo.storedAt = options.now() - hit.cacheAgeMs
        memo.until = hit.reusableUntil
        memo.generation = feed?.generation ?? 0
      }
      return identityFrom(base, hit, origin)
    }
    // Three base64url segments are a b64token too: one scan of the token decides both, and the
    // b64token check only runs to tell a malformed header (400) from a malformed token (401).
    if (!looksLikeJws(token)) {
      assertBearerSyntax(token, realm)
      throw invalid('malformed')
    }
    return verifyJws(token, memo.key, origin)
  }

  function authenticate(request: AuthRequest): Promise<AgentIdentity> {
    try {
      const result = authenticateNow(request)
      return result instanceof Promise ? result : Promise.resolve(result)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  return Object.freeze({
    options,
    verifyToken,
    authenticate,
    // Paired with this verifier's own `authenticate`: a copy whose `authenticate` was replaced
    // (`{ ...verifier, authenticate }`) keeps the symbol but is asked through its own method.
    [kAuthenticateFast]: { authenticate, now: authenticateNow },
    stats(): VerifierStats {
      const counters = { brokerCalls: remote?.brokerCalls ?? 0, cacheEntries: remote?.cache.size ?? 0 }
      return feed === undefined ? counters : { ...counters, revocationFeed: feed.stats() }
    },
    async close() {
      connections = new WeakMap()
      await feed?.close()
      await strategy.close()
      if (options.mode === 'hybrid') {
        // createHybridStrategy does not own its parts.
        await Promise.all([local!.close(), remote!.close()])
      }
    },
  })
}

const kAuthenticateFast = Symbol('agentwrit-verify.authenticateFast')

/** What a verifier remembers about one connection (see `connections` in {@link createVerifier}). */
interface ConnectionMemo {
  readonly token: string
  /** `tokenKey(token)`. */
  readonly key: string
  /** The admitted identity base of the cached answer, `undefined` until one was found. */
  base: IdentityBase | undefined
  /** When that answer was stored (ms, `options.now` clock), for `cacheAgeMs`. */
  storedAt: number
  /** Its cache entry's expiry (exclusive). */
  until: number
  /** The revocation feed's generation when the answer was found (0 without a feed). */
  generation: number
}

function newMemo(token: string): ConnectionMemo {
  return { token, key: tokenKey(token), base: undefined, storedAt: 0, until: 0, generation: 0 }
}

/**
 * For adapters: authenticate, returning the identity synchronously when the answer is cached
 * (no promise on the warm path) and a promise otherwise; may throw synchronously. The identity
 * carries `origin` (read back with `identityOrigin`) when the verifier is one of ours; a
 * hand-written {@link Verifier} returns identities without it.
 */
export function authenticateFast(
  verifier: Verifier,
  request: AuthRequest,
  origin?: unknown,
): AgentIdentity | Promise<AgentIdentity> {
  const fast = (verifier as FastVerifier)[kAuthenticateFast]
  return fast !== undefined && fast.authenticate === verifier.authenticate
    ? fast.now(request, origin)
    : verifier.authenticate(request)
}

type FastVerifier = Verifier & {
  [kAuthenticateFast]?: {
    readonly authenticate: Verifier['authenticate']
    readonly now: (request: AuthRequest, origin?: unknown) => AgentIdentity | Promise<AgentIdentity>
  }
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
