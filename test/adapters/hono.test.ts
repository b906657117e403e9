/**
 * What is Hono's own in the Hono adapter, over real HTTP (`@hono/node-server` on 127.0.0.1): the
 * identity at `c.get('agent')`, route params from `c.req.param()`, the refusal renderers
 * (default, a function, `'throw'` into `app.onError`), and the web-standard path (the same app
 * answering a Fetch `Request` with no Node request behind it). The shared tables (conformance,
 * misuse, hostile) run it as a fourth adapter.
 */
import { type ServerType, serve } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AgentAuthEnv,
  AgentAuthError,
  agentAuth,
  agentOf,
  requireAnyScope,
  requireDelegatedFrom,
  requireScope,
} from '../../src/hono.js'
import type { DevBroker } from '../../src/testing/index.js'
import { startBrokerWithAgent } from '../helpers/agents.js'
import { send } from '../helpers/http.js'

let broker: DevBroker
let token: string
const servers: ServerType[] = []

beforeAll(async () => {
  ;({ broker, token } = await startBrokerWithAgent())
})
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  await broker?.close()
})

/** Serve a Hono app on 127.0.0.1 (an ephemeral port) and return its base URL. */
function listen(app: Hono<AgentAuthEnv>): Promise<string> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    )
    servers.push(server)
  })
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('hono adapter', () => {
  it("puts the identity at c.get('agent') and fills templates from c.req.param()", async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/customers/:id', requireScope('read:data:customer-:id'), (c) =>
      c.json({ id: c.get('agent').id, same: agentOf(c) === c.get('agent'), customer: c.req.param('id') }),
    )
    const url = await listen(app)
    const ok = await send(url, { path: '/customers/7', headers: bearer(token) })
    expect(ok.status).toBe(200)
    expect(ok.json).toEqual({
      id: expect.stringMatching(/^spiffe:\/\/agentwrit\.local\/agent\/o\/t\//),
      same: true,
      customer: '7',
    })
    const denied = await send(url, { path: '/customers/8', headers: bearer(token) })
    expect(denied.status).toBe(403)
    expect(denied.headers['www-authenticate']).toContain('scope="read:data:customer-8"')
    expect(denied.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(denied.json).toMatchObject({ error_code: 'insufficient_scope', instance: '/customers/8' })
    await auth.close()
  })

  it('a custom renderer answers with the response it returns', async () => {
    const auth = agentAuth({
      broker: broker.url,
      onError: (err, c) => c.json({ custom: err.code }, err.status as 401),
    })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/x', (c) => c.json({ reached: true }))
    const url = await listen(app)
    const res = await send(url, { path: '/x', headers: bearer('a.b.c') })
    expect(res.status).toBe(401)
    expect(res.json).toEqual({ custom: 'invalid_token' })
    await auth.close()
  })

  it('a renderer that returns no response ends in app.onError, never in the handler', async () => {
    const auth = agentAuth({ broker: broker.url, onError: (() => undefined) as never })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/x', (c) => c.json({ reached: true }))
    app.onError((err, c) => c.json({ onError: (err as AgentAuthError).code }, 418))
    const url = await listen(app)
    const res = await send(url, { path: '/x' })
    expect(res.status).toBe(418)
    expect(res.json).toEqual({ onError: 'missing_token' })
    await auth.close()
  })

  it("onError 'throw' hands the error to app.onError", async () => {
    const auth = agentAuth({ broker: broker.url, onError: 'throw' })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/x', (c) => c.json({ reached: true }))
    app.onError((err, c) => {
      if (!(err instanceof AgentAuthError)) return c.text('other', 500)
      return c.json({ mine: true, code: err.code }, err.status as 401, err.headers)
    })
    const url = await listen(app)
    const res = await send(url, { path: '/x' })
    expect(res.status).toBe(401)
    expect(res.json).toEqual({ mine: true, code: 'missing_token' })
    expect(res.headers['www-authenticate']).toBe('Bearer realm="agentwrit"')
    await auth.close()
  })

  it('requireAnyScope and requireDelegatedFrom refuse with 403', async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/any', requireAnyScope('read:data:customer-1', 'read:data:customer-7'), (c) => c.json({ ok: 1 }))
    app.get('/none', requireAnyScope('read:data:customer-1', 'read:data:customer-2'), (c) => c.json({}))
    app.get('/delegated', requireDelegatedFrom(/orchestrator/), (c) => c.json({}))
    const url = await listen(app)
    expect((await send(url, { path: '/any', headers: bearer(token) })).status).toBe(200)
    expect((await send(url, { path: '/none', headers: bearer(token) })).status).toBe(403)
    const delegated = await send(url, { path: '/delegated', headers: bearer(token) })
    expect(delegated.status).toBe(403)
    expect(delegated.json).toMatchObject({ error_code: 'delegation_not_allowed' })
    await auth.close()
  })

  it('a guard with no agentAuth() is a 500, never the handler', async () => {
    const app = new Hono<AgentAuthEnv>()
    let reached = false
    app.get('/customers/:id', requireScope('read:data:customer-:id'), (c) => {
      reached = true
      return c.json({})
    })
    const url = await listen(app)
    const res = await send(url, { path: '/customers/7', headers: bearer(token) })
    expect(res.status).toBe(500)
    expect(reached).toBe(false)
  })

  it('answers a web-standard Request with no Node request behind it (app.fetch)', async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/customers/:id', requireScope('read:data:customer-:id'), (c) =>
      c.json({ id: c.get('agent').id }),
    )
    const ok = await app.fetch(new Request('http://api.test/customers/7', { headers: bearer(token) }))
    expect(ok.status).toBe(200)
    const refused = await app.fetch(new Request('http://api.test/customers/7?access_token=x'))
    expect(refused.status).toBe(400)
    expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_request"/)
    expect(await refused.json()).toMatchObject({ error_code: 'invalid_request', instance: '/customers/7' })
    // Two Authorization headers reach a Fetch Request joined with ", ": refused as malformed.
    const headers = new Headers()
    headers.append('authorization', `Bearer ${token}`)
    headers.append('authorization', `Bearer ${token}`)
    const doubled = await app.fetch(new Request('http://api.test/customers/7', { headers }))
    expect(doubled.status).toBe(400)
    await auth.close()
  })

  it('a broker outage is a 503 with Retry-After, never a 401', async () => {
    const auth = agentAuth({ broker: 'http://127.0.0.1:9', timeoutMs: 300, breakerThreshold: 0 })
    const app = new Hono<AgentAuthEnv>()
    app.use(auth)
    app.get('/x', (c) => c.json({ reached: true }))
    const url = await listen(app)
    const res = await send(url, { path: '/x', headers: bearer(token) })
    expect(res.status).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json).toMatchObject({ error_code: 'broker_unavailable' })
    await auth.close()
  })
})
