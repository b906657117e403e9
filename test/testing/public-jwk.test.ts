import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { publicJwkFromSigningKey } from '../../src/testing/public-jwk.js'
import { RFC8037_JWK, RFC8037_KID, RFC8037_PEM } from './support.js'

describe('public JWK of a broker signing key', () => {
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

  it('rejects non-Ed25519 keys and garbage with a TypeError', () => {
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString()
    expect(() => publicJwkFromSigningKey(rsaPem)).toThrow(/not an Ed25519 key \(got rsa\)/)
    expect(() => publicJwkFromSigningKey('not a pem')).toThrow(TypeError)
  })
})
