import { createServer } from 'node:http'
import Router from '@koa/router'
import Koa from 'koa'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentAuth, requireScope } from '../../src/koa.js'
import type { DevBroker } from '../../src/testing/index.js'
import { startBrokerWithAgent } from '../helpers/agents.js'

let broker: DevBroker
let token: string

beforeAll(async () => {
  ;({ broker, token } = await startBrokerWithAgent())
})
afterAll(async () => broker?.close())

function server(app: Koa) {
  app.silent = true
  return createServer(app.callback())
}

describe('koa adapter', () => {
  it('puts the identity on ctx.state.agent', async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = new Koa()
    const router = new Router()
    router.get('/customers/:id', requireScope('read:data:customer-:id'), (ctx) => {
      ctx.body = { id: ctx.state.agent?.id, taskId: ctx.state.agent?.taskId }
    })
    app.use(auth).use(router.routes())
    const res = await request(server(app))
      .get('/customers/7')
      .set('Authorization', `Bearer ${token}`)
      .expect(200)
    expect(res.body.taskId).toBe('t')
    await auth.close()
  })

  it("onError 'throw' lets Koa's own error handling render status and challenge", async () => {
    const auth = agentAuth({ broker: broker.url, onError: 'throw' })
    const app = new Koa()
    app.use(auth).use((ctx) => {
      ctx.body = 'never'
    })
    const res = await request(server(app)).get('/x').set('Authorization', 'Bearer a.b.c').expect(401)
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/)
    expect(res.text).toBe('token is invalid or expired')
    await auth.close()
  })

  it('an error middleware in front can render the problem itself', async () => {
    const auth = agentAuth({ broker: broker.url, onError: 'throw' })
    const app = new Koa()
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        const e = err as { status: number; toProblem(): unknown }
        ctx.status = e.status
        ctx.body = { wrapped: e.toProblem() }
      }
    })
    app.use(auth)
    const res = await request(server(app)).get('/x').expect(401)
    expect(res.body.wrapped.error_code).toBe('missing_token')
    await auth.close()
  })

  it('a placeholder that is not a route param is a 500, never an acceptance', async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = new Koa()
    const router = new Router()
    router.get('/customers/:id', requireScope('read:data:customer-:cid'), (ctx) => {
      ctx.body = 'reached'
    })
    app.use(auth).use(router.routes())
    const res = await request(server(app)).get('/customers/7').set('Authorization', `Bearer ${token}`)
    expect(res.status).toBe(500)
    expect(res.text).not.toContain('reached')
    await auth.close()
  })
})
