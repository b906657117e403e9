import { describe, expect, it } from 'vitest'
import { parseBrokerPayload } from '../../src/core/go-claims-json.js'

const base =
  '"iss":"","sub":"spiffe://agentwrit.local/agent/o/t/0123456789abcdef","jti":"j","scope":["read:data:x"]'

describe('parseBrokerPayload (decode as the broker would, or refuse)', () => {
  it('accepts an ordinary payload (integer time claims, exact field names)', () => {
    const raw = parseBrokerPayload(`{${base},"exp":2000000000,"nbf":1900000000,"iat":1900000000}`)
    expect(raw).toMatchObject({ exp: 2000000000, scope: ['read:data:x'] })
  })

  it.each([
    ['exp with a fraction', `{${base},"exp":2000000000.0}`],
    ['exp with an exponent', `{${base},"exp":2e9}`],
    ['nbf with an exponent', `{${base},"exp":2000000000,"nbf":1.9E9}`],
    ['a bad duplicate before a good one', `{${base},"exp":2.0e9,"exp":2000000000}`],
    ['a bad duplicate after a good one', `{${base},"exp":2000000000,"exp":2.0e9}`],
    ['an escaped key name with a fraction', `{${base},"\\u0065xp":2000000000.5}`],
  ])('refuses %s (Go cannot decode it into int64)', (_n, text) => {
    expect(parseBrokerPayload(text)).toBeNull()
  })

  it.each([
    ['Scope', `{${base},"exp":2000000000,"Scope":["read:data:*"]}`],
    ['SUB', `{${base},"exp":2000000000,"SUB":"admin"}`],
    ['ſub (Go folds ſ to s)', `{${base},"exp":2000000000,"\u017fub":"admin"}`],
    ['EXP', `{${base},"EXP":2000000000}`],
    [
      'a chain record field in another case',
      `{${base},"exp":2000000000,"delegation_chain":[{"Agent":"x","scope":[],"delegated_at":"t"}]}`,
    ],
  ])('refuses a known field spelled %s (Go would read it as that field)', (_n, text) => {
    expect(parseBrokerPayload(text)).toBeNull()
  })

  it('digits followed by a dot inside strings take the full scan and are still accepted', () => {
    const text = `{${base},"exp":2000000000,"delegation_chain":[{"agent":"a","scope":["x:y:v1.2"],"delegated_at":"2026-04-14T20:26:15.130922919Z"}]}`
    expect(parseBrokerPayload(text)).not.toBeNull()
  })

  it('unknown fields are ignored, as Go ignores them', () => {
    expect(parseBrokerPayload(`{${base},"exp":2000000000,"extra":{"exp":1.5}}`)).not.toBeNull()
  })

  it.each(['', 'null', '[]', '"x"', '{', '{"exp":}', '{"a":1,}'])(
    'refuses non-objects and broken JSON: %j',
    (t) => {
      expect(parseBrokerPayload(t)).toBeNull()
    },
  )
})
