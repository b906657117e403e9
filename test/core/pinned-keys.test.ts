import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { KeySelector } from '../../src/core/key-source.js'
import { type AgentAuthOptions, type ResolvedOptions, resolveOptions } from '../../src/core/options.js'
import { createPinnedKeySource } from '../../src/core/pinned-keys.js'
import { makeKey } from '../helpers/ed25519-key.js'
import { refusal } from '../helpers/refusal.js'

const k = makeKey()
/** Realm and `Retry-After` of the sources' refusals. */
const OPTIONS = resolveOptions({ mode: 'local', publicKey: k.jwk })

const source = (publicKey: AgentAuthOptions['publicKey']) => createPinnedKeySource(publicKey, OPTIONS)
const sel = (kid?: string): KeySelector => (kid === undefined ? { alg: 'EdDSA' } : { alg: 'EdDSA', kid })

describe('pinned key sources', () => {
  const raw = Buffer.from(k.jwk.x, 'base64url')
  const forms: [string, AgentAuthOptions['publicKey'], string][] = [
    ['JWK', k.jwk, 'jwk'],
    ['JWKS', { keys: [k.jwk] }, 'jwks'],
    ['PEM', k.pem, 'pem'],
    ['raw base64', raw.toString('base64'), 'raw'],
    ['raw base64url', raw.toString('base64url'), 'raw'],
    ['raw Uint8Array', new Uint8Array(raw), 'raw'],
    ['raw Buffer', raw, 'raw'],
  ]

  it.each(forms)('%s: selects the key by its thumbprint or with no kid', async (_, publicKey, kind) => {
    const s = source(publicKey)
    expect(s.kind).toBe(kind)
    expect(s.thumbprints).toEqual([k.kid])
    expect(await s.keysFor(sel(k.kid))).toHaveLength(1)
    expect(await s.keysFor(sel())).toHaveLength(1)
    const err = await refusal(s.keysFor(sel('another-kid')))
    expect(err.code).toBe('invalid_token')
    expect(err.status).toBe(401)
    expect(err.reason).toBe('unknown_kid')
  })

  it('also selects a JWK by the kid it declares', async () => {
    const s = source({ ...k.jwk, kid: 'key-1' })
    expect(await s.keysFor(sel('key-1'))).toHaveLength(1)
    expect(await s.keysFor(sel(k.kid))).toHaveLength(1)
  })

  it('a JWKS of two keys: kid selects one, no kid yields both candidates', async () => {
    const k2 = makeKey()
    const s = source({ keys: [k.jwk, k2.jwk] })
    expect(s.thumbprints).toEqual([k.kid, k2.kid])
    expect(await s.keysFor(sel(k2.kid))).toHaveLength(1)
    expect(await s.keysFor(sel())).toHaveLength(2)
  })

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed448 = generateKeyPairSync('ed448')
  const edPrivate = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const bad: [string, unknown][] = [
    ['RSA JWK', rsa.publicKey.export({ format: 'jwk' })],
    ['EC JWK', ec.publicKey.export({ format: 'jwk' })],
    ['Ed448 JWK', ed448.publicKey.export({ format: 'jwk' })],
    ['private Ed25519 JWK', edPrivate],
    ['oct JWK', { kty: 'oct', k: 'c2VjcmV0' }],
    ['JWK with short x', { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }],
    ['JWK with non-canonical x', { ...k.jwk, x: `${k.jwk.x.slice(0, 42)}B` }],
    ['JWK for encryption', { ...k.jwk, use: 'enc' }],
    ['JWK without verify op', { ...k.jwk, key_ops: ['sign'] }],
    ['JWK with another alg', { ...k.jwk, alg: 'ES256' }],
    ['empty JWKS', { keys: [] }],
    ['JWKS with an RSA member', { keys: [k.jwk, rsa.publicKey.export({ format: 'jwk' })] }],
    ['RSA PEM', rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString()],
    ['Ed448 PEM', ed448.publicKey.export({ format: 'pem', type: 'spki' }).toString()],
    ['private PEM', generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })],
    ['garbage PEM', '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'],
    ['31-byte Uint8Array', new Uint8Array(31)],
    ['33-byte base64', Buffer.alloc(33).toString('base64')],
    ['random text', 'not a key at all'],
  ]

  it.each([...bad, ['no key at all', undefined]])(
    '%s → TypeError naming publicKey, without echoing the value',
    (_, publicKey) => {
      let err: unknown
      try {
        source(publicKey as ResolvedOptions['publicKey'])
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(TypeError)
      expect((err as Error).message).toMatch(/"publicKey"/)
      if (typeof publicKey === 'object' && publicKey !== null && 'd' in publicKey) {
        expect((err as Error).message).not.toContain((publicKey as { d: string }).d)
      }
    },
  )

  it('refuses lookups after close with a 503', async () => {
    const s = source(k.jwk)
    s.close()
    expect((await refusal(s.keysFor(sel(k.kid)))).code).toBe('key_source_unavailable')
  })
})
