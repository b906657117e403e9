import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, type JSONWebKeySet, type JWK } from 'jose'
import { Agent, type Dispatcher } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentAuthError } from '../../src/core/errors.js'
import { createJwksFetcher, JWKS_MAX_BYTES, type JwksFetcherTuning } from '../../src/core/jwks-fetcher.js'
import type { KeySelector, KeySource } from '../../src/core/key-source.js'
import { type ResolvedOptions, resolveOptions } from '../../src/core/options.js'
import { makeKey, type TestKey } from '../helpers/ed25519-key.js'
import { refusal } from '../helpers/refusal.js'

// ---- helpers ---------------------------------------------------------------------------------

const published = (...keys: TestKey[]): JSONWebKeySet => ({
  keys: keys.map((k) => ({ ...k.jwk, kid: k.kid, alg: 'EdDSA', use: 'sig' })),
})

type Mode = 'ok' | 'error' | 'garbage' | 'slow' | 'reset' | 'reset-once' | 'redirect' | 'huge'

interface JwksServer {
  url: URL
  requests: number
  mode: Mode
  body: string
  serve(jwks: unknown): void
  stop(): Promise<void>
  start(): Promise<void>
}

const servers: Server[] = []

async function startJwksServer(initial: unknown): Promise<JwksServer> {
  const server = createServer((req, res) => {
    state.requests++
    switch (state.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(state.body)
        return
      case 'error':
        res.writeHead(500).end('oops')
        return
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json')
        return
      case 'slow':
        setTimeout(() => {
          if (!res.destroyed) res.writeHead(200).end(state.body)
        }, 1_000).unref()
        return
      case 'reset':
        req.socket.destroy()
        return
      case 'reset-once':
        state.mode = 'ok'
        req.socket.destroy()
        return
      case 'redirect':
        res.writeHead(302, { location: '/elsewhere' }).end()
        return
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(`{"keys":[],"pad":"${'x'.repeat(JWKS_MAX_BYTES)}"}`)
        return
    }
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const state: JwksServer = {
    url: new URL(`http://127.0.0.1:${port}/v1/jwks`),
    requests: 0,
    mode: 'ok',
    body: JSON.stringify(initial),
    serve(jwks) {
      state.body = JSON.stringify(jwks)
    },
    async stop() {
      const closed = new Promise((r) => server.close(r))
      server.closeAllConnections()
      await closed
    },
    async start() {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    },
  }
  return state
}

const sources: KeySource[] = []
afterEach(async () => {
  for (const s of sources.splice(0)) s.close()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    if (s.listening) await new Promise((r) => s.close(r))
  }
})

function source(
  input: { jwksUri: URL; dispatcher?: Dispatcher },
  tweak: Partial<ResolvedOptions> = {},
  tuning?: JwksFetcherTuning,
) {
  const s = createJwksFetcher(
    input.jwksUri,
    { ...resolveOptions({ mode: 'local', ...input }), ...tweak },
    tuning,
  )
  sources.push(s)
  return s
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sel = (kid?: string): KeySelector => (kid === undefined ? { alg: 'EdDSA' } : { alg: 'EdDSA', kid })

// ---- JWKS URL ----------------------------------------------------------------------------------

describe('JWKS URL source', () => {
  const a = makeKey()
  const b = makeKey()

  it('fetches once and serves known kids, and a kid-less header, from the cached set', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url })
    expect(s.kind).toBe('jwks-uri')
    expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    expect(await s.keysFor(sel())).toHaveLength(1)
    expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    expect(srv.requests).toBe(1)
  })

  it.each([false, true])(
    'a connection reset before any answer is retried once, at once (own dispatcher: %s)',
    async (ownDispatcher) => {
      const srv = await startJwksServer(published(a))
      const agent = new Agent()
      try {
        srv.mode = 'reset-once'
        const s = source({ jwksUri: srv.url, ...(ownDispatcher ? { dispatcher: agent } : {}) })
        expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
        expect(srv.requests).toBe(2)
        // A server that resets every request is asked twice per fetch, then it is a 503.
        srv.mode = 'reset'
        const t = source({ jwksUri: srv.url, ...(ownDispatcher ? { dispatcher: agent } : {}) })
        const err = await t.keysFor(sel(a.kid)).then(
          () => null,
          (e: unknown) => e,
        )
        expect((err as AgentAuthError).code).toBe('key_source_unavailable')
        expect(srv.requests).toBe(4)
      } finally {
        await agent.close()
      }
    },
  )

  it('uses the given undici dispatcher', async () => {
    const srv = await startJwksServer(published(a))
    let dispatched = 0
    const agent = new Agent()
    const counting = Object.assign(Object.create(agent) as Agent, {
      dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
        dispatched++
        return agent.dispatch(opts, handler)
      },
    })
    try {
      const s = source({ jwksUri: srv.url, dispatcher: counting })
      expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
      expect(dispatched).toBe(1)
      expect(srv.requests).toBe(1)
    } finally {
      await agent.close()
    }
  })

  it('unknown kid after a refetch → 401; an unknown-kid storm is bounded by the cooldown', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url }, { jwksCooldownMs: 400 })
    await s.keysFor(sel(a.kid)) // first fetch
    const storm = await Promise.all(
      Array.from({ length: 50 }, (_, i) => refusal(s.keysFor(sel(`unknown-${i}`)))),
    )
    for (const err of storm) {
      expect(err.code).toBe('invalid_token')
      expect(err.reason).toBe('unknown_kid')
    }
    expect(srv.requests).toBe(1) // still cooling down: no refetch
    await sleep(450)
    const after = await Promise.all(
      Array.from({ length: 50 }, (_, i) => refusal(s.keysFor(sel(`unknown-again-${i}`)))),
    )
    expect(after.every((e) => e.code === 'invalid_token')).toBe(true)
    expect(srv.requests).toBe(2) // one refetch for the whole storm
  })

  it('key rotation: a new kid is accepted after a refetch', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url }, { jwksCooldownMs: 200 })
    await s.keysFor(sel(a.kid))
    expect((await refusal(s.keysFor(sel(b.kid)))).code).toBe('invalid_token')
    srv.serve(published(a, b))
    await sleep(250)
    expect(await s.keysFor(sel(b.kid))).toHaveLength(1)
    expect(srv.requests).toBe(2)
    // a kid-less header now has two candidates
    expect(await s.keysFor(sel())).toHaveLength(2)
  })

  it('down at start → 503 key_source_unavailable (never 401), then recovers after the backoff', async () => {
    const srv = await startJwksServer(published(a))
    await srv.stop()
    const s = source({ jwksUri: srv.url }, { jwksCooldownMs: 200 })
    const err = await refusal(s.keysFor(sel(a.kid)))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.status).toBe(503)
    expect(err.headers['Retry-After']).toBe('5')
    await srv.start()
    // within the failure backoff: answered without a fetch
    expect((await refusal(s.keysFor(sel(a.kid)))).code).toBe('key_source_unavailable')
    expect(srv.requests).toBe(0)
    await sleep(250)
    expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    expect(srv.requests).toBe(1)
  })

  const garbage: [string, (srv: JwksServer) => void, string?][] = [
    ['HTTP 500', (srv) => (srv.mode = 'error')],
    ['not JSON', (srv) => (srv.mode = 'garbage')],
    ['connection reset', (srv) => (srv.mode = 'reset')],
    ['a redirect (not followed)', (srv) => (srv.mode = 'redirect')],
    ['a body over the size cap', (srv) => (srv.mode = 'huge')],
    ['slower than timeoutMs', (srv) => (srv.mode = 'slow')],
    ['JSON that is not a JWKS', (srv) => srv.serve({ hello: 'world' })],
    ['keys not an array', (srv) => srv.serve({ keys: 'nope' })],
    ['an empty key set', (srv) => srv.serve({ keys: [] }), 'jwks_no_usable_key'],
    [
      'only non-Ed25519 keys',
      (srv) =>
        srv.serve({
          keys: [generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })],
        }),
      'jwks_no_usable_key',
    ],
    [
      'a private key',
      (srv) => srv.serve({ keys: [{ ...(a.privateKey.export({ format: 'jwk' }) as JWK), kid: a.kid }] }),
    ],
    [
      'a broken Ed25519 key',
      (srv) => srv.serve({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: a.kid }] }),
    ],
  ]

  it.each(garbage)('a source answering %s → 503', async (_, breakIt, reason = 'jwks_unavailable') => {
    const srv = await startJwksServer(published(a))
    breakIt(srv)
    const s = source({ jwksUri: srv.url }, { timeoutMs: 200 })
    const err = await refusal(s.keysFor(sel(a.kid)))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.status).toBe(503)
    expect(err.reason).toBe(reason)
  })

  it('down during operation: serves the last good set once stale, with bounded refetches', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url }, { jwksMaxAgeMs: 150, jwksCooldownMs: 300 })
    await s.keysFor(sel(a.kid))
    await srv.stop()
    await sleep(200) // the set is now older than jwksMaxAgeMs: jose wants to refetch
    for (let i = 0; i < 20; i++) expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    // an unknown kid while the source is down cannot be decided: 503, not 401
    const err = await refusal(s.keysFor(sel(b.kid)))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.reason).toBe('kid_unknown_jwks_unavailable')
  })

  it('failed refreshes are retried at most once per backoff', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url }, { jwksMaxAgeMs: 100, jwksCooldownMs: 300 })
    await s.keysFor(sel(a.kid))
    srv.mode = 'error'
    await sleep(150)
    for (let i = 0; i < 30; i++) await s.keysFor(sel(a.kid))
    expect(srv.requests).toBe(2) // initial fetch + one failed refresh
    await sleep(350)
    for (let i = 0; i < 30; i++) await s.keysFor(sel(a.kid))
    expect(srv.requests).toBe(3)
    srv.mode = 'ok'
    srv.serve(published(b))
    await sleep(350)
    expect(await s.keysFor(sel(b.kid))).toHaveLength(1) // recovered, new set in use
    expect(srv.requests).toBe(4)
  })

  it('a garbage answer keeps the last good set', async () => {
    const srv = await startJwksServer(published(a))
    const s = source({ jwksUri: srv.url }, { jwksMaxAgeMs: 100 })
    await s.keysFor(sel(a.kid))
    srv.serve({ keys: 'garbage' })
    await sleep(150)
    expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    expect(srv.requests).toBe(2)
  })

  it('the last good set is served only up to jwksMaxAgeMs + staleIfErrorMs', async () => {
    const srv = await startJwksServer(published(a))
    const s = source(
      { jwksUri: srv.url },
      { jwksMaxAgeMs: 100 },
      { staleIfErrorMs: 200, failureBackoffMs: 0 },
    )
    await s.keysFor(sel(a.kid))
    await srv.stop()
    await sleep(150)
    expect(await s.keysFor(sel(a.kid))).toHaveLength(1)
    await sleep(200) // now older than 100 + 200 ms
    const err = await refusal(s.keysFor(sel(a.kid)))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.reason).toBe('jwks_unavailable')
  })

  it('close() aborts an in-flight fetch and refuses further lookups', async () => {
    const srv = await startJwksServer(published(a))
    srv.mode = 'slow'
    const s = source({ jwksUri: srv.url }, { timeoutMs: 5_000 })
    const pending = refusal(s.keysFor(sel(a.kid)))
    await sleep(50)
    const started = Date.now()
    s.close()
    const err = await pending
    expect(err.code).toBe('key_source_unavailable')
    expect(Date.now() - started).toBeLessThan(500)
    expect((await refusal(s.keysFor(sel(a.kid)))).reason).toBe('closed')
  })
})

// ---- why the wrapper exists ----------------------------------------------------------------------

describe('jose createRemoteJWKSet on its own (documents the behaviour we wrap)', () => {
  it('keeps the old set internally but rejects once the set is stale and the refetch fails', async () => {
    const k = makeKey()
    const srv = await startJwksServer(published(k))
    const jwks = createRemoteJWKSet(srv.url, { cacheMaxAge: 100, cooldownDuration: 0 })
    await expect(jwks({ alg: 'EdDSA', kid: k.kid })).resolves.toBeDefined()
    await srv.stop()
    await sleep(150)
    await expect(jwks({ alg: 'EdDSA', kid: k.kid })).rejects.toThrow() // fetch failed
    expect(jwks.jwks()?.keys).toHaveLength(1) // ...although the last good set is still held
    await expect(jwks({ alg: 'EdDSA', kid: k.kid })).rejects.toThrow() // and it retries every time
  })
})
