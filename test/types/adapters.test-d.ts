import type { RequestHandler } from 'express'
import Fastify, { type preHandlerHookHandler } from 'fastify'
import type { Middleware as KoaMiddleware } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'
import * as ex from '../../src/express.js'
import agentwrit, { agentOf, type FastifyAgentAuthOptions } from '../../src/fastify.js'
import {
  type AgentAuthError,
  type AgentIdentity,
  createVerifier,
  scopeCovers,
  scopeIsSubset,
  type Verifier,
} from '../../src/index.js'
import * as ko from '../../src/koa.js'

describe('core types', () => {
  it('createVerifier returns a Verifier whose authenticate yields an AgentIdentity', () => {
    expectTypeOf(createVerifier).returns.toEqualTypeOf<Verifier>()
    expectTypeOf<Verifier['authenticate']>().returns.resolves.toEqualTypeOf<AgentIdentity>()
    expectTypeOf(scopeCovers).toEqualTypeOf<(required: string, held: string) => boolean>()
    expectTypeOf(scopeIsSubset).parameters.toEqualTypeOf<[readonly string[], readonly string[]]>()
  })
  it('AgentIdentity carries typed claims', () => {
    expectTypeOf<AgentIdentity['id']>().toEqualTypeOf<string>()
    expectTypeOf<AgentIdentity['scope']>().toEqualTypeOf<readonly string[]>()
    expectTypeOf<AgentIdentity['taskId']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<AgentIdentity['expiresAt']>().toEqualTypeOf<Date>()
    expectTypeOf<AgentIdentity['delegated']>().toEqualTypeOf<boolean>()
    expectTypeOf<AgentIdentity['verification']['source']>().toEqualTypeOf<'broker' | 'local' | 'cache'>()
    expectTypeOf<AgentAuthError['status']>().toEqualTypeOf<number>()
  })
})

describe('express', () => {
  it('types req.agent and the guards', () => {
    expectTypeOf(ex.requireScope('read:data:customer-:id')).toEqualTypeOf<RequestHandler>()
    expectTypeOf(ex.requireAnyScope).parameters.toEqualTypeOf<ex.ExpressScopeRequirement[]>()
    const handler: RequestHandler = (req) => {
      expectTypeOf(req.agent).toEqualTypeOf<AgentIdentity | undefined>()
      expectTypeOf(ex.agentOf(req)).toEqualTypeOf<AgentIdentity>()
    }
    void handler
    ex.requireScope((req, agent) => {
      expectTypeOf(agent).toEqualTypeOf<AgentIdentity>()
      return `read:data:customer-${String(req.params.id)}`
    })
    // @ts-expect-error a number is not a scope requirement
    ex.requireScope(42)
    expectTypeOf(ex.agentAuth({ broker: 'http://127.0.0.1:8080' }).verifier).toEqualTypeOf<Verifier>()
  })
})

describe('koa', () => {
  it('types ctx.state.agent and the guards', () => {
    expectTypeOf(ko.requireScope('read:data:customer-:id')).toEqualTypeOf<KoaMiddleware>()
    const mw: KoaMiddleware = async (ctx) => {
      expectTypeOf(ctx.state.agent).toEqualTypeOf<AgentIdentity | undefined>()
      expectTypeOf(ko.agentOf(ctx)).toEqualTypeOf<AgentIdentity>()
    }
    void mw
    ko.requireAnyScope((ctx) => [`read:data:${ctx.path}`])
  })
})

describe('fastify', () => {
  it('types request.agent, route config and the decorators', async () => {
    const app = Fastify()
    await app.register(agentwrit, { broker: 'http://127.0.0.1:8080' } satisfies FastifyAgentAuthOptions)
    expectTypeOf(app.requireScope('read:data:customer-:id')).toEqualTypeOf<preHandlerHookHandler>()
    expectTypeOf(app.agentVerifier).toEqualTypeOf<Verifier>()
    app.get('/c/:id', { config: { scope: 'read:data:customer-:id' } }, async (request) => {
      expectTypeOf(request.agent).toEqualTypeOf<AgentIdentity | null>()
      expectTypeOf(agentOf(request)).toEqualTypeOf<AgentIdentity>()
      return {}
    })
    app.get('/p', { config: { agentAuth: false } }, async () => ({}))
    // @ts-expect-error scope must be a string or a string array
    app.get('/x', { config: { scope: 5 } }, async () => ({}))
  })
})
