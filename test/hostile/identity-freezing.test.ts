/**
 * A handler cannot change the identity of a later request: every part of `req.agent` is frozen
 * (arrays, records, nested scopes, the verification object), and the empty `delegationChain` /
 * `audience` of a token that has none are frozen too — they used to be one shared, unfrozen `[]`
 * per identity base, so a handler's `push` showed in every later request with the same claims.
 *
 * Over real HTTP, through the Express adapter, remote mode against the development broker, with
 * caching on (the identity base is shared by every request with the same token: the worst case).
 */
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as ex from '../../src/express.js'
import { type CreatedAgent, type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { type RunningServer, serve } from '../adapters/kit.js'
import { send } from '../helpers/http.js'

let broker: DevBroker
let plain: CreatedAgent
let server: RunningServer

/** Try a mutation; report how it failed (ESM modules are strict: writes to frozen objects throw). */
function attempt(f: () => unknown): string {
  try {
    f()
    return 'changed'
  } catch (err) {
    return err instanceof TypeError ? 'TypeError' : String(err)
  }
}

beforeAll(async () => {
  broker = await startDevBroker()
  plain = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:customer-7'] })
  const app = express()
  app.use(ex.agentAuth({ broker: broker.url, cacheTtlMs: 60_000, trustDomain: 'agentwrit.local' }))
  app.get('/tamper', (req, res) => {
    const agent = req.agent!
    const hop = { agent: 'admin', scope: ['admin:all:*'], delegated_at: '2026-01-01T00:00:00Z' }
    res.json({
      chain: attempt(() => (agent.delegationChain as unknown[]).push(hop)),
      audience: attempt(() => (agent.audience as string[]).push('evil')),
      scope: attempt(() => (agent.scope as string[]).push('read:data:*')),
      claimsScope: attempt(() => (agent.claims.scope as string[]).push('read:data:*')),
      claims: attempt(() => {
        ;(agent.claims as { sub: string }).sub = 'admin'
      }),
      verification: attempt(() => {
        ;(agent.verification as { source: string }).source = 'local'
      }),
      id: attempt(() => {
        ;(agent as { id: string }).id = 'admin'
      }),
    })
  })
  app.get('/me', (req, res) => {
    const agent = req.agent!
    res.json({
      id: agent.id,
      chain: agent.delegationChain.length,
      audience: agent.audience.length,
      scope: agent.scope,
      delegated: agent.delegated,
      source: agent.verification.source,
    })
  })
  server = await serve(app)
})

afterAll(async () => {
  await server?.close()
  await broker?.close()
})

describe('identity freezing over HTTP (Express, remote mode, cached)', () => {
  it('a handler’s push on delegationChain / audience / scope throws, and the next requests see them unchanged', async () => {
    const auth = { authorization: `Bearer ${plain.accessToken}` }
    const tampered = await send(server.url, { path: '/tamper', headers: auth })
    expect(tampered.status).toBe(200)
    expect(tampered.json).toEqual({
      chain: 'TypeError',
      audience: 'TypeError',
      scope: 'TypeError',
      claimsScope: 'TypeError',
      claims: 'TypeError',
      verification: 'TypeError',
      id: 'TypeError',
    })
    // the same token (its cached identity base) and another token: both still see empty arrays
    const other = await broker.createAgent({ orchId: 'o', taskId: 't2', scope: ['read:data:customer-8'] })
    for (const token of [plain.accessToken, other.accessToken]) {
      const res = await send(server.url, { path: '/me', headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ chain: 0, audience: 0, delegated: false })
    }
    const again = await send(server.url, { path: '/me', headers: auth })
    expect(again.json).toMatchObject({ id: plain.agentId, scope: ['read:data:customer-7'], source: 'cache' })
  })

  it('a delegated token’s chain, its records and their scopes are frozen too', async () => {
    const delegatee = await broker.createAgent({ orchId: 'o', taskId: 't3', scope: ['read:data:customer-9'] })
    const delegated = await broker.delegate(plain.accessToken, {
      to: delegatee.agentId,
      scope: ['read:data:customer-7'],
    })
    const app = express()
    app.use(ex.agentAuth({ broker: broker.url, cacheTtlMs: 60_000 }))
    app.get('/chain', (req, res) => {
      const chain = req.agent!.delegationChain
      res.json({
        length: chain.length,
        push: attempt(() => (chain as unknown[]).push(chain[0])),
        record: attempt(() => {
          ;(chain[0] as { agent: string }).agent = 'admin'
        }),
        recordScope: attempt(() => (chain[0]!.scope as string[]).push('admin:all:*')),
      })
    })
    const srv = await serve(app)
    try {
      const res = await send(srv.url, {
        path: '/chain',
        headers: { authorization: `Bearer ${delegated.accessToken}` },
      })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({
        length: 1,
        push: 'TypeError',
        record: 'TypeError',
        recordScope: 'TypeError',
      })
    } finally {
      await srv.close()
    }
  })
})
