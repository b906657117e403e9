/**
 * Hostile claims in broker-signed tokens, on every adapter in every mode: time claims (expired,
 * not yet valid, wrong types, absurd values, the exact boundary second), identities the resource
 * server must not accept (admin, app, foreign trust domain, odd subjects), and claim contents
 * (scope shapes, `__proto__` keys, huge scope arrays, deep delegation chains).
 *
 * The tokens are signed with the broker's key (`signToken`), so they pass the signature check:
 * what is tested is what happens after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatRfc3339Nano } from '../../src/testing/index.js'
import { ADAPTERS } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { MODES, type Mode } from '../helpers/modes.js'
import { bearer } from '../helpers/tokens.js'
import { buildAppFor, type Case, type HostileEnv, R, runCases, startHostileEnv } from './harness.js'

let env: HostileEnv
beforeAll(async () => {
  env = await startHostileEnv()
})
afterAll(async () => {
  await env?.close()
})

const TD = 'agentwrit.local'
/** Expiry is checked locally first in hybrid mode: only remote asks the broker. */
const TIME_FAULT = { expect: R.invalidToken, calls: 'remote' as const }
/**
 * Claims the broker never issues (wrong types, absurd sizes, a chain it cannot write): the token's
 * own payload is read before anything else in every mode, remote included, and refused — 401 with
 * no broker call (src/core/token-shape.ts).
 */
const CLAIM_FAULT = { expect: R.invalidToken, calls: 'never' as const }
/** The broker says valid; the verifier's own admission rules refuse. */
const ADMISSION = { expect: R.invalidToken, calls: 'verified' as const }
const me = (token: string) => ({ path: '/me', headers: bearer(token) })
/** A token signed with a verbatim payload text (to control number syntax and key order). */
const raw = (e: HostileEnv, text: string) => e.broker.signToken(text)
const t0 = () => Math.floor(Date.now() / 1000)

const CASES: Case[] = [
  // ---- time ------------------------------------------------------------------------------------
  { name: 'expired 10 s ago → 401', req: (e) => me(e.sign({ exp: e.now() - 10 })), ...TIME_FAULT },
  {
    name: 'now == exp + 1 → 401',
    req: (e) => me(e.sign({ exp: e.now() - 1, nbf: e.now() - 60, iat: e.now() - 60 })),
    ...TIME_FAULT,
  },
  { name: 'nbf 60 s in the future → 401', req: (e) => me(e.sign({ nbf: e.now() + 60 })), ...TIME_FAULT },
  {
    name: 'nbf 2 s in the future → 401 (no leeway)',
    req: (e) => me(e.sign({ nbf: e.now() + 2 })),
    ...TIME_FAULT,
  },
  {
    name: 'nbf 0 → 200 (not checked when zero, as the broker)',
    req: (e) => me(e.sign({ nbf: 0 })),
    expect: R.ok,
    calls: 'verified',
  },
  { name: 'nbf absent → 200', req: (e) => me(e.sign({ nbf: undefined })), expect: R.ok, calls: 'verified' },
  {
    name: 'iat an hour in the future → 200 (iat is not checked, as the broker)',
    req: (e) => me(e.sign({ iat: e.now() + 3600 })),
    expect: R.ok,
    calls: 'verified',
  },
  { name: 'exp absent → 401', req: (e) => me(e.sign({ exp: undefined })), ...CLAIM_FAULT },
  { name: 'exp 0 → 401', req: (e) => me(e.sign({ exp: 0 })), ...CLAIM_FAULT },
  { name: 'exp negative → 401', req: (e) => me(e.sign({ exp: -1 })), ...CLAIM_FAULT },
  { name: 'exp a string → 401', req: (e) => me(e.sign({ exp: String(e.now() + 300) })), ...CLAIM_FAULT },
  {
    name: 'exp a fraction (now + 300.5) → 401',
    req: (e) => me(e.sign({ exp: e.now() + 300.5 })),
    ...CLAIM_FAULT,
  },
  { name: 'exp true → 401', req: (e) => me(e.sign({ exp: true })), ...CLAIM_FAULT },
  { name: 'exp null → 401 (Go leaves 0)', req: (e) => me(e.sign({ exp: null })), ...CLAIM_FAULT },
  { name: 'exp an array → 401', req: (e) => me(e.sign({ exp: [e.now() + 300] })), ...CLAIM_FAULT },
  {
    name: 'nbf a string in the past → 401',
    req: (e) => me(e.sign({ nbf: String(e.now() - 10) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'exp beyond int64 → 401',
    req: (e) =>
      me(raw(e, `{"iss":"","sub":"${e.agent.agentId}","exp":99999999999999999999,"jti":"j1","scope":[]}`)),
    ...CLAIM_FAULT,
  },
  {
    name: 'exp = 2^63−1 (valid for the broker, not representable here) → refused, never 200',
    req: (e) =>
      me(
        raw(
          e,
          `{"iss":"","sub":"${e.agent.agentId}","exp":9223372036854775807,"nbf":${t0()},"iat":${t0()},"jti":"${'9'.repeat(32)}","scope":[]}`,
        ),
      ),
    // The broker would validate it and answer claims no verifier can represent (> 2^53): a token
    // problem (401) caught before asking, never a broker problem (503).
    ...CLAIM_FAULT,
  },
  {
    name: 'iat beyond 2^53 → 401, no broker call',
    req: (e) => me(raw(e, JSON.stringify(e.claims()).replace(/"iat":\d+/, '"iat":9007199254740993'))),
    ...CLAIM_FAULT,
  },
  {
    name: 'nbf a fraction → 401, no broker call',
    req: (e) => me(raw(e, JSON.stringify(e.claims()).replace(/"nbf":(\d+)/, '"nbf":$1.5'))),
    ...CLAIM_FAULT,
  },
  {
    name: 'iat written 1.7e9 → 401, no broker call',
    req: (e) => me(raw(e, JSON.stringify(e.claims()).replace(/"iat":\d+/, '"iat":1.7e9'))),
    ...CLAIM_FAULT,
  },
  {
    name: 'exp = 10^15 (far future, a safe integer) → 200 everywhere',
    req: (e) => me(e.sign({ exp: 1e15 })),
    expect: R.ok,
    calls: 'verified',
  },
  // ---- identity ---------------------------------------------------------------------------------
  {
    name: 'admin subject (broker-signed) → 401',
    req: (e) => me(e.sign({ sub: 'admin', task_id: undefined, orch_id: undefined })),
    ...ADMISSION,
  },
  {
    name: 'app subject → 401',
    req: (e) => me(e.sign({ sub: 'app:sample-app', task_id: undefined, orch_id: undefined })),
    ...ADMISSION,
  },
  {
    name: 'real admin token from /v1/admin/auth → 401',
    req: () => ({ path: '/me', headers: bearer(adminToken) }),
    ...ADMISSION,
  },
  {
    name: 'foreign trust domain → 401',
    req: (e) => me(e.sign({ sub: 'spiffe://evil.example/agent/o/t/0123456789abcdef' })),
    ...ADMISSION,
  },
  {
    name: 'trust domain suffix trick (agentwrit.local.evil) → 401',
    req: (e) => me(e.sign({ sub: `spiffe://${TD}.evil/agent/o/t/0123456789abcdef` })),
    ...ADMISSION,
  },
  {
    name: 'trust domain prefix trick (evil-agentwrit.local) → 401',
    req: (e) => me(e.sign({ sub: `spiffe://evil-${TD}/agent/o/t/0123456789abcdef` })),
    ...ADMISSION,
  },
  {
    name: 'userinfo in the SPIFFE id (agentwrit.local@evil) → 401',
    req: (e) => me(e.sign({ sub: `spiffe://${TD}@evil/agent/o/t/0123456789abcdef` })),
    ...ADMISSION,
  },
  {
    name: 'uppercase trust domain → 401',
    req: (e) => me(e.sign({ sub: `spiffe://AGENTWRIT.LOCAL/agent/o/t/0123456789abcdef` })),
    ...ADMISSION,
  },
  {
    name: 'extra path segment → 401',
    req: (e) => me(e.sign({ sub: `spiffe://${TD}/agent/o/t/0123456789abcdef/x` })),
    ...ADMISSION,
  },
  {
    name: 'trailing newline in the subject → 401',
    req: (e) => me(e.sign({ sub: `${e.agent.agentId}\n` })),
    ...ADMISSION,
  },
  { name: 'unknown subject shape ("alice") → 401', req: (e) => me(e.sign({ sub: 'alice' })), ...ADMISSION },
  { name: 'subject "app:" with no id → 401', req: (e) => me(e.sign({ sub: 'app:' })), ...ADMISSION },
  { name: 'subject "admin " → 401', req: (e) => me(e.sign({ sub: 'admin ' })), ...ADMISSION },
  { name: 'empty sub → 401', req: (e) => me(e.sign({ sub: '' })), ...CLAIM_FAULT },
  { name: 'sub absent → 401', req: (e) => me(e.sign({ sub: undefined })), ...CLAIM_FAULT },
  { name: 'sub a number → 401', req: (e) => me(e.sign({ sub: 42 })), ...CLAIM_FAULT },
  { name: 'empty jti → 401', req: (e) => me(e.sign({ jti: '' })), ...CLAIM_FAULT },
  { name: 'jti absent → 401', req: (e) => me(e.sign({ jti: undefined })), ...CLAIM_FAULT },
  // ---- contents ---------------------------------------------------------------------------------
  { name: 'scope a string → 401', req: (e) => me(e.sign({ scope: 'read:data:customer-7' })), ...CLAIM_FAULT },
  {
    name: 'scope an object → 401',
    req: (e) => me(e.sign({ scope: { 'read:data:*': true } })),
    ...CLAIM_FAULT,
  },
  {
    name: 'scope with a number inside → 401',
    req: (e) => me(e.sign({ scope: ['read:data:customer-7', 7] })),
    ...CLAIM_FAULT,
  },
  {
    name: 'scope null holds nothing: /me → 200',
    req: (e) => me(e.sign({ scope: null })),
    expect: R.ok,
    calls: 'verified',
  },
  {
    name: 'scope null holds nothing: guarded route → 403',
    req: (e) => ({ path: '/customers/7', headers: bearer(e.sign({ scope: null })) }),
    expect: R.forbidden('read:data:customer-7'),
    calls: 'verified',
  },
  {
    name: 'scope absent holds nothing → 403',
    req: (e) => ({ path: '/customers/7', headers: bearer(e.sign({ scope: undefined })) }),
    expect: R.forbidden('read:data:customer-7'),
    calls: 'verified',
  },
  {
    name: '"__proto__" key carrying a wildcard scope → 403 (never read)',
    req: (e) => ({
      path: '/customers/9',
      headers: bearer(
        raw(
          e,
          JSON.stringify(e.claims({ scope: undefined })).replace(
            /^\{/,
            '{"__proto__":{"scope":["read:data:*"]},',
          ),
        ),
      ),
    }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: '"__proto__" and "constructor" keys beside a real scope → 403 for another customer',
    req: (e) => ({
      path: '/customers/9',
      headers: bearer(
        raw(
          e,
          JSON.stringify(e.claims()).replace(
            /^\{/,
            '{"__proto__":{"scope":["read:data:*"],"sub":"admin"},"constructor":{"prototype":{"scope":["read:data:*"]}},',
          ),
        ),
      ),
    }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope "*:*:*" is literal → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['*:*:*'] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope "read:*:*" is literal → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['read:*:*'] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope "read:data:customer-*" is not a wildcard → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['read:data:customer-*'] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope "read:data" (malformed) → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['read:data'] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'two scopes in one space-separated entry → 403',
    req: (e) => ({
      path: '/customers/9',
      headers: bearer(e.sign({ scope: ['read:data:customer-7 read:data:customer-9'] })),
    }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope with a trailing space → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['read:data:customer-9 '] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope in another case → 403',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['READ:DATA:CUSTOMER-9'] })) }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope "read:data:*" covers any customer → 200',
    req: (e) => ({ path: '/customers/9', headers: bearer(e.sign({ scope: ['read:data:*'] })) }),
    expect: R.ok,
    calls: 'verified',
  },
  {
    name: 'huge scope array (180 entries, the held one last) → 200',
    req: (e) => ({
      path: '/customers/7',
      headers: bearer(
        e.sign({
          scope: [
            ...Array.from({ length: 179 }, (_, i) => `read:data:customer-${1000 + i}`),
            'read:data:customer-7',
          ],
        }),
      ),
    }),
    expect: R.ok,
    calls: 'verified',
  },
  {
    name: 'huge scope array without the needed scope → 403',
    req: (e) => ({
      path: '/customers/9',
      headers: bearer(
        e.sign({ scope: Array.from({ length: 180 }, (_, i) => `read:data:customer-${1000 + i}`) }),
      ),
    }),
    expect: R.forbidden('read:data:customer-9'),
    calls: 'verified',
  },
  {
    name: 'scope array too big for maxTokenLength → 400 before any verification',
    req: (e) => ({
      path: '/customers/7',
      headers: bearer(
        e.sign({ scope: Array.from({ length: 400 }, (_, i) => `read:data:customer-${1000 + i}`) }),
      ),
    }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'delegation chain of 5 (the broker’s limit), attenuating, with chain_hash → 200',
    req: (e) => ({
      path: '/customers/7',
      headers: bearer(e.sign({ delegation_chain: chain(5), chain_hash: 'a'.repeat(64) })),
    }),
    expect: R.ok,
    calls: 'verified',
    check: (res) => expect(res.json.delegated).toBe(true),
  },
  {
    name: 'delegation chain of 6 (one more than the broker writes) → 401, no broker call',
    req: (e) => ({
      path: '/customers/7',
      headers: bearer(e.sign({ delegation_chain: chain(6), chain_hash: 'a'.repeat(64) })),
    }),
    ...CLAIM_FAULT,
  },
  {
    name: 'deep delegation chain (20 attenuating hops, 4× the broker’s limit) → 401, no broker call',
    req: (e) => ({
      path: '/customers/7',
      headers: bearer(e.sign({ delegation_chain: chain(20), chain_hash: 'a'.repeat(64) })),
    }),
    ...CLAIM_FAULT,
  },
  {
    name: 'a chain without chain_hash → 401',
    req: (e) => me(e.sign({ delegation_chain: chain(1) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'chain_hash without a chain → 401',
    req: (e) => me(e.sign({ chain_hash: 'a'.repeat(64) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'chain_hash that is not 64 lowercase hex → 401',
    req: (e) => me(e.sign({ delegation_chain: chain(1), chain_hash: 'h' })),
    ...CLAIM_FAULT,
  },
  ...(
    [
      ['without agent', { agent: undefined }],
      ['without scope (the broker answers scope null)', { scope: undefined }],
      ['without delegated_at (the broker answers year 1)', { delegated_at: undefined }],
      ['with agent a number', { agent: 7 }],
      ['with an empty agent', { agent: '' }],
      ['with scope a string', { scope: 'read:data:*' }],
      ['with scope null', { scope: null }],
      ['with delegated_at a number', { delegated_at: 1_776_000_000 }],
      ['with delegated_at not in Go’s RFC3339Nano UTC form', { delegated_at: '2026-04-14T22:26:15+02:00' }],
      ['with a signature that is not 128 hex', { signature: 'sig' }],
    ] as const
  ).map(
    ([what, change]): Case => ({
      name: `a chain link ${what} → 401, no broker call`,
      req: (e) => {
        const link: Record<string, unknown> = { ...chain(1)[0], ...change }
        for (const [k, v] of Object.entries(change)) if (v === undefined) delete link[k]
        return me(e.sign({ delegation_chain: [link], chain_hash: 'a'.repeat(64) }))
      },
      ...CLAIM_FAULT,
    }),
  ),
  // ---- absurd sizes (bounds in src/core/claims.ts; the token still fits maxTokenLength) -----------
  {
    name: 'a sub of 2100 characters (over the 2048 SPIFFE ID limit) → 401',
    req: (e) => me(e.sign({ sub: `spiffe://${TD}/agent/o/t/${'a'.repeat(2070)}` })),
    ...CLAIM_FAULT,
  },
  {
    name: 'a jti of 3000 characters → 401',
    req: (e) => me(e.sign({ jti: 'f'.repeat(3000) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'a task_id of 2100 characters → 401',
    req: (e) => me(e.sign({ task_id: 't'.repeat(2100) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'an orch_id of 2100 characters → 401',
    req: (e) => me(e.sign({ orch_id: 'o'.repeat(2100) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'an iss of 2100 characters → 401',
    req: (e) => me(e.sign({ iss: 'i'.repeat(2100) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'an aud entry of 2100 characters → 401',
    req: (e) => me(e.sign({ aud: ['a'.repeat(2100)] })),
    ...CLAIM_FAULT,
  },
  {
    name: '17 aud entries → 401',
    req: (e) => me(e.sign({ aud: Array.from({ length: 17 }, (_, i) => `svc-${i}`) })),
    ...CLAIM_FAULT,
  },
  {
    name: 'a scope entry of 2100 characters → 401',
    req: (e) => me(e.sign({ scope: ['read:data:customer-7', `read:data:${'x'.repeat(2090)}`] })),
    ...CLAIM_FAULT,
  },
  {
    name: 'a scope with an unpaired surrogate (the broker would read U+FFFD) → 401',
    req: (e) =>
      me(raw(e, JSON.stringify(e.claims()).replace('read:data:customer-7', 'read:data:customer-7\\ud800'))),
    ...CLAIM_FAULT,
  },
  {
    name: 'delegation chain with a record that is not an object → 401',
    req: (e) => me(e.sign({ delegation_chain: ['x'] })),
    ...CLAIM_FAULT,
  },
  {
    name: 'delegation_chain a string → 401',
    req: (e) => me(e.sign({ delegation_chain: 'spiffe://x' })),
    ...CLAIM_FAULT,
  },
  {
    name: 'aud a string (the broker emits an array) → 401',
    req: (e) => me(e.sign({ aud: 'svc' })),
    ...CLAIM_FAULT,
  },
  { name: 'iss a number → 401', req: (e) => me(e.sign({ iss: 1 })), ...CLAIM_FAULT },
  { name: 'task_id an array → 401', req: (e) => me(e.sign({ task_id: ['t'] })), ...CLAIM_FAULT },
]

let adminToken = ''

function chain(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    agent: `spiffe://${TD}/agent/o/t${i}/0123456789abcdef`,
    scope: ['read:data:customer-7', 'write:data:order-1'],
    delegated_at: formatRfc3339Nano(Date.now() - (n - i) * 1000),
  }))
}

beforeAll(async () => {
  adminToken = await env.broker.adminToken()
})

runCases('claims', () => env, CASES)

/** Wait until early in a second, so a request sent now is answered within the same second. */
async function earlyInSecond(): Promise<void> {
  for (;;) {
    const ms = Date.now() % 1000
    if (ms < 150) return
    await new Promise((r) => setTimeout(r, 1000 - ms + 5))
  }
}

describe('the boundary second: valid while now == exp, invalid from exp + 1 (all apps at once)', () => {
  it.each(['exp', 'exp+1'] as const)('%s', async (which) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      await earlyInSecond()
      const s = Math.floor(Date.now() / 1000)
      const exp = which === 'exp' ? s : s - 1
      const jobs: { mode: Mode; adapter: string; p: Promise<{ status: number }> }[] = []
      for (const mode of MODES) {
        for (const adapter of ADAPTERS) {
          const token = env.sign({ exp, nbf: s - 60, iat: s - 60 })
          jobs.push({ mode, adapter, p: send(env.apps[mode][adapter].url, me(token)) })
        }
      }
      const results = await Promise.all(jobs.map((j) => j.p))
      if (Math.floor(Date.now() / 1000) !== s) continue // crossed into the next second: retry
      for (const [i, j] of jobs.entries()) {
        expect(results[i]!.status, `${j.mode}/${j.adapter}`).toBe(which === 'exp' ? 200 : 401)
      }
      return
    }
    throw new Error('could not fit the requests into one second five times')
  })
})

describe.each(MODES)('scope count bound with a raised maxTokenLength (%s mode)', (mode) => {
  it.each(ADAPTERS)('%s: 256 scopes → 200, 257 → 401 with no broker call', async (adapter) => {
    const app = await buildAppFor(env, mode, adapter, { maxTokenLength: 65_536 })
    try {
      const scopes = (n: number) => [
        'read:data:customer-7',
        ...Array.from({ length: n - 1 }, (_, i) => `read:data:customer-${1000 + i}`),
      ]
      const ok = await send(app.url, {
        path: '/customers/7',
        headers: bearer(env.sign({ scope: scopes(256) })),
      })
      expect(ok.status).toBe(200)
      const before = env.broker.stats.validateCalls
      const res = await send(app.url, {
        path: '/customers/7',
        headers: bearer(env.sign({ scope: scopes(257) })),
      })
      expect(res.status).toBe(401)
      expect(res.json.error_code).toBe('invalid_token')
      expect(env.broker.stats.validateCalls).toBe(before)
    } finally {
      await app.close()
    }
  })
})
