/** The Fastify apps of the cross-adapter suites (see kit.ts). */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type RouteShorthandOptions } from 'fastify'
import agentwrit, { agentOf } from '../../src/fastify.js'
import type { AgentIdentity, Verifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { MisuseApp, RunningServer, Setup } from './kit.js'
import { authInput, computedScope, FAKE, guardForm, ORCHESTRATORS, summary } from './kit.js'

/** Listen on 127.0.0.1 (an ephemeral port); the app's URL. */
export async function listenFastify(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

export async function service(verifier: Verifier): Promise<RunningServer> {
  const app = Fastify()
  await app.register(agentwrit, { verifier })
  app.get('/public', { config: { agentAuth: false } }, async () => ({ public: true }))
  app.get('/me', async (request) => summary(agentOf(request)))
  app.get<{ Params: { id: string } }>(
    '/customers/:id',
    { config: { scope: 'read:data:customer-:id' } },
    async (request) => summary(agentOf(request), { customer: request.params.id }),
  )
  app.put<{ Params: { id: string } }>(
    '/orders/:id',
    { preHandler: app.requireScope('write:data:order-:id') },
    async (request) => summary(agentOf(request), { order: request.params.id }),
  )
  app.get<{ Params: { tenant: string } }>(
    '/tenants/:tenant/analytics',
    { config: { scope: 'read:analytics::tenant' } },
    async (request) => summary(agentOf(request), { tenant: request.params.tenant }),
  )
  app.get(
    '/either',
    { config: { anyScope: ['read:data:customer-1', 'write:data:order-1'] } },
    async (request) => summary(agentOf(request)),
  )
  app.get<{ Params: { id: string } }>(
    '/computed/:id',
    { preHandler: app.requireScope((request) => computedScope((request.params as { id: string }).id)) },
    async (request) => summary(agentOf(request)),
  )
  app.post<{ Params: { service: string } }>(
    '/deploy/:service',
    { config: { delegatedFrom: ORCHESTRATORS, scope: 'write:deploy::service' } },
    async (request) =>
      summary(agentOf(request), { service: request.params.service, root: agentOf(request).rootAgent }),
  )
  app.get<{ Params: { id?: string } }>(
    '/opt/:id?',
    { config: { scope: 'read:data:customer-:id' } },
    async (request) => summary(agentOf(request), { customer: request.params.id }),
  )
  // No /misconfigured/:id: Fastify refuses that route at declaration (test/e2e/misuse.test.ts).
  return { url: await listenFastify(app), close: () => app.close() }
}

export async function misuse(setup: Setup, broker: DevBroker, real: Verifier): Promise<MisuseApp> {
  let reached = 0
  const order = setup.order ?? 'auth-first'
  const app = Fastify()
  const input = authInput(setup, broker, real)
  if (order === 'auth-first') await app.register(agentwrit, input as never)
  if (order === 'unawaited') void app.register(agentwrit, input as never)
  if (setup.tamper) {
    app.addHook('preHandler', (request, _reply, done) => {
      request.agent = FAKE
      done()
    })
  }
  const routeOptions = guardForm<RouteShorthandOptions>(
    setup.guard,
    {},
    {
      template: (t) => ({ config: { scope: t } }),
      computed: (scopeOf) => ({
        preHandler: app.requireScope(
          (request) => scopeOf(String((request.params as { id: string }).id)) as string,
        ),
      }),
      delegatedFrom: (root) => ({ config: { delegatedFrom: root } }),
    },
  )
  const handler = async (request: { agent: AgentIdentity | null }) => {
    reached++
    return { agent: request.agent?.id ?? null }
  }
  app.get('/things/:id', routeOptions, handler)
  app.get('/open', handler)
  if (order === 'route-first') await app.register(agentwrit, input as never)
  return { url: await listenFastify(app), reached: () => reached, close: () => app.close() }
}
