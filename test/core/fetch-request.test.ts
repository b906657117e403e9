/**
 * The Fetch API entry point over real HTTP: a web-standard handler (`(request: Request) =>
 * Response`, served by `@hono/node-server` with no framework) in front of the development broker.
 */
import { type ServerType, serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AgentAuthError,
  authenticateFetchRequest,
  createVerifier,
  fetchAuthRequest,
  refusalResponse,
  type Verifier,
} from '../../src/index.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { send } from '../helpers/http.js'

let broker: DevBroker
let verifier: Verifier
let server: ServerType
let url: string
let token: string

beforeAll(async () => {
  broker = await startDevBroker()
  token = (await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:customer-7'] }))
    .accessToken
  verifier = createVerifier({ broker: broker.url })
  url = await new Promise<string>((resolve) => {
    server = serve(
      {
        hostname: '127.0.0.1',
        port: 0,
        fetch: async (request: Request) => {
          const auth = await authenticateFetchRequest(verifier, request)
          if (!auth.ok) return auth.response
          return Response.json({ by: auth.agent.id, source: auth.agent.verification.source })
        },
      },
      (info) => resolve(`http://127.0.0.1:${info.port}`),
    )
  })
})
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve))
  await verifier?.close()
  await broker?.close()
})

describe('authenticateFetchRequest', () => {
  it('verifies a Request and hands back the identity', async () => {
    const res = await send(url, { path: '/x', headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(res.json.by).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/o\/t\//)
  })

  it.each([
    ['no token', {}, 401, 'missing_token', 'Bearer realm="agentwrit"'],
    ['a garbage token', { authorization: 'Bearer a.b.c' }, 401, 'invalid_token', /error="invalid_token"/],
    ['a malformed header', { authorization: 'Bearer' }, 400, 'invalid_request', /error="invalid_request"/],
  ] as const)('answers %s with the refusal response', async (_name, headers, status, code, challenge) => {
    const res = await send(url, { path: '/orders?x=1', headers })
    expect(res.status).toBe(status)
    expect(res.headers['www-authenticate']).toMatch(challenge)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json).toMatchObject({ error_code: code, status, instance: '/orders' })
  })

  it('refuses an access_token in the query (400), not silently ignoring it', async () => {
    const res = await send(url, { path: '/x?access_token=abc' })
    expect(res.status).toBe(400)
    expect(res.json.error_code).toBe('invalid_request')
  })

  it('a broker outage is a 503 with Retry-After', async () => {
    const down = createVerifier({ broker: 'http://127.0.0.1:9', timeoutMs: 300, breakerThreshold: 0 })
    const auth = await authenticateFetchRequest(
      down,
      new Request('http://h/x', { headers: { authorization: `Bearer ${token}` } }),
    )
    expect(auth.ok).toBe(false)
    if (auth.ok) return
    expect(auth.error.code).toBe('broker_unavailable')
    expect(auth.response.status).toBe(503)
    expect(auth.response.headers.get('retry-after')).toBe('5')
    await down.close()
  })
})

describe('fetchAuthRequest and refusalResponse', () => {
  it('reads the Authorization header and the request target', () => {
    const req = fetchAuthRequest(
      new Request('http://h:8080/a/b?c=1', { headers: { Authorization: 'Bearer x' } }),
    )
    expect(req).toEqual({ headers: { authorization: 'Bearer x' }, url: '/a/b?c=1', socket: undefined })
    expect(fetchAuthRequest(new Request('http://h')).url).toBe('/')
  })

  it('answers anything that is not an AgentAuthError as a 500', async () => {
    const res = refusalResponse(new Error('boom'))
    expect(res.status).toBe(500)
    expect(await res.json()).toMatchObject({ error_code: 'configuration_error' })
    expect(
      refusalResponse(new AgentAuthError('insufficient_scope', { requiredScope: ['a:b:c'] })).status,
    ).toBe(403)
  })
})
