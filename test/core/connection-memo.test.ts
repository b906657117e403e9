/**
 * The verifier's per-connection memo: a keep-alive connection repeating one token is answered
 * from the remembered cache answer, never past that answer's cache entry (cacheTtlMs, the token's
 * expiry), never after close(), and never for another token.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AuthRequest } from '../../src/core/verifier.js'
import { type AgentAuthOptions, createVerifier, type Verifier } from '../../src/index.js'
import { makeKey, signToken, type TestKey } from '../helpers/ed25519-key.js'
import { json, type StubServer, startStubServer } from '../helpers/stub-server.js'
import { agentClaims } from '../helpers/token-claims.js'

const NOW = 2_000_000_000_000
let t = NOW
let stub: StubServer
let key: TestKey
/** What the stub broker answers: valid unless revoked or expired on the test clock. */
let revoked = false
const verifiers: Verifier[] = []

/** A token signed with the test key (so local and hybrid modes accept it). */
const tokenFor = (over: Record<string, unknown> = {}) => signToken(key, agentClaims(NOW, over))

function make(over: Partial<AgentAuthOptions>): Verifier {
  const v = createVerifier({ now: () => t, timeoutMs: 500, ...over } as AgentAuthOptions)
  verifiers.push(v)
  return v
}
const remote = (over: Partial<AgentAuthOptions> = {}) => make({ broker: stub.url, ...over })

function request(token: string, socket: object): AuthRequest {
  const authorization = `Bearer ${token}`
  return { headers: { authorization }, rawHeaders: ['Authorization', authorization], url: '/x', socket }
}

async function outcome(v: Verifier, token: string, socket: object): Promise<string> {
  try {
    const agent = await v.authenticate(request(token, socket))
    return `${agent.verification.source} ${agent.verification.cacheAgeMs}`
  } catch (e) {
    return (e as { code: string }).code
  }
}

beforeEach(async () => {
  t = NOW
  revoked = false
  key = makeKey()
  stub = await startStubServer((_req, body, res) => {
    const { token } = JSON.parse(body) as { token: string }
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    if (revoked || payload.exp * 1000 <= t)
      json(res, 200, { valid: false, error: 'token is invalid or expired' })
    else json(res, 200, { valid: true, claims: payload })
  })
})
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()))
  await stub.close()
})

describe('per-connection memo', () => {
  it('repeats on one connection reuse the cached answer, with its age, until cacheTtlMs', async () => {
    const v = remote({ cacheTtlMs: 5_000 })
    const socket = {}
    const tok = tokenFor()
    expect(await outcome(v, tok, socket)).toBe('broker 0')
    t += 1_000
    expect(await outcome(v, tok, socket)).toBe('cache 1000')
    t += 3_999
    expect(await outcome(v, tok, socket)).toBe('cache 4999')
    expect(stub.requests).toHaveLength(1)
    // The broker revokes the token: seen once the 5 s entry has expired, as without the memo
    // (the cache serves an entry up to and including its TTL; the memo stops 1 ms earlier).
    revoked = true
    t += 1
    expect(await outcome(v, tok, socket)).toBe('cache 5000')
    t += 1
    expect(await outcome(v, tok, socket)).toBe('invalid_token')
    expect(stub.requests).toHaveLength(2)
  })

  it('never reuses an answer past the token expiry', async () => {
    const v = remote({ cacheTtlMs: 60_000 })
    const socket = {}
    const tok = tokenFor({ exp: NOW / 1000 + 2 })
    await outcome(v, tok, socket)
    t += 1_999
    expect(await outcome(v, tok, socket)).toBe('cache 1999')
    t += 2
    expect(await outcome(v, tok, socket)).toBe('invalid_token')
  })

  it('with cacheTtlMs 0 every request asks the broker', async () => {
    const v = remote({ cacheTtlMs: 0 })
    const socket = {}
    const tok = tokenFor()
    for (let i = 0; i < 3; i++) expect(await outcome(v, tok, socket)).toBe('broker 0')
    expect(stub.requests).toHaveLength(3)
  })

  it('another token on the same connection is verified on its own', async () => {
    const v = remote()
    const socket = {}
    await outcome(v, tokenFor(), socket)
    await outcome(v, tokenFor(), socket)
    const other = tokenFor({ jti: 'b'.repeat(32) })
    revoked = true
    expect(await outcome(v, other, socket)).toBe('invalid_token')
    // A forged signature on a remembered token's header and payload is another token.
    const good = tokenFor()
    const forged = `${good.slice(0, good.lastIndexOf('.'))}.${'A'.repeat(86)}`
    const local = make({ publicKey: key.pem })
    await outcome(local, good, socket)
    await outcome(local, good, socket)
    expect(await outcome(local, forged, socket)).toBe('invalid_token')
  })

  it('the connection keeps its answer when the cache evicts it for room, until its TTL', async () => {
    const v = remote({ cacheTtlMs: 5_000, cacheMaxEntries: 1 })
    const [a, b] = [{}, {}]
    const first = tokenFor()
    const second = tokenFor({ jti: 'b'.repeat(32) })
    await outcome(v, first, a)
    await outcome(v, first, a)
    await outcome(v, second, b)
    expect(v.stats().cacheEntries).toBe(1)
    t += 4_000
    // `first` left the cache; its connection still holds the answer, everyone else asks again.
    expect(await outcome(v, first, a)).toBe('cache 4000')
    expect(stub.requests).toHaveLength(2)
    expect(await outcome(v, first, {})).toBe('broker 0')
    expect(stub.requests).toHaveLength(3)
  })

  it('each verifier remembers its own answers', async () => {
    const socket = {}
    const tok = tokenFor()
    const lenient = remote()
    expect(await outcome(lenient, tok, socket)).toBe('broker 0')
    expect(await outcome(lenient, tok, socket)).toBe('cache 0')
    const strict = remote({ issuer: 'https://other.example/' })
    expect(await outcome(strict, tok, socket)).toBe('invalid_token')
    expect(await outcome(strict, tok, socket)).toBe('invalid_token')
  })

  it('a closed verifier answers nothing from the memo', async () => {
    const v = make({ publicKey: key.pem })
    const socket = {}
    const tok = tokenFor()
    expect(await outcome(v, tok, socket)).toBe('local 0')
    expect(await outcome(v, tok, socket)).toBe('cache 0')
    await v.close()
    expect(await outcome(v, tok, socket)).toBe('key_source_unavailable')
  })

  it('local mode: never past the token expiry (plus clockToleranceSeconds)', async () => {
    const v = make({ publicKey: key.pem, clockToleranceSeconds: 1 })
    const socket = {}
    const tok = tokenFor({ exp: NOW / 1000 + 2 })
    expect(await outcome(v, tok, socket)).toBe('local 0')
    // Valid while floor(now / 1000) <= exp + 1, i.e. up to NOW + 3999 ms.
    t += 3_999
    expect(await outcome(v, tok, socket)).toBe('cache 3999')
    t += 1
    expect(await outcome(v, tok, socket)).toBe('invalid_token')
  })

  it('hybrid mode: reused only while both the signature check and the broker answer are', async () => {
    const v = make({ publicKey: key.pem, broker: stub.url, cacheTtlMs: 1_000 })
    const socket = {}
    const tok = tokenFor()
    expect(await outcome(v, tok, socket)).toBe('broker 0')
    t += 999
    expect(await outcome(v, tok, socket)).toBe('cache 999')
    expect(stub.requests).toHaveLength(1)
    t += 2
    expect(await outcome(v, tok, socket)).toBe('broker 0')
    expect(stub.requests).toHaveLength(2)
  })
})
