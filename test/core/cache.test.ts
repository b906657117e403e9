import { describe, expect, it } from 'vitest'
import { tokenKey, VerificationCache } from '../../src/core/cache.js'
import { parseClaims } from '../../src/core/claims.js'

const claims = parseClaims({ sub: 'spiffe://d/agent/o/t/i', jti: 'j', exp: 10, scope: [] })!

function clock(start = 1_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('tokenKey', () => {
  it('is a SHA-256 base64url digest, never the token', () => {
    const k = tokenKey('aaa.bbb.ccc')
    expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(k).not.toContain('aaa')
    expect(tokenKey('aaa.bbb.ccd')).not.toBe(k)
  })
})

describe('VerificationCache', () => {
  it('expires entries on the injected clock and reports their age', () => {
    const c = clock()
    const cache = new VerificationCache({ max: 10, now: c.now })
    cache.set('k', { valid: true, claims }, 1_000)
    c.advance(400)
    expect(cache.get('k')).toMatchObject({ hit: true, ageMs: 400 })
    c.advance(601)
    expect(cache.get('k')).toBeUndefined()
  })

  it('does not store with a TTL of zero or less', () => {
    const cache = new VerificationCache({ max: 10, now: clock().now })
    cache.set('a', { valid: false }, 0)
    cache.set('b', { valid: false }, -5)
    expect(cache.size).toBe(0)
  })

  it('is bounded by max entries (LRU)', () => {
    const cache = new VerificationCache({ max: 3, now: clock().now })
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, { valid: false }, 10_000)
    expect(cache.size).toBe(3)
    expect(cache.get('k9')).toBeDefined()
    expect(cache.get('k0')).toBeUndefined()
  })

  it('single-flight: concurrent runs of one key share one computation', async () => {
    const cache = new VerificationCache({ max: 10, now: clock().now })
    let calls = 0
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const compute = async () => {
      calls++
      await gate
      return { outcome: { valid: true as const, claims }, ttlMs: 1_000 }
    }
    const all = Array.from({ length: 100 }, () => cache.run('k', compute))
    expect(cache.inflight).toBe(1)
    release()
    const results = await Promise.all(all)
    expect(calls).toBe(1)
    expect(results.every((r) => r.outcome.valid)).toBe(true)
    expect(cache.inflight).toBe(0)
    expect((await cache.run('k', compute)).hit).toBe(true)
    expect(calls).toBe(1)
  })

  it('a failed computation rejects every waiter and caches nothing', async () => {
    const cache = new VerificationCache({ max: 10, now: clock().now })
    let calls = 0
    const failing = async () => {
      calls++
      throw new Error('down')
    }
    const all = await Promise.allSettled([cache.run('k', failing), cache.run('k', failing)])
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(calls).toBe(1)
    expect(cache.size).toBe(0)
    await expect(cache.run('k', failing)).rejects.toThrow('down')
    expect(calls).toBe(2)
  })
})
