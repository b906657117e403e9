import fc from 'fast-check'
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
    ['exp with whitespace before a fraction', `{${base},"exp": 2000000000.0}`],
    ['exp on the next line with an exponent', `{${base},"exp":\n\t2E9}`],
    ['a negative fraction', `{${base},"exp":-1.5}`],
    ['exp after strings with digits and e', `{${base},"sid":"3e5f","exp":2e9}`],
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

  it('strings with a digit before e, E or . (hex ids, versions) are accepted', () => {
    const text = `{${base},"sid":"3e5f0a","task_id":"v1.2","orch_id":"9E","exp":2000000000}`
    expect(parseBrokerPayload(text)).toMatchObject({ sid: '3e5f0a', task_id: 'v1.2', orch_id: '9E' })
  })

  it('refuses exactly the payloads whose time claims are not integer literals (property)', () => {
    const integer = fc.bigInt({ min: 0n, max: 4_000_000_000n }).map(String)
    const nonInteger = fc.oneof(
      fc.tuple(integer, fc.nat(999)).map(([i, f]) => `${i}.${f}`),
      fc
        .tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('e', 'E', 'e+', 'E-'), fc.nat(12))
        .map(([m, e, x]) => `${m}${e}${x}`),
    )
    const ws = fc.constantFrom('', ' ', '\n', '\t ', '\r\n')
    // Strings that look like numbers to a careless scan.
    const decoy = fc.constantFrom('"3e5"', '"1.5"', '":2e9"', '"a,1.0"', '"[7E3"')
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('exp', 'nbf', 'iat'), fc.boolean(), ws, ws), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(decoy, { maxLength: 3 }),
        integer,
        nonInteger,
        (times, decoys, good, bad) => {
          const fields = times.map(([k, ok, a, b]) => `"${k}":${a}${ok ? good : bad}${b}`)
          const extra = decoys.map((d, i) => `"x${i}":${d}`)
          const text = `{${base},${[...extra, ...fields].join(',')}}`
          const shouldRefuse = times.some(([, ok]) => !ok)
          expect(parseBrokerPayload(text) === null).toBe(shouldRefuse)
        },
      ),
    )
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
