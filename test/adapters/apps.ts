/**
 * The same protected service built on Express, Koa and Fastify, listening on 127.0.0.1.
 * The conformance suite runs one table of HTTP scenarios against each.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Router from '@koa/router'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import * as ex from '../../src/express.js'
import agentwrit, { agentOf } from '../../src/fastify.js'
import type { AgentAuthOptions, AgentIdentity, Verifier } from '../../src/index.js'
import { createVerifier } from '../../src/index.js'
import * as ko from '../../src/koa.js'

export type AdapterName = 'express' | 'koa' | 'fastify'
export const ADAPTERS: readonly AdapterName[] = ['express', 'koa', 'fastify']

export interface RunningApp {
  readonly url: string
  readonly verifier: Verifier
  close(): Promise<void>
}

function summary(agent: AgentIdentity, extra: Record<string, unknown> = {}) {
  return {
    agent: agent.id,
    scope: agent.scope,
    taskId: agent.taskId,
    delegated: agent.delegated,
    source: agent.verification.source,
    ...extra,
  }
}

/** Deploys are accepted only from chains started by a release orchestrator. */
export const ORCHESTRATORS = /^spiffe:\/\/agentwrit\.local\/agent\/release-orchestrator\//

/** `read:data:customer-<id>` computed by a function, to exercise the function form. */
const computedScope = (id: unknown) => `read:data:customer-${String(id)}`

export function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}

async function buildExpress(verifier: Verifier): Promise<RunningApp> {
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
  const server = createServer(app)
  const url = await listen(server)
  return { url, verifier, close: () => closeServer(server) }
}

async function buildKoa(verifier: Verifier): Promise<RunningApp> {
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
  const server = createServer(app.callback())
  const url = await listen(server)
  return { url, verifier, close: () => closeServer(server) }
}

async function buildFastify(verifier: Verifier): Promise<RunningApp> {
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
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { url, verifier, close: () => app.close() }
}

/** Build one adapter's app around a verifier (shared options → identical behaviour expected). */
export async function buildApp(
  adapter: AdapterName,
  options: AgentAuthOptions | Verifier,
): Promise<RunningApp> {
  const verifier =
    'authenticate' in options ? (options as Verifier) : createVerifier(options as AgentAuthOptions)
  const app =
    adapter === 'express'
      ? await buildExpress(verifier)
      : adapter === 'koa'
        ? await buildKoa(verifier)
        : await buildFastify(verifier)
  return {
    url: app.url,
    verifier,
    async close() {
      await app.close()
      await verifier.close()
    },
  }
}
