import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { ed25519Thumbprint, kidOf } from '../../src/core/jwk-thumbprint.js'
import { makeKey } from '../helpers/ed25519-key.js'

/** RFC 8037 A.3: the public key of A.1 and its thumbprint (the contract §6.1 check vector). */
const RFC8037_X = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'
const RFC8037_KID = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'

describe('kidOf (RFC 7638 thumbprint)', () => {
  it('reproduces RFC 8037 A.3 (the broker kid)', () => {
    expect(kidOf({ kty: 'OKP', crv: 'Ed25519', x: RFC8037_X })).toBe(RFC8037_KID)
    expect(ed25519Thumbprint(RFC8037_X)).toBe(RFC8037_KID)
  })

  it('equals jose calculateJwkThumbprint for a random Ed25519 key', async () => {
    const k = makeKey()
    expect(ed25519Thumbprint(k.jwk.x)).toBe(await calculateJwkThumbprint(k.jwk))
  })

  it('supports EC and RSA members and ignores extra members', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
    expect(kidOf({ ...(ec as { kty: string }), kid: 'x', use: 'sig' })).toBe(
      await calculateJwkThumbprint(ec as never),
    )
    expect(kidOf(rsa as { kty: string })).toBe(await calculateJwkThumbprint(rsa as never))
  })

  it('rejects incomplete JWKs and unsupported key types with a TypeError', () => {
    expect(() => kidOf({ kty: 'OKP', crv: 'Ed25519' })).toThrow(/"x"/)
    expect(() => kidOf({ kty: 'XYZ' })).toThrow(/unsupported/)
    expect(() => ed25519Thumbprint('')).toThrow(TypeError)
  })
})
