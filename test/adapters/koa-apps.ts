/** The Koa apps of the cross-adapter suites (see kit.ts). */
import Router from '@koa/router'
import Koa from 'koa'
import type { Verifier } from '../../src/index.js'
import * as ko from '../../src/koa.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { MisuseApp, RunningServer, Setup } from './kit.js'
import { authInput, computedScope, FAKE, guardForm, ORCHESTRATORS, serve, summary } from './kit.js'

export function service(verifier: Verifier): Promise<RunningServer> {
  const app = new Koa()
  app.silent = true
  const open = new Router()
  open.get('/public', (ctx) => {
    ctx.body = { public: true }
  })
  app.use(open.routes())
  app.use(ko.agentAuth(verifier))
  const router = new Router()
  router.get('/me', (ctx) => {
    ctx.body = summary(ko.agentOf(ctx))
  })
  router.get('/customers/:id', ko.requireScope('read:data:customer-:id'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx), { customer: ctx.params.id })
  })
  router.put('/orders/:id', ko.requireScope('write:data:order-:id'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx), { order: ctx.params.id })
  })
  router.get('/tenants/:tenant/analytics', ko.requireScope('read:analytics::tenant'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx), { tenant: ctx.params.tenant })
  })
  router.get('/either', ko.requireAnyScope('read:data:customer-1', 'write:data:order-1'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx))
  })
  router.get(
    '/computed/:id',
    ko.requireScope((ctx) => computedScope(ctx.params.id)),
    (ctx) => {
      ctx.body = summary(ko.agentOf(ctx))
    },
  )
  router.post(
    '/deploy/:service',
    ko.requireDelegatedFrom(ORCHESTRATORS),
    ko.requireScope('write:deploy::service'),
    (ctx) => {
      ctx.body = summary(ko.agentOf(ctx), { service: ctx.params.service, root: ko.agentOf(ctx).rootAgent })
    },
  )
  router.get('/opt{/:id}', ko.requireScope('read:data:customer-:id'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx), { customer: ctx.params.id })
  })
  router.get('/misconfigured/:id', ko.requireScope('read:data:customer-:cid'), (ctx) => {
    ctx.body = summary(ko.agentOf(ctx))
  })
  app.use(router.routes())
  return serve(app.callback())
}

export async function misuse(setup: Setup, broker: DevBroker, real: Verifier): Promise<MisuseApp> {
  let reached = 0
  const order = setup.order ?? 'auth-first'
  const app = new Koa()
  app.silent = true
  const router = new Router()
  const auth = () => ko.agentAuth(authInput(setup, broker, real) as never)
  if (order === 'auth-first') app.use(auth())
  if (setup.tamper) {
    app.use((ctx, next) => {
      ctx.state.agent = FAKE
      return next()
    })
  }
  const guards = guardForm<Koa.Middleware[]>(setup.guard, [], {
    template: (t) => [ko.requireScope(t)],
    computed: (scopeOf) => [
      ko.requireScope((ctx) => scopeOf(String((ctx as { params?: { id?: string } }).params?.id)) as string),
    ],
    delegatedFrom: (root) => [ko.requireDelegatedFrom(root)],
  })
  const handler: Koa.Middleware = (ctx) => {
    reached++
    ctx.body = { agent: ctx.state.agent?.id ?? null }
  }
  const get = router.get.bind(router) as (path: string, ...middleware: Koa.Middleware[]) => unknown
  get('/things/:id', ...guards, handler)
  get('/open', handler)
  app.use(router.routes())
  if (order === 'route-first') app.use(auth())
  return { ...(await serve(app.callback())), reached: () => reached }
}
