import { describe, expect, it } from 'vitest'
import { parseClaims, toIdentity, tokenKindOf } from '../../src/core/claims.js'

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
        { agent: 'spiffe://agentwrit.local/agent/o/t/1', scope: ['read:data:*'], delegated_at: 't1' },
        {
          agent: 'spiffe://agentwrit.local/agent/o/t/2',
          scope: ['read:data:x'],
          delegated_at: 't2',
          signature: 'ab',
        },
      ],
      chain_hash: 'h',
    })!
    const chain = c.delegation_chain!
    for (const v of [c, c.aud, c.scope, chain, chain[0], chain[0]!.scope, chain[1], chain[1]!.scope]) {
      expect(Object.isFrozen(v)).toBe(true)
    }
    expect(chain[1]).toEqual({
      agent: 'spiffe://agentwrit.local/agent/o/t/2',
      scope: ['read:data:x'],
      delegated_at: 't2',
      signature: 'ab',
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

describe('toIdentity', () => {
  it('maps claims to a frozen identity', () => {
    const chain = [
      { agent: 'spiffe://agentwrit.local/agent/o/t/1111111111111111', scope: ['a:b:*'], delegated_at: 'x' },
    ]
    const id = toIdentity(parseClaims({ ...base, aud: ['svc'], delegation_chain: chain })!, {
      source: 'cache',
      cacheAgeMs: 12,
    })
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
