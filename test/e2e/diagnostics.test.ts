/**
 * The diagnostics channels end to end (src/core/diagnostics.ts): real services on 127.0.0.1 (every
 * adapter) in front of the development broker, every outcome — accepted from the broker, the
 * cache or a local check; refused for no token, a forged token, a missing scope, a revocation the
 * feed saw; 503 while the broker is down, the circuit breaker opening — asserted message by
 * message, and no message ever carrying a token. Then `stats()` and `ready()` after the same.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type AgentAuthOptions, createVerifier, type Verifier } from '../../src/index.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../adapters/apps.js'
import { type ChannelRecorder, expectNoTokenIn, recordChannels } from '../helpers/channel-recorder.js'
import { send } from '../helpers/http.js'
import { MODES, optionsFor } from '../helpers/modes.js'
import { bearer, forgeSignature, payloadOf } from '../helpers/tokens.js'

/** The adapter name a message carries for a test adapter. */
const named = (adapter: AdapterName) => (adapter.startsWith('nest') ? 'nest' : adapter)

let broker: DevBroker
let token: string
let recorder: ChannelRecorder
const tokens: string[] = []

beforeAll(async () => {
  broker = await startDevBroker()
  token = (await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:customer-7'] }))
    .accessToken
  tokens.push(token, forgeSignature(token))
})
afterAll(async () => {
  await broker.close()
})
beforeEach(() => {
  recorder = recordChannels()
})
afterEach(() => {
  expectNoTokenIn(recorder, tokens)
  recorder.stop()
})

async function freshToken(scope = ['read:data:customer-7']): Promise<string> {
  const t = (await broker.createAgent({ orchId: 'o', taskId: 't', scope })).accessToken
  tokens.push(t, forgeSignature(t))
  return t
}

function withId(id: string, t?: string): Record<string, string> {
  return { 'x-request-id': id, ...(t === undefined ? {} : bearer(t)) }
}

describe.each(ADAPTERS)('%s: one message per outcome', (adapter) => {
  let app: RunningApp
  beforeAll(async () => {
    app = await buildApp(adapter, { broker: broker.url })
  })
  afterAll(async () => {
    await app.close()
  })

  it('accepted from the broker, then from the cache; guard granted; request id carried', async () => {
    const claims = payloadOf(token)
    expect((await send(app.url, { path: '/customers/7', headers: withId('req-a1', token) })).status).toBe(200)
    expect((await send(app.url, { path: '/customers/7', headers: withId('req-a2', token) })).status).toBe(200)
    const [cold, warm] = recorder.of('verify')
    expect(cold).toMatchObject({
      adapter: named(adapter),
      mode: 'remote',
      outcome: 'accepted',
      source: 'broker',
      agentId: claims.sub,
      jti: claims.jti,
      requestId: 'req-a1',
    })
    expect(cold.durationMs).toBeGreaterThan(0)
    expect(warm).toMatchObject({ outcome: 'accepted', source: 'cache', requestId: 'req-a2' })
    expect(recorder.of('guard')).toEqual([
      expect.objectContaining({
        adapter: named(adapter),
        guard: 'requireScope',
        outcome: 'granted',
        agentId: claims.sub,
        jti: claims.jti,
        requestId: 'req-a1',
        requiredScope: ['read:data:customer-7'],
      }),
      expect.objectContaining({ outcome: 'granted', requestId: 'req-a2' }),
    ])
  })

  it('a missing scope: the verification is accepted, the guard refuses (403) with code and request id', async () => {
    const res = await send(app.url, { path: '/customers/8', headers: withId('req-g', token) })
    expect(res.status).toBe(403)
    expect(recorder.of('verify')).toEqual([expect.objectContaining({ outcome: 'accepted' })])
    expect(recorder.of('guard')).toEqual([
      expect.objectContaining({
        adapter: named(adapter),
        outcome: 'refused',
        code: 'insufficient_scope',
        requiredScope: ['read:data:customer-8'],
        requestId: 'req-g',
        agentId: payloadOf(token).sub,
      }),
    ])
  })

  it('no token, a forged token: refused with code, reason, status; the forged one names what it claims', async () => {
    expect((await send(app.url, { path: '/me', headers: withId('req-n') })).status).toBe(401)
    const forged = forgeSignature(token)
    expect((await send(app.url, { path: '/me', headers: withId('req-f', forged) })).status).toBe(401)
    const [none, bad] = recorder.of('verify')
    expect(none).toMatchObject({ outcome: 'refused', code: 'missing_token', status: 401, requestId: 'req-n' })
    expect(none.agentId).toBeUndefined()
    expect(bad).toMatchObject({
      adapter: named(adapter),
      outcome: 'refused',
      code: 'invalid_token',
      reason: 'rejected_by_broker',
      status: 401,
      agentId: payloadOf(token).sub,
      jti: payloadOf(token).jti,
      requestId: 'req-f',
    })
    expect(recorder.of('guard')).toEqual([])
  })
})

describe('the tracing channel follows Node’s convention', () => {
  let verifier: Verifier
  beforeAll(() => {
    verifier = createVerifier({ broker: broker.url })
  })
  afterAll(async () => {
    await verifier.close()
  })
  const verifyEvents = () => recorder.all.filter((r) => r.channel === 'verify')
  const events = () => verifyEvents().map((r) => r.event)

  it('asynchronous answer: start, end (no outcome yet), asyncStart, asyncEnd; cached: start, end', async () => {
    const t = await freshToken()
    await verifier.authenticate({ headers: { authorization: `Bearer ${t}` } })
    expect(events()).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    const verify = verifyEvents()
    expect(verify[0]!.message.outcome).toBeUndefined()
    expect(verify[1]!.message.outcome).toBeUndefined()
    expect(verify[3]!.message).toMatchObject({ adapter: 'verifier', outcome: 'accepted', source: 'broker' })
    recorder.clear()
    await verifier.authenticate({ headers: { authorization: `Bearer ${t}` } })
    expect(events()).toEqual(['start', 'end'])
    expect(verifyEvents()[1]!.message).toMatchObject({ outcome: 'accepted', source: 'cache' })
  })

  it('refusals: synchronous start, error, end; asynchronous start, end, error, asyncStart, asyncEnd', async () => {
    await expect(verifier.authenticate({ headers: {} })).rejects.toMatchObject({ code: 'missing_token' })
    expect(events()).toEqual(['start', 'error', 'end'])
    expect(verifyEvents()[1]!.message.error).toMatchObject({ code: 'missing_token' })
    recorder.clear()
    await expect(verifier.verifyToken(forgeSignature(await freshToken()))).rejects.toMatchObject({
      code: 'invalid_token',
    })
    expect(events()).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    expect(verifyEvents()[4]!.message).toMatchObject({
      adapter: 'verifier',
      outcome: 'refused',
      code: 'invalid_token',
    })
  })

  it('an X-Request-ID that is not a plausible id (too long, a JWT, control characters) is left out', async () => {
    for (const id of ['x'.repeat(201), token, 'a\tb']) {
      await verifier.authenticate({ headers: { authorization: `Bearer ${token}`, 'x-request-id': id } })
    }
    for (const m of recorder.of('verify')) expect(m.requestId).toBeUndefined()
  })
})

describe.each(MODES)('%s mode: where answers came from, and the cache', (mode) => {
  let verifier: Verifier
  beforeEach(() => {
    verifier = createVerifier(optionsFor(mode, broker, { settings: {} }))
  })
  afterEach(async () => {
    await verifier.close()
  })

  it('cold: a miss, a store and the source of the mode; warm: a hit', async () => {
    const t = await freshToken()
    const request = { headers: bearer(t) }
    await verifier.authenticate(request)
    await verifier.authenticate(request)
    const [cold, warm] = recorder.of('verify')
    expect(cold).toMatchObject({ mode, outcome: 'accepted', source: mode === 'local' ? 'local' : 'broker' })
    expect(warm).toMatchObject({ mode, outcome: 'accepted', source: 'cache' })
    const cache = recorder.of('cache')
    expect(cache).toContainEqual({ event: 'miss', mode })
    expect(cache).toContainEqual(
      expect.objectContaining({ event: 'store', cache: mode === 'local' ? 'local' : 'remote', valid: true }),
    )
    expect(cache).toContainEqual(expect.objectContaining({ event: 'hit', mode, via: 'cache' }))
    if (mode !== 'local') {
      expect(recorder.of('broker')).toEqual([
        expect.objectContaining({ event: 'validate', outcome: 'valid', status: 200, retried: false }),
      ])
    }
    if (mode !== 'remote') {
      expect(recorder.of('keys')).toContainEqual(
        expect.objectContaining({ event: 'fetch', outcome: 'ok', status: 200, url: broker.jwksUrl }),
      )
    }
  })

  it('concurrent requests for one new token: one computation, the others join it', async () => {
    const t = await freshToken()
    await Promise.all(Array.from({ length: 5 }, () => verifier.authenticate({ headers: bearer(t) })))
    // Hybrid checks the signature first (its own single flight), then asks the broker (another).
    for (const name of mode === 'hybrid' ? ['local', 'remote'] : [mode]) {
      const joins = recorder.of('cache').filter((m) => m.event === 'join' && m.cache === name)
      expect(joins.length).toBeGreaterThanOrEqual(4)
      expect(verifier.stats().cache[name as 'local' | 'remote']!.joins).toBe(joins.length)
    }
  })
})

describe('the broker down: 503 outcomes, failed calls, the circuit breaker', () => {
  let down: DevBroker
  let verifier: Verifier
  beforeAll(async () => {
    down = await startDevBroker()
  })
  afterAll(async () => {
    await verifier.close()
    await down.close()
  })

  it('each failed call, the breaker opening, its refusals; stats and ready() agree', async () => {
    const ts = await Promise.all(
      [1, 2, 3].map(() => down.createAgent({ orchId: 'o', taskId: 't', scope: ['x:y:z'] })),
    )
    tokens.push(...ts.map((a) => a.accessToken))
    verifier = createVerifier({
      broker: down.url,
      breakerThreshold: 2,
      breakerCooldownMs: 60_000,
      brokerFailureMemoMs: 0,
    })
    down.fault({ kind: 'status', status: 502 })
    for (const a of ts) {
      await expect(verifier.authenticate({ headers: bearer(a.accessToken) })).rejects.toMatchObject({
        code: 'broker_unavailable',
      })
    }
    const verify = recorder.of('verify')
    expect(verify.map((m) => [m.outcome, m.code, m.status])).toEqual([
      ['refused', 'broker_unavailable', 503],
      ['refused', 'broker_unavailable', 503],
      ['refused', 'broker_unavailable', 503],
    ])
    expect(verify.map((m) => m.reason)).toEqual(['status_502', 'status_502', 'circuit_open'])
    expect(recorder.of('broker')).toEqual([
      expect.objectContaining({
        event: 'validate',
        outcome: 'error',
        status: 502,
        reason: 'status_502',
        breaker: 'closed',
      }),
      { event: 'breaker', state: 'open', previous: 'closed', consecutiveFailures: 2 },
      expect.objectContaining({ event: 'validate', outcome: 'error', status: 502, breaker: 'open' }),
      expect.objectContaining({ event: 'refused', reason: 'circuit_open' }),
    ])
    const stats = verifier.stats()
    expect(stats.broker).toMatchObject({
      calls: 2,
      errors: 2,
      errorsByReason: { status_502: 2 },
      breaker: { state: 'open', opens: 1, refusals: 1 },
    })
    expect(stats.broker!.latencyMs.count).toBe(2)
    expect(stats.refusals.byCode).toEqual({ broker_unavailable: 3 })
    expect(stats.refusals.byReason).toEqual({ status_502: 2, circuit_open: 1 })
    expect(stats.verifications).toMatchObject({ accepted: 0, refused: 3 })
    expect(await verifier.ready()).toEqual({
      ready: false,
      checks: { broker: { ok: false, reason: 'circuit_open' } },
    })
  })
})

describe('the revocation feed: polls, its credential, invalidations', () => {
  let verifier: Verifier
  afterEach(async () => {
    await verifier.close()
  })

  it('login, polls, a revocation applied and the cached answer invalidated; ready once synced', async () => {
    const options: AgentAuthOptions = {
      broker: broker.url,
      cacheTtlMs: 60_000,
      revocationFeed: { adminSecret: broker.adminSecret, pollIntervalMs: 100 },
    }
    verifier = createVerifier(options)
    const t = await freshToken()
    await verifier.authenticate({ headers: bearer(t) })
    await vi.waitFor(() => expect(verifier.stats().revocationFeed?.synced).toBe(true))
    expect((await verifier.ready()).checks).toMatchObject({
      broker: { ok: true },
      revocationFeed: { ok: true },
    })
    expect(recorder.of('feed')).toContainEqual({ event: 'credential', kind: 'login', outcome: 'ok' })
    expect(recorder.of('feed')).toContainEqual(
      expect.objectContaining({ event: 'poll', outcome: 'ok', synced: true }),
    )
    await verifier.authenticate({ headers: bearer(t) })
    await broker.revoke('token', String(payloadOf(t).jti))
    await vi.waitFor(() =>
      expect(recorder.of('feed')).toContainEqual(
        expect.objectContaining({
          event: 'poll',
          outcome: 'ok',
          applied: { revocations: 1, releases: 0, renewals: 0 },
        }),
      ),
    )
    expect(recorder.of('cache')).toContainEqual({ event: 'invalidate', cache: 'remote', count: 1 })
    await expect(verifier.authenticate({ headers: bearer(t) })).rejects.toMatchObject({
      reason: 'revoked_per_feed',
    })
    expect(recorder.of('verify').at(-1)).toMatchObject({ outcome: 'refused', reason: 'revoked_per_feed' })
    expect(verifier.stats().cache.remote!.invalidations).toBe(1)
  })

  it('a failing audit endpoint: polls report the error, the feed is not ready', async () => {
    verifier = createVerifier({
      broker: broker.url,
      revocationFeed: { adminSecret: broker.adminSecret, pollIntervalMs: 100, maxLagMs: 100 },
    })
    await vi.waitFor(() => expect(verifier.stats().revocationFeed?.synced).toBe(true))
    broker.fault({ kind: 'status', status: 503, paths: ['/v1/audit/events'] })
    try {
      await vi.waitFor(() =>
        expect(recorder.of('feed')).toContainEqual(
          expect.objectContaining({ event: 'poll', outcome: 'error', reason: 'status_503' }),
        ),
      )
      await sleep(300)
      const ready = await verifier.ready()
      expect(ready.ready).toBe(false)
      expect(ready.checks.revocationFeed).toMatchObject({
        ok: false,
        synced: true,
        reason: 'lagging: status_503',
      })
    } finally {
      broker.fault(null)
    }
  })
})

describe('stats(): one snapshot of a service’s traffic', () => {
  it('verifications, refusals by code (guards’ too), cache hits and misses, broker calls, latencies', async () => {
    recorder.stop()
    const app = await buildApp('express', { broker: broker.url })
    try {
      const t = await freshToken()
      await send(app.url, { path: '/customers/7', headers: bearer(t) })
      await send(app.url, { path: '/customers/7', headers: bearer(t) })
      await send(app.url, { path: '/customers/8', headers: bearer(t) })
      await send(app.url, { path: '/me' })
      await send(app.url, { path: '/me', headers: bearer(forgeSignature(t)) })
      const s = app.verifier.stats()
      expect(s.mode).toBe('remote')
      expect(s.verifications).toMatchObject({ accepted: 3, refused: 2 })
      expect(s.verifications.latencyMs.count).toBe(2)
      expect(s.verifications.latencyMs.p50).toBeGreaterThan(0)
      expect(s.refusals.byCode).toEqual({ insufficient_scope: 1, missing_token: 1, invalid_token: 1 })
      expect(s.refusals.byReason).toMatchObject({ rejected_by_broker: 1 })
      expect(s.cache).toMatchObject({ hits: 2, misses: 2 })
      expect(s.cache.remote).toMatchObject({ entries: 2, stores: 2, evictions: 0, inflight: 0 })
      expect(s.broker).toMatchObject({ calls: 2, errors: 0, breaker: { state: 'closed', opens: 0 } })
      expect(s.brokerCalls).toBe(2)
      expect(s.cacheEntries).toBe(2)
    } finally {
      await app.close()
    }
  })

  it('counts without any subscriber', async () => {
    recorder.stop()
    const verifier = createVerifier({ jwksUri: broker.jwksUrl })
    try {
      const t = await freshToken()
      await verifier.authenticate({ headers: bearer(t) })
      await verifier.authenticate({ headers: bearer(t) })
      await verifier.authenticate({ headers: {} }).catch(() => {})
      const s = verifier.stats()
      expect(s.verifications).toMatchObject({ accepted: 2, refused: 1 })
      expect(s.cache).toMatchObject({ hits: 1, misses: 1 })
      expect(s.keys).toMatchObject({ source: 'jwks-uri', keys: 1, fetches: 1, failures: 0 })
      expect(s.broker).toBeUndefined()
    } finally {
      await verifier.close()
    }
  })
})

describe('ready()', () => {
  it('remote: the broker’s health; local: the key set (fetched when none was read); hybrid: both', async () => {
    const remote = createVerifier({ broker: broker.url })
    const local = createVerifier({ jwksUri: broker.jwksUrl })
    const hybrid = createVerifier({ broker: broker.url, jwksUri: broker.jwksUrl })
    try {
      const r = await remote.ready()
      expect(r).toMatchObject({ ready: true, checks: { broker: { ok: true } } })
      expect(r.checks.broker!.latencyMs).toBeGreaterThan(0)
      expect(await local.ready()).toEqual({ ready: true, checks: { keys: { ok: true, keys: 1 } } })
      expect(local.stats().keys!.fetches).toBe(1)
      expect(await hybrid.ready()).toMatchObject({
        ready: true,
        checks: { broker: { ok: true }, keys: { ok: true } },
      })
    } finally {
      await Promise.all([remote.close(), local.close(), hybrid.close()])
    }
  })

  it('not ready: the broker unreachable, the JWKS URL failing before any set was read', async () => {
    const gone = await startDevBroker()
    const remote = createVerifier({ broker: gone.url, timeoutMs: 500 })
    const local = createVerifier({ jwksUri: gone.jwksUrl, timeoutMs: 500 })
    await gone.close()
    try {
      expect(await remote.ready()).toMatchObject({
        ready: false,
        checks: { broker: { ok: false, reason: 'unreachable' } },
      })
      expect(await local.ready()).toMatchObject({ ready: false, checks: { keys: { ok: false, keys: null } } })
      expect(recorder.of('keys')).toContainEqual(
        expect.objectContaining({ event: 'fetch', outcome: 'error' }),
      )
    } finally {
      await Promise.all([remote.close(), local.close()])
    }
  })
})
