/**
 * RFC 7638 JWK thumbprints: the `kid` the broker writes in every token header is the thumbprint of
 * its Ed25519 key (shared contract §6.1). The one implementation, used to select pinned keys
 * (pinned-keys.ts) and to derive the public JWK of a signing key (`agentwrit-verify/testing`).
 *
 * Hand-written rather than jose's `calculateJwkThumbprint`, which is asynchronous: both callers are
 * synchronous (a bad pinned key is a `TypeError` thrown when the verifier is created).
 */
import { createHash } from 'node:crypto'

/** The members RFC 7638 §3.2 hashes, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  OKP: ['crv', 'kty', 'x'],
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  oct: ['k', 'kty'],
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url without padding — 43 characters).
 *
 * For the broker's Ed25519 key this is SHA-256 over `{"crv":"Ed25519","kty":"OKP","x":"…"}`, which is
 * exactly how the broker computes its header `kid`. Other members of `jwk` (`kid`, `alg`, `use`, `d`…)
 * are ignored, as the RFC requires.
 * @param jwk - a public (or private) JWK of type `OKP`, `EC`, `RSA` or `oct`
 * @throws TypeError when `kty` is missing/unsupported or a required member is not a string
 */
export function kidOf(jwk: { readonly kty: string; readonly [member: string]: unknown }): string {
  if (typeof jwk !== 'object' || jwk === null) throw new TypeError('kidOf: jwk must be an object')
  const members = THUMBPRINT_MEMBERS[jwk.kty]
  if (members === undefined) throw new TypeError(`kidOf: unsupported JWK kty ${JSON.stringify(jwk.kty)}`)
  const parts: string[] = []
  for (const m of members) {
    const v = jwk[m]
    if (typeof v !== 'string' || v.length === 0) {
      throw new TypeError(`kidOf: JWK member "${m}" must be a non-empty string`)
    }
    parts.push(`${JSON.stringify(m)}:${JSON.stringify(v)}`)
  }
  return createHash('sha256')
    .update(`{${parts.join(',')}}`)
    .digest('base64url')
}

/**
 * {@link kidOf} of the Ed25519 public key whose base64url `x` (the raw 32 bytes) is given.
 * @throws TypeError when `x` is empty or not a string
 */
export function ed25519Thumbprint(x: string): string {
  return kidOf({ kty: 'OKP', crv: 'Ed25519', x })
}
