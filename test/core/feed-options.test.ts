/**
 * The `revocationFeed` option: defaults, and a TypeError naming `revocationFeed.<key>` for every bad
 * value, checked eagerly (at `createVerifier` / middleware creation), secrets never echoed.
 */
import { describe, expect, it } from 'vitest'
import { FEED_DEFAULTS, resolveFeedOptions } from '../../src/core/feed-options.js'
import { resolveOptions } from '../../src/core/options.js'
import { createVerifier } from '../../src/index.js'

const BROKER = new URL('http://127.0.0.1:8080')
const TOKEN = 'eyJhbGciOiJFZERTQSJ9.e30.sig'

function thrown(input: unknown, ...broker: [URL | undefined] | []): TypeError {
  try {
    resolveFeedOptions(input, broker.length === 0 ? BROKER : broker[0])
  } catch (e) {
    expect(e).toBeInstanceOf(TypeError)
    return e as TypeError
  }
  throw new Error('expected a TypeError')
}

describe('revocationFeed defaults', () => {
  it('absent: no feed', () => {
    expect(resolveFeedOptions(undefined, BROKER)).toBeUndefined()
    expect(resolveOptions({ broker: BROKER }).revocationFeed).toBeUndefined()
  })

  it('poll 1000 ms, maxLag 3 × poll, laggingCacheTtl 5000 ms, the verifier broker', () => {
    const r = resolveFeedOptions({ token: TOKEN }, BROKER)!
    expect(r).toEqual({
      broker: BROKER,
      token: TOKEN,
      adminSecret: undefined,
      pollIntervalMs: 1000,
      maxLagMs: 3000,
      laggingCacheTtlMs: 5000,
    })
    expect(Object.isFrozen(r)).toBe(true)
    expect(FEED_DEFAULTS).toEqual({ pollIntervalMs: 1000, laggingCacheTtlMs: 5000 })
  })

  it('maxLag follows a given poll interval', () => {
    expect(resolveFeedOptions({ token: TOKEN, pollIntervalMs: 250 }, BROKER)!.maxLagMs).toBe(750)
  })

  it('its own broker, a token function, an admin secret', () => {
    const fn = () => TOKEN
    const r = resolveFeedOptions(
      { token: fn, broker: 'http://127.0.0.1:9/', pollIntervalMs: 100, maxLagMs: 100, laggingCacheTtlMs: 0 },
      undefined,
    )!
    expect(r.broker.href).toBe('http://127.0.0.1:9/')
    expect(r.token).toBe(fn)
    expect(r.maxLagMs).toBe(100)
    expect(r.laggingCacheTtlMs).toBe(0)
    expect(resolveFeedOptions({ adminSecret: 's' }, BROKER)!.adminSecret).toBe('s')
  })

  it('local mode may give the verifier a broker for the feed only', () => {
    const o = resolveOptions({
      mode: 'local',
      broker: BROKER,
      publicKey: 'A'.repeat(43),
      revocationFeed: { token: TOKEN },
    })
    expect(o.mode).toBe('local')
    expect(o.revocationFeed?.broker.href).toBe(BROKER.href)
  })
})

describe('revocationFeed validation', () => {
  it.each([
    ['null', null],
    ['a string', 'yes'],
    ['an array', [TOKEN]],
    ['true', true],
  ])('not an object (%s) → revocationFeed', (_n, v) => {
    expect(thrown(v).message).toMatch(/"revocationFeed" must be an object/)
  })

  it('an unknown key is named', () => {
    expect(thrown({ token: TOKEN, pollMs: 5 }).message).toMatch(/unknown option "revocationFeed\.pollMs"/)
  })

  it('exactly one credential', () => {
    expect(thrown({}).message).toMatch(/"revocationFeed" needs exactly one credential/)
    expect(thrown({ broker: BROKER }).message).toMatch(/exactly one credential/)
    expect(thrown({ token: TOKEN, adminSecret: 's' }).message).toMatch(/exactly one credential/)
    // explicit undefined counts as absent
    expect(resolveFeedOptions({ token: TOKEN, adminSecret: undefined }, BROKER)?.token).toBe(TOKEN)
  })

  it.each([
    ['empty', ''],
    ['a number', 42],
    ['an object', { token: TOKEN }],
    ['null', null],
    ['with a space', 'abc def'],
    ['with a newline', 'abc\r\nX-Evil: 1'],
    ['non-ASCII', 'tökén'],
  ])('token %s → revocationFeed.token, never echoed', (_n, v) => {
    const e = thrown({ token: v })
    expect(e.message).toMatch(/"revocationFeed\.token"/)
    expect(e.message).toContain('<redacted>')
    if (typeof v === 'string' && v !== '') expect(e.message).not.toContain(v)
  })

  it.each([
    ['empty', ''],
    ['a number', 1],
    ['a function', () => 's'],
    ['null', null],
  ])('adminSecret %s → revocationFeed.adminSecret, never echoed', (_n, v) => {
    const e = thrown({ adminSecret: v })
    expect(e.message).toMatch(/"revocationFeed\.adminSecret"/)
    expect(e.message).toContain('<redacted>')
  })

  it('a secret with a bad sibling option is not echoed either', () => {
    const e = thrown({ adminSecret: 'hunter2', pollIntervalMs: 1 })
    expect(e.message).toMatch(/revocationFeed\.pollIntervalMs/)
    expect(e.message).not.toContain('hunter2')
  })

  it.each([
    ['not a URL', 'nope'],
    ['ftp', 'ftp://127.0.0.1/'],
    ['a number', 8080],
    ['null', null],
  ])('broker %s → revocationFeed.broker', (_n, v) => {
    expect(thrown({ token: TOKEN, broker: v }).message).toMatch(/"revocationFeed\.broker"/)
  })

  it('broker with credentials → revocationFeed.broker, credentials not echoed', () => {
    const e = thrown({ token: TOKEN, broker: 'http://user:pw@127.0.0.1/' })
    expect(e.message).toMatch(/"revocationFeed\.broker" must be a URL without credentials/)
    expect(e.message).not.toContain('pw@')
  })

  it('no broker anywhere → revocationFeed.broker', () => {
    expect(thrown({ token: TOKEN }, undefined).message).toMatch(
      /"revocationFeed\.broker" must be a broker URL/,
    )
  })

  it.each([
    ['pollIntervalMs', 99],
    ['pollIntervalMs', 60_001],
    ['pollIntervalMs', 250.5],
    ['pollIntervalMs', '1000'],
    ['pollIntervalMs', Number.NaN],
    ['pollIntervalMs', null],
    ['maxLagMs', 999],
    ['maxLagMs', 3_600_001],
    ['maxLagMs', -1],
    ['maxLagMs', '3000'],
    ['laggingCacheTtlMs', -1],
    ['laggingCacheTtlMs', 3_600_001],
    ['laggingCacheTtlMs', 1.5],
    ['laggingCacheTtlMs', Number.POSITIVE_INFINITY],
  ])('%s = %s → a TypeError naming it', (key, value) => {
    expect(thrown({ token: TOKEN, [key]: value }).message).toMatch(new RegExp(`"revocationFeed\\.${key}"`))
  })

  it('maxLagMs may not be below the poll interval', () => {
    expect(thrown({ token: TOKEN, pollIntervalMs: 500, maxLagMs: 499 }).message).toMatch(
      /"revocationFeed\.maxLagMs" must be an integer from 500 to 3600000/,
    )
    expect(resolveFeedOptions({ token: TOKEN, pollIntervalMs: 500, maxLagMs: 500 }, BROKER)?.maxLagMs).toBe(
      500,
    )
  })

  it('createVerifier throws eagerly: local mode without any broker', () => {
    expect(() =>
      createVerifier({ mode: 'local', publicKey: 'A'.repeat(43), revocationFeed: { token: TOKEN } }),
    ).toThrow(/"revocationFeed\.broker"/)
  })

  it('createVerifier throws eagerly for a bad feed option (no feed started)', () => {
    expect(() =>
      createVerifier({ broker: BROKER, revocationFeed: { token: TOKEN, pollIntervalMs: 0 } }),
    ).toThrow(TypeError)
    expect(() =>
      createVerifier({ broker: BROKER, revocationFeed: { adminSecret: 's', token: TOKEN } }),
    ).toThrow(/exactly one credential/)
  })
})
