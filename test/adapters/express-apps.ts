/** The Express apps of the cross-adapter suites (see kit.ts). */
import express from 'express'
import * as ex from '../../src/express.js'
import type { Verifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { MisuseApp, RunningServer, Setup } from './kit.js'
import { authInput, computedScope, FAKE, guardForm, ORCHESTRATORS, serve, summary } from './kit.js'

export function service(verifier: Verifier): Promise<RunningServer> {
  const app = express()
  app.get('/public', (_req, res) => {
    res.json({ public: true })
  })
  app.use(ex.agentAuth(verifier))
  app.get('/me', (req, res) => {
    res.json(summary(ex.agentOf(req)))
  })
  app.get('/customers/:id', ex.requireScope('read:data:customer-:id'), (req, res) => {
    res.json(summary(ex.agentOf(req), { customer: req.params.id }))
  })
  app.put('/orders/:id', ex.requireScope('write:data:order-:id'), (req, res) => {
    res.json(summary(ex.agentOf(req), { order: req.params.id }))
  })
  app.get('/tenants/:tenant/analytics', ex.requireScope('read:analytics::tenant'), (req, res) => {
    res.json(summary(ex.agentOf(req), { tenant: req.params.tenant }))
  })
  app.get('/either', ex.requireAnyScope('read:data:customer-1', 'write:data:order-1'), (req, res) => {
    res.json(summary(ex.agentOf(req)))
  })
  app.get(
    '/computed/:id',
    ex.requireScope((req) => computedScope(req.params.id)),
    (req, res) => {
      res.json(summary(ex.agentOf(req)))
    },
  )
  app.post(
    '/deploy/:service',
    ex.requireDelegatedFrom(ORCHESTRATORS),
    ex.requireScope('write:deploy::service'),
    (req, res) => {
      res.json(summary(ex.agentOf(req), { service: req.params.service, root: ex.agentOf(req).rootAgent }))
    },
  )
  app.get('/opt{/:id}', ex.requireScope('read:data:customer-:id'), (req, res) => {
    res.json(summary(ex.agentOf(req), { customer: req.params.id }))
  })
  app.get('/misconfigured/:id', ex.requireScope('read:data:customer-:cid'), (req, res) => {
    res.json(summary(ex.agentOf(req)))
  })
  return serve(app)
}

export async function misuse(setup: Setup, broker: DevBroker, real: Verifier): Promise<MisuseApp> {
  let reached = 0
  const order = setup.order ?? 'auth-first'
  const app = express()
  const auth = () => ex.agentAuth(authInput(setup, broker, real) as never)
  if (order === 'auth-first') app.use(auth())
  if (setup.tamper) {
    app.use((req, _res, next) => {
      req.agent = FAKE
      next()
    })
  }
  const guards = guardForm<express.RequestHandler[]>(setup.guard, [], {
    template: (t) => [ex.requireScope(t)],
    computed: (scopeOf) => [ex.requireScope((req) => scopeOf(String(req.params.id)) as string)],
    delegatedFrom: (root) => [ex.requireDelegatedFrom(root)],
  })
  const handler: express.RequestHandler = (req, res) => {
    reached++
    res.json({ agent: req.agent?.id ?? null })
  }
  app.get('/things/:id', ...guards, handler)
  app.get('/open', handler)
  if (order === 'route-first') app.use(auth())
  return { ...(await serve(app)), reached: () => reached }
}
