/**
 * One table of HTTP scenarios, run unchanged against the Express, Koa and Fastify adapters over
 * real HTTP with the development broker. The adapters must behave identically; the only allowed
 * difference is marked per row (`brokerBy`) and documented in the README.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FaultMode } from '../../src/testing/index.js'
import { bearer, type RawRequest, send } from '../helpers/http.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from './apps.js'
import { type Fixtures, makeFixtures } from './fixtures.js'

interface Row {
  name: string
  req: (f: Fixtures) => RawRequest
  status: number
  /** Exact challenge, a pattern, or `null` for "no WWW-Authenticate header". */
  challenge?: string | RegExp | null
  code?: string
  /** Was the broker's validate endpoint called? */
  broker: boolean
  /** Per-adapter override of `broker`, where a framework forces a difference. */
  brokerBy?: Partial<Record<AdapterName, boolean>>
  fault?: FaultMode
  check?: (body: any, headers: Record<string, unknown>, f: Fixtures) => void
}

const REALM = 'Bearer realm="agentwrit"'
const INVALID = `${REALM}, error="invalid_token", error_description="token is invalid or expired"`

export const ROWS: Row[] = [
  {
    name: 'valid token, own customer → 200 with typed claims',
    req: (f) => ({ path: '/customers/7', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    check: (body, _h, f) => {
      expect(body).toMatchObject({
        customer: '7',
        agent: f.agentId,
        taskId: 'process-ord-1',
        source: 'broker',
      })
    },
  },
  {
    name: 'another customer → 403 naming the concrete scope',
    req: (f) => ({ path: '/customers/cust-9999', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge:
      'Bearer realm="agentwrit", error="insufficient_scope", error_description="token lacks required scope: read:data:customer-cust-9999", scope="read:data:customer-cust-9999"',
    broker: true,
  },
  {
    name: 'write own order → 200',
    req: (f) => ({ method: 'PUT', path: '/orders/1', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
  },
  {
    name: 'write another order → 403',
    req: (f) => ({ method: 'PUT', path: '/orders/ord-0000', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="write:data:order-ord-0000"$/,
    broker: true,
  },
  {
    name: 'whole-identifier template: own tenant → 200',
    req: (f) => ({ path: '/tenants/bank/analytics', headers: bearer(f.bank) }),
    status: 200,
    broker: true,
  },
  {
    name: 'whole-identifier template: other tenant → 403',
    req: (f) => ({ path: '/tenants/hospital/analytics', headers: bearer(f.bank) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:analytics:hospital"$/,
    broker: true,
  },
  {
    name: 'route param "*" never widens → 400',
    req: (f) => ({ path: '/tenants/*/analytics', headers: bearer(f.bank) }),
    status: 400,
    code: 'invalid_scope_parameter',
    challenge: /^Bearer realm="agentwrit", error="invalid_request"/,
    broker: true,
    brokerBy: { fastify: false },
  },
  {
    name: 'percent-encoded ":" in a route param → 400',
    req: (f) => ({ path: '/tenants/bank%3Ax/analytics', headers: bearer(f.bank) }),
    status: 400,
    code: 'invalid_scope_parameter',
    broker: true,
    brokerBy: { fastify: false },
  },
  {
    name: 'requireAnyScope: one of two held → 200',
    req: (f) => ({ path: '/either', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
  },
  {
    name: 'requireAnyScope: none held → 403',
    req: (f) => ({ path: '/either', headers: bearer(f.bank) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:data:customer-1 write:data:order-1"$/,
    broker: true,
  },
  {
    name: 'computed scope (function form) → 200 / 403',
    req: (f) => ({ path: '/computed/7', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
  },
  {
    name: 'computed scope refused',
    req: (f) => ({ path: '/computed/8', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:data:customer-8"$/,
    broker: true,
  },
  {
    name: 'no Authorization → 401 with a bare challenge',
    req: () => ({ path: '/me' }),
    status: 401,
    code: 'missing_token',
    challenge: REALM,
    broker: false,
  },
  {
    name: 'another scheme (Basic) → 401 bare challenge',
    req: () => ({ path: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } }),
    status: 401,
    code: 'missing_token',
    challenge: REALM,
    broker: false,
  },
  {
    name: '"Bearer" without a token → 400',
    req: () => ({ path: '/me', headers: { authorization: 'Bearer' } }),
    status: 400,
    code: 'invalid_request',
    challenge: /error="invalid_request"/,
    broker: false,
  },
  {
    name: 'two Authorization headers → 400',
    req: (f) => ({ path: '/me', headers: { authorization: [`Bearer ${f.agent}`, `Bearer ${f.bank}`] } }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'token in the query string → 400',
    req: (f) => ({ path: `/me?access_token=${f.agent}`, headers: bearer(f.agent) }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'oversized token → 400',
    req: () => ({ path: '/me', headers: bearer(`${'a'.repeat(9000)}.b.c`) }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'not a JWS → 401 without asking the broker',
    req: () => ({ path: '/me', headers: bearer('abc.def') }),
    status: 401,
    code: 'invalid_token',
    challenge: INVALID,
    broker: false,
  },
  {
    name: 'forged signature → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.forged) }),
    status: 401,
    code: 'invalid_token',
    challenge: INVALID,
    broker: true,
  },
  {
    name: 'expired → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.expired) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
  },
  {
    name: 'released → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.released) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
  },
  {
    name: 'signed by another broker → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.foreign) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
  },
  {
    name: 'admin token refused by default → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.admin) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
  },
  {
    name: 'app token refused by default → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.app) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
  },
  {
    name: 'public route needs no token',
    req: () => ({ path: '/public' }),
    status: 200,
    broker: false,
  },
  {
    name: 'broker down → 503 with Retry-After, never 401',
    req: (f) => ({ path: '/me', headers: bearer(f.agent) }),
    fault: { kind: 'down' },
    status: 503,
    code: 'broker_unavailable',
    challenge: null,
    broker: true,
    check: (_b, h) => expect(h['retry-after']).toBe('5'),
  },
  {
    name: 'broker slower than the timeout → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.agent) }),
    fault: { kind: 'slow', delayMs: 1_500 },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
  },
  {
    name: 'broker 500 → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.agent) }),
    fault: { kind: 'status', status: 500 },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
  },
  {
    name: 'broker answers HTML → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.agent) }),
    fault: { kind: 'garbage' },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
  },
  {
    name: 'broker answers valid:"yes" → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.agent) }),
    fault: { kind: 'json', body: { valid: 'yes' } },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
  },
]

describe.each(ADAPTERS)('conformance: %s', (adapter) => {
  let f: Fixtures & { close(): Promise<void> }
  let app: RunningApp

  beforeAll(async () => {
    f = await makeFixtures()
    // No caching here, so "was the broker called" is a property of the row alone.
    app = await buildApp(adapter, {
      broker: f.broker.url,
      cacheTtlMs: 0,
      negativeCacheTtlMs: 0,
      timeoutMs: 500,
    })
  })
  afterAll(async () => {
    await app?.close()
    await f?.close()
  })

  it.each(ROWS)('$name', async (row) => {
    f.broker.resetStats()
    if (row.fault) f.broker.fault(row.fault)
    let res: Awaited<ReturnType<typeof send>>
    try {
      res = await send(app.url, row.req(f))
    } finally {
      if (row.fault) f.broker.fault(null)
    }
    expect(res.status).toBe(row.status)
    const challenge = res.headers['www-authenticate']
    if (row.challenge === null) expect(challenge).toBeUndefined()
    else if (typeof row.challenge === 'string') expect(challenge).toBe(row.challenge)
    else if (row.challenge instanceof RegExp) expect(challenge).toMatch(row.challenge)
    if (row.status >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json).toMatchObject({
        type: `urn:agentwrit:error:${row.code}`,
        status: row.status,
        error_code: row.code,
        instance: row.req(f).path.split('?')[0],
      })
      if (row.status === 401 || row.status === 400 || row.status === 403) expect(challenge).toBeDefined()
      // a refusal never echoes a token
      for (const t of [f.agent, f.bank, f.forged, f.expired, f.released, f.admin, f.app, f.foreign]) {
        expect(res.text).not.toContain(t.split('.')[2]!)
      }
    }
    const expectedBroker = row.brokerBy?.[adapter] ?? row.broker
    if (expectedBroker) expect(f.broker.stats.validateCalls).toBeGreaterThan(0)
    else expect(f.broker.stats.validateCalls).toBe(0)
    row.check?.(res.json, res.headers, f)
  })
})
