/**
 * The NestJS adapter's own behaviour, on both HTTP platforms, over real HTTP against the
 * development broker: the global guard and `@Public()`, how class and handler metadata combine,
 * `@Agent()`, `forRootAsync`, `globalGuard: false`, startup errors, exception filters, shutdown and
 * a broker outage. The shared conformance, misuse and hostile tables run the `nest-express` and
 * `nest-fastify` kits (nest-apps.ts) as well.
 */
import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  HttpException,
  Inject,
  Injectable,
  Logger,
  Module,
  Param,
  UseGuards,
} from '@nestjs/common'
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js'
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core'
import { Test } from '@nestjs/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type AgentIdentity, createVerifier, type Verifier } from '../../src/index.js'
import {
  AGENTWRIT_VERIFIER,
  Agent,
  AgentAuthError,
  AgentAuthException,
  AgentAuthExceptionFilter,
  AgentAuthGuard,
  AgentWritModule,
  type AgentWritModuleOptions,
  Public,
  RequireAnyScope,
  RequireDelegatedFrom,
  RequireScope,
} from '../../src/nest.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { send } from '../helpers/http.js'
import { REALM } from '../helpers/refusal.js'
import { bearer } from '../helpers/tokens.js'
import { type Platform, startNest } from './nest-apps.js'

let broker: DevBroker
/** read:data:customer-7 */
let reader: string
/** read:data:customer-7, write:data:order-1 */
let writer: string
let readerId: string

beforeAll(async () => {
  broker = await startDevBroker()
  const r = await broker.createAgent({ orchId: 'o', taskId: 'reader', scope: ['read:data:customer-7'] })
  reader = r.accessToken
  readerId = r.agentId
  writer = (
    await broker.createAgent({
      orchId: 'o',
      taskId: 'writer',
      scope: ['read:data:customer-7', 'write:data:order-1'],
    })
  ).accessToken
})
afterAll(async () => broker?.close())

const PLATFORMS: readonly Platform[] = ['express', 'fastify']

/** Start an app of `controllers` behind `AgentWritModule.forRoot(options)`. */
async function appWith(
  platform: Platform,
  controllers: Function[],
  options: AgentWritModuleOptions = { broker: broker.url },
  extra: { providers?: unknown[]; configure?: Parameters<typeof startNest>[2] } = {},
) {
  @Module({
    imports: [AgentWritModule.forRoot(options)],
    controllers: controllers as never,
    providers: (extra.providers ?? []) as never,
  })
  class AppModule {}
  return startNest(AppModule, platform, extra.configure)
}

// ---------------------------------------------------------------------------------------------------
// Controllers
// ---------------------------------------------------------------------------------------------------

@Controller()
class PlainController {
  @Get('me')
  me(@Agent() agent: AgentIdentity, @Agent('id') id: string) {
    return { id: agent.id, same: id === agent.id, scope: agent.scope }
  }

  @Public()
  @Get('health')
  health() {
    return { ok: true }
  }

  @Public()
  @Get('public-agent')
  publicAgent(@Agent() agent: AgentIdentity) {
    return { id: agent.id }
  }

  @Public()
  @Get('public-optional-agent')
  publicOptional(@Agent({ optional: true }) agent: AgentIdentity | undefined) {
    return { agent: agent?.id ?? null }
  }

  @Get('optional-agent')
  optionalAgent(@Agent('id', { optional: true }) id: string | undefined) {
    return { agent: id ?? null }
  }
}

/** `@Public()` on the class; `@Public(false)` on one handler authenticates it again. */
@Controller('open')
@Public()
class OpenController {
  @Get()
  index() {
    return { open: true }
  }

  @Get('closed')
  @Public(false)
  closed(@Agent('id') id: string) {
    return { id }
  }
}

/** A class-level floor and a handler-level requirement: both apply. */
@Controller('customers/:id')
@RequireScope('read:data:customer-:id')
class CustomerOrdersController {
  @Get()
  get(@Param('id') id: string) {
    return { customer: id }
  }

  @Get('orders')
  @RequireAnyScope('write:data:order-1', 'write:data:order-2')
  orders(@Param('id') id: string) {
    return { customer: id, orders: true }
  }
}

// ---------------------------------------------------------------------------------------------------

describe.each(PLATFORMS)('nest adapter (%s)', (platform) => {
  describe('global guard, @Public(), metadata', () => {
    let app: Awaited<ReturnType<typeof startNest>>
    beforeAll(async () => {
      app = await appWith(platform, [PlainController, OpenController, CustomerOrdersController])
    })
    afterAll(async () => app?.close())

    it('authenticates an undecorated route: 401 with the full refusal, 200 with a token', async () => {
      const refused = await send(app.url, { path: '/me?x=1' })
      expect(refused.status).toBe(401)
      expect(refused.headers['www-authenticate']).toBe(REALM)
      expect(refused.headers['cache-control']).toBe('no-store')
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(refused.json).toEqual({
        type: 'urn:agentwrit:error:missing_token',
        title: 'Unauthorized',
        status: 401,
        detail: 'missing bearer token',
        instance: '/me',
        error_code: 'missing_token',
      })
      const ok = await send(app.url, { path: '/me', headers: bearer(reader) })
      expect(ok.status).toBe(200)
      expect(ok.json).toEqual({ id: readerId, same: true, scope: ['read:data:customer-7'] })
    })

    it('@Public() on a handler: no token read', async () => {
      expect((await send(app.url, { path: '/health' })).status).toBe(200)
      // Not even a bad one.
      expect((await send(app.url, { path: '/health', headers: bearer('not.a.token') })).status).toBe(200)
    })

    it('@Public() on a class, @Public(false) on a handler: the handler wins', async () => {
      expect((await send(app.url, { path: '/open' })).status).toBe(200)
      expect((await send(app.url, { path: '/open/closed' })).status).toBe(401)
      const ok = await send(app.url, { path: '/open/closed', headers: bearer(reader) })
      expect(ok.json).toEqual({ id: readerId })
    })

    it('class and handler requirements both apply', async () => {
      expect((await send(app.url, { path: '/customers/7', headers: bearer(reader) })).status).toBe(200)
      // The class floor: customer 8's scope is held by nobody here.
      const other = await send(app.url, { path: '/customers/8/orders', headers: bearer(writer) })
      expect(other.status).toBe(403)
      expect(other.headers['www-authenticate']).toMatch(/scope="read:data:customer-8"$/)
      // The class requirement passes, the handler's does not.
      const noOrder = await send(app.url, { path: '/customers/7/orders', headers: bearer(reader) })
      expect(noOrder.status).toBe(403)
      expect(noOrder.json).toMatchObject({
        error_code: 'insufficient_scope',
        required_scope: ['write:data:order-1', 'write:data:order-2'],
      })
      const ok = await send(app.url, { path: '/customers/7/orders', headers: bearer(writer) })
      expect(ok.status).toBe(200)
      expect(ok.json).toEqual({ customer: '7', orders: true })
    })

    it('@Agent() on a @Public() route refuses with 500 (no identity), never undefined', async () => {
      const res = await send(app.url, { path: '/public-agent', headers: bearer(reader) })
      expect(res.status).toBe(500)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.headers['cache-control']).toBe('no-store')
      // The specific message is for logs; the client gets the generic one.
      expect(res.json).toEqual({
        type: 'urn:agentwrit:error:configuration_error',
        title: 'Internal Server Error',
        status: 500,
        detail: 'authorization is misconfigured on this route',
        instance: '/public-agent',
        error_code: 'configuration_error',
      })
    })

    it('@Agent({ optional: true }) on a @Public() route is undefined', async () => {
      const res = await send(app.url, { path: '/public-optional-agent' })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ agent: null })
    })
  })

  describe('optional: true', () => {
    let app: Awaited<ReturnType<typeof startNest>>
    beforeAll(async () => {
      app = await appWith(platform, [PlainController], { broker: broker.url, optional: true })
    })
    afterAll(async () => app?.close())

    it('@Agent() refuses an anonymous request with 401 missing_token; { optional: true } gives undefined', async () => {
      const refused = await send(app.url, { path: '/me' })
      expect(refused.status).toBe(401)
      expect(refused.json).toMatchObject({ error_code: 'missing_token' })
      expect(refused.headers['www-authenticate']).toBe(REALM)
      const anonymous = await send(app.url, { path: '/optional-agent' })
      expect(anonymous.json).toEqual({ agent: null })
      const known = await send(app.url, { path: '/optional-agent', headers: bearer(reader) })
      expect(known.json).toEqual({ agent: readerId })
      // A token is still verified.
      expect((await send(app.url, { path: '/optional-agent', headers: bearer('a.b.c') })).status).toBe(401)
    })
  })

  describe('globalGuard: false', () => {
    @Controller('guarded')
    @UseGuards(AgentAuthGuard)
    class GuardedController {
      @Get()
      get(@Agent('id') id: string) {
        return { id }
      }
    }

    /** Another guard of the application's, run first, that puts an identity on the request. */
    class PlantingGuard implements CanActivate {
      static planted: AgentIdentity | undefined
      canActivate(context: ExecutionContext) {
        const request = context.switchToHttp().getRequest<{ agent?: AgentIdentity }>()
        if (PlantingGuard.planted !== undefined) request.agent = PlantingGuard.planted
        return true
      }
    }

    /** Two AgentAuthGuards on one route: the class's, and the one @RequireScope adds to the handler. */
    @Controller('twice')
    @UseGuards(PlantingGuard, AgentAuthGuard)
    class TwiceController {
      static last: AgentIdentity | undefined
      @Get(':id')
      @RequireScope('read:data:customer-:id')
      get(@Agent() agent: AgentIdentity) {
        TwiceController.last = agent
        return { id: agent.id }
      }
    }

    @Controller('unguarded')
    class UnguardedController {
      @Get()
      open() {
        return { open: true }
      }

      @Get('agent')
      agent(@Agent() agent: AgentIdentity) {
        return { id: agent.id }
      }

      // No @UseGuards: the requirement decorator guards the route itself.
      @Get('customers/:id')
      @RequireScope('read:data:customer-:id')
      customer(@Agent('id') id: string) {
        return { id }
      }
    }

    let app: Awaited<ReturnType<typeof startNest>>
    beforeAll(async () => {
      app = await appWith(platform, [GuardedController, TwiceController, UnguardedController], {
        broker: broker.url,
        globalGuard: false,
        cacheTtlMs: 0,
      })
    })
    afterAll(async () => app?.close())

    it('@UseGuards(AgentAuthGuard) guards a controller', async () => {
      expect((await send(app.url, { path: '/guarded' })).status).toBe(401)
      const ok = await send(app.url, { path: '/guarded', headers: bearer(reader) })
      expect(ok.json).toEqual({ id: readerId })
    })

    it('a route without guard is the application’s choice; @Agent() there refuses with 500', async () => {
      expect((await send(app.url, { path: '/unguarded' })).status).toBe(200)
      expect((await send(app.url, { path: '/unguarded/agent', headers: bearer(reader) })).status).toBe(500)
    })

    it('a second AgentAuthGuard on the route does not verify again; a planted identity is verified all the same', async () => {
      broker.resetStats()
      const ok = await send(app.url, { path: '/twice/7', headers: bearer(reader) })
      expect(ok.status).toBe(200)
      expect(broker.stats.validateCalls).toBe(1)
      expect((await send(app.url, { path: '/twice/8', headers: bearer(reader) })).status).toBe(403)
      // A genuine identity the guard attached to another request, put on this one by other code.
      PlantingGuard.planted = TwiceController.last
      expect(PlantingGuard.planted?.id).toBe(readerId)
      try {
        expect((await send(app.url, { path: '/twice/7' })).status).toBe(401)
      } finally {
        PlantingGuard.planted = undefined
      }
    })

    it('a route with @RequireScope is guarded without @UseGuards: never passes silently', async () => {
      expect((await send(app.url, { path: '/unguarded/customers/7' })).status).toBe(401)
      expect((await send(app.url, { path: '/unguarded/customers/8', headers: bearer(reader) })).status).toBe(
        403,
      )
      const ok = await send(app.url, { path: '/unguarded/customers/7', headers: bearer(reader) })
      expect(ok.status).toBe(200)
      expect(ok.json).toEqual({ id: readerId })
    })
  })

  it('forRootAsync: options from an injected provider; the module settings beside useFactory', async () => {
    const BROKER_URL = Symbol('BROKER_URL')
    @Module({ providers: [{ provide: BROKER_URL, useValue: broker.url }], exports: [BROKER_URL] })
    class ConfigModule {}
    @Module({
      imports: [
        AgentWritModule.forRootAsync({
          imports: [ConfigModule],
          inject: [BROKER_URL],
          useFactory: async (url: string) => ({ broker: url, realm: 'orders' }),
        }),
      ],
      controllers: [PlainController],
    })
    class AsyncModule {}
    const app = await startNest(AsyncModule, platform)
    try {
      const refused = await send(app.url, { path: '/me' })
      expect(refused.status).toBe(401)
      expect(refused.headers['www-authenticate']).toBe('Bearer realm="orders"')
      expect((await send(app.url, { path: '/me', headers: bearer(reader) })).status).toBe(200)
    } finally {
      await app.close()
    }
  })

  it('a placeholder that is not a route parameter fails the start, naming controller and handler', async () => {
    @Controller('customers')
    class CustomersController {
      @Get(':id')
      @RequireScope('read:data:customer-:cid')
      get() {
        return {}
      }
    }
    await expect(appWith(platform, [CustomersController])).rejects.toThrow(
      new TypeError(
        'agentwrit-verify: CustomersController.get (GET /customers/:id): scope placeholder ":cid" (in read:data:customer-:cid) is not a route parameter',
      ),
    )
  })

  it('a class-level placeholder must be a parameter of every route of the controller', async () => {
    @Controller('tenants')
    @RequireScope('read:analytics::tenant')
    class TenantsController {
      @Get(':tenant/analytics')
      analytics() {
        return {}
      }

      @Get('all')
      all() {
        return {}
      }
    }
    await expect(appWith(platform, [TenantsController])).rejects.toThrow(
      /TenantsController\.all \(GET \/tenants\/all\): scope placeholder ":tenant"/,
    )
  })

  it('a requirement on a @Public() route fails the start', async () => {
    @Controller()
    class MixedController {
      @Get('x')
      @Public()
      @RequireDelegatedFrom('spiffe://agentwrit.local/agent/a/b/c')
      x() {
        return {}
      }
    }
    await expect(appWith(platform, [MixedController])).rejects.toThrow(
      /MixedController\.x \(GET \/x\): @RequireScope\/@RequireAnyScope\/@RequireDelegatedFrom need authentication, not @Public\(\)/,
    )
  })

  it('without AgentWritModule, a guarded route fails the start', async () => {
    @Controller()
    class LonelyController {
      @Get('x')
      @RequireScope('read:data:x')
      x() {
        return {}
      }
    }
    @Module({ controllers: [LonelyController] })
    class LonelyModule {}
    await expect(startNest(LonelyModule, platform)).rejects.toThrow(/AgentAuthGuard needs AgentWritModule/)
  })

  it('a broker outage is a 503 with Retry-After, never a 401', async () => {
    const app = await appWith(platform, [PlainController], { broker: broker.url, timeoutMs: 300 })
    const token = (
      await broker.createAgent({ orchId: 'o', taskId: `outage-${platform}`, scope: ['read:data:customer-7'] })
    ).accessToken
    broker.fault({ kind: 'down' })
    try {
      const res = await send(app.url, { path: '/me', headers: bearer(token) })
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(res.headers['www-authenticate']).toBeUndefined()
      expect(res.headers['cache-control']).toBe('no-store')
      expect(res.json).toMatchObject({ error_code: 'broker_unavailable', status: 503 })
    } finally {
      broker.fault(null)
      await app.close()
    }
  })

  describe('exception filters', () => {
    /** The application's own filter for every HttpException, rendering its own body. */
    @Catch(HttpException)
    class MyHttpFilter implements ExceptionFilter {
      static seen: unknown[] = []
      constructor(private readonly adapterHost: HttpAdapterHost) {}
      catch(exception: HttpException, host: ArgumentsHost) {
        MyHttpFilter.seen.push(exception)
        const response = host.switchToHttp().getResponse()
        this.adapterHost.httpAdapter.reply(response, { mine: true }, exception.getStatus())
      }
    }
    Injectable()(MyHttpFilter)

    /** A filter of the application's that hands refusals to the module's filter. */
    @Catch(HttpException)
    @Injectable()
    class DelegatingFilter implements ExceptionFilter {
      static seen: unknown[] = []
      // Explicit tokens: biome turns imports used only as types into `import type`, which leaves
      // emitDecoratorMetadata nothing to name.
      constructor(
        @Inject(AgentAuthExceptionFilter) private readonly agentwrit: AgentAuthExceptionFilter,
        @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
      ) {}
      catch(exception: HttpException, host: ArgumentsHost) {
        DelegatingFilter.seen.push(exception)
        if (exception instanceof AgentAuthException) return this.agentwrit.catch(exception, host)
        this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), { other: true }, 418)
      }
    }

    afterEach(() => {
      MyHttpFilter.seen = []
      DelegatingFilter.seen = []
    })

    it('app.useGlobalFilters(): the application’s filter sees the refusal first, headers already set', async () => {
      const app = await appWith(platform, [PlainController], undefined, {
        configure: (a) => a.useGlobalFilters(new MyHttpFilter(a.get(HttpAdapterHost))),
      })
      try {
        const res = await send(app.url, { path: '/me' })
        expect(res.status).toBe(401)
        expect(res.json).toEqual({ mine: true })
        // The guard put the refusal's headers on the response before throwing.
        expect(res.headers['www-authenticate']).toBe(REALM)
        expect(res.headers['cache-control']).toBe('no-store')
        const [seen] = MyHttpFilter.seen as AgentAuthException[]
        expect(seen).toBeInstanceOf(AgentAuthException)
        expect(seen!.error).toBeInstanceOf(AgentAuthError)
        expect(seen!.error.code).toBe('missing_token')
        expect(seen!.getStatus()).toBe(401)
        expect(seen!.getResponse()).toMatchObject({ error_code: 'missing_token', instance: '/me' })
      } finally {
        await app.close()
      }
    })

    it('an APP_FILTER of the root module: Nest asks ours first, unless exceptionFilter: false', async () => {
      // Nest hands an exception to one filter, asking the global ones in reverse order of
      // registration: the root module's APP_FILTER is registered before the imported module's.
      const first = await appWith(platform, [PlainController], undefined, {
        providers: [{ provide: APP_FILTER, useClass: DelegatingFilter }],
      })
      try {
        const res = await send(first.url, { path: '/me' })
        expect(res.status).toBe(401)
        expect(res.json).toMatchObject({ error_code: 'missing_token' })
        expect(DelegatingFilter.seen).toEqual([])
      } finally {
        await first.close()
      }
      const app = await appWith(
        platform,
        [PlainController],
        { broker: broker.url, exceptionFilter: false },
        {
          providers: [{ provide: APP_FILTER, useClass: DelegatingFilter }],
        },
      )
      try {
        const res = await send(app.url, { path: '/me' })
        expect(DelegatingFilter.seen).toHaveLength(1)
        // … and the module's filter, injected, renders it in full.
        expect(res.status).toBe(401)
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
        expect(res.headers['www-authenticate']).toBe(REALM)
        expect(res.json).toMatchObject({ error_code: 'missing_token', instance: '/me' })
      } finally {
        await app.close()
      }
    })

    it('exceptionFilter: false and no filter of yours: Nest’s default answers the problem body', async () => {
      const app = await appWith(platform, [PlainController], { broker: broker.url, exceptionFilter: false })
      try {
        const res = await send(app.url, { path: '/me', headers: bearer('a.b.c') })
        expect(res.status).toBe(401)
        expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/)
        expect(res.headers['cache-control']).toBe('no-store')
        expect(res.headers['content-type']).toMatch(/^application\/json/)
        expect(res.json).toMatchObject({ error_code: 'invalid_token', status: 401, instance: '/me' })
      } finally {
        await app.close()
      }
    })

    it('a configuration_error is logged with its specific message', async () => {
      const logged = vi.spyOn(Logger.prototype, 'error')
      const app = await appWith(platform, [PlainController])
      try {
        expect((await send(app.url, { path: '/public-agent' })).status).toBe(500)
        const errors = logged.mock.calls.map(([first]) => first)
        expect(errors).toContainEqual(expect.objectContaining({ code: 'configuration_error' }))
        const err = errors.find((e) => e instanceof AgentAuthError) as AgentAuthError
        expect(err.message).toMatch(/^@Agent\(\): no verified identity on this request/)
      } finally {
        logged.mockRestore()
        await app.close()
      }
    })
  })
})

describe('nest adapter: module lifecycle and options', () => {
  it('app.close() closes the verifier the module created, not one it was given', async () => {
    // A pinned key: a closed verifier refuses every token (key_source_unavailable).
    @Module({
      imports: [AgentWritModule.forRoot({ publicKey: broker.publicJwk })],
      controllers: [PlainController],
    })
    class OwnModule {}
    const own = await startNest(OwnModule, 'express')
    const created = own.app.get<Verifier>(AGENTWRIT_VERIFIER)
    expect((await created.verifyToken(reader)).id).toBe(readerId)
    await own.close()
    await expect(created.verifyToken(reader)).rejects.toMatchObject({ code: 'key_source_unavailable' })

    const real = createVerifier({ publicKey: broker.publicJwk })
    const given: Verifier = { ...real, options: real.options, close: vi.fn(async () => {}) }
    @Module({ imports: [AgentWritModule.forRoot({ verifier: given })], controllers: [PlainController] })
    class GivenModule {}
    const app = await startNest(GivenModule, 'fastify')
    expect(app.app.get(AGENTWRIT_VERIFIER)).toBe(given)
    expect((await send(app.url, { path: '/me', headers: bearer(reader) })).status).toBe(200)
    await app.close()
    expect(given.close).not.toHaveBeenCalled()
    await real.close()
  })

  it('refuses options that do not apply', async () => {
    expect(() => AgentWritModule.forRoot({ broker: broker.url, globalGuard: 'no' as never })).toThrow(
      /option "globalGuard" must be a boolean/,
    )
    const withOnError = { broker: broker.url, onError: 'next' } as unknown as AgentWritModuleOptions
    await expect(
      Test.createTestingModule({ imports: [AgentWritModule.forRoot(withOnError)] }).compile(),
    ).rejects.toThrow(/option "onError" does not apply to AgentWritModule/)
    await expect(
      Test.createTestingModule({
        imports: [
          AgentWritModule.forRootAsync({
            useFactory: () => ({ broker: broker.url, globalGuard: false }) as never,
          }),
        ],
      }).compile(),
    ).rejects.toThrow(/give "globalGuard" and "exceptionFilter" to AgentWritModule.forRootAsync\(\) itself/)
    expect(() => RequireScope()).toThrow(/@RequireScope\(\) needs at least one scope/)
    expect(() => RequireScope('read:data')).toThrow(TypeError)
    expect(() => RequireDelegatedFrom()).toThrow(/needs at least one agent/)
    expect(() => Agent('id', { optional: false } as never)).toThrow(/options must be \{ optional: true \}/)
    expect(() => new AgentAuthGuard()).toThrow(/AgentAuthGuard needs AgentWritModule/)
  })
})

describe('nest adapter: execution contexts other than HTTP', () => {
  /** A fake ExecutionContext of another kind: nothing of it may be read as HTTP. */
  function contextOf(type: string): ExecutionContext {
    const fail = () => {
      throw new Error('not an HTTP context')
    }
    return {
      getType: () => type,
      switchToHttp: fail,
      switchToRpc: fail,
      switchToWs: fail,
      getClass: () => PlainController,
      getHandler: () => PlainController.prototype.me,
      getArgs: () => [],
      getArgByIndex: () => undefined,
    } as unknown as ExecutionContext
  }

  it.each([true, false])(
    'ws, rpc, graphql and unknown contexts fail closed (globalGuard: %s)',
    async (globalGuard) => {
      const moduleRef = await Test.createTestingModule({
        imports: [AgentWritModule.forRoot({ broker: broker.url, globalGuard })],
        providers: [AgentAuthGuard],
      }).compile()
      const guard = moduleRef.get(AgentAuthGuard)
      for (const type of ['ws', 'rpc', 'graphql', 'something-else']) {
        let outcome: unknown
        try {
          outcome = await guard.canActivate(contextOf(type))
        } catch (err) {
          outcome = err
        }
        expect(outcome, type).toBeInstanceOf(AgentAuthError)
        expect((outcome as AgentAuthError).code).toBe('configuration_error')
        expect((outcome as AgentAuthError).message).toContain(`not a "${type}" handler`)
      }
      await moduleRef.close()
    },
  )

  it('@Agent() outside an HTTP route fails closed too', () => {
    // The factory and data Nest recorded for `me(@Agent() agent, @Agent('id') id)`.
    const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, PlainController, 'me') as Record<
      string,
      { factory: (data: unknown, context: ExecutionContext) => unknown; data: unknown }
    >
    const params = Object.values(args)
    expect(params).toHaveLength(2)
    for (const { factory, data } of params) {
      for (const type of ['ws', 'rpc']) {
        expect(() => factory(data, contextOf(type))).toThrow(
          expect.objectContaining({ code: 'configuration_error', reason: 'unsupported_context' }),
        )
      }
    }
  })
})
