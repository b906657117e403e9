/**
 * The key source of the `publicKey` option: Ed25519 keys given inline, checked once when the
 * source is created.
 *
 * - Only Ed25519 keys (`kty: "OKP"`, `crv: "Ed25519"`) are usable. A pinned key of any other kind
 *   is a `TypeError` naming `publicKey`, thrown when the source is created; the value is never
 *   echoed (it could be a private key).
 * - A pinned key is selected by its RFC 7638 thumbprint (exactly the `kid` the broker puts in its
 *   header, contract §6.1) or by the `kid` it declares; a token without `kid` is accepted (as the
 *   broker does).
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK } from 'jose'
import { ed25519Thumbprint } from './jwk-thumbprint.js'
import {
  candidateKeys,
  type KeySource,
  type KeySourceKind,
  keySourceUnavailable,
  unknownKid,
} from './key-source.js'
import type { ResolvedOptions } from './options.js'

const B64URL_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

function badKey(expected: string): never {
  // Never echo the value: it could be a private key.
  throw new TypeError(`agentwrit-verify: option "publicKey" must be ${expected}`)
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

function pinnedKeys(pk: ResolvedOptions['publicKey']): Pinned {
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

/**
 * The key source of the `publicKey` option; `options` gives the `Retry-After` of its
 * refusals.
 *
 * Accepted forms of `publicKey`: an OKP/Ed25519 JWK, a JWKS object (`{ keys: [...] }`, every key Ed25519), a PEM
 * SPKI public key, or a raw 32-byte Ed25519 public key as base64 / base64url text or a
 * `Uint8Array`. Private keys and other key types are refused.
 *
 * @throws TypeError naming `publicKey` when it is absent or unusable.
 */
export function createPinnedKeySource(
  publicKey: ResolvedOptions['publicKey'],
  options: ResolvedOptions,
): KeySource {
  const pinned = pinnedKeys(publicKey)
  const set = createLocalJWKSet(pinned.jwks)
  let closed = false
  return {
    kind: pinned.kind,
    thumbprints: Object.freeze([...pinned.thumbprints]),
    async keysFor(selector) {
      if (closed) throw keySourceUnavailable(options, 'closed')
      try {
        return await candidateKeys(set, selector)
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey) throw unknownKid()
        throw keySourceUnavailable(options, 'key_import_failed', err)
      }
    },
    stats() {
      const keys = pinned.jwks.keys.length
      return { source: pinned.kind, keys, fetches: 0, failures: 0, ageMs: null, lastFailure: undefined }
    },
    async ready() {
      const keys = pinned.jwks.keys.length
      return closed ? { ok: false, keys, reason: 'closed' } : { ok: true, keys }
    },
    close() {
      closed = true
    },
  }
}
