import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, DevBrokerRequestError, startDevBroker } from '../../src/testing/index.js'
import { decodeJwt } from './support.js'

describe('DevBroker helpers', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(() => broker.close())

  it('createAgent goes through app launch tokens when the sample ceiling covers the scope, admin otherwise; tokens are cached', async () => {
    broker.resetStats()
    for (let i = 0; i < 5; i++)
      await broker.createAgent({ orchId: 'o', taskId: `t${i}`, scope: ['read:data:*'] })
    const outside = await broker.createAgent({ orchId: 'o', taskId: 'x', scope: ['read:orders:42'] })
    expect(decodeJwt(outside.accessToken).payload.scope).toEqual(['read:orders:42'])
    await broker.adminToken()
    expect(broker.stats.requests).toEqual({
      '/v1/app/auth': 1,
      '/v1/app/launch-tokens': 5,
      '/v1/admin/auth': 1,
      '/v1/admin/launch-tokens': 1,
      '/v1/challenge': 6,
      '/v1/register': 6,
    })
    expect(outside.privateKey.asymmetricKeyType).toBe('ed25519')
    expect(outside).toMatchObject({ orchId: 'o', taskId: 'x', scope: ['read:orders:42'], expiresIn: 300 })
  })

  it('a released admin token is not reused by adminToken()', async () => {
    const first = await broker.adminToken()
    await broker.release(first)
    const second = await broker.adminToken()
    expect(second).not.toBe(first)
    expect((await broker.validate(second)).valid).toBe(true)
  })

  it('helpers reject with DevBrokerRequestError carrying the status and problem body', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const err = await broker
      .delegate(a.accessToken, {
        to: 'spiffe://agentwrit.local/agent/n/o/0000000000000000',
        scope: ['read:data:1'],
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DevBrokerRequestError)
    expect(err).toMatchObject({ status: 404, endpoint: 'POST /v1/delegate' })
    expect(JSON.parse((err as DevBrokerRequestError).body).detail).toBe('delegate agent not found')
    await expect(
      broker.createAgent({ orchId: 'bad/orch', taskId: 't', scope: ['read:data:*'] }),
    ).rejects.toMatchObject({
      status: 500,
    })
  })

  it('signToken uses the given key order or raw strings verbatim', () => {
    const t = broker.signToken({ z: 1, a: '<' }, '{"alg":"EdDSA"}')
    expect(decodeJwt(t).headerText).toBe('{"alg":"EdDSA"}')
    expect(decodeJwt(t).payloadText).toBe('{"z":1,"a":"\\u003c"}')
    expect(decodeJwt(broker.signToken('{"raw": true}')).payloadText).toBe('{"raw": true}')
    expect(decodeJwt(broker.signToken({})).headerText).toBe(
      `{"alg":"EdDSA","typ":"JWT","kid":"${broker.kid}"}`,
    )
  })
})

describe('helpers under concurrency', () => {
  it('parallel createAgent calls share one app login (no 429 from the app-auth rate limit)', async () => {
    const b = await startDevBroker()
    try {
      const agents = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          b.createAgent({ orchId: 'o', taskId: `parallel-${i}`, scope: ['read:data:x'] }),
        ),
      )
      expect(new Set(agents.map((a) => a.agentId)).size).toBe(12)
      expect(b.stats.requests['/v1/app/auth']).toBe(1)
    } finally {
      await b.close()
    }
  })
})
