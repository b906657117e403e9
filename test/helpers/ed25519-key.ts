/** A fresh Ed25519 key for tests, in every form the key sources accept. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { ed25519Thumbprint } from '../../src/core/key-source.js'

export interface TestKey {
  privateKey: KeyObject
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string }
  /** RFC 7638 thumbprint: the `kid` the broker puts in its token headers. */
  kid: string
  /** The raw 32-byte public key. */
  raw: Buffer
  /** PEM SPKI public key. */
  pem: string
}

export function makeKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const jwk = publicKey.export({ format: 'jwk' }) as TestKey['jwk']
  return {
    privateKey,
    jwk,
    kid: ed25519Thumbprint(jwk.x),
    raw: Buffer.from(jwk.x, 'base64url'),
    pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  }
}
