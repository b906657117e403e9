import { describe, expect, it } from 'vitest'
import { parseClaims } from '../../src/core/claims.js'
import { chainAttenuates, compileDelegationGuard } from '../../src/core/delegation.js'
import { AgentAuthError } from '../../src/core/errors.js'
import { identityOf } from '../helpers/identity.js'

const A = 'spiffe://agentwrit.local/agent/release-orchestrator/r/1111111111111111'
const B = 'spiffe://agentwrit.local/agent/review/r/2222222222222222'
const C = 'spiffe://agentwrit.local/agent/deploy/r/3333333333333333'

function claims(scope: string[], chain?: { agent: string; scope: string[] }[]) {
  return parseClaims({
    sub: C,
    jti: 'j',
    exp: 9_999_999_999,
    scope,
    delegation_chain: chain?.map((h) => ({ ...h, delegated_at: '2026-04-14T20:26:15.130922919Z' })),
    // The broker writes chain_hash with every chain (parseClaims refuses one without the other).
    chain_hash: chain === undefined ? undefined : 'c'.repeat(64),
  })!
}

describe('chainAttenuates', () => {
  it('a token without a chain passes', () => {
    expect(chainAttenuates(claims(['a:b:c']))).toBe(true)
  })
  it('each hop covered by the previous one, the token by the last: passes (equal scope allowed)', () => {
    const c = claims(
      ['write:deploy:web'],
      [
        { agent: A, scope: ['read:config:*', 'write:deploy:*'] },
        { agent: B, scope: ['read:config:production', 'write:deploy:web'] },
      ],
    )
    expect(chainAttenuates(c)).toBe(true)
    expect(chainAttenuates(claims(['x:y:*'], [{ agent: A, scope: ['x:y:*'] }]))).toBe(true)
  })
  it('a hop wider than the previous one fails', () => {
    const c = claims(
      ['write:deploy:web'],
      [
        { agent: A, scope: ['write:deploy:web'] },
        { agent: B, scope: ['write:deploy:*'] },
      ],
    )
    expect(chainAttenuates(c)).toBe(false)
  })
  it('a token wider than the last hop fails', () => {
    expect(chainAttenuates(claims(['write:deploy:*'], [{ agent: A, scope: ['write:deploy:web'] }]))).toBe(
      false,
    )
  })
})

describe('requireDelegatedFrom guard', () => {
  const delegated = identityOf(
    claims(
      ['w:d:x'],
      [
        { agent: A, scope: ['w:d:*'] },
        { agent: B, scope: ['w:d:x'] },
      ],
    ),
    {
      source: 'broker',
      cacheAgeMs: 0,
    },
  )
  const own = identityOf(claims(['w:d:x']), { source: 'broker', cacheAgeMs: 0 })

  it('exposes depth, root and last delegator on the identity', () => {
    expect(delegated).toMatchObject({ delegated: true, delegationDepth: 2, rootAgent: A, delegatedBy: B })
    expect(own).toMatchObject({
      delegated: false,
      delegationDepth: 0,
      rootAgent: undefined,
      delegatedBy: undefined,
    })
  })

  it.each([
    ['exact id', A],
    ['RegExp', /\/agent\/release-orchestrator\//],
    ['global RegExp (stateless)', /release-orchestrator/g],
    ['predicate', (root: string) => root === A],
  ])('accepts a matching root (%s), repeatedly', (_n, m) => {
    const g = compileDelegationGuard([m as string])
    for (let i = 0; i < 3; i++) expect(() => g.check(delegated)).not.toThrow()
  })

  it('refuses another root and a non-delegated token with 403 delegation_not_allowed', () => {
    const g = compileDelegationGuard([B])
    for (const id of [delegated, own]) {
      const err = (() => {
        try {
          g.check(id)
        } catch (e) {
          return e
        }
      })() as AgentAuthError
      expect(err).toBeInstanceOf(AgentAuthError)
      expect(err.code).toBe('delegation_not_allowed')
      expect(err.status).toBe(403)
    }
  })

  it('without an identity it is a configuration error', () => {
    expect(() => compileDelegationGuard([A]).enforce({ agent: undefined, state: undefined })).toThrow(
      /without agentAuth/,
    )
  })

  it('bad matchers throw at definition', () => {
    expect(() => compileDelegationGuard([])).toThrow(TypeError)
    expect(() => compileDelegationGuard([''])).toThrow(TypeError)
    expect(() => compileDelegationGuard([42 as never])).toThrow(TypeError)
  })
})
