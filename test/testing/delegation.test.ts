import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CreatedAgent, type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt } from './support.js'

describe('delegation (contract §11)', () => {
  let broker: DevBroker
  let agents: CreatedAgent[]
  beforeAll(async () => {
    broker = await startDevBroker()
    agents = []
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      agents.push(
        await broker.createAgent({
          orchId: 'pipeline',
          taskId: `task-${name}`,
          scope: ['read:data:*', 'write:data:*'],
        }),
      )
    }
  })
  afterAll(() => broker.close())

  it('multi-hop: each hop uses the previous delegated token as Bearer; 5 hops ok, the 6th is 403', async () => {
    const [a] = agents as [CreatedAgent]
    let bearer = a.accessToken
    let bearerSub = a.agentId
    let scope = ['read:data:*', 'write:data:*']
    const narrowing = [
      ['read:data:*', 'write:data:*'],
      ['read:data:*'],
      ['read:data:*'],
      ['read:data:customers'],
      ['read:data:customers'],
    ]
    for (let hop = 1; hop <= 5; hop++) {
      const to = agents[hop] as CreatedAgent
      const next = narrowing[hop - 1] as string[]
      const d = await broker.delegate(bearer, { to: to.agentId, scope: next })
      expect(d.delegationChain).toHaveLength(hop)
      const last = d.delegationChain[hop - 1]!
      expect(last.agent).toBe(bearerSub) // the delegator
      expect(last.scope).toEqual(scope) // the delegator's FULL scope
      const { payload } = decodeJwt(d.accessToken)
      expect(payload).toMatchObject({ sub: to.agentId, scope: next, task_id: 'task-a', orch_id: 'pipeline' })
      expect(payload.delegation_chain).toEqual(d.delegationChain)
      expect(d.delegationChain[0]!.agent).toBe(a.agentId)
      bearer = d.accessToken
      bearerSub = to.agentId
      scope = next
    }
    const sixth = await call(broker.url, 'POST', '/v1/delegate', {
      token: bearer,
      body: { delegate_to: agents[6]!.agentId, scope: ['read:data:customers'] },
    })
    expect(sixth.status).toBe(403)
    expect(sixth.json).toMatchObject({
      error_code: 'scope_violation',
      detail: 'delegation depth limit exceeded',
    })
  })

  it('attenuation: equal scope ok, widening → 403', async () => {
    const [a, b] = agents as [CreatedAgent, CreatedAgent]
    const narrow = await broker.delegate(a.accessToken, { to: b.agentId, scope: ['read:data:x'] })
    const equal = await broker.delegate(narrow.accessToken, { to: a.agentId, scope: ['read:data:x'] })
    expect(equal.delegationChain).toHaveLength(2)
    const wide = await call(broker.url, 'POST', '/v1/delegate', {
      token: narrow.accessToken,
      body: { delegate_to: a.agentId, scope: ['read:data:*'] },
    })
    expect(wide.status).toBe(403)
    expect(wide.json.detail).toBe('delegated scope exceeds delegator scope')
  })

  it('errors: unknown target 404, missing fields 500 delegation failed, malformed 400', async () => {
    const [a] = agents as [CreatedAgent]
    const post = (body: unknown) => call(broker.url, 'POST', '/v1/delegate', { token: a.accessToken, body })
    const unknown = await post({
      delegate_to: 'spiffe://agentwrit.local/agent/x/y/0000000000000000',
      scope: ['read:data:1'],
    })
    expect(unknown.json).toMatchObject({
      status: 404,
      error_code: 'not_found',
      detail: 'delegate agent not found',
    })
    for (const body of [
      { scope: ['read:data:1'] },
      { delegate_to: a.agentId },
      { delegate_to: a.agentId, scope: [] },
    ]) {
      const res = await post(body)
      expect(res.status).toBe(500)
      expect(res.json).toMatchObject({ error_code: 'internal_error', detail: 'delegation failed' })
    }
    expect((await post({ delegate_to: a.agentId, scope: ['read:data:1'], ttl: '60' })).json.detail).toBe(
      'malformed JSON body',
    )
    expect((await call(broker.url, 'POST', '/v1/delegate', { body: {} })).status).toBe(401)
  })

  it('TTL: default 60 s, request ttl used (not bounded by the delegator), self-delegation allowed', async () => {
    const [a] = agents as [CreatedAgent]
    expect((await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:1'] })).expiresIn).toBe(
      60,
    )
    expect(
      (await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:1'], ttl: 0 })).expiresIn,
    ).toBe(60)
    const long = await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:1'], ttl: 7200 })
    expect(long.expiresIn).toBe(7200)
    const { payload } = decodeJwt(long.accessToken)
    expect(payload.exp - payload.iat).toBe(7200)
  })

  it('an admin token can delegate its admin scopes to a registered agent', async () => {
    const [a] = agents as [CreatedAgent]
    const d = await broker.delegate(await broker.adminToken(), { to: a.agentId, scope: ['admin:revoke:*'] })
    const { payload } = decodeJwt(d.accessToken)
    expect(payload.delegation_chain[0].agent).toBe('admin')
    expect('task_id' in payload).toBe(false)
  })
})
