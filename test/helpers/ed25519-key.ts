/** A fresh Ed25519 key for tests, in every form the key sources accept. */
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { ed25519Thumbprint } from '../../src/core/jwk-thumbprint.js'

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

const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url')

/** Sign like the broker: header `{"alg":"EdDSA","typ":"JWT","kid":…}` unless told otherwise. */
export function signToken(
  key: TestKey,
  payload: unknown,
  header: Record<string, unknown> | null = null,
): string {
  const h = b64u(JSON.stringify(header ?? { alg: 'EdDSA', typ: 'JWT', kid: key.kid }))
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), key.privateKey))}`
}
