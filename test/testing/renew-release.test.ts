import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt, manualClock } from './support.js'

describe('renew, release and Bearer authentication (contract §4.1, §9)', () => {
  const clock = manualClock()
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now })
  })
  afterAll(() => broker.close())

  it('Bearer errors: missing header, wrong scheme, bad token (all 401 problem bodies)', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const post = (headers: Record<string, string>) => call(broker.url, 'POST', '/v1/token/renew', { headers })
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'missing authorization header'],
      [{ Authorization: `bearer ${agent.accessToken}` }, 'invalid authorization scheme'],
      [{ Authorization: `Basic ${agent.accessToken}` }, 'invalid authorization scheme'],
      [{ Authorization: 'Bearer not-a-token' }, 'token verification failed'],
      [{ Authorization: `Bearer  ${agent.accessToken}` }, 'token verification failed'], // not trimmed
    ]
    for (const [headers, detail] of cases) {
      const res = await post(headers)
      expect(res.status, detail).toBe(401)
      expect(res.json).toMatchObject({
        type: 'urn:agentwrit:error:unauthorized',
        title: 'Unauthorized',
        detail,
        instance: '/v1/token/renew',
        error_code: 'unauthorized',
      })
    }
  })

  it('renew: new jti, same claims, TTL = exp − iat; the old token dies immediately', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'], maxTtl: 120 })
    clock.advance(10_000)
    const res = await call(broker.url, 'POST', '/v1/token/renew', {
      token: agent.accessToken,
      body: 'ignored',
    })
    expect(res.status).toBe(200)
    expect(res.text).toMatch(/^\{"access_token":"[^"]+","expires_in":120\}\n$/)
    const before = decodeJwt(agent.accessToken).payload
    const after = decodeJwt(res.json.access_token).payload
    expect(after.jti).not.toBe(before.jti)
    expect(after.iat).toBe(before.iat + 10)
    expect(after.exp - after.iat).toBe(120)
    expect({ ...after, jti: 0, iat: 0, nbf: 0, exp: 0 }).toEqual({
      ...before,
      jti: 0,
      iat: 0,
      nbf: 0,
      exp: 0,
    })
    expect((await broker.validate(agent.accessToken)).valid).toBe(false)
    const retry = await call(broker.url, 'POST', '/v1/token/renew', { token: agent.accessToken })
    expect(retry.json).toMatchObject({ status: 401, detail: 'token verification failed' })
    expect((await broker.validate(res.json.access_token)).valid).toBe(true)
  })

  it('renew keeps the delegation chain and chain_hash; admin tokens can renew too', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const d = await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:1'], ttl: 90 })
    const r = await broker.renew(d.accessToken)
    expect(r.expiresIn).toBe(90)
    const before = decodeJwt(d.accessToken).payload
    const after = decodeJwt(r.accessToken).payload
    expect(after.delegation_chain).toEqual(before.delegation_chain)
    expect(after.chain_hash).toBe(before.chain_hash)
    const admin = await broker.renew(await broker.adminToken())
    expect(decodeJwt(admin.accessToken).payload.sub).toBe('admin')
  })

  it('release: 204 with an empty body, then the token is dead (second release → 401)', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const child = await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:2'] })
    const res = await call(broker.url, 'POST', '/v1/token/release', { token: a.accessToken })
    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    expect((await broker.validate(a.accessToken)).valid).toBe(false)
    const again = await call(broker.url, 'POST', '/v1/token/release', { token: a.accessToken })
    expect(again.json).toMatchObject({ status: 401, detail: 'token verification failed' })
    // release revokes only that jti: tokens delegated from it stay valid
    expect((await broker.validate(child.accessToken)).valid).toBe(true)
  })

  it('expired Bearer → 401 token verification failed', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'], maxTtl: 60 })
    clock.advance(61_000)
    const res = await call(broker.url, 'POST', '/v1/token/release', { token: a.accessToken })
    expect(res.json).toMatchObject({ status: 401, detail: 'token verification failed' })
  })
})
