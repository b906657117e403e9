/**
 * Regression tests for the bugs the hostile suite found (issue 6), fixed in src/:
 *
 * B1 (medium) hybrid mode took the identity from the broker's unsigned answer, not from the
 *    token it had just verified: a broker answer with the right jti/sub but a wider scope widened
 *    the request's scope. Fixed in hybrid.ts: the verified claims are used.
 * B2 (low) local mode decoded the payload with JSON.parse, not like Go: integers written `N.0` /
 *    `1.9e9`, and case-variant duplicate keys (`Scope`, `SUB`), gave a different claim set than the
 *    broker's. Fixed in go-claims-json.ts: such payloads are refused.
 * B3 (low) the SPIFFE agent-id check accepted `.` and `..` path segments (the SPIFFE spec and
 *    go-spiffe, which the broker uses, forbid them). Fixed in claims.ts.
 * B4 (low, availability) broker failures were not shared beyond one in-flight call: N concurrent
 *    requests for one token during an outage made up to N broker calls. Fixed in remote.ts: a
 *    failure is remembered per token for `brokerFailureMemoMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADAPTERS } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { bearer } from '../helpers/tokens.js'
import { buildAppFor, type HostileEnv, startHostileEnv } from './harness.js'

let env: HostileEnv
beforeAll(async () => {
  env = await startHostileEnv()
})
afterAll(async () => {
  await env?.close()
})

const me = (token: string) => ({ path: '/me', headers: bearer(token) })

describe('B1: hybrid mode must not take scopes from the broker answer over the verified token', () => {
  it.each(ADAPTERS)(
    '%s: broker answers valid:true with the right jti/sub and scope read:data:* → never accepted (503: the answer disagrees with the token)',
    async (adapter) => {
      const app = await buildAppFor(env, 'hybrid', adapter)
      const answer = await env.broker.validate(env.agent.accessToken)
      if (!answer.valid) throw new Error('fixture token must be valid')
      env.broker.fault({
        kind: 'json',
        body: { valid: true, claims: { ...answer.claims, scope: ['read:data:*'] } },
      })
      try {
        const res = await send(app.url, { path: '/customers/9', headers: bearer(env.agent.accessToken) })
        // The token's signed scope is read:data:customer-7 only; an answer that widens it is unusable.
        expect(res.status).toBe(503)
        expect(res.json.error_code).toBe('broker_unavailable')
      } finally {
        env.broker.fault(null)
        await app.close()
      }
    },
  )
})

describe('B2: local mode must decode the payload like the broker (Go encoding/json into int64 / case-insensitive fields)', () => {
  const payload = (body: string) => env.broker.signToken(`{${body}}`)
  const base = () => {
    const t = env.now()
    return `"iss":"","sub":"${env.agent.agentId}","nbf":${t},"iat":${t},"jti":"${'b2'.repeat(16)}"`
  }

  it.each(ADAPTERS)(
    '%s: exp written as 1234567890.0 → 401 (the broker refuses: not an int64)',
    async (adapter) => {
      const app = await buildAppFor(env, 'local', adapter)
      try {
        const token = payload(`${base()},"exp":${env.now() + 300}.0,"scope":["read:data:customer-7"]`)
        expect((await env.broker.validate(token)).valid).toBe(false)
        expect((await send(app.url, me(token))).status).toBe(401)
      } finally {
        await app.close()
      }
    },
  )

  it.each(ADAPTERS)('%s: exp written as 4.1e9 → 401 (the broker refuses)', async (adapter) => {
    const app = await buildAppFor(env, 'local', adapter)
    try {
      const token = payload(`${base()},"exp":4.1e9,"scope":["read:data:customer-7"]`)
      expect((await env.broker.validate(token)).valid).toBe(false)
      expect((await send(app.url, me(token))).status).toBe(401)
    } finally {
      await app.close()
    }
  })

  it.each(ADAPTERS)(
    '%s: {"scope":["read:data:*"],"Scope":["read:data:customer-7"]} → refused (401), never the wider scope',
    async (adapter) => {
      const app = await buildAppFor(env, 'local', adapter)
      try {
        const token = payload(
          `${base()},"exp":${env.now() + 300},"scope":["read:data:*"],"Scope":["read:data:customer-7"]`,
        )
        const broker = await env.broker.validate(token)
        expect(broker.valid && broker.claims.scope).toEqual(['read:data:customer-7'])
        // The broker reads customer-7; a local verifier refuses any payload whose field names it
        // would decode differently (src/core/go-claims-json.ts), rather than emulate Go's folding.
        expect((await send(app.url, { path: '/customers/9', headers: bearer(token) })).status).toBe(401)
      } finally {
        await app.close()
      }
    },
  )

  it.each(ADAPTERS)(
    '%s: {"sub":"<agent>","SUB":"admin"} → 401 (the broker reads sub "admin"; admin tokens are refused)',
    async (adapter) => {
      const app = await buildAppFor(env, 'local', adapter)
      try {
        const token = payload(`${base()},"SUB":"admin","exp":${env.now() + 300},"scope":[]`)
        const broker = await env.broker.validate(token)
        expect(broker.valid && broker.claims.sub).toBe('admin')
        expect((await send(app.url, me(token))).status).toBe(401)
      } finally {
        await app.close()
      }
    },
  )
})

describe('B3: an agent id with "." or ".." path segments is not a SPIFFE id', () => {
  it.each(ADAPTERS)('%s: sub spiffe://agentwrit.local/agent/o/../x → 401', async (adapter) => {
    const app = await buildAppFor(env, 'local', adapter)
    try {
      const token = env.sign({ sub: 'spiffe://agentwrit.local/agent/o/../x' })
      expect((await send(app.url, me(token))).status).toBe(401)
      const token2 = env.sign({ sub: 'spiffe://agentwrit.local/agent/./t/0123456789abcdef' })
      expect((await send(app.url, me(token2))).status).toBe(401)
    } finally {
      await app.close()
    }
  })
})

describe('B4: an outage does not multiply broker calls', () => {
  it.each(ADAPTERS)(
    '%s: 40 concurrent requests for one token while the broker answers 503 → at most 2 broker calls',
    async (adapter) => {
      const app = await buildAppFor(env, 'remote', adapter, { cacheTtlMs: 60_000 })
      env.broker.fault({ kind: 'status', status: 503 })
      try {
        const before = env.broker.stats.validateCalls
        const token = env.sign()
        const results = await Promise.all(Array.from({ length: 40 }, () => send(app.url, me(token))))
        for (const r of results) expect(r.status).toBe(503)
        expect(env.broker.stats.validateCalls - before).toBeLessThanOrEqual(2)
      } finally {
        env.broker.fault(null)
        await app.close()
      }
    },
  )
})
