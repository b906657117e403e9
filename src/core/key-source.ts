/**
 * Key sources for local verification: turn the `jwksUri` / `publicKey` options into a resolver
 * that maps a token's protected header to the candidate Ed25519 verification keys.
 *
 * - Only Ed25519 keys (`kty: "OKP"`, `crv: "Ed25519"`) are usable. A pinned key of any other kind
 *   is a `TypeError` naming `publicKey`, thrown when the source is created.
 * - A pinned key is selected by its RFC 7638 thumbprint (exactly the `kid` the broker puts in its
 *   header, contract §6.1) or by the `kid` it declares; a token without `kid` is accepted (as the
 *   broker does).
 * - A JWKS URL is read with jose's `createRemoteJWKSet`. jose keeps its last good set in memory
 *   when a refetch fails but then *rejects* the request (whenever the set is older than its max
 *   age, or a refetch for an unknown `kid` fails), and it retries the fetch on every such request.
 *   This module wraps it: after a failed fetch it backs off, and meanwhile serves the last good
 *   set while that set is younger than `jwksMaxAgeMs + staleIfErrorMs`. Only when no usable key is
 *   left does it answer `key_source_unavailable` (503) — never `invalid_token` (401).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWK,
  type JWKSCacheInput,
  type JWSHeaderParameters,
  jwksCache,
} from 'jose'
import { fetch as undiciFetch } from 'undici'
import { isConnectionReset } from './broker-client.js'
import { AgentAuthError } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** Largest JWKS response body read, in bytes (1 MiB). A larger body is a key source failure. */
export const JWKS_MAX_BYTES = 1_048_576

/**
 * Most keys tried for one token when several keys match its header (a token without `kid`
 * against a set holding several Ed25519 keys). Bounds the signature checks a forged token costs.
 */
export const MAX_CANDIDATE_KEYS = 8

/**
 * Default {@link KeySourceTuning.staleIfErrorMs}: how long past `jwksMaxAgeMs` the last good JWKS
 * is still served while the JWKS URL is failing, in milliseconds (1 hour).
 */
export const DEFAULT_STALE_IF_ERROR_MS = 3_600_000

/** Fine-tuning of a JWKS URL source. Not part of the public options (yet). */
export interface KeySourceTuning {
  /**
   * While refreshes fail, the last good key set keeps being used until it is
   * `jwksMaxAgeMs + staleIfErrorMs` old (measured from its successful fetch), in milliseconds.
   * Default {@link DEFAULT_STALE_IF_ERROR_MS}.
   */
  readonly staleIfErrorMs?: number
  /**
   * After a failed fetch, no new fetch is attempted for this long, in milliseconds; requests are
   * answered from the last good set (or with a 503) without touching the network.
   * Default `min(jwksCooldownMs, retryAfterSeconds × 1000)`.
   */
  readonly failureBackoffMs?: number
}

/** Which option kind a key source was built from. */
export type KeySourceKind = 'jwks-uri' | 'jwk' | 'jwks' | 'pem' | 'raw'

/** Header parameters used for key selection (`alg` is always `EdDSA` by then). */
export interface KeySelector {
  readonly alg: 'EdDSA'
  readonly kid?: string
}

/** Resolves verification keys for a token header. */
export interface KeySource {
  /** What the source was built from. */
  readonly kind: KeySourceKind
  /** RFC 7638 thumbprints of the pinned keys (empty for a JWKS URL). */
  readonly thumbprints: readonly string[]
  /**
   * Candidate keys for this header: one normally, up to {@link MAX_CANDIDATE_KEYS} when `kid` is
   * absent and several keys match. Rejects with `AgentAuthError` `invalid_token` (reason
   * `unknown_kid`) when no key matches a healthy source, or `key_source_unavailable` when the
   * source cannot currently provide a usable key.
   */
  keysFor(selector: KeySelector): Promise<readonly CryptoKey[]>
  /** Abort in-flight JWKS fetches and refuse further lookups (503). Idempotent. */
  close(): void
}

// ---------------------------------------------------------------------------------------------
// Pinned keys

const B64URL_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

function badKey(expected: string): never {
  // Never echo the value: it could be a private key.
  throw new TypeError(`agentwrit-verify: option "publicKey" must be ${expected}`)
}

/** RFC 7638 thumbprint of an Ed25519 public key given by its base64url `x` (SHA-256, base64url). */
export function ed25519Thumbprint(x: string): string {
  // Required members in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037 §2).
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url')
}

function isCanonical32(x: unknown): x is string {
  return typeof x === 'string' && B64URL_32.test(x) && Buffer.from(x, 'base64url').length === 32
}

function checkImportable(x: string): void {
  try {
    const key: KeyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
    if (key.asymmetricKeyType !== 'ed25519') badKey('an Ed25519 public key')
  } catch (err) {
    if (err instanceof TypeError && err.message.startsWith('agentwrit-verify')) throw err
    badKey('a valid Ed25519 public key')
  }
}

/** Validate one JWK and return its normalized entries (selected by thumbprint, and by declared kid). */
function normalizeJwk(input: unknown): { entries: JWK[]; thumbprint: string } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) badKey('a JWK object')
  const jwk = input as Record<string, unknown>
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) badKey('a public key (a private or secret key was given)')
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') badKey('an Ed25519 key (kty "OKP", crv "Ed25519")')
  if (!isCanonical32(jwk.x)) badKey('an Ed25519 key whose "x" is 32 bytes of base64url')
  if (jwk.use !== undefined && jwk.use !== 'sig') badKey('a signature key ("use" must be "sig")')
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && (jwk.key_ops as unknown[]).includes('verify'))
  ) {
    badKey('a verification key ("key_ops" must include "verify")')
  }
  if (jwk.alg !== undefined && jwk.alg !== 'EdDSA' && jwk.alg !== 'Ed25519') badKey('an EdDSA key')
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0)) {
    badKey('a JWK whose "kid" is a non-empty string')
  }
  const x = jwk.x
  checkImportable(x)
  const thumbprint = ed25519Thumbprint(x)
  const entries: JWK[] = [{ kty: 'OKP', crv: 'Ed25519', x, kid: thumbprint }]
  if (typeof jwk.kid === 'string' && jwk.kid !== thumbprint) {
    entries.push({ kty: 'OKP', crv: 'Ed25519', x, kid: jwk.kid })
  }
  return { entries, thumbprint }
}

function rawToX(bytes: Uint8Array): string {
  if (bytes.length !== 32) badKey('a raw Ed25519 public key of exactly 32 bytes')
  return Buffer.from(bytes).toString('base64url')
}

function textToX(text: string): string {
  const s = text.trim()
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) badKey('a raw 32-byte Ed25519 public key as base64 or base64url')
  const x = s.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  if (!isCanonical32(x)) badKey('a raw 32-byte Ed25519 public key as base64 or base64url')
  return x
}

function pemToX(pem: string): string {
  const s = pem.trim()
  if (!/^-----BEGIN PUBLIC KEY-----\r?\n[\s\S]+\r?\n-----END PUBLIC KEY-----$/.test(s)) {
    badKey('a PEM SPKI public key ("-----BEGIN PUBLIC KEY-----")')
  }
  let key: KeyObject
  try {
    key = createPublicKey({ key: s, format: 'pem', type: 'spki' })
  } catch {
    badKey('a valid PEM SPKI public key')
  }
  if (key.asymmetricKeyType !== 'ed25519') badKey('an Ed25519 public key')
  const jwk = key.export({ format: 'jwk' })
  if (!isCanonical32(jwk.x)) badKey('an Ed25519 public key')
  return jwk.x
}

interface Pinned {
  kind: Exclude<KeySourceKind, 'jwks-uri'>
  jwks: JSONWebKeySet
  thumbprints: string[]
}

function pinnedKeys(pk: NonNullable<ResolvedOptions['publicKey']>): Pinned {
  const one = (kind: Pinned['kind'], x: string): Pinned => {
    const { entries, thumbprint } = normalizeJwk({ kty: 'OKP', crv: 'Ed25519', x })
    return { kind, jwks: { keys: entries }, thumbprints: [thumbprint] }
  }
  if (pk instanceof Uint8Array) return one('raw', rawToX(pk))
  if (typeof pk === 'string') {
    return pk.trimStart().startsWith('-----BEGIN') ? one('pem', pemToX(pk)) : one('raw', textToX(pk))
  }
  if (typeof pk !== 'object' || pk === null) badKey('a JWK, a JWKS, a PEM string or a raw Ed25519 key')
  if ('keys' in pk) {
    const list = (pk as { keys: unknown }).keys
    if (!Array.isArray(list) || list.length === 0) badKey('a JWKS with a non-empty "keys" array')
    const keys: JWK[] = []
    const thumbprints: string[] = []
    for (const item of list) {
      const { entries, thumbprint } = normalizeJwk(item)
      keys.push(...entries)
      thumbprints.push(thumbprint)
    }
    return { kind: 'jwks', jwks: { keys }, thumbprints }
  }
  const { entries, thumbprint } = normalizeJwk(pk)
  return { kind: 'jwk', jwks: { keys: entries }, thumbprints: [thumbprint] }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

type Resolver = (header: JWSHeaderParameters) => Promise<CryptoKey>

/** One key, or every key of a multiple match (capped); rethrows jose's errors otherwise. */
async function candidates(resolve: Resolver, selector: KeySelector): Promise<CryptoKey[]> {
  try {
    return [await resolve({ ...selector })]
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
    const keys: CryptoKey[] = []
    for await (const key of err) {
      keys.push(key)
      if (keys.length >= MAX_CANDIDATE_KEYS) break
    }
    if (keys.length === 0) throw new errors.JWKSNoMatchingKey()
    return keys
  }
}

function invalid(o: ResolvedOptions, reason: string): AgentAuthError {
  return new AgentAuthError('invalid_token', { reason, realm: o.realm })
}

function unavailable(o: ResolvedOptions, reason: string, cause?: unknown): AgentAuthError {
  return new AgentAuthError('key_source_unavailable', {
    reason,
    realm: o.realm,
    retryAfterSeconds: o.retryAfterSeconds,
    cause,
  })
}

function pinnedSource(o: ResolvedOptions, pinned: Pinned): KeySource {
  const set = createLocalJWKSet(pinned.jwks)
  let closed = false
  return {
    kind: pinned.kind,
    thumbprints: Object.freeze([...pinned.thumbprints]),
    async keysFor(selector) {
      if (closed) throw unavailable(o, 'closed')
      try {
        return await candidates(set, selector)
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey) throw invalid(o, 'unknown_kid')
        throw unavailable(o, 'key_import_failed', err)
      }
    },
    close() {
      closed = true
    },
  }
}

// ---------------------------------------------------------------------------------------------
// JWKS URL

async function readCapped(body: AsyncIterable<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.byteLength
    if (total > max) throw new Error(`JWKS response larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * A fetch for jose: undici + dispatcher when given, body size capped, aborted by `close()`. A
 * pooled keep-alive connection found closed (reset before any answer) is retried once at once,
 * within the same timeout: a JWKS GET has no side effects.
 */
function jwksFetch(dispatcher: ResolvedOptions['dispatcher'], closing: AbortSignal): FetchImplementation {
  return async (url, init) => {
    const signal = AbortSignal.any([init.signal, closing])
    const get = () =>
      dispatcher === undefined
        ? fetch(url, { ...init, signal })
        : undiciFetch(url, {
            method: init.method,
            headers: Object.fromEntries(init.headers),
            redirect: init.redirect,
            signal,
            dispatcher,
          })
    let res: Response | Awaited<ReturnType<typeof undiciFetch>>
    try {
      res = await get()
    } catch (err) {
      if (!isConnectionReset(err) || signal.aborted) throw err
      res = await get()
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {})
      return new Response(null, { status: res.status >= 200 && res.status <= 599 ? res.status : 502 })
    }
    const bytes = await readCapped(res.body as AsyncIterable<Uint8Array> | null, JWKS_MAX_BYTES)
    return new Response(bytes, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}

function hasUsableKey(jwks: unknown): boolean {
  if (typeof jwks !== 'object' || jwks === null) return false
  const keys = (jwks as { keys?: unknown }).keys
  return (
    Array.isArray(keys) &&
    keys.some((k: unknown) => {
      if (typeof k !== 'object' || k === null) return false
      const j = k as Record<string, unknown>
      return j.kty === 'OKP' && j.crv === 'Ed25519' && typeof j.x === 'string' && (j.use ?? 'sig') === 'sig'
    })
  )
}

function remoteSource(o: ResolvedOptions, url: URL, tuning: KeySourceTuning): KeySource {
  const closing = new AbortController()
  // jose writes `uat` (ms, Date.now) and `jwks` here after every *successful* fetch.
  const store: { uat?: number; jwks?: JSONWebKeySet } = {}
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: o.timeoutMs,
    cooldownDuration: o.jwksCooldownMs,
    cacheMaxAge: o.jwksMaxAgeMs,
    [customFetch]: jwksFetch(o.dispatcher, closing.signal),
    [jwksCache]: store as JWKSCacheInput,
  })
  const staleLimitMs = o.jwksMaxAgeMs + (tuning.staleIfErrorMs ?? DEFAULT_STALE_IF_ERROR_MS)
  const backoffMs = tuning.failureBackoffMs ?? Math.min(o.jwksCooldownMs, o.retryAfterSeconds * 1000)
  let failedAt: number | undefined
  let lastCause: unknown
  let lastGood: { uat: number; set: Resolver } | undefined
  let closed = false

  const lastGoodSet = (): Resolver | undefined => {
    const { uat, jwks } = store
    if (uat === undefined || jwks === undefined || Date.now() - uat > staleLimitMs) return undefined
    if (lastGood?.uat !== uat) {
      try {
        lastGood = { uat, set: createLocalJWKSet(jwks) }
      } catch {
        return undefined
      }
    }
    return lastGood.set
  }

  const fromLastGood = async (selector: KeySelector, cause: unknown): Promise<CryptoKey[]> => {
    const set = lastGoodSet()
    if (set === undefined) throw unavailable(o, 'jwks_unavailable', cause)
    try {
      return await candidates(set, selector)
    } catch (err) {
      // The key may have been rotated in while the source is unreachable: we cannot tell, so 503.
      const reason =
        err instanceof errors.JWKSNoMatchingKey ? 'kid_unknown_jwks_unavailable' : 'jwks_unavailable'
      throw unavailable(o, reason, cause)
    }
  }

  return {
    kind: 'jwks-uri',
    thumbprints: Object.freeze([]),
    async keysFor(selector) {
      if (closed) throw unavailable(o, 'closed')
      if (failedAt !== undefined && Date.now() - failedAt < backoffMs)
        return fromLastGood(selector, lastCause)
      try {
        const keys = await candidates(remote, selector)
        failedAt = undefined
        return keys
      } catch (err) {
        if (closed) throw unavailable(o, 'closed', err)
        if (err instanceof errors.JWKSNoMatchingKey) {
          // jose only says "no matching key" with a set that is fresh and either fetched within the
          // cooldown or just refetched: the source is healthy and does not know this kid.
          failedAt = undefined
          if (!hasUsableKey(store.jwks)) throw unavailable(o, 'jwks_no_usable_key', err)
          throw invalid(o, 'unknown_kid')
        }
        // Fetch failed, timed out, answered non-200, non-JSON, a malformed set, or an unusable key.
        failedAt = Date.now()
        lastCause = err
        return fromLastGood(selector, err)
      }
    },
    close() {
      if (closed) return
      closed = true
      closing.abort()
      lastGood = undefined
      store.jwks = undefined
    },
  }
}

/**
 * Build the key source described by `options.jwksUri` or `options.publicKey`.
 *
 * Accepted `publicKey` forms: an OKP/Ed25519 JWK, a JWKS object (`{ keys: [...] }`, every key
 * Ed25519), a PEM SPKI public key, or a raw 32-byte Ed25519 public key as base64 / base64url text
 * or a `Uint8Array`. Private keys and other key types are refused.
 *
 * JWKS URL behaviour (jose `createRemoteJWKSet`): request timeout `timeoutMs` (default 2000 ms),
 * refetch on an unknown `kid` at most once per `jwksCooldownMs` (default 30000 ms), refresh when the
 * set is older than `jwksMaxAgeMs` (default 600000 ms); requests go through `dispatcher` (undici)
 * when given; redirects are not followed; bodies over {@link JWKS_MAX_BYTES} are refused.
 *
 * @throws TypeError naming `publicKey` (or `jwksUri`) when the key option is unusable.
 */
export function createKeySource(options: ResolvedOptions, tuning: KeySourceTuning = {}): KeySource {
  if (options.jwksUri !== undefined) {
    if (options.publicKey !== undefined) {
      throw new TypeError(
        'agentwrit-verify: options "jwksUri" and "publicKey" are exclusive; give one key source',
      )
    }
    return remoteSource(options, options.jwksUri, tuning)
  }
  if (options.publicKey === undefined) {
    throw new TypeError(
      'agentwrit-verify: option "jwksUri" (or "publicKey") is required for local verification',
    )
  }
  return pinnedSource(options, pinnedKeys(options.publicKey))
}
