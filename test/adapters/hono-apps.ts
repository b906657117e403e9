/** The Hono apps of the cross-adapter suites (see kit.ts), served by `@hono/node-server`. */
import { getRequestListener } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import * as ho from '../../src/hono.js'
import type { Verifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { MisuseApp, RunningServer, Setup } from './kit.js'
import { authInput, computedScope, FAKE, guardForm, ORCHESTRATORS, serve, summary } from './kit.js'

/** Serve a Hono app on 127.0.0.1 through Node's HTTP server, as `@hono/node-server`'s `serve()` does. */
function serveHono(app: Hono<ho.AgentAuthEnv>): Promise<RunningServer> {
  return serve(getRequestListener(app.fetch))
}

export function service(verifier: Verifier): Promise<RunningServer> {
  const app = new Hono<ho.AgentAuthEnv>()
  app.get('/public', (c) => c.json({ public: true }))
  app.use(ho.agentAuth(verifier))
  app.get('/me', (c) => c.json(summary(ho.agentOf(c))))
  app.get('/customers/:id', ho.requireScope('read:data:customer-:id'), (c) =>
    c.json(summary(ho.agentOf(c), { customer: c.req.param('id') })),
  )
  app.put('/orders/:id', ho.requireScope('write:data:order-:id'), (c) =>
    c.json(summary(ho.agentOf(c), { order: c.req.param('id') })),
  )
  app.get('/tenants/:tenant/analytics', ho.requireScope('read:analytics::tenant'), (c) =>
    c.json(summary(ho.agentOf(c), { tenant: c.req.param('tenant') })),
  )
  app.get('/either', ho.requireAnyScope('read:data:customer-1', 'write:data:order-1'), (c) =>
    c.json(summary(ho.agentOf(c))),
  )
  app.get(
    '/computed/:id',
    ho.requireScope((c) => computedScope(c.req.param('id'))),
    (c) => c.json(summary(ho.agentOf(c))),
  )
  app.post(
    '/deploy/:service',
    ho.requireDelegatedFrom(ORCHESTRATORS),
    ho.requireScope('write:deploy::service'),
    (c) =>
      c.json(summary(ho.agentOf(c), { service: c.req.param('service'), root: c.get('agent').rootAgent })),
  )
  app.get('/opt/:id?', ho.requireScope('read:data:customer-:id'), (c) =>
    c.json(summary(ho.agentOf(c), { customer: c.req.param('id') })),
  )
  app.get('/misconfigured/:id', ho.requireScope('read:data:customer-:cid'), (c) =>
    c.json(summary(ho.agentOf(c))),
  )
  return serveHono(app)
}

export async function misuse(setup: Setup, broker: DevBroker, real: Verifier): Promise<MisuseApp> {
  let reached = 0
  const order = setup.order ?? 'auth-first'
  const app = new Hono<ho.AgentAuthEnv>()
  const auth = () => ho.agentAuth(authInput(setup, broker, real) as never)
  if (order === 'auth-first') app.use(auth())
  if (setup.tamper) {
    app.use((c, next) => {
      c.set('agent', FAKE)
      return next()
    })
  }
  const guards = guardForm<MiddlewareHandler[]>(setup.guard, [], {
    template: (t) => [ho.requireScope(t)],
    computed: (scopeOf) => [ho.requireScope((c) => scopeOf(c.req.param('id') ?? '') as string)],
    delegatedFrom: (root) => [ho.requireDelegatedFrom(root)],
  })
  const handler: MiddlewareHandler<ho.AgentAuthEnv> = async (c) => {
    reached++
    return c.json({ agent: c.get('agent')?.id ?? null })
  }
  const get = app.get.bind(app) as (path: string, ...handlers: MiddlewareHandler[]) => unknown
  get('/things/:id', ...guards, handler as MiddlewareHandler)
  get('/open', handler as MiddlewareHandler)
  if (order === 'route-first') app.use(auth())
  return { ...(await serveHono(app)), reached: () => reached }
}
