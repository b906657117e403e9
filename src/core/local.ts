/**
 * Local verification: check an AgentWrit token's EdDSA signature with a key (JWKS URL, JWK/JWKS
 * object, PEM or raw Ed25519 key) and apply exactly the broker's claim rules (contract §7).
 *
 * Local mode cannot see revocation or release: a revoked token stays valid here until `exp`.
 * Use `hybrid` mode (local signature check, then the cached broker check) when that matters.
 */
import { KeyObject, verify as verifyEd25519, type webcrypto } from 'node:crypto'
import type { CryptoKey } from 'jose'
import { tokenKey, VerificationCache } from './cache.js'
import type { AgentWritClaims } from './claims.js'
import { AgentAuthError, isAgentAuthError } from './errors.js'
import { createJwksFetcher } from './jwks-fetcher.js'
import type { KeySource } from './key-source.js'
import type { ResolvedOptions } from './options.js'
import { createPinnedKeySource } from './pinned-keys.js'
import { type VerifiedToken, verifiedTokenFor } from './strategy.js'
import { createTokenShapeReader, type ShapedStrategy, type TokenShape } from './token-shape.js'

/** 64-byte signature, unpadded base64url, canonical (the 4 trailing bits are zero). */
const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/

/** node:crypto's Ed25519 verify on the thread pool; a failure to run is a `false`, never a pass. */
function ed25519Verify(data: Buffer, key: KeyObject, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verifyEd25519(null, data, key, signature, (err, ok) => resolve(err === null && ok === true))
    } catch {
      resolve(false)
    }
  })
}

/** node:crypto key for a jose (WebCrypto) key, converted once; `null` unless it is Ed25519. */
const nodeKeys = new WeakMap<CryptoKey, KeyObject | null>()
function nodeKeyOf(key: CryptoKey): KeyObject | null {
  let k = nodeKeys.get(key)
  if (k === undefined) {
    const converted = KeyObject.from(key as unknown as webcrypto.CryptoKey)
    k = converted.type === 'public' && converted.asymmetricKeyType === 'ed25519' ? converted : null
    nodeKeys.set(key, k)
  }
  return k
}

/**
 * Create the local verification strategy.
 *
 * Checks: the token's shape (token-shape.ts: the header allowlist — exactly `alg` `"EdDSA"`,
 * `typ` `"JWT"`, `kid` — and the payload's claims as the broker issues them, `parseClaims`), read by
 * the verifier and handed over, or read here when called alone; `kid`, when present, must select a
 * configured key (the broker's `kid` is the RFC 7638 thumbprint of its key); Ed25519 signature
 * (node:crypto, on keys from jose, algorithms pinned to `EdDSA`); expired iff
 * `now > exp + clockToleranceSeconds` (so valid during the second
 * `now == exp`, like the broker); not yet valid iff `nbf != 0 && now + clockToleranceSeconds < nbf`;
 * `iat` is not checked; `iss` must equal `options.issuer` when configured. Times are whole seconds,
 * `now = floor(options.now() / 1000)`. `aud` is left to the verifier.
 *
 * Warm path: a verified token's claims are cached under the SHA-256 of the whole token (signature
 * included, so a forged signature never meets a cached positive) until the token expires, but at
 * most `jwksMaxAgeMs` (default 600000 ms) so that a key withdrawn from a JWKS stops being honoured
 * within that bound; at most `cacheMaxEntries` (default 10000) entries. `cacheTtlMs` (the broker
 * revocation staleness bound) does not apply: a local result cannot go stale by revocation.
 * Failures are not cached.
 *
 * Errors: `invalid_token` (401, generic detail, `reason` for logs, never the token) for any fault
 * of the token; `key_source_unavailable` (503, `Retry-After: retryAfterSeconds`) when the key source
 * cannot provide a usable key.
 *
 * @throws TypeError naming `publicKey` when the pinned key is unusable.
 */
/** The local strategy, with its cache and key source exposed for stats and readiness. */
export interface LocalStrategy extends ShapedStrategy {
  readonly cache: VerificationCache
  readonly keys: KeySource
}

export function createLocalStrategy(options: ResolvedOptions): LocalStrategy {
  // resolveOptions lets exactly one of the two key options through in local and hybrid mode.
  const keys: KeySource =
    options.jwksUri !== undefined
      ? createJwksFetcher(options.jwksUri, options)
      : createPinnedKeySource(options.publicKey, options)
  const readShape = createTokenShapeReader(options)
  const cache = new VerificationCache({ name: 'local', max: options.cacheMaxEntries, now: options.now })
  const tolerance = options.clockToleranceSeconds
  let closed = false

  const invalid = (reason: string): AgentAuthError => new AgentAuthError('invalid_token', { reason })

  /** `null` when the claims are currently within their validity window, else the reason. */
  const timeFault = (claims: AgentWritClaims, nowMs: number): string | null => {
    const now = Math.floor(nowMs / 1000)
    if (now > claims.exp + tolerance) return 'expired'
    if (claims.nbf !== 0 && now + tolerance < claims.nbf) return 'not_yet_valid'
    return null
  }

  /**
   * Ed25519 over the ASCII of `header.payload` (RFC 8037), with the header rules above already
   * applied. The check is node:crypto's, in its callback form: it runs on libuv's thread pool, so
   * cold verifications use every core; for this one algorithm it is cheaper than jose's WebCrypto
   * path. jose still provides and imports the keys.
   */
  const verifySignature = async (token: string, candidates: readonly CryptoKey[]): Promise<boolean> => {
    const dot = token.lastIndexOf('.')
    const signingInput = Buffer.from(token.slice(0, dot), 'latin1')
    const signature = Buffer.from(token.slice(dot + 1), 'base64url')
    for (const key of candidates) {
      const keyObject = nodeKeyOf(key)
      if (keyObject !== null && (await ed25519Verify(signingInput, keyObject, signature))) return true
    }
    return false
  }

  /** `shape` is the token's, read by the verifier (or here, when the strategy is used alone). */
  const verifyFresh = async (token: string, shape: TokenShape = readShape(token)) => {
    if (!SIGNATURE.test(token.slice(token.lastIndexOf('.') + 1))) throw invalid('bad_signature')
    const candidates = await keys.keysFor(shape.selector)
    if (!(await verifySignature(token, candidates))) throw invalid('bad_signature')
    // The claims were read from the very payload the signature covers.
    const { claims } = shape
    const nowMs = options.now()
    const fault = timeFault(claims, nowMs)
    if (fault !== null) throw invalid(fault)
    if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalid('issuer_mismatch')
    // Valid while floor(now / 1000) <= exp + tolerance, i.e. now < validUntil. lru-cache serves an
    // entry while (now - stored) <= ttl, hence the - 1.
    const validUntil = (claims.exp + tolerance + 1) * 1000
    const ttlMs = Math.min(validUntil - nowMs - 1, options.jwksMaxAgeMs)
    return { outcome: { valid: true as const, claims }, ttlMs }
  }

  function closedError(): AgentAuthError {
    return new AgentAuthError('key_source_unavailable', {
      reason: 'closed',
      retryAfterSeconds: options.retryAfterSeconds,
    })
  }

  return {
    cache,
    keys,
    peek(key: string): VerifiedToken | undefined {
      if (closed) throw closedError()
      const lookup = cache.get(key)
      if (lookup === undefined || !lookup.outcome.valid) return undefined
      // Belt and braces: a cached entry never outlives the token.
      if (timeFault(lookup.outcome.claims, options.now()) !== null) return undefined
      // The entry's TTL never reaches past the token's expiry (verifyFresh).
      return verifiedTokenFor(lookup.outcome.claims, lookup, 'local')
    },
    async verify(token: string, givenKey?: string, shape?: TokenShape): Promise<VerifiedToken> {
      try {
        if (closed) throw closedError()
        if (typeof token !== 'string' || token.length === 0) throw invalid('malformed')
        const key = givenKey ?? tokenKey(token)
        const lookup = await cache.run(key, () => verifyFresh(token, shape))
        const { outcome } = lookup
        if (!outcome.valid) throw invalid('invalid')
        if (!lookup.hit) return verifiedTokenFor(outcome.claims, lookup, 'local')
        // Belt and braces: a cached entry never outlives the token.
        const fault = timeFault(outcome.claims, options.now())
        if (fault !== null) {
          cache.delete(key)
          throw invalid(fault)
        }
        return verifiedTokenFor(outcome.claims, lookup, 'local')
      } catch (err) {
        if (isAgentAuthError(err)) throw err
        // Never an acceptance, never a 401 for our own fault.
        throw new AgentAuthError('key_source_unavailable', {
          reason: 'internal_error',
          retryAfterSeconds: options.retryAfterSeconds,
          cause: err,
        })
      }
    },
    evictWhere: (matches) => cache.deleteWhere(matches),
    async close(): Promise<void> {
      closed = true
      keys.close()
      cache.clear()
    },
  }
}
