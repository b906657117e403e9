import { describe, expect, it, vi } from 'vitest'
import { AgentAuthError } from '../../src/core/errors.js'
import * as goClaimsJson from '../../src/core/go-claims-json.js'
import { createTokenShapeReader, readTokenClaims } from '../../src/core/token-shape.js'

const b64u = (v: string | Uint8Array) => Buffer.from(v).toString('base64url')
const KID = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'
const HEADER = `{"alg":"EdDSA","typ":"JWT","kid":"${KID}"}`
const CLAIMS = {
  iss: '',
  sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
  exp: 2_000_000_300,
  nbf: 2_000_000_000,
  iat: 2_000_000_000,
  jti: '0123456789abcdef0123456789abcdef',
  scope: ['read:data:x'],
}
/** Header and payload texts used byte for byte; the signature is never looked at here. */
const token = (header: string | Uint8Array = HEADER, payload: string | Uint8Array = JSON.stringify(CLAIMS)) =>
  `${b64u(header)}.${b64u(payload)}.${'A'.repeat(86)}`

const reader = (requireKid = true) => createTokenShapeReader({ requireKid })

function reasonOf(read: (t: string) => unknown, t: string): string {
  try {
    read(t)
  } catch (err) {
    expect(err).toBeInstanceOf(AgentAuthError)
    const e = err as AgentAuthError
    expect(e.code).toBe('invalid_token')
    expect(e.status).toBe(401)
    return e.reason ?? ''
  }
  return 'accepted'
}

describe('header allowlist: exactly alg EdDSA, typ JWT, kid', () => {
  it('the broker header is accepted, in any member order', () => {
    const read = reader()
    expect(read(token()).selector).toEqual({ alg: 'EdDSA', kid: KID })
    expect(read(token(`{"kid":"${KID}","typ":"JWT","alg":"EdDSA"}`)).selector).toEqual({
      alg: 'EdDSA',
      kid: KID,
    })
    expect(read(token(`{ "alg" : "EdDSA" ,\n"typ":"JWT", "kid":"${KID}" }`)).selector.kid).toBe(KID)
    expect(Object.isFrozen(read(token()).selector)).toBe(true)
  })

  it.each([
    // other members, whatever their value
    ...[
      'crit',
      'b64',
      'jku',
      'x5u',
      'jwk',
      'x5c',
      'x5t',
      'zip',
      'enc',
      'cty',
      'iv',
      'tag',
      'epk',
      'foo',
      '__proto__',
    ].map((m) => [
      `member ${m}`,
      `{"alg":"EdDSA","typ":"JWT","kid":"${KID}","${m}":"x"}`,
      'header_member_refused',
    ]),
    ['b64 true', `{"alg":"EdDSA","typ":"JWT","kid":"${KID}","b64":true}`, 'header_member_refused'],
    ['crit []', `{"alg":"EdDSA","typ":"JWT","kid":"${KID}","crit":[]}`, 'header_member_refused'],
    [
      'a case variant (Go would fold it)',
      `{"alg":"EdDSA","typ":"JWT","kid":"${KID}","Alg":"none"}`,
      'header_member_refused',
    ],
    // duplicates: JSON.parse keeps the last
    [
      'alg twice (none, EdDSA)',
      `{"alg":"none","typ":"JWT","kid":"${KID}","alg":"EdDSA"}`,
      'duplicate_header_member',
    ],
    [
      'alg twice (equal)',
      `{"alg":"EdDSA","alg":"EdDSA","typ":"JWT","kid":"${KID}"}`,
      'duplicate_header_member',
    ],
    ['kid twice', `{"alg":"EdDSA","typ":"JWT","kid":"other","kid":"${KID}"}`, 'duplicate_header_member'],
    [
      'typ twice, escaped name',
      `{"alg":"EdDSA","typ":"JWS","\\u0074yp":"JWT","kid":"${KID}"}`,
      'duplicate_header_member',
    ],
    [
      'alg twice, the first an object',
      `{"alg":{"x":1},"alg":"EdDSA","typ":"JWT","kid":"${KID}"}`,
      'duplicate_header_member',
    ],
    // alg
    ['alg none', `{"alg":"none","typ":"JWT","kid":"${KID}"}`, 'alg_not_allowed'],
    ['alg Ed25519', `{"alg":"Ed25519","typ":"JWT","kid":"${KID}"}`, 'alg_not_allowed'],
    ['alg absent', `{"typ":"JWT","kid":"${KID}"}`, 'alg_not_allowed'],
    ['alg an array', `{"alg":["EdDSA"],"typ":"JWT","kid":"${KID}"}`, 'alg_not_allowed'],
    // typ
    ['typ absent', `{"alg":"EdDSA","kid":"${KID}"}`, 'typ_not_allowed'],
    ['typ jwt', `{"alg":"EdDSA","typ":"jwt","kid":"${KID}"}`, 'typ_not_allowed'],
    ['typ at+jwt', `{"alg":"EdDSA","typ":"at+jwt","kid":"${KID}"}`, 'typ_not_allowed'],
    ['typ "JWT " (trailing space)', `{"alg":"EdDSA","typ":"JWT ","kid":"${KID}"}`, 'typ_not_allowed'],
    ['typ null', `{"alg":"EdDSA","typ":null,"kid":"${KID}"}`, 'typ_not_allowed'],
    // kid
    ['kid absent', '{"alg":"EdDSA","typ":"JWT"}', 'kid_missing'],
    ['kid null', '{"alg":"EdDSA","typ":"JWT","kid":null}', 'malformed_kid'],
    ['kid empty', '{"alg":"EdDSA","typ":"JWT","kid":""}', 'malformed_kid'],
    ['kid a number', '{"alg":"EdDSA","typ":"JWT","kid":7}', 'malformed_kid'],
    ['kid an array', `{"alg":"EdDSA","typ":"JWT","kid":["${KID}"]}`, 'malformed_kid'],
    // not a JSON object
    ['not JSON', 'hello', 'malformed_header'],
    ['a JSON array', '["EdDSA"]', 'malformed_header'],
    ['JSON null', 'null', 'malformed_header'],
    ['a JSON string', '"EdDSA"', 'malformed_header'],
    ['trailing data', `${HEADER}x`, 'malformed_header'],
    ['a UTF-8 BOM first', `\ufeff${HEADER}`, 'malformed_header'],
  ])('%s → refused (%s)', (_name, header, reason) => {
    expect(reasonOf(reader(), token(header as string))).toBe(reason)
  })

  it('invalid UTF-8 in the header → refused', () => {
    const bytes = Buffer.concat([
      Buffer.from(`{"alg":"EdDSA","typ":"JWT","kid":"`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ])
    expect(reasonOf(reader(), token(bytes))).toBe('malformed_header')
    // an overlong encoding of "/" and a lone surrogate encoded in UTF-8 (CESU) too
    expect(reasonOf(reader(), token(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d])))).toBe('malformed_header')
    expect(reasonOf(reader(), token(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])))).toBe(
      'malformed_header',
    )
  })

  it('the header segment must be strict unpadded base64url', () => {
    const [h, p, s] = token().split('.')
    const read = reader()
    expect(reasonOf(read, `${h}=.${p}.${s}`)).toBe('malformed_header')
    expect(reasonOf(read, `${h!.replace(/-/g, '+')}+.${p}.${s}`)).toBe('malformed_header')
    expect(reasonOf(read, `${h}A.${p}.${s}`)).toBe('malformed_header') // length 4n+1 for some n, or bad JSON
    expect(reasonOf(read, `.${p}.${s}`)).toBe('malformed_header')
  })

  it('non-zero unused bits at the end of a segment are refused (one text per byte string)', () => {
    // 37 bytes: 50 characters, the last carries 4 unused bits
    const h = b64u('{"alg":"EdDSA","typ":"JWT","kid":"k"}')
    expect(h.length % 4).not.toBe(0)
    const read = reader()
    expect(read(`${h}.${b64u(JSON.stringify(CLAIMS))}.x`).selector.kid).toBe('k')
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(h.at(-1)!)
    const malleated = `${h.slice(0, -1)}${alphabet[last | 1]}`
    expect(Buffer.from(malleated, 'base64url')).toEqual(Buffer.from(h, 'base64url'))
    expect(reasonOf(read, `${malleated}.${b64u(JSON.stringify(CLAIMS))}.x`)).toBe('malformed_header')
  })

  it('requireKid: false accepts a header without kid, nothing else changes', () => {
    const read = reader(false)
    expect(read(token('{"alg":"EdDSA","typ":"JWT"}')).selector).toEqual({ alg: 'EdDSA' })
    expect(reasonOf(read, token('{"alg":"EdDSA","typ":"JWT","kid":""}'))).toBe('malformed_kid')
    expect(reasonOf(read, token('{"alg":"EdDSA","typ":"JWT","kid":null}'))).toBe('malformed_kid')
    expect(reasonOf(read, token('{"alg":"EdDSA"}'))).toBe('typ_not_allowed')
    expect(reasonOf(read, token('{"alg":"EdDSA","typ":"JWT","jku":"http://x"}'))).toBe(
      'header_member_refused',
    )
  })

  it('remembers the last accepted header segment: a repeat is not decoded again; a refusal is never remembered', () => {
    const scan = vi.spyOn(goClaimsJson, 'topLevelMembers')
    try {
      const read = reader()
      read(token())
      const afterFirst = scan.mock.calls.length
      expect(afterFirst).toBe(1)
      read(token(HEADER, JSON.stringify({ ...CLAIMS, jti: 'f'.repeat(32) })))
      expect(scan.mock.calls.length).toBe(afterFirst)
      const dup = `{"alg":"none","typ":"JWT","kid":"${KID}","alg":"EdDSA"}`
      expect(reasonOf(read, token(dup))).toBe('duplicate_header_member')
      expect(reasonOf(read, token(dup))).toBe('duplicate_header_member')
      expect(read(token()).selector.kid).toBe(KID)
    } finally {
      scan.mockRestore()
    }
  })
})

describe('payload: claims the broker could have issued', () => {
  it('an ordinary payload gives deep-frozen claims', () => {
    const { claims } = reader()(token())
    expect(claims).toMatchObject({ sub: CLAIMS.sub, jti: CLAIMS.jti, scope: ['read:data:x'] })
    expect(Object.isFrozen(claims)).toBe(true)
    expect(readTokenClaims(token())).toEqual(claims)
  })

  it.each([
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xff]), Buffer.from('"}')])],
    [
      'invalid UTF-8 inside a scope',
      Buffer.from(JSON.stringify(CLAIMS).replace('read:data:x', 'read:data:\u0000x')).map((b) =>
        b === 0 ? 0xfe : b,
      ),
    ],
    ['a UTF-8 BOM first', `\ufeff${JSON.stringify(CLAIMS)}`],
    ['not JSON', 'not json'],
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
    ['trailing garbage', `${JSON.stringify(CLAIMS)}x`],
    ['exp 2^63 − 1', JSON.stringify(CLAIMS).replace('2000000300', '9223372036854775807')],
    ['exp beyond int64', JSON.stringify(CLAIMS).replace('2000000300', '99999999999999999999')],
    ['exp 2000000300.0', JSON.stringify(CLAIMS).replace('2000000300', '2000000300.0')],
    ['exp 2.0000003e9', JSON.stringify(CLAIMS).replace('2000000300', '2.0000003e9')],
    ['iat 2^53', JSON.stringify({ ...CLAIMS, iat: 2 ** 53 })],
    ['another spelling of scope', JSON.stringify({ ...CLAIMS, Scope: ['read:data:*'] })],
    ['a chain of 6', JSON.stringify({ ...CLAIMS, delegation_chain: chain(6), chain_hash: 'a'.repeat(64) })],
    ['a chain without chain_hash', JSON.stringify({ ...CLAIMS, delegation_chain: chain(1) })],
    ['chain_hash without a chain', JSON.stringify({ ...CLAIMS, chain_hash: 'a'.repeat(64) })],
    [
      'a chain link without delegated_at',
      JSON.stringify({
        ...CLAIMS,
        delegation_chain: [{ agent: CLAIMS.sub, scope: [] }],
        chain_hash: 'a'.repeat(64),
      }),
    ],
    [
      'a chain link without scope',
      JSON.stringify({
        ...CLAIMS,
        delegation_chain: [{ agent: CLAIMS.sub, delegated_at: '2026-01-01T00:00:00Z' }],
        chain_hash: 'a'.repeat(64),
      }),
    ],
    [
      'a sub of 2049 characters',
      JSON.stringify({ ...CLAIMS, sub: `spiffe://agentwrit.local/agent/o/t/${'a'.repeat(2014)}` }),
    ],
    ['257 scopes', JSON.stringify({ ...CLAIMS, scope: Array.from({ length: 257 }, (_, i) => `r:d:${i}`) })],
    ['a lone surrogate escape', JSON.stringify(CLAIMS).replace('read:data:x', 'read:data:\\ud800')],
  ])('%s → 401 malformed_claims', (_name, payload) => {
    expect(reasonOf(reader(), token(HEADER, payload as string))).toBe('malformed_claims')
    expect(reasonOf((t) => readTokenClaims(t), token(HEADER, payload as string))).toBe('malformed_claims')
  })

  it('the payload segment must be strict unpadded base64url', () => {
    const [h, p, s] = token().split('.')
    expect(reasonOf(reader(), `${h}.${p}=.${s}`)).toBe('malformed_claims')
    expect(reasonOf(reader(), `${h}..${s}`)).toBe('malformed_claims')
    expect(reasonOf(reader(), `${h}.${p}*.${s}`)).toBe('malformed_claims')
  })

  it('only three segments', () => {
    const t = token()
    expect(reasonOf(reader(), `${t}.x`)).toBe('malformed')
    expect(reasonOf(reader(), t.split('.').slice(0, 2).join('.'))).toBe('malformed')
    expect(reasonOf(reader(), 'abc')).toBe('malformed')
    expect(reasonOf((x) => readTokenClaims(x), 'abc')).toBe('malformed')
  })
})

function chain(n: number) {
  return Array.from({ length: n }, () => ({
    agent: CLAIMS.sub,
    scope: ['read:data:x'],
    delegated_at: '2026-01-01T00:00:00Z',
  }))
}
