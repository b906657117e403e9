import { describe, expect, it } from 'vitest'
import {
  type AgentWritClaims,
  identityBase,
  identityFrom,
  MAX_AUDIENCE_ENTRIES,
  MAX_CLAIM_STRING_LENGTH,
  MAX_DELEGATION_CHAIN_LENGTH,
  MAX_SCOPE_ENTRIES,
  parseClaims,
  sameClaims,
  tokenKindOf,
} from '../../src/core/claims.js'
import { BROKER_MAX_DELEGATION_DEPTH } from '../../src/core/delegation.js'
import { identityOf } from '../helpers/identity.js'

const base = {
  iss: '',
  sub: 'spiffe://agentwrit.local/agent/order-worker/process-ord-1/0123456789abcdef',
  exp: 2_000_000_100,
  nbf: 2_000_000_000,
  iat: 2_000_000_000,
  jti: '0123456789abcdef0123456789abcdef',
  scope: ['read:data:customer-7'],
  task_id: 'process-ord-1',
  orch_id: 'order-worker',
}

const T1 = '2026-04-14T20:26:15.130922919Z'
const T2 = '2026-04-14T20:27:00Z'
const SIG = 'ab'.repeat(64)
const HASH = 'f9e6efb3a14f6ed7928505aa74b062508049af7f867e72d951347ff41b6fec62'
const hop = (over: Record<string, unknown> = {}) => ({
  agent: 'spiffe://agentwrit.local/agent/o/t/1111111111111111',
  scope: ['read:data:*', 'read:data:customer-7'],
  delegated_at: T1,
  signature: SIG,
  ...over,
})
const delegated = (chain: unknown[], over: Record<string, unknown> = {}) => ({
  ...base,
  delegation_chain: chain,
  chain_hash: HASH,
  ...over,
})

describe('parseClaims', () => {
  it('accepts the broker shape and deep-freezes a clean copy', () => {
    const c = parseClaims({ ...base, unknown: 1 })!
    expect(c).not.toBeNull()
    expect(c.sub).toBe(base.sub)
    expect((c as unknown as Record<string, unknown>).unknown).toBeUndefined()
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.scope)).toBe(true)
  })

  it('freezes every level: aud, scope, the chain, each record and its scope', () => {
    const c = parseClaims({
      ...base,
      aud: ['api'],
      delegation_chain: [
        { agent: 'spiffe://agentwrit.local/agent/o/t/1', scope: ['read:data:*'], delegated_at: T1 },
        {
          agent: 'spiffe://agentwrit.local/agent/o/t/2',
          scope: ['read:data:x'],
          delegated_at: T2,
          signature: SIG,
        },
      ],
      chain_hash: HASH,
    })!
    const chain = c.delegation_chain!
    for (const v of [c, c.aud, c.scope, chain, chain[0], chain[0]!.scope, chain[1], chain[1]!.scope]) {
      expect(Object.isFrozen(v)).toBe(true)
    }
    expect(chain[1]).toEqual({
      agent: 'spiffe://agentwrit.local/agent/o/t/2',
      scope: ['read:data:x'],
      delegated_at: T2,
      signature: SIG,
    })
  })

  it.each([
    ['not an object', 'x'],
    ['array', []],
    ['null', null],
    ['empty sub', { ...base, sub: '' }],
    ['missing jti', { ...base, jti: undefined }],
    ['float exp', { ...base, exp: 1.5 }],
    ['string exp', { ...base, exp: '2000000100' }],
    ['zero exp', { ...base, exp: 0 }],
    ['huge exp', { ...base, exp: 1e300 }],
    ['string scope', { ...base, scope: 'read:data:x' }],
    ['scope with a number', { ...base, scope: ['a:b:c', 1] }],
    ['aud as string', { ...base, aud: 'x' }],
    ['numeric iss', { ...base, iss: 1 }],
    ['bad chain entry', { ...base, delegation_chain: [{ agent: 'a' }] }],
    ['chain not array', { ...base, delegation_chain: {} }],
  ])('rejects %s', (_name, raw) => {
    expect(parseClaims(raw)).toBeNull()
  })

  it.each([
    ['exp beyond 2^53', { ...base, exp: 2 ** 53 }],
    [
      'exp = 2^63 − 1 as JSON reads it',
      JSON.parse(`{"sub":"${base.sub}","jti":"j","exp":9223372036854775807}`),
    ],
    ['negative exp', { ...base, exp: -1 }],
    ['iat a fraction', { ...base, iat: 2_000_000_000.5 }],
    ['nbf beyond 2^53', { ...base, nbf: 2 ** 53 + 2 }],
    ['iat a string', { ...base, iat: '2000000000' }],
    ['nbf null', { ...base, nbf: null }],
  ])('rejects time claims the broker cannot hold: %s', (_name, raw) => {
    expect(parseClaims(raw)).toBeNull()
  })

  it('exp, nbf and iat up to 2^53 − 1 are accepted (negative nbf/iat too: Go int64)', () => {
    const max = Number.MAX_SAFE_INTEGER
    expect(parseClaims({ ...base, exp: max, nbf: max, iat: max })).not.toBeNull()
    expect(parseClaims({ ...base, nbf: -5, iat: -5 })).not.toBeNull()
  })

  describe('bounds: what no broker issues is refused', () => {
    const long = 'x'.repeat(MAX_CLAIM_STRING_LENGTH)
    const tooLong = `${long}x`
    it('the constants', () => {
      expect(MAX_CLAIM_STRING_LENGTH).toBe(2048)
      expect(MAX_SCOPE_ENTRIES).toBe(256)
      expect(MAX_AUDIENCE_ENTRIES).toBe(16)
      expect(MAX_DELEGATION_CHAIN_LENGTH).toBe(5)
      expect(MAX_DELEGATION_CHAIN_LENGTH).toBe(BROKER_MAX_DELEGATION_DEPTH)
    })
    it.each(['sub', 'jti', 'iss', 'sid', 'task_id', 'orch_id'])(
      '%s: at the bound accepted, one more refused',
      (k) => {
        expect(parseClaims({ ...base, [k]: long })).not.toBeNull()
        expect(parseClaims({ ...base, [k]: tooLong })).toBeNull()
      },
    )
    it('a scope entry, an aud entry, a record agent or record scope entry over the bound', () => {
      expect(parseClaims({ ...base, scope: [long] })).not.toBeNull()
      expect(parseClaims({ ...base, scope: ['read:data:x', tooLong] })).toBeNull()
      expect(parseClaims({ ...base, aud: [long] })).not.toBeNull()
      expect(parseClaims({ ...base, aud: [tooLong] })).toBeNull()
      expect(parseClaims(delegated([hop({ agent: tooLong })]))).toBeNull()
      expect(parseClaims(delegated([hop({ scope: [tooLong] })]))).toBeNull()
    })
    it('scope count, record scope count and aud count', () => {
      const scopes = (n: number) => Array.from({ length: n }, (_, i) => `read:data:c-${i}`)
      expect(parseClaims({ ...base, scope: scopes(MAX_SCOPE_ENTRIES) })).not.toBeNull()
      expect(parseClaims({ ...base, scope: scopes(MAX_SCOPE_ENTRIES + 1) })).toBeNull()
      expect(parseClaims(delegated([hop({ scope: scopes(MAX_SCOPE_ENTRIES + 1) })]))).toBeNull()
      const auds = (n: number) => Array.from({ length: n }, (_, i) => `svc-${i}`)
      expect(parseClaims({ ...base, aud: auds(MAX_AUDIENCE_ENTRIES) })).not.toBeNull()
      expect(parseClaims({ ...base, aud: auds(MAX_AUDIENCE_ENTRIES + 1) })).toBeNull()
    })
    it('an unpaired surrogate in any string (the broker would read U+FFFD)', () => {
      expect(parseClaims({ ...base, sub: `${base.sub}\ud800` })).toBeNull()
      expect(parseClaims({ ...base, scope: ['read:data:\udc00'] })).toBeNull()
      expect(parseClaims({ ...base, task_id: '\ud800x' })).toBeNull()
      // a well-formed pair is fine
      expect(parseClaims({ ...base, scope: ['read:data:\ud83d\ude00'] })).not.toBeNull()
    })
  })

  describe('delegation chain as the broker writes it', () => {
    it('up to 5 records with chain_hash are accepted', () => {
      for (let n = 1; n <= MAX_DELEGATION_CHAIN_LENGTH; n++) {
        const c = parseClaims(delegated(Array.from({ length: n }, () => hop())))
        expect(c?.delegation_chain).toHaveLength(n)
        expect(c?.chain_hash).toBe(HASH)
      }
    })
    it('6 records (the broker refuses a sixth hop) → refused', () => {
      expect(parseClaims(delegated(Array.from({ length: 6 }, () => hop())))).toBeNull()
    })
    it('chain_hash without a chain, a chain without chain_hash → refused', () => {
      expect(parseClaims({ ...base, chain_hash: HASH })).toBeNull()
      expect(parseClaims({ ...base, delegation_chain: [], chain_hash: HASH })).toBeNull()
      expect(parseClaims({ ...base, delegation_chain: null, chain_hash: HASH })).toBeNull()
      expect(parseClaims(delegated([hop()], { chain_hash: undefined }))).toBeNull()
      expect(parseClaims(delegated([hop()], { chain_hash: '' }))).toBeNull()
      // neither: fine (empty values are Go's zero values, dropped)
      expect(parseClaims({ ...base, delegation_chain: [], chain_hash: '' })?.delegation_chain).toBeUndefined()
    })
    it.each([
      ['not hex', 'z'.repeat(64)],
      ['upper-case hex', HASH.toUpperCase()],
      ['63 characters', HASH.slice(1)],
      ['a number', 7],
    ])('chain_hash %s → refused', (_n, chain_hash) => {
      expect(parseClaims(delegated([hop()], { chain_hash }))).toBeNull()
    })
    it.each([
      ['missing agent', hop({ agent: undefined })],
      ['empty agent', hop({ agent: '' })],
      ['agent a number', hop({ agent: 7 })],
      ['missing scope', hop({ scope: undefined })],
      ['scope null', hop({ scope: null })],
      ['scope a string', hop({ scope: 'read:data:*' })],
      ['scope with a number', hop({ scope: ['read:data:*', 1] })],
      ['missing delegated_at', hop({ delegated_at: undefined })],
      ['delegated_at a number', hop({ delegated_at: 1_776_198_375 })],
      ['delegated_at not RFC 3339', hop({ delegated_at: 'yesterday' })],
      ['delegated_at with an offset', hop({ delegated_at: '2026-04-14T22:26:15+02:00' })],
      ['delegated_at with trailing zeros', hop({ delegated_at: '2026-04-14T20:26:15.500Z' })],
      ['delegated_at with an empty fraction', hop({ delegated_at: '2026-04-14T20:26:15.Z' })],
      ['delegated_at with ten digits', hop({ delegated_at: '2026-04-14T20:26:15.1234567891Z' })],
      ['delegated_at month 13', hop({ delegated_at: '2026-13-14T20:26:15Z' })],
      ['signature not hex', hop({ signature: 'sig' })],
      ['signature a number', hop({ signature: 1 })],
      ['record an array', ['a', ['read:data:*'], T1]],
      ['record null', null],
    ])('a chain link with %s → refused', (_n, record) => {
      expect(parseClaims(delegated([record]))).toBeNull()
    })
    it('Go RFC3339Nano forms are accepted; a signature may be absent or empty (then dropped)', () => {
      for (const at of ['2026-04-14T20:26:15Z', '2026-04-14T20:26:15.1Z', '2026-04-14T20:26:15.123456789Z']) {
        expect(parseClaims(delegated([hop({ delegated_at: at })]))).not.toBeNull()
      }
      expect(
        parseClaims(delegated([hop({ signature: undefined })]))!.delegation_chain![0],
      ).not.toHaveProperty('signature')
      expect(parseClaims(delegated([hop({ signature: '' })]))!.delegation_chain![0]).not.toHaveProperty(
        'signature',
      )
    })
  })

  it('treats a null scope as holding nothing (Go nil slice)', () => {
    expect(parseClaims({ ...base, scope: null })!.scope).toEqual([])
  })

  it('never copies __proto__ keys', () => {
    const raw = JSON.parse(`{"sub":"${base.sub}","jti":"j","exp":5,"scope":[],"__proto__":{"admin":true}}`)
    const c = parseClaims(raw)!
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype)
    expect((c as unknown as Record<string, unknown>).admin).toBeUndefined()
  })
})

describe('tokenKindOf', () => {
  it.each([
    [base.sub, 'agent', 'agentwrit.local'],
    ['admin', 'admin', undefined],
    ['app:app-weather-bot-a1b2c3', 'app', undefined],
  ])('%s → %s', (sub, kind, td) => {
    expect(tokenKindOf(sub)).toEqual({ kind, trustDomain: td })
  })
  it.each([
    'spiffe://agentwrit.local/agent/o/t',
    'spiffe://Agentwrit.local/agent/o/t/i',
    'spiffe://agentwrit.local/workload/o/t/i',
    'spiffe://agentwrit.local/agent/o/t/i/extra',
    'spiffe://agentwrit.local/agent/./t/i',
    'spiffe://agentwrit.local/agent/o/../i',
    'spiffe://agentwrit.local/agent/o/t/.',
    'spiffe://agentwrit.local/agent/o/t/..',
    'app:',
    'Admin',
    'user@example.com',
  ])('unknown subject %s', (sub) => {
    expect(tokenKindOf(sub)).toBeNull()
  })
})

describe('identityOf (identityFrom of identityBase)', () => {
  it('maps claims to a frozen identity', () => {
    const chain = [
      { agent: 'spiffe://agentwrit.local/agent/o/t/1111111111111111', scope: ['a:b:*'], delegated_at: T1 },
    ]
    const id = identityOf(
      parseClaims({ ...base, aud: ['svc'], delegation_chain: chain, chain_hash: HASH })!,
      {
        source: 'cache',
        cacheAgeMs: 12,
      },
    )
    expect(id).toMatchObject({
      id: base.sub,
      kind: 'agent',
      trustDomain: 'agentwrit.local',
      scope: base.scope,
      taskId: 'process-ord-1',
      orchId: 'order-worker',
      jti: base.jti,
      issuer: '',
      audience: ['svc'],
      delegated: true,
      verification: { source: 'cache', cacheAgeMs: 12 },
    })
    expect(id.expiresAt.getTime()).toBe(base.exp * 1000)
    expect(id.issuedAt.getTime()).toBe(base.iat * 1000)
    expect(id.delegationChain).toHaveLength(1)
    expect(Object.isFrozen(id)).toBe(true)
  })
})

describe('sameClaims (a broker answer must carry exactly the token claims)', () => {
  const full = () =>
    parseClaims(
      delegated([hop(), hop({ agent: 'spiffe://agentwrit.local/agent/o/t/2222222222222222' })], {
        aud: ['svc'],
        sid: 's1',
        scope: ['read:data:customer-7'],
      }),
    )!
  it('equal claim sets, including the Go zero-value spellings that parseClaims normalises', () => {
    expect(sameClaims(full(), full())).toBe(true)
    const a = parseClaims({ ...base, aud: [], sid: '', nbf: 2_000_000_000 })!
    const b = parseClaims({ ...base, scope: ['read:data:customer-7'], delegation_chain: null })!
    expect(sameClaims(a, b)).toBe(true)
    expect(sameClaims(parseClaims({ ...base, scope: null })!, parseClaims({ ...base, scope: [] })!)).toBe(
      true,
    )
  })
  const changes: [string, Record<string, unknown>][] = [
    ['sub', { sub: 'spiffe://agentwrit.local/agent/o/t/ffffffffffffffff' }],
    ['jti', { jti: 'f'.repeat(32) }],
    ['exp', { exp: 2_000_000_101 }],
    ['iat', { iat: 1_999_999_999 }],
    ['nbf', { nbf: 0 }],
    ['iss', { iss: 'https://broker.example' }],
    ['aud', { aud: ['other'] }],
    ['aud absent', { aud: undefined }],
    ['aud with one more', { aud: ['svc', 'x'] }],
    ['sid', { sid: undefined }],
    ['scope wider', { scope: ['read:data:*'] }],
    ['scope with one more', { scope: ['read:data:customer-7', 'read:data:customer-8'] }],
    ['scope empty', { scope: [] }],
    ['task_id', { task_id: 'other-task' }],
    ['orch_id', { orch_id: undefined }],
    ['chain_hash', { chain_hash: 'e'.repeat(64) }],
    ['chain shorter', { delegation_chain: [hop()] }],
    ['chain record agent', { delegation_chain: [hop(), hop()] }],
    [
      'chain record scope',
      {
        delegation_chain: [
          hop(),
          hop({ agent: 'spiffe://agentwrit.local/agent/o/t/2222222222222222', scope: ['read:data:*'] }),
        ],
      },
    ],
    [
      'chain record delegated_at',
      {
        delegation_chain: [
          hop({ delegated_at: T2 }),
          hop({ agent: 'spiffe://agentwrit.local/agent/o/t/2222222222222222' }),
        ],
      },
    ],
    [
      'chain record signature',
      {
        delegation_chain: [
          hop({ signature: 'cd'.repeat(64) }),
          hop({ agent: 'spiffe://agentwrit.local/agent/o/t/2222222222222222' }),
        ],
      },
    ],
    ['no chain at all', { delegation_chain: undefined, chain_hash: undefined }],
  ]
  it.each(changes)('a different %s → not the same', (_n, change) => {
    const raw: Record<string, unknown> = { ...full(), ...change }
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete raw[k]
    const other = parseClaims(raw)
    expect(other, 'the changed claim set is well-formed').not.toBeNull()
    expect(sameClaims(full(), other!)).toBe(false)
    expect(sameClaims(other!, full())).toBe(false)
  })
  it('scope order matters (same entries, same order)', () => {
    const a = parseClaims({ ...base, scope: ['a:b:c', 'd:e:f'] })!
    const b = parseClaims({ ...base, scope: ['d:e:f', 'a:b:c'] })!
    expect(sameClaims(a, b)).toBe(false)
  })
})

describe('identity freezing: nothing a handler can change, nothing shared that is mutable', () => {
  const verification = { source: 'broker' as const, cacheAgeMs: 0 }
  it('a token without aud or chain: the empty arrays are frozen, push throws (strict mode)', () => {
    const a = identityOf(parseClaims(base)!, verification)
    expect(() => (a.delegationChain as unknown[]).push(hop())).toThrow(TypeError)
    expect(() => (a.audience as string[]).push('svc')).toThrow(TypeError)
    expect(() => (a.scope as string[]).push('read:data:*')).toThrow(TypeError)
    // the next identity (another request, another token) still sees empty arrays
    const b = identityOf(parseClaims({ ...base, jti: 'f'.repeat(32) })!, verification)
    expect(b.delegationChain).toEqual([])
    expect(b.audience).toEqual([])
    expect(a.delegationChain).toEqual([])
  })
  it('every part is frozen: identity, claims, arrays, records, nested scopes, verification', () => {
    const id = identityFrom(
      identityBase(parseClaims(delegated([hop(), hop()], { aud: ['svc'] }))!),
      verification,
    )
    const chain = id.delegationChain
    for (const v of [
      id,
      id.claims,
      id.scope,
      id.audience,
      chain,
      chain[0],
      chain[0]!.scope,
      chain[1],
      chain[1]!.scope,
      id.claims.aud,
      id.verification,
    ]) {
      expect(Object.isFrozen(v)).toBe(true)
    }
    expect(() => {
      ;(chain[0]!.scope as string[]).push('admin:all:*')
    }).toThrow(TypeError)
    expect(() => {
      ;(id.verification as { source: string }).source = 'local'
    }).toThrow(TypeError)
    // issuedAt / expiresAt are fresh per request, never shared
    const again = identityFrom(identityBase(id.claims), verification)
    expect(again.issuedAt).not.toBe(id.issuedAt)
    expect(again.expiresAt).not.toBe(id.expiresAt)
  })
  it('claims built by hand (not frozen) are copied and frozen first', () => {
    const scope = ['read:data:x']
    const hop = { agent: base.sub, scope: ['read:data:*'], delegated_at: T1 }
    const hand = { ...base, scope, aud: ['svc'], delegation_chain: [hop] } as unknown as AgentWritClaims
    const id = identityOf(hand, verification)
    expect(id.scope).not.toBe(scope)
    const chain = id.delegationChain
    for (const v of [id.claims, id.scope, id.audience, chain, chain[0], chain[0]!.scope]) {
      expect(Object.isFrozen(v)).toBe(true)
    }
    scope.push('read:data:*')
    hop.scope.push('admin:all:*')
    expect(id.scope).toEqual(['read:data:x'])
    expect(chain[0]!.scope).toEqual(['read:data:*'])
  })
})
