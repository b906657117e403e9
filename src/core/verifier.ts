/**
 * `createVerifier(options)`: extract the bearer token → verify it (remote, local or hybrid) →
 * check what the broker does not (token kind, trust domain, issuer, audience) → identity.
 * Framework-free; every adapter is a thin translation of this.
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
import type { TokenStrategy, VerifiedToken } from './strategy.js'

/** The parts of an incoming request the verifier reads (Node `IncomingMessage` fits). */
export interface AuthRequest {
  readonly headers: IncomingHttpHeaders
  /** Node's `rawHeaders`, used to detect a duplicated `Authorization` header. */
  readonly rawHeaders?: readonly string[]
  /** Request target (path and query), used to refuse `access_token` in the query string. */
  readonly url?: string
  /**
   * The connection (Node's `req.socket`). A keep-alive connection usually repeats one token: the
   * token's hash is remembered on the connection (compared by exact equality) so a repeat skips
   * the SHA-256.
   */
  readonly socket?: object | null
}

/** Counters for logging and monitoring. */
export interface VerifierStats {
  /** Validate calls made to the broker (remote and hybrid modes). */
  readonly brokerCalls: number
  /** Entries in the remote result cache. */
  readonly cacheEntries: number
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
  const remote: RemoteStrategy | undefined =
    options.mode === 'remote' || options.mode === 'hybrid' ? createRemoteStrategy(options) : undefined
  const local: TokenStrategy | undefined =
    options.mode === 'local' || options.mode === 'hybrid' ? createLocalStrategy(options) : undefined
  const strategy: TokenStrategy =
    options.mode === 'remote'
      ? remote!
      : options.mode === 'local'
        ? local!
        : createHybridStrategy(local!, remote!, { realm })
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

  function identify(verified: VerifiedToken): AgentIdentity {
    let base = bases.get(verified.claims)
    if (base === undefined) {
      admit(verified.claims)
      base = identityBase(verified.claims)
      bases.set(verified.claims, base)
    }
    return identityFrom(base, verified)
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

  async function verifyKeyed(token: string, key: string): Promise<AgentIdentity> {
    // The broker refuses anything that is not three base64url segments: refuse it here, no network.
    if (!looksLikeJws(token)) throw invalid('malformed')
    let verified: VerifiedToken
    try {
      verified = await strategy.verify(token, key)
    } catch (err) {
      throw unexpected(err)
    }
    return identify(verified)
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
    return verifyKeyed(token, tokenKey(token))
  }

  /**
   * The identity synchronously when the answer is cached, a promise otherwise. Throws
   * synchronously for a request refused before verification or by a cached refusal.
   */
  function authenticateNow(request: AuthRequest): AgentIdentity | Promise<AgentIdentity> {
    if (request.url !== undefined && hasQueryToken(request.url)) {
      throw new AgentAuthError('invalid_request', {
        detail: 'access tokens are accepted only in the Authorization header',
        reason: 'query_token',
        realm,
      })
    }
    const token = readBearer(request.headers, request.rawHeaders, extractOptions)
    const key = keyOnConnection(request.socket, token)
    let hit: VerifiedToken | undefined
    try {
      hit = strategy.peek?.(key)
    } catch (err) {
      throw unexpected(err)
    }
    // A cache entry only ever exists for a token that passed every syntax check.
    if (hit !== undefined) return identify(hit)
    assertBearerSyntax(token, realm)
    return verifyKeyed(token, key)
  }

  return Object.freeze({
    options,
    verifyToken,
    authenticate(request: AuthRequest): Promise<AgentIdentity> {
      try {
        const result = authenticateNow(request)
        return result instanceof Promise ? result : Promise.resolve(result)
      } catch (err) {
        return Promise.reject(err)
      }
    },
    [kAuthenticateFast]: authenticateNow,
    stats(): VerifierStats {
      return { brokerCalls: remote?.brokerCalls ?? 0, cacheEntries: remote?.cache.size ?? 0 }
    },
    async close() {
      await strategy.close()
      if (options.mode === 'hybrid') {
        // createHybridStrategy does not own its parts.
        await Promise.all([local!.close(), remote!.close()])
      }
    },
  })
}

const kAuthenticateFast = Symbol('agentwrit-verify.authenticateFast')
/**
 * The last token seen on each connection and its key. A WeakMap rather than a property on the
 * socket, so Node's sockets keep the hidden class Node's own code expects; on the warm path it
 * costs the same as the property did (bench/hot-path.mjs).
 */
const lastOnConnection = new WeakMap<object, { readonly token: string; readonly key: string }>()

/**
 * `tokenKey(token)`, reusing the key computed for the previous request on the same connection when
 * it carried exactly the same token. The memo lives and dies with the connection and is never a
 * cache key, a log line or an error.
 */
function keyOnConnection(socket: object | null | undefined, token: string): string {
  if (socket === undefined || socket === null) return tokenKey(token)
  const last = lastOnConnection.get(socket)
  if (last !== undefined && last.token === token) return last.key
  const key = tokenKey(token)
  lastOnConnection.set(socket, { token, key })
  return key
}

/**
 * For adapters: authenticate, returning the identity synchronously when the answer is cached
 * (no promise on the warm path) and a promise otherwise; may throw synchronously.
 */
export function authenticateFast(
  verifier: Verifier,
  request: AuthRequest,
): AgentIdentity | Promise<AgentIdentity> {
  const fast = (verifier as FastVerifier)[kAuthenticateFast]
  return fast === undefined ? verifier.authenticate(request) : fast(request)
}

type FastVerifier = Verifier & {
  [kAuthenticateFast]?: (request: AuthRequest) => AgentIdentity | Promise<AgentIdentity>
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
