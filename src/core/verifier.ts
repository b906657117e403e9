/**
 * `createVerifier(options)`: extract the bearer token → read its shape (header allowlist, claims
 * the broker could have issued: token-shape.ts, the same check in every mode) → verify it (remote,
 * local or hybrid) → check what the broker does not (token kind, trust domain, issuer, audience) →
 * identity (token-verification.ts), remembering each keep-alive connection's last answer
 * (connection-memo.ts). Framework-free; every adapter is a thin translation of this.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { assertBearerSyntax, hasQueryToken, looksLikeJws, readBearer } from './bearer.js'
import { tokenKey } from './cache.js'
import { type AgentIdentity, identityFrom } from './claims.js'
import { createConnectionMemos } from './connection-memo.js'
import { type AdapterName, cacheChannel, publish } from './diagnostics.js'
import { AgentAuthError } from './errors.js'
import { type EntryPoints, observeEntryPoints } from './observed-entry-points.js'
import { type AgentAuthOptions, type ResolvedOptions, resolveOptions } from './options.js'
import type { Readiness } from './readiness.js'
import { createTokenVerification } from './token-verification.js'
import { VerificationCounters } from './verification-counters.js'
import { type VerifierStats, verifierStats } from './verifier-stats.js'

export type { VerifierStats } from './verifier-stats.js'

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

/** What each verifier made by {@link createVerifier} gives adapters: its authenticator and counters. */
const internals = new WeakMap<Verifier, EntryPoints & { readonly counters: VerificationCounters }>()

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

  const entryPoints = observeEntryPoints({
    mode: options.mode,
    counters,
    authenticate: authenticateSyncWhenCached,
    verifyToken: verifyTokenUnstamped,
    bearerOf(request) {
      try {
        return readBearer(request.headers, request.rawHeaders, extractOptions)
      } catch {
        return undefined
      }
    },
  })

  /** `close()` once: a second call waits for the first. */
  let closing: Promise<void> | undefined
  const verifier: Verifier = Object.freeze({
    options,
    verifyToken: (token: string) => entryPoints.verifyToken(token, 'verifier').catch(refusedHere),
    authenticate(request: AuthRequest): Promise<AgentIdentity> {
      try {
        const result = entryPoints.authenticate(request, undefined, 'verifier')
        return result instanceof Promise ? result.catch(refusedHere) : Promise.resolve(result)
      } catch (err) {
        return refusedHere(err)
      }
    },
    stats: () => verifierStats(options.mode, counters, tokens.stats(), options.sharedCache),
    ready: () => tokens.ready(),
    close() {
      closing ??= (async () => {
        memos.clear()
        await tokens.close()
      })()
      return closing
    },
  })
  internals.set(verifier, { ...entryPoints, counters })
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
