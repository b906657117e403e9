/**
 * Hostile broker answers, on every adapter in every mode: 5xx, connection resets, hangs, slow
 * answers, redirects, HTML, bad JSON, `valid` that is not a boolean, `valid: true` with claims of
 * another token or malformed claims, oversized answers. Each is a 503 (retry), never a 401 (the
 * token may be fine) and never a 200 (nothing was verified). Nothing of it is cached.
 *
 * Local mode never calls the broker: the same requests are 200 there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADAPTERS } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import type { Answer } from '../helpers/refusal.js'
import { json, type StubServer, startStubServer } from '../helpers/stub-server.js'
import { bearer } from '../helpers/tokens.js'
import { buildAppFor, type Case, type HostileEnv, R, runCases, startHostileEnv } from './harness.js'

let env: HostileEnv
let agentClaims: Record<string, unknown>
let bankClaims: Record<string, unknown>

beforeAll(async () => {
  // A short timeout keeps the hang/slow rows quick. The rows classify answers back to back with
  // one token, so the per-token failure memo (tested in regressions.test.ts) and the circuit
  // breaker (tested in test/core/circuit-breaker.test.ts) are off here.
  env = await startHostileEnv({ timeoutMs: 250, brokerFailureMemoMs: 0, breakerThreshold: 0 })
  const a = await env.broker.validate(env.agent.accessToken)
  const b = await env.broker.validate(env.bank.accessToken)
  if (!a.valid || !b.valid) throw new Error('fixture tokens must be valid')
  agentClaims = a.claims
  bankClaims = b.claims
})
afterAll(async () => {
  await env?.close()
})

const me = (e: HostileEnv) => ({ path: '/me', headers: bearer(e.agent.accessToken) })
const LOCAL_OK = { local: { ...R.ok, why: 'local mode never asks the broker' } }
/** An unusable broker answer: 503 in remote and hybrid (after the local check passes). */
const unusable = (name: string, fault: Case['fault'], expect: Answer = R.unavailable): Case => ({
  name,
  req: me,
  fault,
  expect,
  calls: 'verified',
  modes: LOCAL_OK,
})
const answer = (body: unknown) => () => ({ kind: 'json' as const, body })

const CASES: Case[] = [
  unusable('500 → 503', () => ({ kind: 'status', status: 500 })),
  unusable('502 → 503', () => ({ kind: 'status', status: 502 })),
  unusable('503 → 503', () => ({ kind: 'status', status: 503 })),
  unusable('504 → 503', () => ({ kind: 'status', status: 504 })),
  unusable('connection reset → 503', () => ({ kind: 'down' })),
  unusable('no answer (hang) past timeoutMs → 503', () => ({ kind: 'hang' })),
  unusable('answer slower than timeoutMs → 503', () => ({ kind: 'slow', delayMs: 400 })),
  unusable('HTML 200 → 503', () => ({ kind: 'garbage' })),
  unusable('JSON null → 503', answer(null)),
  unusable('JSON array → 503', answer([{ valid: true }])),
  unusable('JSON string "valid" → 503', answer('valid')),
  unusable('JSON true → 503', answer(true)),
  unusable('{} → 503', answer({})),
  unusable('valid: "true" → 503', answer({ valid: 'true', claims: {} })),
  unusable('valid: 1 → 503', answer({ valid: 1 })),
  unusable('valid: null → 503', answer({ valid: null })),
  unusable('valid: [true] → 503', answer({ valid: [true] })),
  unusable('valid: true without claims → 503', answer({ valid: true })),
  unusable('valid: true, claims null → 503', answer({ valid: true, claims: null })),
  unusable('valid: true, claims an array → 503', answer({ valid: true, claims: [] })),
  unusable('valid: true, claims a string → 503', answer({ valid: true, claims: 'ok' })),
  unusable('valid: true with the claims of another token → 503 (never the other identity)', () => ({
    kind: 'json',
    body: { valid: true, claims: bankClaims },
  })),
  unusable('valid: true, same sub, another jti → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, jti: 'f'.repeat(32) } },
  })),
  unusable('valid: true, same jti, sub "admin" → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, sub: 'admin' } },
  })),
  unusable('valid: true, claims with exp a string → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, exp: String(agentClaims.exp) } },
  })),
  unusable('valid: true, claims with scope a string → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, scope: 'read:data:*' } },
  })),
  unusable('valid: true, claims without exp → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, exp: undefined } },
  })),
  unusable('valid: true, claims with an empty jti → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: { ...agentClaims, jti: '' } },
  })),
  // The answer must carry exactly the token's claims — every claim, not only jti and sub.
  ...(
    [
      ['scope widened (same jti and sub)', { scope: ['read:data:*'] }],
      ['scope in another order', { scope: ['write:data:order-1', 'read:data:customer-7'] }],
      ['scope with one entry less', { scope: ['read:data:customer-7'] }],
      ['scope with one entry more', { scope: ['read:data:customer-7', 'write:data:order-1', 'read:data:x'] }],
      ['a later exp', { exp: 'exp+1' }],
      ['another iat', { iat: 'iat-1' }],
      ['nbf 0', { nbf: 0 }],
      ['another iss', { iss: 'https://broker.example' }],
      ['an aud the token does not carry', { aud: ['svc'] }],
      ['a sid the token does not carry', { sid: 's1' }],
      ['another task_id', { task_id: 'other-task' }],
      ['orch_id dropped', { orch_id: undefined }],
      [
        'a delegation chain the token does not carry',
        {
          delegation_chain: [
            { agent: 'admin', scope: ['read:data:*', 'write:data:*'], delegated_at: '2026-01-01T00:00:00Z' },
          ],
          chain_hash: 'a'.repeat(64),
        },
      ],
    ] as const
  ).map(([what, change]) =>
    unusable(`valid: true with ${what} → 503 claims_mismatch`, () => {
      const body: Record<string, unknown> = { ...agentClaims }
      for (const [k, v] of Object.entries(change)) {
        if (v === undefined) delete body[k]
        else if (v === 'exp+1') body.exp = (agentClaims.exp as number) + 1
        else if (v === 'iat-1') body.iat = (agentClaims.iat as number) - 1
        else body[k] = v
      }
      return { kind: 'json', body: { valid: true, claims: body } }
    }),
  ),
  unusable('answer over 256 KiB → 503', () => ({
    kind: 'json',
    body: { valid: true, claims: agentClaims, padding: 'x'.repeat(300_000) },
  })),
  {
    name: 'valid: false → 401 (a definite answer)',
    req: me,
    fault: answer({ valid: false, error: 'token is invalid or expired' }),
    expect: R.invalidToken,
    calls: 'verified',
    modes: LOCAL_OK,
  },
  {
    name: 'valid: false with claims attached → 401',
    req: me,
    fault: () => ({ kind: 'json', body: { valid: false, claims: agentClaims } }),
    expect: R.invalidToken,
    calls: 'verified',
    modes: LOCAL_OK,
  },
  {
    name: 'a faulted broker is never asked for a syntactically bad token → 401',
    req: () => ({ path: '/me', headers: bearer('a.b') }),
    fault: () => ({ kind: 'status', status: 500 }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'a forged token while the broker is down: hybrid refuses locally (401), remote cannot tell (503)',
    req: (e) => {
      const t = e.agent.accessToken
      return {
        path: '/me',
        headers: bearer(`${t.slice(0, -10)}${t.at(-10) === 'A' ? 'B' : 'A'}${t.slice(-9)}`),
      }
    },
    fault: () => ({ kind: 'down' }),
    expect: R.unavailable,
    calls: 'remote',
    modes: {
      local: { ...R.invalidToken, why: 'local signature check' },
      hybrid: { ...R.invalidToken, why: 'local signature check first' },
    },
  },
]

runCases('broker answers', () => env, CASES)

describe('nothing from a broker fault is cached', () => {
  it.each(ADAPTERS)(
    '%s: remote mode with caching on, a 503 is remembered for brokerFailureMemoMs, then the broker is asked again',
    async (adapter) => {
      let t = Date.now()
      const app = await buildAppFor(env, 'remote', adapter, {
        cacheTtlMs: 60_000,
        negativeCacheTtlMs: 60_000,
        now: () => t,
      })
      try {
        const before = env.broker.stats.validateCalls
        env.broker.fault({ kind: 'json', body: { valid: 'yes' } })
        expect((await send(app.url, me(env))).status).toBe(503)
        expect(app.verifier.stats().cacheEntries).toBe(0)
        env.broker.fault(null)
        // within the memo (default 1000 ms) the failure is reused: 503 again, no broker call
        expect((await send(app.url, me(env))).status).toBe(503)
        expect(env.broker.stats.validateCalls - before).toBe(1)
        t += 1_001
        expect((await send(app.url, me(env))).status).toBe(200)
        expect(env.broker.stats.validateCalls - before).toBe(2)
        expect(app.verifier.stats().cacheEntries).toBe(1)
      } finally {
        env.broker.fault(null)
        await app.close()
      }
    },
  )
})

describe('an answer that disagrees with the token is never cached', () => {
  for (const mode of ['remote', 'hybrid'] as const) {
    it.each(ADAPTERS)(
      `${mode}, %s: scope widened in the answer → 503 claims_mismatch, nothing cached, then 200`,
      async (adapter) => {
        const app = await buildAppFor(env, mode, adapter, {
          cacheTtlMs: 60_000,
          negativeCacheTtlMs: 60_000,
          brokerFailureMemoMs: 0,
        })
        try {
          env.broker.fault({
            kind: 'json',
            body: { valid: true, claims: { ...agentClaims, scope: ['read:data:*'] } },
          })
          const res = await send(app.url, { path: '/customers/9', headers: bearer(env.agent.accessToken) })
          expect(res.status).toBe(503)
          expect(res.json.error_code).toBe('broker_unavailable')
          expect(app.verifier.stats().cacheEntries).toBe(0)
          // still not cached: the same request asks again and gets the same refusal
          const before = env.broker.stats.validateCalls
          expect((await send(app.url, me(env))).status).toBe(503)
          expect(env.broker.stats.validateCalls - before).toBe(1)
          env.broker.fault(null)
          expect((await send(app.url, me(env))).status).toBe(200)
          expect(app.verifier.stats().cacheEntries).toBe(1)
          // the cached, agreeing answer never widened anything
          expect(
            (await send(app.url, { path: '/customers/9', headers: bearer(env.agent.accessToken) })).status,
          ).toBe(403)
        } finally {
          env.broker.fault(null)
          await app.close()
        }
      },
    )
  }
})

describe('redirects are not followed', () => {
  let stub: StubServer
  beforeAll(async () => {
    stub = await startStubServer()
  })
  afterAll(async () => {
    await stub?.close()
  })

  for (const status of [301, 302, 307, 308]) {
    it.each(['remote', 'hybrid'] as const)(
      `${status} to the real broker → 503 (%s, every adapter)`,
      async (mode) => {
        stub.handler = (_req, _body, res) => {
          res.writeHead(status, { location: `${env.broker.url}/v1/token/validate` })
          res.end()
        }
        for (const adapter of ADAPTERS) {
          const app = await buildAppFor(env, mode, adapter, { broker: stub.url })
          try {
            const stubBefore = stub.requests.length
            const before = env.broker.stats.validateCalls
            const res = await send(app.url, me(env))
            expect(res.status, adapter).toBe(503)
            expect(res.json.error_code).toBe('broker_unavailable')
            expect(stub.requests.length - stubBefore).toBe(1)
            expect(env.broker.stats.validateCalls - before, 'the redirect target is never asked').toBe(0)
          } finally {
            await app.close()
          }
        }
      },
    )
  }

  it('a stub answering valid:true for a token it never saw, with matching claims, is the only way to a 200 — and only for that exact token', async () => {
    // Sanity check of the trust model: remote mode trusts the broker's answer for the token it sent.
    stub.handler = (_req, body, res) => {
      const { token } = JSON.parse(body) as { token: string }
      json(
        res,
        200,
        token === env.agent.accessToken ? { valid: true, claims: agentClaims } : { valid: false },
      )
    }
    const app = await buildAppFor(env, 'remote', 'express', { broker: stub.url })
    try {
      expect((await send(app.url, me(env))).status).toBe(200)
      expect((await send(app.url, { path: '/me', headers: bearer(env.bank.accessToken) })).status).toBe(401)
    } finally {
      await app.close()
    }
  })
})
