/**
 * Hostile credential extraction, on every adapter in every mode: missing, duplicated, oddly
 * spaced or cased headers, tokens in the query string or the body, oversized headers, and bytes
 * Node's own parser refuses before the middleware runs. Nothing here may ever be a 200 unless a
 * genuine token is presented in a well-formed `Authorization` header, and nothing may crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADAPTERS } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { MODES } from '../helpers/modes.js'
import { bearer } from '../helpers/tokens.js'
import { type Case, type HostileEnv, R, rawHttp, runCases, startHostileEnv } from './harness.js'

let env: HostileEnv
beforeAll(async () => {
  env = await startHostileEnv()
})
afterAll(async () => {
  await env?.close()
})

const tok = (e: HostileEnv) => e.agent.accessToken
const ok = { ...R.ok }

const CASES: Case[] = [
  {
    name: 'no Authorization header → 401 bare challenge',
    req: () => ({ path: '/me' }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'empty Authorization header → 400',
    req: () => ({ path: '/me', headers: { authorization: '' } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'whitespace-only Authorization header → 400',
    req: () => ({ path: '/me', headers: { authorization: '   ' } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'the same valid token twice → 400',
    req: (e) => ({ path: '/me', headers: { authorization: [`Bearer ${tok(e)}`, `Bearer ${tok(e)}`] } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'a valid token and an empty second header → 400',
    req: (e) => ({ path: '/me', headers: { authorization: [`Bearer ${tok(e)}`, ''] } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'a garbage header first, the valid token second → 400',
    req: (e) => ({ path: '/me', headers: { authorization: ['Basic eDp5', `Bearer ${tok(e)}`] } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'lowercase scheme "bearer" → 200',
    req: (e) => ({ path: '/me', headers: { authorization: `bearer ${tok(e)}` } }),
    expect: ok,
    calls: 'verified',
  },
  {
    name: 'uppercase scheme "BEARER" → 200',
    req: (e) => ({ path: '/me', headers: { authorization: `BEARER ${tok(e)}` } }),
    expect: ok,
    calls: 'verified',
  },
  {
    name: 'two spaces after the scheme → 200',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer  ${tok(e)}` } }),
    expect: ok,
    calls: 'verified',
  },
  {
    name: 'leading and trailing spaces around the value → 200 (not part of the field value)',
    req: (e) => ({ path: '/me', headers: { authorization: `   Bearer ${tok(e)}   ` } }),
    expect: ok,
    calls: 'verified',
  },
  {
    name: 'tab between scheme and token → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer\t${tok(e)}` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'space + tab between scheme and token → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer \t${tok(e)}` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'junk after the token → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer ${tok(e)} x` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'a second credential after a comma → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer ${tok(e)}, Basic eDp5` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'comma instead of a space after the scheme → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer,${tok(e)}` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'quoted token → 400',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer "${tok(e)}"` } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: '"Bearer" alone → 400',
    req: () => ({ path: '/me', headers: { authorization: 'Bearer' } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: '"Bearer " with only spaces after it → 400',
    req: () => ({ path: '/me', headers: { authorization: 'Bearer    ' } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'scheme glued to the token ("Bearer<token>") → 401 bare challenge',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearer${tok(e)}` } }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'Basic credentials → 401 bare challenge',
    req: () => ({ path: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'a valid token under another scheme (DPoP) → 401 bare challenge',
    req: (e) => ({ path: '/me', headers: { authorization: `DPoP ${tok(e)}` } }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'a valid token under scheme "Bearerx" → 401 bare challenge',
    req: (e) => ({ path: '/me', headers: { authorization: `Bearerx ${tok(e)}` } }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'a valid token in X-Authorization only → 401',
    req: (e) => ({ path: '/me', headers: { 'x-authorization': `Bearer ${tok(e)}` } }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'latin-1 bytes in the token → 400',
    req: () => ({ path: '/me', headers: { authorization: 'Bearer \u00e9\u00e9.\u00e9.\u00e9' } }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'access_token in the query, no header → 400',
    req: (e) => ({ path: `/me?access_token=${tok(e)}` }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'empty access_token in the query with a valid header → 400',
    req: (e) => ({ path: '/me?access_token=', headers: bearer(tok(e)) }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'percent-encoded access_token name in the query → 400',
    req: (e) => ({ path: `/me?x=1&access%5Ftoken=${tok(e)}`, headers: bearer(tok(e)) }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'access_token in the query on a guarded route → 400, not 403',
    req: (e) => ({ path: `/customers/9?access_token=${tok(e)}`, headers: bearer(tok(e)) }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'ACCESS_TOKEN (other case) in the query is just a parameter → 200',
    req: (e) => ({ path: '/me?ACCESS_TOKEN=x', headers: bearer(tok(e)) }),
    expect: ok,
    calls: 'verified',
  },
  {
    name: 'access_token in a form body, no header → 401 (bodies are never read)',
    req: (e) => ({
      method: 'PUT',
      path: '/orders/1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${tok(e)}`,
    }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'access_token in a JSON body, no header → 401',
    req: (e) => ({
      method: 'PUT',
      path: '/orders/1',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ access_token: tok(e) }),
    }),
    expect: R.missing,
    calls: 'never',
  },
  {
    name: 'a token just over maxTokenLength (8193) → 400',
    req: () => ({
      path: '/me',
      headers: bearer(`${'a'.repeat(4000)}.${'b'.repeat(4000)}.${'c'.repeat(191)}`),
    }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'a JWS-shaped token of exactly maxTokenLength (8192) → 401',
    req: () => ({
      path: '/me',
      headers: bearer(`${'a'.repeat(4000)}.${'b'.repeat(4000)}.${'c'.repeat(190)}`),
    }),
    expect: R.invalidToken,
    // Its header and payload are not JSON: refused by the token shape check, in every mode.
    calls: 'never',
  },
  {
    name: 'a 15 KiB token (under Node’s header limit) → 400',
    req: () => ({ path: '/me', headers: bearer(`${'a'.repeat(15_000)}.b.c`) }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: '200 junk headers and a valid token → 200',
    req: (e) => {
      const headers: Record<string, string> = { ...bearer(tok(e)) }
      for (let i = 0; i < 200; i++) headers[`x-junk-${i}`] = 'Bearer x.y.z'
      return { path: '/me', headers }
    },
    expect: ok,
    calls: 'verified',
  },
]

runCases('credentials', () => env, CASES)

describe.each(MODES)('headers Node refuses before the middleware (%s mode)', (mode) => {
  describe.each(ADAPTERS)('%s', (adapter) => {
    const app = () => env.apps[mode][adapter]

    it('a > 16 KiB Authorization header → 431 from Node, no broker call, and the app keeps serving', async () => {
      const before = env.broker.stats.validateCalls
      const res = await send(app().url, { path: '/me', headers: bearer(`${'a'.repeat(20_000)}.b.c`) })
      expect(res.status).toBe(431)
      expect(env.broker.stats.validateCalls - before).toBe(0)
      const after = await send(app().url, { path: '/me', headers: bearer(env.agent.accessToken) })
      expect(after.status).toBe(200)
    })

    it('a NUL byte in the Authorization header → 400 from Node, nothing crashes', async () => {
      const before = env.broker.stats.validateCalls
      const r = await rawHttp(
        app().url,
        `GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\u0000.b.c\r\nConnection: close\r\n\r\n`,
      )
      expect(r.status).toBe(400)
      expect(env.broker.stats.validateCalls - before).toBe(0)
    })

    it('an obs-folded Authorization header → 400, never a 200', async () => {
      const r = await rawHttp(
        app().url,
        `GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n ${env.agent.accessToken}\r\nConnection: close\r\n\r\n`,
      )
      expect(r.status).toBe(400)
    })

    it('"Authorization" and "authorization" in one request → 400 (duplicate, any case)', async () => {
      const t = env.agent.accessToken
      const before = env.broker.stats.validateCalls
      const r = await rawHttp(
        app().url,
        `GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nauthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`,
      )
      expect(r.status).toBe(400)
      expect(r.raw).toMatch(/invalid_request/)
      expect(env.broker.stats.validateCalls - before).toBe(0)
    })

    it('absolute-form request target carrying access_token → 400', async () => {
      const t = env.agent.accessToken
      const r = await rawHttp(
        app().url,
        `GET http://x/me?access_token=${t} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`,
      )
      expect(r.status).toBe(400)
      expect(r.raw).toMatch(/invalid_request/)
    })

    it('HTTP/1.0 without Host, valid token → 200 (the request line form does not matter)', async () => {
      const before = env.broker.stats.validateCalls
      const r = await rawHttp(
        app().url,
        `GET /me HTTP/1.0\r\nAuthorization: Bearer ${env.agent.accessToken}\r\n\r\n`,
      )
      // @hono/node-server needs a Host to build the Fetch Request's URL: it answers 400 itself,
      // before any middleware (no broker call, nothing reaches the handler).
      if (adapter === 'hono') {
        expect(r.status).toBe(400)
        expect(env.broker.stats.validateCalls - before).toBe(0)
      } else expect(r.status).toBe(200)
    })
  })
})
