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
    expect(await codeOf({}, sign({ scope: ['read:data:x'], delegation_chain: chain }))).toBe('accepted')
    expect(await codeOf({}, sign({ scope: ['read:data:*'], delegation_chain: chain }))).toBe('invalid_token')
  })
  it('maxDelegationDepth refuses deeper chains with 403', async () => {
    const hop = { agent: AGENT, scope: ['read:data:x'], delegated_at: '2026-01-01T00:00:00Z' }
    const two = sign({ delegation_chain: [hop, hop] })
    expect(await codeOf({ maxDelegationDepth: 2 }, two)).toBe('accepted')
    expect(await codeOf({ maxDelegationDepth: 1 }, two)).toBe('delegation_not_allowed')
    expect(await codeOf({ maxDelegationDepth: 0 }, sign({ delegation_chain: [hop] }))).toBe(
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
