import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeGoStruct, goJsonStringify, parseGoJson } from '../../src/testing/go-json.js'
import { formatRfc3339, formatRfc3339Nano, normalizeRfc3339 } from '../../src/testing/go-time.js'
import { chainHash, decodeClaims } from '../../src/testing/jwt.js'

describe('goJsonStringify (Go json.Marshal bytes)', () => {
  it('escapes <, >, &, U+2028/9 and control characters like Go', () => {
    expect(goJsonStringify({ a: '<a href="x">&</a>' })).toBe(
      '{"a":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"}',
    )
    expect(goJsonStringify('\u2028\u2029')).toBe('"\\u2028\\u2029"')
    expect(goJsonStringify('\b\f\n\r\t\u0001\u001f\\')).toBe('"\\b\\f\\n\\r\\t\\u0001\\u001f\\\\"')
    expect(goJsonStringify('é😀\u007f')).toBe('"é😀\u007f"')
    expect(goJsonStringify('a\ud800b\udc00')).toBe('"a\\ufffdb\\ufffd"')
  })

  it('keeps key order, omits undefined members, writes bigint and Go floats', () => {
    expect(goJsonStringify({ z: 1, a: [true, null], m: undefined, b: 9007199254740993n })).toBe(
      '{"z":1,"a":[true,null],"b":9007199254740993}',
    )
    expect(goJsonStringify([1e21, 1e-7, 1.5, 1e20, 0.000001])).toBe(
      '[1e+21,1e-7,1.5,100000000000000000000,0.000001]',
    )
    expect(() => goJsonStringify(Number.NaN)).toThrow(TypeError)
  })
})

describe('chain_hash (contract §11.4)', () => {
  it('matches the contract vector', () => {
    const chain = [
      {
        agent: 'spiffe://agentwrit.local/agent/o/t/1111111111111111',
        scope: ['read:data:*', 'write:data:*'],
        delegated_at: '2026-04-14T20:26:15.130922919Z',
        signature: 'ab'.repeat(64),
      },
    ]
    expect(chainHash(chain)).toBe('f9e6efb3a14f6ed7928505aa74b062508049af7f867e72d951347ff41b6fec62')
  })

  it('hashes the Go encoding (HTML-escaped, signature omitted when empty)', () => {
    const chain = [{ agent: 'a<b>&', scope: ['x:y:z'], delegated_at: '2026-01-01T00:00:00Z', signature: '' }]
    const goBytes =
      '[{"agent":"a\\u003cb\\u003e\\u0026","scope":["x:y:z"],"delegated_at":"2026-01-01T00:00:00Z"}]'
    expect(chainHash(chain)).toBe(createHash('sha256').update(goBytes).digest('hex'))
    expect(chainHash(chain)).not.toBe(createHash('sha256').update(JSON.stringify(chain)).digest('hex'))
  })
})

describe('Go time formatting', () => {
  it('RFC3339Nano trims trailing zeros and drops a zero fraction', () => {
    const base = Date.UTC(2026, 3, 14, 20, 26, 15)
    expect(formatRfc3339Nano(base)).toBe('2026-04-14T20:26:15Z')
    expect(formatRfc3339Nano(base + 130)).toBe('2026-04-14T20:26:15.13Z')
    expect(formatRfc3339Nano(base + 100.5)).toBe('2026-04-14T20:26:15.1005Z')
    expect(formatRfc3339(base + 999)).toBe('2026-04-14T20:26:15Z')
  })

  it('normalises RFC 3339 input like time.Time round-tripping', () => {
    expect(normalizeRfc3339('2026-04-14T20:26:15.500000000Z')).toBe('2026-04-14T20:26:15.5Z')
    expect(normalizeRfc3339('2026-04-14T20:26:15+00:00')).toBe('2026-04-14T20:26:15Z')
    expect(normalizeRfc3339('2026-04-14T20:26:15+02:00')).toBe('2026-04-14T20:26:15+02:00')
    expect(normalizeRfc3339('2026-02-30T00:00:00Z')).toBeNull()
    expect(normalizeRfc3339('2026-04-14 20:26:15Z')).toBeNull()
  })
})

describe('Go decoding semantics', () => {
  it('Decoder reads the first value; Unmarshal rejects trailing data', () => {
    expect(parseGoJson('{"a":1} trailing', 'decoder')).toBeDefined()
    expect(parseGoJson('{"a":1} trailing', 'unmarshal')).toBeUndefined()
    expect(parseGoJson('', 'decoder')).toBeUndefined()
    expect(parseGoJson('\ufeff{}', 'decoder')).toBeUndefined()
    expect(parseGoJson('{"a":"\u0001"}')).toBeUndefined()
  })

  it('struct decoding: case-insensitive names, unknown fields ignored, strict types, null = unset', () => {
    const spec = { token: 'string', ttl: 'int', scope: 'string[]' } as const
    expect(decodeGoStruct(parseGoJson('{"TOKEN":"x","other":[1],"ttl":-5}')!, spec)).toEqual({
      token: 'x',
      ttl: -5n,
    })
    expect(decodeGoStruct(parseGoJson('{"token":null,"scope":["a",null]}')!, spec)).toEqual({
      scope: ['a', ''],
    })
    expect(decodeGoStruct(parseGoJson('null')!, spec)).toEqual({})
    for (const bad of [
      '[]',
      '"x"',
      '{"ttl":"60"}',
      '{"ttl":60.0}',
      '{"ttl":1e3}',
      '{"token":5}',
      '{"scope":"a"}',
    ]) {
      expect(decodeGoStruct(parseGoJson(bad)!, spec), bad).toBeNull()
    }
    expect(decodeGoStruct(parseGoJson('{"ttl":9223372036854775808}')!, spec)).toBeNull()
  })

  it('claims decoding follows the Go struct (lone surrogate escapes become U+FFFD)', () => {
    const c = decodeClaims(Buffer.from('{"sub":"\\ud800x","jti":"j","exp":5,"delegation_chain":[null]}'))
    expect(c?.sub).toBe('\ufffdx')
    expect(c?.delegation_chain).toEqual([
      { agent: '', scope: null, delegated_at: '0001-01-01T00:00:00Z', signature: '' },
    ])
    expect(decodeClaims(Buffer.from('{"exp":1.5}'))).toBeNull()
    expect(decodeClaims(Buffer.from('{"aud":"svc"}'))).toBeNull()
    expect(decodeClaims(Buffer.from('{"delegation_chain":[{"delegated_at":"yesterday"}]}'))).toBeNull()
  })
})
