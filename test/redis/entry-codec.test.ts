/**
 * What a replica accepts from Redis (src/redis/entry-codec.ts): only entries made with the shared
 * secret, for this very entry name, unexpired, whose claims read as the broker's. Whoever can
 * write to Redis without the secret cannot forge, move, extend or edit one.
 */
import { describe, expect, it } from 'vitest'
import { parseClaims } from '../../src/core/claims.js'
import {
  decodeAnswer,
  deriveKeys,
  encodeAnswer,
  entryName,
  openMessage,
  signMessage,
} from '../../src/redis/entry-codec.js'
import { agentClaims } from '../helpers/token-claims.js'

const NOW = 1_800_000_000_000
const keys = deriveKeys(Buffer.from('s'.repeat(32)))
const other = deriveKeys(Buffer.from('t'.repeat(32)))
const claims = parseClaims(agentClaims(NOW))!
const name = entryName(keys, 'token-key-a')

describe('answers', () => {
  it('round-trips a positive and a negative answer, with the time left', () => {
    const raw = encodeAnswer(keys, name, { valid: true, claims }, NOW + 5000, NOW)
    expect(decodeAnswer(keys, name, raw, NOW + 1000)).toEqual({
      verdict: { valid: true, claims },
      ttlMs: 4000,
      ageMs: 1000,
    })
    const no = encodeAnswer(keys, name, { valid: false }, NOW + 5000, NOW)
    expect(decodeAnswer(keys, name, no, NOW)).toEqual({ verdict: { valid: false }, ttlMs: 5000, ageMs: 0 })
  })

  it('names are keyed hashes: another secret names the same token key differently, and neither shows it', () => {
    expect(entryName(other, 'token-key-a')).not.toBe(name)
    expect(name).not.toContain('token-key-a')
  })

  it('ignores an entry made with another secret, for another name, expired, or edited', () => {
    const raw = encodeAnswer(keys, name, { valid: true, claims }, NOW + 5000)
    expect(
      decodeAnswer(keys, name, encodeAnswer(other, name, { valid: true, claims }, NOW + 5000), NOW),
    ).toBeUndefined()
    expect(decodeAnswer(keys, entryName(keys, 'token-key-b'), raw, NOW)).toBeUndefined()
    expect(decodeAnswer(keys, name, raw, NOW + 5000)).toBeUndefined()
    const [mac, json] = [raw.slice(0, raw.indexOf('.')), raw.slice(raw.indexOf('.') + 1)]
    const wider = json.replace('"until":', '"x":0,"until":').replace(`${NOW + 5000}`, `${NOW + 500_000}`)
    expect(decodeAnswer(keys, name, `${mac}.${wider}`, NOW + 6000)).toBeUndefined()
    const scoped = json.replace('read:data:x', 'read:data:*')
    expect(scoped).not.toBe(json)
    expect(decodeAnswer(keys, name, `${mac}.${scoped}`, NOW)).toBeUndefined()
  })

  it('ignores what is not an entry at all', () => {
    for (const raw of [
      null,
      42,
      '',
      '.',
      'abc',
      `x.${JSON.stringify({ valid: true, until: NOW + 1 })}`,
      ['a'],
    ]) {
      expect(decodeAnswer(keys, name, raw, NOW)).toBeUndefined()
    }
  })

  it('an authenticated entry whose claims do not read as the broker’s is ignored too', () => {
    const bad = {
      valid: true as const,
      claims: { ...claims, scope: 'not-a-list' } as unknown as typeof claims,
    }
    expect(decodeAnswer(keys, name, encodeAnswer(keys, name, bad, NOW + 5000), NOW)).toBeUndefined()
  })
})

describe('fan-out messages', () => {
  it('open only with the secret that signed them, unedited', () => {
    const json = JSON.stringify({ from: 'a', ageMs: 3, updates: [{ kind: 'released', jti: 'j' }] })
    const signed = signMessage(keys, json)
    expect(openMessage(keys, signed)).toEqual(JSON.parse(json))
    expect(openMessage(other, signed)).toBeUndefined()
    expect(openMessage(keys, signed.replace('"j"', '"k"'))).toBeUndefined()
    expect(openMessage(keys, 'junk')).toBeUndefined()
  })
})
