import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { kidOf, publicJwkFromSigningKey } from '../../src/core/public-jwk.js'
import { RFC8037_JWK, RFC8037_KID, RFC8037_PEM } from './support.js'

describe('public JWK of a broker signing key', () => {
  it('kidOf reproduces RFC 8037 A.3 (the contract §6.1 check vector)', () => {
    expect(kidOf({ kty: 'OKP', crv: 'Ed25519', x: RFC8037_JWK.x })).toBe(RFC8037_KID)
  })

  it('derives {kty,crv,x,kid,alg,use} from the PKCS#8 PEM, kid equal to jose thumbprint', async () => {
    const jwk = publicJwkFromSigningKey(RFC8037_PEM)
    expect(JSON.stringify(jwk)).toBe(
      `{"kty":"OKP","crv":"Ed25519","x":"${RFC8037_JWK.x}","kid":"${RFC8037_KID}","alg":"EdDSA","use":"sig"}`,
    )
    expect(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'sha256')).toBe(jwk.kid)
  })

  it('accepts an SPKI public key PEM and agrees with jose for random keys', async () => {
    const { publicKey } = generateKeyPairSync('ed25519')
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
    const jwk = publicJwkFromSigningKey(pem)
    expect(jwk.kid).toBe(await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as never, 'sha256'))
    expect(publicJwkFromSigningKey(createPublicKey(pem)).kid).toBe(jwk.kid)
  })

  it('kidOf supports EC and RSA members and ignores extra members', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
    expect(kidOf({ ...(ec as { kty: string }), kid: 'x', use: 'sig' })).toBe(
      await calculateJwkThumbprint(ec as never),
    )
    expect(kidOf(rsa as { kty: string })).toBe(await calculateJwkThumbprint(rsa as never))
  })

  it('rejects non-Ed25519 keys, garbage and incomplete JWKs with a TypeError', () => {
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString()
    expect(() => publicJwkFromSigningKey(rsaPem)).toThrow(/not an Ed25519 key \(got rsa\)/)
    expect(() => publicJwkFromSigningKey('not a pem')).toThrow(TypeError)
    expect(() => kidOf({ kty: 'OKP', crv: 'Ed25519' })).toThrow(/"x"/)
    expect(() => kidOf({ kty: 'XYZ' })).toThrow(/unsupported/)
  })
})
