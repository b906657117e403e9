import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import agentwrit from '../../src/fastify.js'
import type { DevBroker } from '../../src/testing/index.js'
import { startBrokerWithAgent } from '../helpers/agents.js'

let broker: DevBroker
let token: string

beforeAll(async () => {
  ;({ broker, token } = await startBrokerWithAgent())
})
afterAll(async () => broker?.close())

const auth = () => ({ authorization: `Bearer ${token}` })

describe('fastify plugin', () => {
  it('works with inject(): route config guard and request.agent', async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url })
    app.get('/customers/:id', { config: { scope: 'read:data:customer-:id' } }, async (request) => ({
      id: request.agent?.id,
    }))
    const ok = await app.inject({ url: '/customers/7', headers: auth() })
    expect(ok.statusCode).toBe(200)
    expect(ok.json().id).toMatch(/^spiffe:/)
    const no = await app.inject({ url: '/customers/8', headers: auth() })
    expect(no.statusCode).toBe(403)
    expect(no.headers['www-authenticate']).toMatch(/scope="read:data:customer-8"/)
    expect(no.headers['content-type']).toMatch(/application\/problem\+json/)
    await app.close()
  })

  it('a placeholder that is not a route param throws at startup', async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url })
    expect(() =>
      app.get('/customers/:id', { config: { scope: 'read:data:customer-:cid' } }, async () => ({})),
    ).toThrow(/":cid".*not a route parameter/)
    expect(() =>
      app.get('/orders/:id', { preHandler: app.requireScope('write:data:order-:oid') }, async () => ({})),
    ).toThrow(/":oid"/)
    expect(() => app.get('/bad', { config: { scope: 'read:data' } }, async () => ({}))).toThrow(TypeError)
    await app.close()
  })

  it('registered inside a prefixed plugin, it protects only that prefix', async () => {
    const app = Fastify()
    app.get('/health', async () => ({ ok: true }))
    await app.register(
      async (api) => {
        await api.register(agentwrit, { broker: broker.url })
        api.get('/me', async (request) => ({ id: request.agent?.id }))
      },
      { prefix: '/api' },
    )
    expect((await app.inject({ url: '/health' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/api/me' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/api/me', headers: auth() })).statusCode).toBe(200)
    await app.close()
  })

  it("onError 'throw' lets Fastify's error handler apply status and headers", async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url, onError: 'throw' })
    app.get('/me', async () => ({}))
    const res = await app.inject({ url: '/me' })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="agentwrit"')
    expect(res.json().code).toBe('missing_token')
    await app.close()
  })

  it('serves a real listener too, and closes its verifier with the app', async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url })
    app.get('/me', async (request) => ({ source: request.agent?.verification.source }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const res = await fetch(`http://127.0.0.1:${port}/me`, { headers: auth() })
    expect(res.status).toBe(200)
    await app.close()
    await expect(app.agentVerifier.verifyToken(token)).rejects.toBeTruthy()
  })

  it('a custom onError that sends nothing never lets the request through (Fastify answers it)', async () => {
    const seen: string[] = []
    const app = Fastify()
    await app.register(agentwrit, {
      broker: broker.url,
      onError: (err) => {
        seen.push(err.code)
      },
    })
    app.get('/me', async () => ({ reached: true }))
    const res = await app.inject({ url: '/me' })
    expect(seen).toEqual(['missing_token'])
    expect(res.statusCode).toBe(401)
    expect(res.body).not.toContain('reached')
    await app.close()
  })

  it('an unknown route is a 404, not authenticated (the hook belongs to each route)', async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url })
    app.get('/me', async () => ({}))
    expect((await app.inject({ url: '/nope' })).statusCode).toBe(404)
    await app.close()
  })

  it('bad plugin options fail registration with a TypeError naming the option', async () => {
    const app = Fastify()
    await expect(app.register(agentwrit, { broker: broker.url, cacheTtlMs: -1 }).ready()).rejects.toThrow(
      /"cacheTtlMs"/,
    )
  })
})
