import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { Controller, type DynamicModule, Get } from '@nestjs/common'
import type { RequestHandler } from 'express'
import Fastify, { type preHandlerHookHandler } from 'fastify'
import { Hono, type MiddlewareHandler } from 'hono'
import type { Middleware as KoaMiddleware } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import * as ex from '../../src/express.js'
import agentwrit, { agentOf, type FastifyAgentAuthOptions } from '../../src/fastify.js'
import * as ho from '../../src/hono.js'
import {
  type AgentAuthError,
  type AgentIdentity,
  authenticateFetchRequest,
  createVerifier,
  type FetchAuthentication,
  type ProblemDetails,
  scopeCovers,
  scopeIsSubset,
  type Verifier,
} from '../../src/index.js'
import * as ko from '../../src/koa.js'
import * as mcp from '../../src/mcp.js'
import * as ne from '../../src/nest.js'

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

describe('hono', () => {
  it("types c.get('agent') through the variable map, the guards and agentOf", () => {
    const app = new Hono<ho.AgentAuthEnv>()
    const auth = ho.agentAuth({
      broker: 'http://127.0.0.1:8080',
      onError: (err, c) => c.json(err.toProblem(), 401),
    })
    expectTypeOf(auth.verifier).toEqualTypeOf<Verifier>()
    expectTypeOf(ho.requireScope('read:data:customer-:id')).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(ho.requireAnyScope).parameters.toEqualTypeOf<ho.HonoScopeRequirement[]>()
    app.use(auth)
    app.get(
      '/customers/:id',
      ho.requireScope((c) => `read:data:customer-${c.req.param('id')}`),
      (c) => {
        // An app typed with AgentAuthEnv: the identity is there on every route behind the middleware.
        expectTypeOf(c.get('agent')).toEqualTypeOf<AgentIdentity>()
        expectTypeOf(ho.agentOf(c)).toEqualTypeOf<AgentIdentity>()
        return c.json({ id: c.get('agent').id })
      },
    )
    // Without AgentAuthEnv, the global variable map types it as possibly absent.
    new Hono().get('/x', (c) => {
      expectTypeOf(c.get('agent')).toEqualTypeOf<AgentIdentity | undefined>()
      return c.text('ok')
    })
    // @ts-expect-error the keyword is 'throw' ('next' is Express's)
    ho.agentAuth({ broker: 'http://127.0.0.1:8080', onError: 'next' })
  })
})

describe('nest', () => {
  it('types the module, the decorators, @Agent() and the exception', () => {
    expectTypeOf(
      ne.AgentWritModule.forRoot({ broker: 'http://127.0.0.1:8080' }),
    ).toEqualTypeOf<DynamicModule>()
    ne.AgentWritModule.forRoot({ broker: 'http://127.0.0.1:8080', optional: true, globalGuard: false })
    ne.AgentWritModule.forRoot(createVerifier({ broker: 'http://127.0.0.1:8080' }))
    ne.AgentWritModule.forRootAsync({
      inject: ['BROKER_URL'],
      useFactory: (url: string) => ({ broker: url }),
      exceptionFilter: false,
    })
    // @ts-expect-error the module settings are booleans
    ne.AgentWritModule.forRoot({ broker: 'http://127.0.0.1:8080', globalGuard: 'no' })
    // @ts-expect-error the factory returns the options, not a string
    ne.AgentWritModule.forRootAsync({ useFactory: () => 'http://127.0.0.1:8080' })

    expectTypeOf(ne.RequireScope('read:data:customer-:id')).toEqualTypeOf<ne.ClassOrMethodDecorator>()
    expectTypeOf(ne.Public()).toEqualTypeOf<ne.ClassOrMethodDecorator>()
    ne.RequireScope((request, agent) => {
      expectTypeOf(request).toEqualTypeOf<ne.AgentWritRequest>()
      expectTypeOf(request.params.id).toEqualTypeOf<string | undefined>()
      expectTypeOf(agent).toEqualTypeOf<AgentIdentity>()
      return `read:data:customer-${request.params.id}`
    })
    ne.RequireAnyScope<{ params: { tenant: string }; tier: 'gold' }>((request) => [
      `read:analytics:${request.tier}`,
    ])
    ne.RequireDelegatedFrom(/^spiffe:\/\//, 'spiffe://agentwrit.local/agent/a/b/c', (root) => root.length > 0)
    // @ts-expect-error a number is not a scope requirement
    ne.RequireScope(42)
    // @ts-expect-error a delegation root is an id, a RegExp or a predicate
    ne.RequireDelegatedFrom(42)

    expectTypeOf(ne.Agent()).toEqualTypeOf<ParameterDecorator>()
    expectTypeOf(ne.Agent('id')).toEqualTypeOf<ParameterDecorator>()
    ne.Agent('scope', { optional: true })
    ne.Agent({ optional: true })
    // @ts-expect-error a field of the identity
    ne.Agent('nope')
    // @ts-expect-error optional is true or absent
    ne.Agent({ optional: false })

    @Controller('customers')
    @ne.RequireScope('read:data:customer-:id')
    class CustomersController {
      @Get(':id')
      @ne.RequireAnyScope('write:data:order-1')
      @ne.Public(false)
      get(@ne.Agent() agent: AgentIdentity, @ne.Agent('id') id: string) {
        return { id: agent.id, same: id }
      }
    }
    void CustomersController

    const exception = new ne.AgentAuthException(new ne.AgentAuthError('missing_token'), '/x')
    expectTypeOf(exception.error).toEqualTypeOf<AgentAuthError>()
    expectTypeOf(exception.getResponse()).toEqualTypeOf<ProblemDetails>()
    expectTypeOf(exception.headers).toEqualTypeOf<Readonly<Record<string, string>>>()
    expectTypeOf<InstanceType<typeof ne.AgentAuthGuard>['canActivate']>().returns.toEqualTypeOf<
      boolean | Promise<boolean>
    >()
  })
})

describe('fetch API entry point', () => {
  it('authenticateFetchRequest resolves with an identity or a refusal response', () => {
    expectTypeOf(authenticateFetchRequest).returns.resolves.toEqualTypeOf<FetchAuthentication>()
    expectTypeOf<Extract<FetchAuthentication, { ok: true }>['agent']>().toEqualTypeOf<AgentIdentity>()
    expectTypeOf<Extract<FetchAuthentication, { ok: false }>['response']>().toEqualTypeOf<Response>()
  })
})

describe('mcp', () => {
  it('mcpAuth is Express middleware that types req.auth; the token verifier is an OAuthTokenVerifier', () => {
    const auth = mcp.mcpAuth({
      broker: 'http://127.0.0.1:8080',
      resourceMetadataUrl: 'https://x/.well-known/y',
    })
    expectTypeOf(auth).toExtend<RequestHandler>()
    expectTypeOf(auth.verifier).toEqualTypeOf<Verifier>()
    const handler: RequestHandler = (req) => {
      expectTypeOf(req.auth).toEqualTypeOf<AuthInfo | undefined>()
    }
    void handler
    const v = mcp.agentwritTokenVerifier({ broker: 'http://127.0.0.1:8080' })
    expectTypeOf(v).toExtend<OAuthTokenVerifier>()
    expectTypeOf(v.verifyAccessToken).returns.resolves.toEqualTypeOf<mcp.AgentWritAuthInfo>()
    expectTypeOf<mcp.AgentWritAuthInfo['extra']['agent']>().toEqualTypeOf<AgentIdentity>()
    // @ts-expect-error resourceMetadataUrl is a string or a URL
    mcp.mcpAuth({ broker: 'http://127.0.0.1:8080', resourceMetadataUrl: 7 })
  })
  it('tool guards keep the callback type registerTool expects', () => {
    const server = new McpServer({ name: 't', version: '1' })
    server.registerTool(
      'read',
      { inputSchema: { customer_id: z.string() } },
      mcp.requireToolScope('read:data:customer-:customer_id')(async ({ customer_id }, extra) => {
        expectTypeOf(customer_id).toEqualTypeOf<string>()
        expectTypeOf(mcp.toolAgentOf(extra)).toEqualTypeOf<AgentIdentity>()
        return { content: [{ type: 'text' as const, text: customer_id }] }
      }),
    )
    mcp.registerGuardedTool(
      server,
      'write',
      { inputSchema: { order_id: z.string(), qty: z.number() } },
      { scope: 'write:data:order-:order_id', delegatedFrom: /orchestrator/ },
      async ({ order_id, qty }) => {
        expectTypeOf(order_id).toEqualTypeOf<string>()
        expectTypeOf(qty).toEqualTypeOf<number>()
        return { content: [] }
      },
    )
    expectTypeOf(mcp.toolRefusal).returns.toEqualTypeOf<CallToolResult>()
    // @ts-expect-error a number is not a scope requirement
    mcp.requireToolScope(42)
    // @ts-expect-error unknown requirement key
    mcp.registerGuardedTool(server, 'x', {}, { scopes: ['a:b:c'] }, async () => ({ content: [] }))
  })
})
