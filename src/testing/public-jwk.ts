/**
 * Derive the public JWK of an AgentWrit broker signing key, with the same `kid` the broker puts in
 * every token header (shared contract §6.1, §14).
 *
 * The broker has no JWKS endpoint: an operator who wants local verification extracts the public key
 * from the broker's PKCS#8 signing key file (`AA_SIGNING_KEY_PATH`) and publishes it. These helpers do
 * that extraction without OpenSSL. The thumbprint itself is core's (jwk-thumbprint.ts), the one pinned
 * keys are selected by.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { ed25519Thumbprint } from '../core/jwk-thumbprint.js'

/** An Ed25519 public key as a JWK, ready to be put in a JWKS (`{"keys":[jwk]}`). */
export interface Ed25519PublicJwk {
  readonly kty: 'OKP'
  readonly crv: 'Ed25519'
  /** base64url (no padding) of the raw 32-byte public key. */
  readonly x: string
  /** RFC 7638 thumbprint: identical to the `kid` header of the broker's tokens. */
  readonly kid: string
  readonly alg: 'EdDSA'
  readonly use: 'sig'
}

function toPublicKey(pem: string | KeyObject): KeyObject {
  if (typeof pem !== 'string') {
    return pem.type === 'private' ? createPublicKey(pem) : pem
  }
  try {
    return createPublicKey(pem)
  } catch {
    throw new TypeError('signing key is not a valid PEM key (expected a PKCS#8 "PRIVATE KEY" block)')
  }
}

/**
 * Public JWK of the broker's signing key, with `kid` equal to the broker's token header `kid`,
 * `alg: "EdDSA"` and `use: "sig"`.
 * @param pem - the broker's signing key file contents: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
 *   An SPKI public key PEM (`-----BEGIN PUBLIC KEY-----`) or a node `KeyObject` is accepted too.
 * @throws TypeError when the input is not a PEM key or not an Ed25519 key
 */
export function publicJwkFromSigningKey(pem: string | KeyObject): Ed25519PublicJwk {
  const key = toPublicKey(pem)
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `signing key is not an Ed25519 key (got ${key.asymmetricKeyType ?? 'a symmetric key'}); AgentWrit signs with EdDSA/Ed25519`,
    )
  }
  const exported = key.export({ format: 'jwk' })
  const x = exported.x
  if (typeof x !== 'string') throw new TypeError('signing key: could not export the Ed25519 public key')
  const kid = ed25519Thumbprint(x)
  return Object.freeze({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' })
}
