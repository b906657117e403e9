/**
 * The NestJS apps of the cross-adapter suites (see kit.ts), on both HTTP platforms: two kits,
 * `nest-express` (`@nestjs/platform-express`) and `nest-fastify` (`@nestjs/platform-fastify`),
 * built with `@nestjs/testing` and listening on 127.0.0.1.
 */
import {
  type ArgumentsHost,
  type CallHandler,
  Catch,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  HttpCode,
  type INestApplication,
  Module,
  type NestInterceptor,
  Param,
  Post,
  Put,
  Req,
  UseInterceptors,
} from '@nestjs/common'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { Test } from '@nestjs/testing'
import type { AgentIdentity, Verifier } from '../../src/index.js'
import {
  Agent,
  AgentAuthException,
  AgentWritModule,
  Public,
  RequireAnyScope,
  RequireDelegatedFrom,
  RequireScope,
} from '../../src/nest.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { AdapterKit, MisuseApp, RunningServer, Setup } from './kit.js'
import { computedScope, FAKE, guardForm, ORCHESTRATORS, summary } from './kit.js'

export type Platform = 'express' | 'fastify'

/** The identity fields a request reads (the handlers' `@Req()`). */
interface WithAgent {
  agent?: AgentIdentity | null
}

/**
 * Compile `module` with `@nestjs/testing`, start it on `platform` on 127.0.0.1 (an ephemeral
 * port), `configure` it first (global filters, …). Closing the app closes what the module owns.
 */
export async function startNest(
  module: Function,
  platform: Platform,
  configure?: (app: INestApplication) => void,
): Promise<{ app: INestApplication; url: string; close(): Promise<void> }> {
  const compiled = await Test.createTestingModule({ imports: [module as never] }).compile()
  const app =
    platform === 'fastify'
      ? compiled.createNestApplication(new FastifyAdapter(), { logger: false })
      : compiled.createNestApplication({ logger: false })
  configure?.(app)
  try {
    await app.listen(0, '127.0.0.1')
  } catch (err) {
    await app.close()
    throw err
  }
  return { app, url: await app.getUrl(), close: () => app.close() }
}

// ---------------------------------------------------------------------------------------------------
// The protected service
// ---------------------------------------------------------------------------------------------------

@Controller()
class PublicController {
  @Public()
  @Get('public')
  get() {
    return { public: true }
  }

  @Get('me')
  me(@Agent() agent: AgentIdentity) {
    return summary(agent)
  }

  @Get('either')
  @RequireAnyScope('read:data:customer-1', 'write:data:order-1')
  either(@Agent() agent: AgentIdentity) {
    return summary(agent)
  }

  @Get('computed/:id')
  @RequireScope((request) => computedScope(request.params.id))
  computed(@Agent() agent: AgentIdentity) {
    return summary(agent)
  }
}

@Controller('customers')
class CustomersController {
  @Get(':id')
  @RequireScope('read:data:customer-:id')
  get(@Param('id') id: string, @Agent() agent: AgentIdentity) {
    return summary(agent, { customer: id })
  }
}

@Controller('orders')
class OrdersController {
  @Put(':id')
  @RequireScope('write:data:order-:id')
  put(@Param('id') id: string, @Agent() agent: AgentIdentity) {
    return summary(agent, { order: id })
  }
}

/** A class-level requirement: every handler of the controller needs the tenant's scope. */
@Controller('tenants/:tenant')
@RequireScope('read:analytics::tenant')
class TenantsController {
  @Get('analytics')
  analytics(@Param('tenant') tenant: string, @Agent() agent: AgentIdentity) {
    return summary(agent, { tenant })
  }
}

@Controller('deploy')
class DeployController {
  @Post(':service')
  @HttpCode(200)
  @RequireDelegatedFrom(ORCHESTRATORS)
  @RequireScope('write:deploy::service')
  deploy(@Param('service') service: string, @Agent() agent: AgentIdentity) {
    return summary(agent, { service, root: agent.rootAgent })
  }
}

/**
 * `/opt{/:id}`: an optional parameter, in each platform's syntax (Express 5's path-to-regexp
 * braces, Fastify's trailing `?`).
 */
function optionalController(platform: Platform) {
  @Controller()
  class OptionalController {
    @Get(platform === 'express' ? 'opt{/:id}' : 'opt/:id?')
    @RequireScope('read:data:customer-:id')
    get(@Param('id') id: string | undefined, @Agent() agent: AgentIdentity) {
      return summary(agent, { customer: id })
    }
  }
  return OptionalController
}

// No /misconfigured/:id: a placeholder that is not a route parameter fails the application's start,
// naming the controller and handler (test/adapters/nest.test.ts).
async function service(platform: Platform, verifier: Verifier): Promise<RunningServer> {
  @Module({
    imports: [AgentWritModule.forRoot(verifier)],
    controllers: [
      PublicController,
      CustomersController,
      OrdersController,
      TenantsController,
      DeployController,
      optionalController(platform),
    ],
  })
  class ServiceModule {}
  const { url, close } = await startNest(ServiceModule, platform)
  return { url, close }
}

// ---------------------------------------------------------------------------------------------------
// The misuse wiring (test/e2e/misuse.test.ts)
// ---------------------------------------------------------------------------------------------------

/** Nest runs interceptors after guards: this one replaces the identity the guard attached. */
class TamperInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    context.switchToHttp().getRequest<WithAgent>().agent = FAKE
    return next.handle()
  }
}

/** Nest's form of a refusal renderer that throws: an exception filter for refusals that throws. */
function throwingFilter(value: unknown): ExceptionFilter {
  @Catch(AgentAuthException)
  class ThrowingFilter implements ExceptionFilter {
    catch(_exception: unknown, _host: ArgumentsHost) {
      throw value
    }
  }
  return new ThrowingFilter()
}

const noDecorator: MethodDecorator = () => {}

async function misuse(
  platform: Platform,
  setup: Setup,
  _broker: DevBroker,
  real: Verifier,
): Promise<MisuseApp> {
  let reached = 0
  const guard = guardForm<MethodDecorator>(setup.guard, noDecorator, {
    template: (t) => RequireScope(t),
    computed: (scopeOf) => RequireScope((request) => scopeOf(String(request.params.id)) as string),
    delegatedFrom: (root) => RequireDelegatedFrom(root),
  })
  const tamper: ClassDecorator = setup.tamper ? UseInterceptors(TamperInterceptor) : () => {}

  @Controller()
  @tamper
  class ThingsController {
    @Get('things/:id')
    @guard
    things(@Req() request: WithAgent) {
      reached++
      return { agent: request.agent?.id ?? null }
    }

    @Get('open')
    open(@Req() request: WithAgent) {
      reached++
      return { agent: request.agent?.id ?? null }
    }
  }
  @Module({ controllers: [ThingsController] })
  class ThingsModule {}

  // No onError in Nest (refusals are exceptions): `onErrorThrows` is a throwing exception filter.
  const auth = AgentWritModule.forRoot({ verifier: setup.verifier?.(real) ?? real, optional: setup.optional })
  // Nest's dependency injection has no declaration order: 'route-first' imports the routes' module
  // before AgentWritModule, and gets the same answers.
  const imports = setup.order === 'route-first' ? [ThingsModule, auth] : [auth, ThingsModule]
  @Module({ imports })
  class MisuseModule {}
  const onErrorThrows = setup.onErrorThrows
  const started = await startNest(MisuseModule, platform, (app) => {
    if (onErrorThrows) app.useGlobalFilters(throwingFilter(onErrorThrows.value))
  })
  return { url: started.url, close: started.close, reached: () => reached }
}

function kit(platform: Platform): AdapterKit {
  return {
    service: (verifier) => service(platform, verifier),
    misuse: (setup, broker, real) => misuse(platform, setup, broker, real),
  }
}

export const nestExpress = kit('express')
export const nestFastify = kit('fastify')
