import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { type AgentWritClaims, parseClaims } from '../../src/core/claims.js'
import { AgentAuthError } from '../../src/core/errors.js'
import { createHybridStrategy } from '../../src/core/hybrid.js'
import { ed25519Thumbprint } from '../../src/core/jwk-thumbprint.js'
import { createLocalStrategy } from '../../src/core/local.js'
import { resolveOptions } from '../../src/core/options.js'
import type { TokenStrategy, VerifiedToken } from '../../src/core/strategy.js'
import { createTokenShapeReader, type ShapedStrategy } from '../../src/core/token-shape.js'

const { publicKey, privateKey } = generateKeyPairSync('ed25519')
const jwk = publicKey.export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; x: string }
const kid = ed25519Thumbprint(jwk.x)
const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url')

function signToken(payload: Record<string, unknown>, key: KeyObject = privateKey): string {
  const h = b64u(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid }))
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), key))}`
}

const T0 = Math.floor(Date.now() / 1000)
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: '',
    sub: 'spiffe://agentwrit.local/agent/o/t/i',
    exp: T0 + 300,
    nbf: T0,
    iat: T0,
    jti: randomBytes(16).toString('hex'),
    scope: ['read:data:x'],
    ...over,
  }
}

/** A stand-in for the broker strategy: decodes the payload and answers what it is told to. */
function fakeRemote(answer: (claims: AgentWritClaims) => VerifiedToken | AgentAuthError) {
  const state = { calls: 0, closed: 0 }
  const remote: TokenStrategy = {
    async verify(token) {
      state.calls++
      const c = parseClaims(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()))
      if (c === null) throw new Error('test bug')
      const result = answer(c)
      if (result instanceof AgentAuthError) throw result
      return result
    },
    async close() {
      state.closed++
    },
  }
  return { remote, state }
}

const broker = (c: AgentWritClaims): VerifiedToken => ({ claims: c, source: 'broker', cacheAgeMs: 0 })

const locals: TokenStrategy[] = []
function local(): TokenStrategy {
  const s = createLocalStrategy(resolveOptions({ mode: 'local', publicKey: jwk }))
  locals.push(s)
  return s
}
afterEach(async () => {
  for (const s of locals.splice(0)) await s.close()
})

async function refusal(p: Promise<unknown>): Promise<AgentAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AgentAuthError)
  return err as AgentAuthError
}

describe('createHybridStrategy', () => {
  it('a forged token is refused locally with no call to the broker', async () => {
    const { remote, state } = fakeRemote(broker)
    const hybrid = createHybridStrategy(local(), remote)
    const forged = signToken(claims(), generateKeyPairSync('ed25519').privateKey)
    const err = await refusal(hybrid.verify(forged))
    expect(err.code).toBe('invalid_token')
    expect(err.reason).toBe('bad_signature')
    expect(await refusal(hybrid.verify('not.a.token')).then((e) => e.code)).toBe('invalid_token')
    expect(state.calls).toBe(0)
  })

  it('a good token is checked with the broker, and the broker result is returned', async () => {
    const { remote, state } = fakeRemote((c) => ({ claims: c, source: 'cache', cacheAgeMs: 42 }))
    const hybrid = createHybridStrategy(local(), remote)
    const c = claims()
    const result = await hybrid.verify(signToken(c))
    expect(state.calls).toBe(1)
    expect(result.claims.jti).toBe(c.jti)
    expect(result.source).toBe('cache')
    expect(result.cacheAgeMs).toBe(42)
  })

  it('the broker is consulted on every request, even when the local check is cached', async () => {
    const { remote, state } = fakeRemote(broker)
    const hybrid = createHybridStrategy(local(), remote)
    const token = signToken(claims())
    await hybrid.verify(token)
    await hybrid.verify(token)
    expect(state.calls).toBe(2)
  })

  it('revoked at the broker → 401', async () => {
    const { remote } = fakeRemote(() => new AgentAuthError('invalid_token', { reason: 'rejected_by_broker' }))
    const err = await refusal(createHybridStrategy(local(), remote).verify(signToken(claims())))
    expect(err.status).toBe(401)
    expect(err.reason).toBe('rejected_by_broker')
  })

  it('broker unavailable → 503', async () => {
    const { remote } = fakeRemote(() => new AgentAuthError('broker_unavailable', { retryAfterSeconds: 3 }))
    const err = await refusal(createHybridStrategy(local(), remote).verify(signToken(claims())))
    expect(err.code).toBe('broker_unavailable')
    expect(err.status).toBe(503)
    expect(err.headers['Retry-After']).toBe('3')
  })

  it('key source unavailable → 503, without asking the broker', async () => {
    const { remote, state } = fakeRemote(broker)
    const l = local()
    await l.close()
    const err = await refusal(createHybridStrategy(l, remote).verify(signToken(claims())))
    expect(err.code).toBe('key_source_unavailable')
    expect(state.calls).toBe(0)
  })

  it.each([
    ['jti', { jti: 'someone-else' }],
    ['sub', { sub: 'spiffe://agentwrit.local/agent/o/t/other' }],
  ])(
    'broker claims with a different %s → 503 claims_mismatch (an unusable answer, not the token’s fault)',
    async (_, change) => {
      const { remote } = fakeRemote((c) => broker({ ...c, ...change }))
      const hybrid = createHybridStrategy(local(), remote, { retryAfterSeconds: 7 })
      const err = await refusal(hybrid.verify(signToken(claims())))
      expect(err.code).toBe('broker_unavailable')
      expect(err.status).toBe(503)
      expect(err.reason).toBe('claims_mismatch')
      expect(err.headers['Retry-After']).toBe('7')
    },
  )

  it('hands the shape it is given to both parts (the payload is decoded once)', async () => {
    const token = signToken(claims())
    const shape = createTokenShapeReader({ requireKid: true })(token)
    const seen: unknown[] = []
    const remote: ShapedStrategy = {
      async verify(_token, _key, given) {
        seen.push(given)
        return broker(given!.claims)
      },
      async close() {},
    }
    const result = await createHybridStrategy(local(), remote).verify(token, undefined, shape)
    expect(seen).toEqual([shape])
    // the local part used the same claims object: nothing was decoded again
    expect(result.claims).toBe(shape.claims)
  })

  it('close() leaves the parts to their owner', async () => {
    const a = fakeRemote(broker)
    const b = fakeRemote(broker)
    await createHybridStrategy(a.remote, b.remote).close()
    expect([a.state.closed, b.state.closed]).toEqual([0, 0])
  })
})
