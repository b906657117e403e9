/**
 * `createVerifier(options)`: extract the bearer token → read its shape (header allowlist, claims
 * the broker could have issued: token-shape.ts, the same check in every mode) → verify it (remote,
 * local or hybrid) → check what the broker does not (token kind, trust domain, issuer, audience) →
 * identity (token-verification.ts), remembering each keep-alive connection's last answer
 * (connection-memo.ts). Framework-free; every adapter is a thin translation of this.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { assertBearerSyntax, hasQueryToken, looksLikeJws, readBearer } from './bearer.js'
import type { BrokerStats } from './broker-client.js'
import { type CacheStats, tokenKey } from './cache.js'
import { type AgentIdentity, identityFrom } from './claims.js'
import { createConnectionMemos } from './connection-memo.js'
import { type AdapterName, cacheChannel, guardChannel, publish, verifyTrace } from './diagnostics.js'
import { AgentAuthError } from './errors.js'
import type { KeySourceStats } from './key-source.js'
import { type AgentAuthOptions, type ResolvedOptions, resolveOptions } from './options.js'
import type { Readiness } from './readiness.js'
import type { RevocationFeedStats } from './revocation-feed.js'
import { createTokenVerification } from './token-verification.js'
import { type RefusalStats, VerificationCounters, type VerificationStats } from './verification-counters.js'
import { requestIdOf, traceVerification } from './verification-trace.js'

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

/** A snapshot of what the verifier did since it was created, for monitoring (README, "Observability"). */
export interface VerifierStats {
  readonly mode: ResolvedOptions['mode']
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
  /** A snapshot of the counters: verifications, refusals by code, cache, broker, keys, feed. */
  stats(): VerifierStats
  /**
   * Whether the verifier can answer requests now: the broker answers `GET /v1/health` (remote,
   * hybrid), a usable key set is loaded (local, hybrid), the revocation feed is synced and current
   * (when configured). For a readiness probe: answer 503 unless `ready`. Never rejects.
   */
  ready(): Promise<Readiness>
  /** Close sockets and timers; the verifier must not be used afterwards. Calling it again waits for the first call. */
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

/** An authenticator that also says which entry point asks (diagnostics). */
type ObservedAuthenticator = (
  request: AuthRequest,
  owner: object | undefined,
  adapter: AdapterName,
) => AgentIdentity | Promise<AgentIdentity>

/** What each verifier made by {@link createVerifier} gives adapters: its authenticator and counters. */
const internals = new WeakMap<
  Verifier,
  {
    authenticate: ObservedAuthenticator
    verifyToken: (token: string, adapter: AdapterName) => Promise<AgentIdentity>
    counters: VerificationCounters
  }
>()

/**
 * The {@link RequestAuthenticator} of a verifier for one entry point, looked up once when an
 * adapter is set up: ours answers a cached request synchronously (and traces it as `adapter`'s,
 * diagnostics.ts); any other {@link Verifier} (hand-written, or a copy of ours such as
 * `{ ...verifier, authenticate }`) is asked through its own `authenticate` on every request, and
 * its identities carry no owner.
 */
export function requestAuthenticator(
  verifier: Verifier,
  adapter: AdapterName = 'verifier',
): RequestAuthenticator {
  const ours = internals.get(verifier)
  if (ours === undefined) return (request) => verifier.authenticate(request)
  const { authenticate } = ours
  return (request, owner) => authenticate(request, owner, adapter)
}

/**
 * `verifier.verifyToken` for one entry point: ours traces the verification as `adapter`'s and
 * leaves its refusals without a realm; any other verifier is asked through its own `verifyToken`.
 */
export function tokenVerifierOf(
  verifier: Verifier,
  adapter: AdapterName,
): (token: string) => Promise<AgentIdentity> {
  const ours = internals.get(verifier)
  if (ours === undefined) return (token) => verifier.verifyToken(token)
  const { verifyToken } = ours
  return (token) => verifyToken(token, adapter)
}

/** The counters of a verifier made by {@link createVerifier} (guards count their refusals there). */
export function verifierCounters(verifier: Verifier): VerificationCounters | undefined {
  return internals.get(verifier)?.counters
}

/**
 * Create a verifier. Options are validated now: a bad option throws a `TypeError` naming it.
 * @see AgentAuthOptions for every option, its default and unit.
 */
export function createVerifier(input: AgentAuthOptions): Verifier {
  const options = resolveOptions(input)
  const counters = new VerificationCounters()
  const tokens = createTokenVerification(options, counters)
  const memos = createConnectionMemos()
  const extractOptions = { maxTokenLength: options.maxTokenLength }

  function invalid(reason: string): AgentAuthError {
    return new AgentAuthError('invalid_token', { reason })
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
    const hit = tokens.cachedAnswer(key)
    if (hit === undefined) return tokens.verifyJws(token, key)
    cacheHit('cache', hit.cacheAgeMs)
    return tokens.identify(hit, undefined)
  }

  /** Count (and publish) a verification answered from a cached answer. */
  function cacheHit(via: 'connection' | 'cache', ageMs: number): void {
    counters.hits++
    publish(cacheChannel, () => ({ event: 'hit', mode: options.mode, via, ageMs }))
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
      const base = tokens.rememberedBase(memo, now)
      if (base !== undefined) {
        const cacheAgeMs = Math.max(0, now - memo.storedAt)
        cacheHit('connection', cacheAgeMs)
        return identityFrom(base, { source: 'cache', cacheAgeMs }, owner)
      }
      memo.base = undefined
    }
    // A cache entry only ever exists for a token that passed every syntax check.
    const hit = tokens.cachedAnswer(memo.key)
    if (hit !== undefined) {
      const base = tokens.acceptedBase(hit.claims)
      memos.remember(memo, base, hit, options.now(), tokens.generation())
      cacheHit('cache', hit.cacheAgeMs)
      return identityFrom(base, hit, owner)
    }
    // Three base64url segments are a b64token too: one scan of the token decides both, and the
    // b64token check only runs to tell a malformed header (400) from a malformed token (401).
    if (!looksLikeJws(token)) {
      assertBearerSyntax(token)
      throw invalid('malformed')
    }
    return tokens.verifyJws(token, memo.key, owner)
  }

  const countAccepted = (identity: AgentIdentity): AgentIdentity => {
    counters.accepted++
    return identity
  }
  const countRefused = (err: unknown): never => {
    counters.verificationRefused(err)
    throw err
  }

  /**
   * Counted, and traced while someone subscribes (diagnostics.ts): adapters' way in. (Guard
   * messages name the request id of the verification, which only a trace reads.)
   */
  const authenticateObserved: ObservedAuthenticator = (request, owner, adapter) => {
    if (verifyTrace.hasSubscribers || guardChannel.hasSubscribers) {
      const start = { adapter, mode: options.mode, requestId: requestIdOf(request.headers) }
      return traceVerification(
        start,
        counters,
        () => authenticateSyncWhenCached(request, owner),
        () => bearerOf(request),
      )
    }
    let result: AgentIdentity | Promise<AgentIdentity>
    try {
      result = authenticateSyncWhenCached(request, owner)
    } catch (err) {
      return countRefused(err)
    }
    if (result instanceof Promise) return result.then(countAccepted, countRefused)
    counters.accepted++
    return result
  }

  /** The request's bearer token, for a refusal's diagnostics only; `undefined` when unreadable. */
  function bearerOf(request: AuthRequest): string | undefined {
    try {
      return readBearer(request.headers, request.rawHeaders, extractOptions)
    } catch {
      return undefined
    }
  }

  function verifyTokenObserved(token: string, adapter: AdapterName = 'verifier'): Promise<AgentIdentity> {
    if (!verifyTrace.hasSubscribers) return verifyTokenUnstamped(token).then(countAccepted, countRefused)
    const start = { adapter, mode: options.mode, requestId: undefined }
    const typed = typeof token === 'string' ? token : undefined
    return Promise.resolve(
      traceVerification(
        start,
        counters,
        () => verifyTokenUnstamped(token),
        () => typed,
      ),
    )
  }

  /** `close()` once: a second call waits for the first. */
  let closing: Promise<void> | undefined
  const verifier: Verifier = Object.freeze({
    options,
    verifyToken: (token: string) => verifyTokenObserved(token, 'verifier').catch(refusedHere),
    authenticate(request: AuthRequest): Promise<AgentIdentity> {
      try {
        const result = authenticateObserved(request, undefined, 'verifier')
        return result instanceof Promise ? result.catch(refusedHere) : Promise.resolve(result)
      } catch (err) {
        return refusedHere(err)
      }
    },
    stats(): VerifierStats {
      const parts = tokens.stats()
      return {
        mode: options.mode,
        brokerCalls: parts.brokerCalls,
        cacheEntries: parts.cacheEntries,
        verifications: counters.verifications(),
        refusals: counters.refusals(),
        cache: { hits: counters.hits, misses: counters.misses, ...parts.caches },
        ...(parts.broker === undefined ? {} : { broker: parts.broker }),
        ...(parts.keys === undefined ? {} : { keys: parts.keys }),
        ...(parts.revocationFeed === undefined ? {} : { revocationFeed: parts.revocationFeed }),
        ...(options.sharedCache === undefined ? {} : { sharedCache: options.sharedCache.stats() }),
      }
    },
    ready: () => tokens.ready(),
    close() {
      closing ??= (async () => {
        memos.clear()
        await tokens.close()
      })()
      return closing
    },
  })
  internals.set(verifier, { authenticate: authenticateObserved, verifyToken: verifyTokenObserved, counters })
  return verifier
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
