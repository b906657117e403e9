/**
 * createVerifier's own checks (what the broker's validate endpoint does not do), in local mode
 * with a pinned key so that no network is involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentAuthError } from '../../src/core/errors.js'
import { type AgentAuthOptions, createVerifier } from '../../src/index.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

let broker: DevBroker
const now = () => Math.floor(Date.now() / 1000)
const AGENT = 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef'

function sign(over: Record<string, unknown> = {}): string {
  const t = now()
  return broker.signToken({
    iss: '',
    sub: AGENT,
    exp: t + 300,
    nbf: t,
    iat: t,
    jti: 'a'.repeat(32),
    scope: ['read:data:x'],
    task_id: 't',
    orch_id: 'o',
    ...over,
  })
}

async function codeOf(options: Partial<AgentAuthOptions>, token: string): Promise<string> {
  const v = createVerifier({ publicKey: broker.publicJwk, ...options })
  try {
    await v.verifyToken(token)
    return 'accepted'
  } catch (e) {
    return (e as AgentAuthError).code
  } finally {
    await v.close()
  }
}

beforeAll(async () => {
  broker = await startDevBroker({ sampleApp: false })
})
afterAll(async () => broker?.close())

describe('verifier admission checks', () => {
  it('accepts a plain agent token', async () => {
    expect(await codeOf({}, sign())).toBe('accepted')
  })
  it('refuses admin and app tokens unless allowed', async () => {
    expect(await codeOf({}, sign({ sub: 'admin' }))).toBe('invalid_token')
    expect(await codeOf({ allowAdminTokens: true }, sign({ sub: 'admin' }))).toBe('accepted')
    expect(await codeOf({}, sign({ sub: 'app:app-x-123456' }))).toBe('invalid_token')
    expect(await codeOf({ allowAppTokens: true }, sign({ sub: 'app:app-x-123456' }))).toBe('accepted')
    expect(await codeOf({ allowAdminTokens: true, allowAppTokens: true }, sign({ sub: 'alice' }))).toBe(
      'invalid_token',
    )
  })
  it('checks the trust domain, issuer and audience when configured', async () => {
    expect(await codeOf({ trustDomain: 'agentwrit.local' }, sign())).toBe('accepted')
    expect(await codeOf({ trustDomain: 'other.local' }, sign())).toBe('invalid_token')
    expect(await codeOf({ issuer: 'agentwrit' }, sign())).toBe('invalid_token')
    expect(await codeOf({ issuer: 'agentwrit' }, sign({ iss: 'agentwrit' }))).toBe('accepted')
    expect(await codeOf({ audience: 'orders' }, sign())).toBe('invalid_token')
    expect(await codeOf({ audience: ['x', 'orders'] }, sign({ aud: ['orders'] }))).toBe('accepted')
  })
  it('refuses a chain that does not attenuate (not from a conforming broker)', async () => {
    const chain = [{ agent: AGENT, scope: ['read:data:x'], delegated_at: '2026-01-01T00:00:00Z' }]
    const chain_hash = 'a'.repeat(64)
    expect(await codeOf({}, sign({ scope: ['read:data:x'], delegation_chain: chain, chain_hash }))).toBe(
      'accepted',
    )
    expect(await codeOf({}, sign({ scope: ['read:data:*'], delegation_chain: chain, chain_hash }))).toBe(
      'invalid_token',
    )
  })
  it('maxDelegationDepth refuses deeper chains with 403', async () => {
    const hop = { agent: AGENT, scope: ['read:data:x'], delegated_at: '2026-01-01T00:00:00Z' }
    const chain_hash = 'a'.repeat(64)
    const two = sign({ delegation_chain: [hop, hop], chain_hash })
    expect(await codeOf({ maxDelegationDepth: 2 }, two)).toBe('accepted')
    expect(await codeOf({ maxDelegationDepth: 1 }, two)).toBe('delegation_not_allowed')
    expect(await codeOf({ maxDelegationDepth: 0 }, sign({ delegation_chain: [hop], chain_hash }))).toBe(
      'delegation_not_allowed',
    )
    expect(await codeOf({ maxDelegationDepth: 0 }, sign())).toBe('accepted')
  })
  it('refuses non-JWS syntax and oversized tokens before verifying', async () => {
    expect(await codeOf({}, 'abc')).toBe('invalid_token')
    expect(await codeOf({}, `${sign()}.x`)).toBe('invalid_token')
    expect(await codeOf({ maxTokenLength: 100 }, sign())).toBe('invalid_request')
  })
  it('an unexpected strategy failure is a 503, never an acceptance', async () => {
    const v = createVerifier({ publicKey: broker.publicJwk })
    await v.close() // a closed local strategy answers 503
    await expect(v.verifyToken(sign())).rejects.toMatchObject({ status: 503 })
  })
  it('authenticate reads the header and refuses query tokens', async () => {
    const v = createVerifier({ publicKey: broker.publicJwk })
    const tok = sign()
    await expect(v.authenticate({ headers: { authorization: `Bearer ${tok}` } })).resolves.toMatchObject({
      id: AGENT,
      verification: { source: 'local' },
    })
    await expect(
      v.authenticate({ headers: { authorization: `Bearer ${tok}` }, url: `/x?access_token=${tok}` }),
    ).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(v.authenticate({ headers: {} })).rejects.toMatchObject({ code: 'missing_token' })
    await v.close()
  })
})

describe('the token shape is checked in every mode, before the strategy (no key lookup, no broker call)', () => {
  type Mode = 'remote' | 'local' | 'hybrid'
  const modes: Mode[] = ['remote', 'local', 'hybrid']
  const optionsOf = (mode: Mode, extra: Partial<AgentAuthOptions> = {}): AgentAuthOptions => ({
    ...(mode === 'remote'
      ? { broker: broker.url }
      : mode === 'local'
        ? { publicKey: broker.publicJwk }
        : { broker: broker.url, publicKey: broker.publicJwk }),
    cacheTtlMs: 0,
    ...extra,
  })
  async function outcome(mode: Mode, token: string, extra: Partial<AgentAuthOptions> = {}) {
    const v = createVerifier(optionsOf(mode, extra))
    const before = broker.stats.validateCalls
    try {
      await v.verifyToken(token)
      return { code: 'accepted', calls: broker.stats.validateCalls - before }
    } catch (e) {
      const err = e as AgentAuthError
      return { code: err.code, reason: err.reason, calls: broker.stats.validateCalls - before }
    } finally {
      await v.close()
    }
  }
  const claims = () => {
    const t = now()
    return { iss: '', sub: AGENT, exp: t + 300, nbf: t, iat: t, jti: 'b'.repeat(32), scope: ['read:data:x'] }
  }
  const refused = (reason: string) => ({ code: 'invalid_token', reason, calls: 0 })

  it.each(modes)('%s: header members outside the allowlist', async (mode) => {
    const kid = broker.kid
    for (const [header, reason] of [
      [{ alg: 'EdDSA', typ: 'JWT', kid, jku: 'http://127.0.0.1:1/jwks' }, 'header_member_refused'],
      [{ alg: 'EdDSA', typ: 'JWT', kid, crit: ['exp'] }, 'header_member_refused'],
      [{ alg: 'EdDSA', kid }, 'typ_not_allowed'],
      [{ alg: 'EdDSA', typ: 'JWT', kid: '' }, 'malformed_kid'],
      [`{"alg":"EdDSA","typ":"JWT","kid":"${kid}","kid":"${kid}"}`, 'duplicate_header_member'],
    ] as const) {
      expect(
        await outcome(mode, broker.signToken(claims(), header as never)),
        JSON.stringify(header),
      ).toEqual(refused(reason))
    }
  })

  it.each(modes)(
    '%s: no kid is refused by default; requireKid: false accepts it as the broker does',
    async (mode) => {
      const token = broker.signToken(claims(), { alg: 'EdDSA', typ: 'JWT' })
      expect(await outcome(mode, token)).toEqual(refused('kid_missing'))
      expect((await outcome(mode, token, { requireKid: false })).code).toBe('accepted')
    },
  )

  it.each(modes)('%s: a payload the broker never issues', async (mode) => {
    const hop = { agent: AGENT, scope: ['read:data:x'], delegated_at: '2026-01-01T00:00:00Z' }
    const utf8 = Buffer.concat([
      Buffer.from(`{"sub":"${AGENT}","jti":"j","exp":${now() + 60},"scope":["`),
      Buffer.from([0xff]),
      Buffer.from('"]}'),
    ])
    for (const payload of [
      utf8.toString('latin1'),
      { ...claims(), delegation_chain: Array.from({ length: 6 }, () => hop), chain_hash: 'a'.repeat(64) },
      { ...claims(), delegation_chain: [hop] },
      { ...claims(), chain_hash: 'a'.repeat(64) },
      {
        ...claims(),
        delegation_chain: [{ agent: AGENT, scope: ['read:data:x'] }],
        chain_hash: 'a'.repeat(64),
      },
      { ...claims(), sub: `${AGENT}${'0'.repeat(3000)}` },
    ]) {
      const token =
        typeof payload === 'string'
          ? broker
              .signToken('{}')
              .replace(/\.[^.]+\./, `.${Buffer.from(payload, 'latin1').toString('base64url')}.`)
          : broker.signToken(payload)
      expect(await outcome(mode, token), JSON.stringify(payload).slice(0, 80)).toEqual(
        refused('malformed_claims'),
      )
    }
  })

  it('requireKid is a boolean option, default true', () => {
    const v = createVerifier({ broker: 'http://127.0.0.1:1' })
    expect(v.options.requireKid).toBe(true)
    expect(createVerifier({ broker: 'http://127.0.0.1:1', requireKid: false }).options.requireKid).toBe(false)
    expect(() => createVerifier({ broker: 'http://127.0.0.1:1', requireKid: 'no' as never })).toThrow(
      /requireKid/,
    )
    void v.close()
  })

  it('verifyToken answers a cached token from the cache without reading its shape again', async () => {
    const v = createVerifier({ broker: broker.url, cacheTtlMs: 60_000 })
    try {
      const token = broker.signToken(claims())
      expect((await v.verifyToken(token)).verification.source).toBe('broker')
      const before = broker.stats.validateCalls
      expect((await v.verifyToken(token)).verification.source).toBe('cache')
      expect(broker.stats.validateCalls).toBe(before)
    } finally {
      await v.close()
    }
  })
})
