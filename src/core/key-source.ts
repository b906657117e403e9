/**
 * What local verification asks of a key source: the candidate Ed25519 verification keys for a
 * token's protected header. Two kinds implement it: keys pinned in the options (`publicKey`:
 * pinned-keys.ts) and a JWKS URL (`jwksUri`: jwks-fetcher.ts). `resolveOptions` makes sure exactly
 * one of the two options is given.
 *
 * Both answer alike: `invalid_token` (401, reason `unknown_kid`) when a healthy source has no key
 * for the header, `key_source_unavailable` (503) when it cannot currently provide one — never a
 * 401 for the source's own fault.
 */
import { type CryptoKey, errors, type JWSHeaderParameters } from 'jose'
import { AgentAuthError } from './errors.js'
import type { ResolvedOptions } from './options.js'

/**
 * Most keys tried for one token when several keys match its header (a token without `kid`
 * against a set holding several Ed25519 keys). Bounds the signature checks a forged token costs.
 */
export const MAX_CANDIDATE_KEYS = 8

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
  /** Counters and state, for `verifier.stats().keys`. */
  stats(): KeySourceStats
  /**
   * Whether the source can provide a usable key now: a JWKS URL is fetched when no set was read
   * yet (or the last one is too old); pinned keys always can (until closed).
   */
  ready(): Promise<KeysReadiness>
  /** Abort in-flight JWKS fetches and refuse further lookups (503). Idempotent. */
  close(): void
}

/** What a key source reports (in `verifier.stats().keys`). */
export interface KeySourceStats {
  /** What the source was built from. */
  readonly source: KeySourceKind
  /** Ed25519 keys in the current set (`null` before a JWKS was read). */
  readonly keys: number | null
  /** JWKS fetches made, and those that failed (transport, status, an unusable set). */
  readonly fetches: number
  readonly failures: number
  /** Time since the current set was fetched, ms (`null` for pinned keys or before the first fetch). */
  readonly ageMs: number | null
  /** Why the last fetch failed, until one succeeds again. */
  readonly lastFailure: string | undefined
}

/** The keys' part of `verifier.ready()`. */
export interface KeysReadiness {
  readonly ok: boolean
  readonly keys: number | null
  /** Why not, when not `ok`. */
  readonly reason?: string
  /** `true` while the JWKS URL fails and the last good set is used. */
  readonly stale?: boolean
}

/** A jose key set (`createLocalJWKSet`, `createRemoteJWKSet`): the one key for a header. */
export type KeyResolver = (header: JWSHeaderParameters) => Promise<CryptoKey>

/**
 * The key `resolve` picks for `selector`, or every key of a multiple match (at most
 * {@link MAX_CANDIDATE_KEYS}); jose's other errors (`JWKSNoMatchingKey`, fetch failures) are
 * rethrown for the source to translate.
 */
export async function candidateKeys(resolve: KeyResolver, selector: KeySelector): Promise<CryptoKey[]> {
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

/** 401 `invalid_token`, reason `unknown_kid`: a healthy source has no key for the header. */
export function unknownKid(): AgentAuthError {
  return new AgentAuthError('invalid_token', { reason: 'unknown_kid' })
}

/** 503 `key_source_unavailable` with `Retry-After: retryAfterSeconds`. */
export function keySourceUnavailable(o: ResolvedOptions, reason: string, cause?: unknown): AgentAuthError {
  return new AgentAuthError('key_source_unavailable', {
    reason,
    retryAfterSeconds: o.retryAfterSeconds,
    cause,
  })
}
