import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tokenKey } from '../../src/core/cache.js'
import { AgentAuthError } from '../../src/core/errors.js'
import { resolveOptions } from '../../src/core/options.js'
import { createRemoteStrategy, type RemoteStrategy } from '../../src/core/remote.js'
import { json, type StubServer, startStubServer } from '../helpers/stub-server.js'
import { agentClaims, TEST_AGENT } from '../helpers/token-claims.js'

const NOW = 2_000_000_000_000
const sub = TEST_AGENT

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url')
}
function tokenFor(claims: Record<string, unknown>, sig = 'c2ln'): string {
  return `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'k' })}.${b64(claims)}.${sig}`
}
const claims = (over: Record<string, unknown> = {}) => agentClaims(NOW, over)

let stub: StubServer
let t = NOW
let strategy: RemoteStrategy

function make(over: Record<string, unknown> = {}) {
  strategy = createRemoteStrategy(
    resolveOptions({ broker: stub.url, now: () => t, timeoutMs: 300, cacheTtlMs: 5_000, ...over }),
  )
  return strategy
}

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AgentAuthError)
  expect((err as AgentAuthError).code).toBe(code)
  return err as AgentAuthError
}

beforeEach(async () => {
  t = NOW
  stub = await startStubServer((_req, body, res) => {
    const { token } = JSON.parse(body) as { token: string }
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    if (token.endsWith('.bad')) json(res, 200, { valid: false, error: 'token is invalid or expired' })
    else json(res, 200, { valid: true, claims: payload })
  })
})
afterEach(async () => {
  await strategy?.close()
  await stub.close()
})

describe('remote strategy', () => {
  it('posts {token} to /v1/token/validate and maps valid:true to claims', async () => {
    const s = make()
    const tok = tokenFor(claims())
    const r = await s.verify(tok)
    expect(r.source).toBe('broker')
    expect(r.claims.sub).toBe(sub)
    expect(stub.requests).toHaveLength(1)
    expect(stub.requests[0]).toMatchObject({ method: 'POST', url: '/v1/token/validate' })
    expect(JSON.parse(stub.requests[0]!.body)).toEqual({ token: tok })
    expect(stub.requests[0]!.headers['content-type']).toBe('application/json')
  })

  it('keeps a base path in the broker URL', async () => {
    stub.handler = (_req, _b, res) => json(res, 200, { valid: true, claims: claims() })
    strategy = createRemoteStrategy(resolveOptions({ broker: `${stub.url}/broker`, now: () => t }))
    await strategy.verify(tokenFor(claims()))
    expect(stub.requests[0]!.url).toBe('/broker/v1/token/validate')
  })

  it('caches a positive answer for cacheTtlMs, then asks again', async () => {
    const s = make()
    const tok = tokenFor(claims())
    await s.verify(tok)
    t += 4_999
    const hit = await s.verify(tok)
    expect(hit.source).toBe('cache')
    expect(hit.cacheAgeMs).toBe(4_999)
    expect(stub.requests).toHaveLength(1)
    t += 2
    expect((await s.verify(tok)).source).toBe('broker')
    expect(stub.requests).toHaveLength(2)
  })

  it('never caches a positive answer past exp', async () => {
    const s = make({ cacheTtlMs: 60_000 })
    const tok = tokenFor(claims({ exp: NOW / 1000 + 2 }))
    await s.verify(tok)
    t += 1_999
    expect((await s.verify(tok)).source).toBe('cache')
    t += 2
    await s.verify(tok)
    expect(stub.requests).toHaveLength(2)
  })

  it('cacheTtlMs 0 asks the broker every time', async () => {
    const s = make({ cacheTtlMs: 0 })
    const tok = tokenFor(claims())
    await s.verify(tok)
    await s.verify(tok)
    expect(stub.requests).toHaveLength(2)
    expect(s.cache.size).toBe(0)
  })

  it('valid:false → invalid_token, cached negatively for negativeCacheTtlMs', async () => {
    const s = make({ negativeCacheTtlMs: 1_000 })
    const tok = tokenFor(claims(), 'bad')
    const e = await expectCode(s.verify(tok), 'invalid_token')
    expect(e.status).toBe(401)
    await expectCode(s.verify(tok), 'invalid_token')
    expect(stub.requests).toHaveLength(1)
    t += 1_001
    await expectCode(s.verify(tok), 'invalid_token')
    expect(stub.requests).toHaveLength(2)
  })

  it('keys the cache by a hash, never by the token', async () => {
    const s = make()
    const tok = tokenFor(claims())
    await s.verify(tok)
    expect(s.cache.get(tokenKey(tok))).toBeDefined()
    expect(s.cache.get(tok)).toBeUndefined()
  })

  it('100 concurrent requests on one fresh token → one broker call', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    stub.handler = (_req, body, res) => {
      const { token } = JSON.parse(body) as { token: string }
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
      void gate.then(() => json(res, 200, { valid: true, claims: payload }))
    }
    const s = make()
    const tok = tokenFor(claims())
    const all = Array.from({ length: 100 }, () => s.verify(tok))
    await new Promise((r) => setTimeout(r, 50))
    release()
    const results = await Promise.all(all)
    expect(results).toHaveLength(100)
    expect(stub.requests).toHaveLength(1)
    expect(s.brokerCalls).toBe(1)
  })

  describe('the token’s own payload is checked before the broker is asked (401, no call)', () => {
    const raw = (payload: string | Buffer) =>
      `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'k' })}.${Buffer.from(payload).toString('base64url')}.c2ln`
    const chain = (n: number) =>
      Array.from({ length: n }, () => ({
        agent: sub,
        scope: ['read:data:x'],
        delegated_at: '2026-01-01T00:00:00Z',
      }))
    const cases: [string, string][] = [
      [
        'invalid UTF-8',
        raw(Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])),
      ],
      ['not a JSON object', raw('[1,2]')],
      ['a chain of 6', tokenFor(claims({ delegation_chain: chain(6), chain_hash: 'a'.repeat(64) }))],
      ['a chain without chain_hash', tokenFor(claims({ delegation_chain: chain(1) }))],
      ['chain_hash without a chain', tokenFor(claims({ chain_hash: 'a'.repeat(64) }))],
      [
        'a chain link without delegated_at',
        tokenFor(claims({ delegation_chain: [{ agent: sub, scope: [] }], chain_hash: 'a'.repeat(64) })),
      ],
      ['exp 2^63 − 1', raw(JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":9223372036854775807'))],
      ['exp a fraction', tokenFor(claims({ exp: NOW / 1000 + 300.5 }))],
      ['a 5000-character jti', tokenFor(claims({ jti: 'a'.repeat(5000) }))],
      ['300 scopes', tokenFor(claims({ scope: Array.from({ length: 300 }, (_, i) => `read:data:${i}`) }))],
      [
        'a lone surrogate in sub',
        raw(JSON.stringify(claims()).replace('"sub":"spiffe', '"sub":"\\udc00spiffe')),
      ],
    ]
    it.each(cases)('%s', async (_name, tok) => {
      const s = make()
      const e = await expectCode(s.verify(tok), 'invalid_token')
      expect(e.status).toBe(401)
      expect(e.reason).toBe('malformed_claims')
      expect(stub.requests).toHaveLength(0)
      expect(s.brokerCalls).toBe(0)
    })
  })

  describe('the answer must carry exactly the token’s claims: else 503 claims_mismatch, never cached', () => {
    const hop = { agent: sub, scope: ['read:data:*', 'read:data:x'], delegated_at: '2026-01-01T00:00:00.5Z' }
    const full = () =>
      claims({
        aud: ['svc'],
        sid: 's',
        scope: ['read:data:x', 'read:data:y'],
        task_id: 't',
        orch_id: 'o',
        delegation_chain: [hop, { ...hop, scope: ['read:data:x', 'read:data:y'] }],
        chain_hash: 'a'.repeat(64),
      })
    const changes: [string, Record<string, unknown>][] = [
      ['sub', { sub: 'spiffe://agentwrit.local/agent/o/t/ffffffffffffffff' }],
      ['jti', { jti: 'f'.repeat(32) }],
      ['exp', { exp: NOW / 1000 + 301 }],
      ['iat', { iat: NOW / 1000 - 1 }],
      ['nbf', { nbf: 0 }],
      ['iss', { iss: 'https://broker.example' }],
      ['aud', { aud: ['other'] }],
      ['aud dropped', { aud: undefined }],
      ['sid', { sid: 'other' }],
      ['scope (wider)', { scope: ['read:data:*'] }],
      ['scope (same entries, another order)', { scope: ['read:data:y', 'read:data:x'] }],
      ['scope (one more)', { scope: ['read:data:x', 'read:data:y', 'read:data:z'] }],
      ['task_id', { task_id: 'other' }],
      ['orch_id', { orch_id: undefined }],
      ['chain_hash', { chain_hash: 'b'.repeat(64) }],
      ['delegation_chain (one record less)', { delegation_chain: [hop] }],
      [
        'delegation_chain (a record’s scope)',
        { delegation_chain: [hop, { ...hop, scope: ['read:data:*'] }] },
      ],
      ['delegation_chain (a record’s agent)', { delegation_chain: [{ ...hop, agent: 'admin' }, hop] }],
      [
        'delegation_chain (a record’s time)',
        { delegation_chain: [{ ...hop, delegated_at: '2026-01-01T00:00:01Z' }, hop] },
      ],
      ['no chain at all', { delegation_chain: undefined, chain_hash: undefined }],
    ]
    it.each(changes)('%s differs', async (_name, change) => {
      const answer: Record<string, unknown> = { ...full(), ...change }
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete answer[k]
      stub.handler = (_q, _b, res) => json(res, 200, { valid: true, claims: answer })
      const s = make({ brokerFailureMemoMs: 0 })
      const tok = tokenFor(full())
      const e = await expectCode(s.verify(tok), 'broker_unavailable')
      expect(e.status).toBe(503)
      expect(e.reason).toBe('claims_mismatch')
      expect(s.cache.size).toBe(0)
      // not cached: the next request asks again
      await expectCode(s.verify(tok), 'broker_unavailable')
      expect(stub.requests).toHaveLength(2)
    })

    it('the broker’s re-encoding of the same claims (Go zero values dropped, unknown fields gone) agrees', async () => {
      stub.handler = (_q, _b, res) => {
        const { aud: _a, sid: _s, ...rest } = claims({ scope: null })
        json(res, 200, { valid: true, claims: rest })
      }
      const s = make()
      const tok = tokenFor({
        ...claims({ aud: [], sid: '', scope: [], delegation_chain: [], chain_hash: '' }),
        extra: 1,
      })
      expect((await s.verify(tok)).source).toBe('broker')
      expect(s.cache.size).toBe(1)
    })
  })

  describe('broker faults are 503 broker_unavailable and never cached', () => {
    const cases: [string, StubServer['handler']][] = [
      ['500', (_q, _b, res) => json(res, 500, { error: 'x' })],
      ['502 text', (_q, _b, res) => res.writeHead(502).end('bad gateway')],
      ['400', (_q, _b, res) => json(res, 400, { error_code: 'invalid_request' })],
      ['redirect', (_q, _b, res) => res.writeHead(307, { location: 'http://127.0.0.1:1/' }).end()],
      ['HTML', (_q, _b, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>')],
      ['bad JSON', (_q, _b, res) => res.writeHead(200).end('{"valid":')],
      ['valid as string', (_q, _b, res) => json(res, 200, { valid: 'true', claims: claims() })],
      ['valid missing', (_q, _b, res) => json(res, 200, { claims: claims() })],
      ['JSON null', (_q, _b, res) => json(res, 200, null)],
      [
        'claims malformed',
        (_q, _b, res) => json(res, 200, { valid: true, claims: { ...claims(), exp: 'soon' } }),
      ],
      [
        'claims of another token',
        (_q, _b, res) => json(res, 200, { valid: true, claims: claims({ jti: 'f'.repeat(32) }) }),
      ],
      [
        'huge answer',
        (_q, _b, res) => json(res, 200, { valid: true, claims: claims(), pad: 'x'.repeat(300_000) }),
      ],
      ['hang', () => {}],
      [
        'slow body',
        (_q, _b, res) => {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.write('{"valid":')
        },
      ],
    ]
    it.each(cases)('%s', async (_name, handler) => {
      stub.handler = handler
      const s = make()
      const tok = tokenFor(claims())
      const e = await expectCode(s.verify(tok), 'broker_unavailable')
      expect(e.status).toBe(503)
      expect(e.headers['Retry-After']).toBe('5')
      expect(e.message).not.toContain(tok)
      expect(s.cache.size).toBe(0)
      // within a second the failure is remembered: 503 again without asking the broker
      const asked = stub.requests.length
      await expectCode(s.verify(tok), 'broker_unavailable')
      expect(stub.requests.length).toBe(asked)
      // the broker comes back: once the memo has lapsed the next request asks again and succeeds
      stub.handler = (_q, _b, res) => json(res, 200, { valid: true, claims: claims() })
      t += 1_001
      expect((await s.verify(tok)).source).toBe('broker')
    })

    it('a pooled connection closed under the request is retried once, on a new connection', async () => {
      const s = make({ cacheTtlMs: 0 })
      const tok = tokenFor(claims())
      expect((await s.verify(tok)).source).toBe('broker')
      const first = stub.requests[0]!
      // The second request arrives on the kept-alive connection; the broker drops it unanswered.
      let dropped = 0
      stub.handler = (req, _b, res) => {
        if (dropped === 0) {
          dropped++
          req.socket.destroy()
          return
        }
        json(res, 200, { valid: true, claims: claims() })
      }
      expect((await s.verify(tok)).source).toBe('broker')
      expect(dropped).toBe(1)
      expect(stub.requests.length).toBe(3)
      expect(stub.requests[2]!.body).toBe(first.body)
    })

    it('a broker that drops every request is asked twice, then 503', async () => {
      stub.handler = (req) => req.socket.destroy()
      const s = make()
      const tok = tokenFor(claims())
      const e = await expectCode(s.verify(tok), 'broker_unavailable')
      expect(e.reason).toBe('unreachable')
      expect(stub.requests.length).toBe(2)
      expect(s.brokerCalls).toBe(1)
    })

    it('connection refused', async () => {
      const s = make()
      await stub.close()
      const tok = tokenFor(claims())
      const e = await expectCode(s.verify(tok), 'broker_unavailable')
      expect(e.reason).toBe('unreachable')
      expect(String((e.cause as Error).message)).not.toContain(tok)
      stub = await startStubServer()
    })
  })
})
