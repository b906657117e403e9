import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt } from './support.js'

describe('revocation (contract §8)', () => {
  let broker: DevBroker
  const valid = async (token: string) => (await broker.validate(token)).valid
  const agent = (taskId: string, orchId = 'o') =>
    broker.createAgent({ orchId, taskId, scope: ['read:data:*'] })

  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(() => broker.close())

  it('POST /v1/revoke: shape, count always 1, target not checked; scope and input errors', async () => {
    const admin = await broker.adminToken()
    const res = await call(broker.url, 'POST', '/v1/revoke', {
      token: admin,
      body: { level: 'task', target: 'nothing' },
    })
    expect(res.status).toBe(200)
    expect(res.text).toBe('{"revoked":true,"level":"task","target":"nothing","count":1}\n')
    const post = (body: unknown, token = admin) => call(broker.url, 'POST', '/v1/revoke', { token, body })
    expect((await post({ level: 'token' })).json.detail).toBe('level and target are required')
    expect((await post({ level: 'bogus', target: 'x' })).json.detail).toBe('invalid revocation level: bogus')
    expect((await post('{nope')).json.detail).toBe('malformed JSON body')
    const a = await agent('t0')
    const forbidden = await post({ level: 'token', target: 'x' }, a.accessToken)
    expect(forbidden.status).toBe(403)
    expect(forbidden.json).toMatchObject({
      error_code: 'insufficient_scope',
      detail: 'token lacks required scope: admin:revoke:*',
    })
  })

  it('token level kills exactly that jti', async () => {
    const a = await agent('t1')
    const other = await agent('t1')
    await broker.revoke('token', decodeJwt(a.accessToken).payload.jti)
    expect(await valid(a.accessToken)).toBe(false)
    expect(await valid(other.accessToken)).toBe(true)
  })

  it('agent level kills X and tokens delegated TO X, not tokens X delegated to others', async () => {
    const x = await agent('t2')
    const y = await agent('t2b')
    const toX = await broker.delegate(y.accessToken, { to: x.agentId, scope: ['read:data:1'] })
    const fromX = await broker.delegate(x.accessToken, { to: y.agentId, scope: ['read:data:2'] })
    expect(await broker.revoke('agent', x.agentId)).toEqual({
      revoked: true,
      level: 'agent',
      target: x.agentId,
      count: 1,
    })
    expect(await valid(x.accessToken)).toBe(false)
    expect(await valid(toX.accessToken)).toBe(false)
    expect(await valid(fromX.accessToken)).toBe(true)
    expect(await valid(y.accessToken)).toBe(true)
  })

  it('task level kills tokens delegated from that task and future registrations reusing it', async () => {
    const t = await agent('task-3', 'o1')
    const elsewhere = await agent('other-task', 'o2')
    const delegated = await broker.delegate(t.accessToken, { to: elsewhere.agentId, scope: ['read:data:1'] })
    expect(decodeJwt(delegated.accessToken).payload.task_id).toBe('task-3')
    await broker.revoke('task', 'task-3')
    expect(await valid(t.accessToken)).toBe(false)
    expect(await valid(delegated.accessToken)).toBe(false)
    expect(await valid(elsewhere.accessToken)).toBe(true)
    const later = await agent('task-3', 'another-orch') // global, not scoped by orch_id; permanent
    expect(await valid(later.accessToken)).toBe(false)
  })

  it('chain level matches delegation_chain[0].agent only: the root itself and mid-chain targets are untouched', async () => {
    const root = await agent('c-root')
    const b = await agent('c-b')
    const c = await agent('c-c')
    const ab = await broker.delegate(root.accessToken, { to: b.agentId, scope: ['read:data:*'] })
    const bc = await broker.delegate(ab.accessToken, { to: c.agentId, scope: ['read:data:1'] })
    const bOwn = await broker.delegate(b.accessToken, { to: c.agentId, scope: ['read:data:2'] })

    await broker.revoke('chain', b.agentId) // mid-chain: no effect on chains rooted at root
    expect(await valid(bc.accessToken)).toBe(true)
    expect(await valid(bOwn.accessToken)).toBe(false) // b is the root of this one

    await broker.revoke('chain', root.agentId)
    expect(await valid(root.accessToken)).toBe(true) // the root's own token survives
    expect(await valid(ab.accessToken)).toBe(false)
    expect(await valid(bc.accessToken)).toBe(false)
    const future = await broker.delegate(root.accessToken, { to: c.agentId, scope: ['read:data:3'] })
    expect(await valid(future.accessToken)).toBe(false) // predicates are permanent
  })

  it('revoked Bearer tokens get 401 (not 403) on Bearer endpoints', async () => {
    const a = await agent('t5')
    await broker.revoke('agent', a.agentId)
    const res = await call(broker.url, 'POST', '/v1/token/renew', { token: a.accessToken })
    expect(res.json).toMatchObject({ status: 401, detail: 'token verification failed' })
  })
})

describe('revoking agent "admin"', () => {
  it('kills every present and future admin token', async () => {
    const broker = await startDevBroker({ sampleApp: false })
    try {
      const before = await broker.adminToken()
      await broker.revoke('agent', 'admin')
      expect((await broker.validate(before)).valid).toBe(false)
      const fresh = await call(broker.url, 'POST', '/v1/admin/auth', { body: { secret: 'dev-secret' } })
      expect(fresh.status).toBe(200)
      expect((await broker.validate(fresh.json.access_token)).valid).toBe(false)
    } finally {
      await broker.close()
    }
  })
})
