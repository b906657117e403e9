/**
 * The dev broker's Ed25519 signing key: generated, or loaded from a PKCS#8 PEM like the broker's
 * `AA_SIGNING_KEY_PATH` file.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { type Ed25519PublicJwk, publicJwkFromSigningKey } from './public-jwk.js'

/** A loaded signing key with everything derived from it. */
export interface SigningKey {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** PKCS#8 PEM of the private key (the broker's signing key file format). */
  readonly privateKeyPem: string
  /** SPKI PEM of the public key. */
  readonly publicKeyPem: string
  /** Public JWK with `kid`, `alg: "EdDSA"`, `use: "sig"`. */
  readonly publicJwk: Ed25519PublicJwk
  /** RFC 7638 thumbprint of the public key, the tokens' header `kid`. */
  readonly kid: string
}

/**
 * Load an Ed25519 signing key from PKCS#8 PEM, or generate a fresh one.
 * @param pem - PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); omitted → a new random key
 * @throws TypeError when `pem` is not an Ed25519 private key
 */
export function loadSigningKey(pem?: string): SigningKey {
  let privateKey: KeyObject
  if (pem === undefined) {
    privateKey = generateKeyPairSync('ed25519').privateKey
  } else {
    try {
      privateKey = createPrivateKey(pem)
    } catch {
      throw new TypeError('signingKeyPem: not a valid PKCS#8 PEM private key')
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new TypeError(`signingKeyPem: expected an Ed25519 key, got ${privateKey.asymmetricKeyType}`)
    }
  }
  const publicKey = createPublicKey(privateKey)
  const publicJwk = publicJwkFromSigningKey(publicKey)
  return Object.freeze({
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk,
    kid: publicJwk.kid,
  })
}
