import { describe, expect, it } from 'vitest'
import { DEFAULTS, resolveOptions } from '../../src/core/options.js'

describe('resolveOptions', () => {
  it('fills documented defaults in remote mode', () => {
    const o = resolveOptions({ broker: 'http://127.0.0.1:8080' })
    expect(o.mode).toBe('remote')
    expect(o.broker?.href).toBe('http://127.0.0.1:8080/')
    expect(o).toMatchObject({
      realm: 'agentwrit',
      cacheTtlMs: DEFAULTS.cacheTtlMs,
      negativeCacheTtlMs: 30_000,
      cacheMaxEntries: 10_000,
      timeoutMs: 2_000,
      retryAfterSeconds: 5,
      allowAdminTokens: false,
      allowAppTokens: false,
      maxTokenLength: 8192,
    })
    expect(Object.isFrozen(o)).toBe(true)
  })

  it('infers local and hybrid modes from the key source', () => {
    expect(resolveOptions({ jwksUri: 'http://127.0.0.1:1/v1/jwks' }).mode).toBe('local')
    expect(resolveOptions({ broker: 'http://127.0.0.1:1', publicKey: 'x'.repeat(43) }).mode).toBe('hybrid')
  })

  it.each([
    [{}, 'broker'],
    [{ broker: 'ftp://x' }, 'broker'],
    [{ broker: 'not a url' }, 'broker'],
    [{ broker: 'http://u:p@127.0.0.1' }, 'broker'],
    [{ broker: 'http://127.0.0.1', mode: 'both' }, 'mode'],
    [{ broker: 'http://127.0.0.1', mode: 'local' }, 'jwksUri'],
    [{ broker: 'http://127.0.0.1', cacheTtlMs: -1 }, 'cacheTtlMs'],
    [{ broker: 'http://127.0.0.1', cacheTtlMs: 1.5 }, 'cacheTtlMs'],
    [{ broker: 'http://127.0.0.1', cacheTtlMs: '5000' }, 'cacheTtlMs'],
    [{ broker: 'http://127.0.0.1', timeoutMs: 0 }, 'timeoutMs'],
    [{ broker: 'http://127.0.0.1', cacheMaxEntries: 0 }, 'cacheMaxEntries'],
    [{ broker: 'http://127.0.0.1', realm: 'a"b' }, 'realm'],
    [{ broker: 'http://127.0.0.1', audience: [] }, 'audience'],
    [{ broker: 'http://127.0.0.1', trustDomain: 'Bad Domain' }, 'trustDomain'],
    [{ broker: 'http://127.0.0.1', allowAdminTokens: 'yes' }, 'allowAdminTokens'],
    [{ broker: 'http://127.0.0.1', now: 5 }, 'now'],
    [{ broker: 'http://127.0.0.1', dispatcher: {} }, 'dispatcher'],
    [{ broker: 'http://127.0.0.1', publicKey: 42 }, 'publicKey'],
    [{ broker: 'http://127.0.0.1', cacheTTL: 5 }, 'cacheTTL'],
  ])('rejects %j with a TypeError naming %s', (input, name) => {
    expect(() => resolveOptions(input as never)).toThrow(TypeError)
    expect(() => resolveOptions(input as never)).toThrow(name)
  })

  it('never echoes broker credentials', () => {
    expect(() => resolveOptions({ broker: 'http://user:secret@127.0.0.1' })).toThrow(/redacted/)
    expect(() => resolveOptions({ broker: 'http://user:secret@127.0.0.1' })).not.toThrow(/secret/)
  })

  it('rejects two key sources at once', () => {
    expect(() => resolveOptions({ jwksUri: 'http://127.0.0.1/j', publicKey: 'k' })).toThrow(/exclusive/)
  })

  it('accepts audience as a string or list', () => {
    expect(resolveOptions({ broker: 'http://127.0.0.1', audience: 'orders' }).audience).toEqual(['orders'])
    expect(resolveOptions({ broker: 'http://127.0.0.1', audience: ['a', 'b'] }).audience).toEqual(['a', 'b'])
  })
})
