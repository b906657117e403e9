/**
 * `AgentWritModule`: a global module that creates (or takes) the verifier, registers
 * `AgentAuthGuard` and `AgentAuthExceptionFilter` globally, compiles every route's plan when the
 * application starts, and closes the verifier it created when the application shuts down.
 */
import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common'
import { MODULE_PATH, PATH_METADATA } from '@nestjs/common/constants.js'
import {
  APP_FILTER,
  APP_GUARD,
  DiscoveryModule,
  DiscoveryService,
  MetadataScanner,
  ModulesContainer,
} from '@nestjs/core'
import type { Verifier } from '../core/verifier.js'
import { AgentAuthExceptionFilter } from './exception-filter.js'
import { GlobalAgentAuthGuard } from './guard.js'
import { reflector } from './metadata.js'
import {
  type AgentWritModuleAsyncOptions,
  type AgentWritModuleOptions,
  type AgentWritModuleSettings,
  settingsOf,
} from './options.js'
import type { RouteRef } from './route-plan.js'
import { AgentWritRuntime } from './runtime.js'

/** Injection token of the module's verifier (`@Inject(AGENTWRIT_VERIFIER) verifier: Verifier`). */
export const AGENTWRIT_VERIFIER = Symbol('AGENTWRIT_VERIFIER')

/** What the module's runtime is made from. */
const OPTIONS = Symbol('agentwrit-verify.options')

/**
 * Import once, in the root module: `AgentWritModule.forRoot({ broker })`. Global: its
 * `AgentAuthGuard` (registered as `APP_GUARD` unless `globalGuard: false`) and
 * `AgentAuthExceptionFilter` (`APP_FILTER` unless `exceptionFilter: false`) serve every module, and
 * `AGENTWRIT_VERIFIER` injects its verifier. `app.init()` fails on a route whose requirements
 * cannot work (a placeholder that is not a parameter of its path, a requirement on a `@Public()`
 * route), naming the controller and handler; `app.close()` closes the verifier it created.
 */
export class AgentWritModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly runtime: AgentWritRuntime,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly modules: ModulesContainer,
  ) {}

  /**
   * Authenticate with `options`: the options object every adapter takes (`broker`, `jwksUri`,
   * `publicKey`, `mode`, … and `optional`) or a verifier (`createVerifier(options)`, or
   * `{ verifier }`), plus {@link AgentWritModuleSettings}.
   */
  static forRoot(options: AgentWritModuleOptions): DynamicModule {
    return moduleWith(settingsOf(options), [{ provide: OPTIONS, useValue: { options, fromFactory: false } }])
  }

  /**
   * The options from a factory (`useFactory`, with `inject` and `imports`, e.g. from
   * `ConfigService`); the module settings are given here, not by the factory.
   */
  static forRootAsync(async: AgentWritModuleAsyncOptions): DynamicModule {
    if (typeof async?.useFactory !== 'function') {
      throw new TypeError('agentwrit-verify: AgentWritModule.forRootAsync() needs useFactory')
    }
    const { imports = [], inject = [], useFactory } = async
    return moduleWith(
      settingsOf(async),
      [
        {
          provide: OPTIONS,
          useFactory: async (...args: unknown[]) => ({
            options: await useFactory(...args),
            fromFactory: true,
          }),
          inject,
        },
      ],
      imports,
    )
  }

  /** Compile every route's plan; a bad one fails the start (`app.init()` rejects). */
  onModuleInit(): void {
    this.runtime.compileRoutes(this.#routes())
  }

  /** Close the verifier the module created (`app.close()`). */
  async onApplicationShutdown(): Promise<void> {
    await this.runtime.close()
  }

  *#routes(): Iterable<RouteRef> {
    for (const wrapper of this.discovery.getControllers()) {
      const controller = wrapper.metatype
      if (typeof controller !== 'function' || controller.prototype === undefined) continue
      const moduleType = wrapper.host?.metatype
      const modulePath =
        typeof moduleType === 'function'
          ? (reflector.get<string | undefined>(MODULE_PATH + this.modules.applicationId, moduleType) ??
            reflector.get<string | undefined>(MODULE_PATH, moduleType))
          : undefined
      const prototype = controller.prototype as Record<string, unknown>
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name]
        if (typeof handler === 'function' && reflector.get(PATH_METADATA, handler) !== undefined) {
          yield { controller, handler, name, modulePath }
        }
      }
    }
  }
}

Global()(AgentWritModule)
Module({})(AgentWritModule)
Inject(AgentWritRuntime)(AgentWritModule, undefined, 0)
Inject(DiscoveryService)(AgentWritModule, undefined, 1)
Inject(MetadataScanner)(AgentWritModule, undefined, 2)
Inject(ModulesContainer)(AgentWritModule, undefined, 3)

function moduleWith(
  settings: Required<AgentWritModuleSettings>,
  options: Provider[],
  imports: NonNullable<AgentWritModuleAsyncOptions['imports']> = [],
): DynamicModule {
  const providers: Provider[] = [
    ...options,
    {
      provide: AgentWritRuntime,
      useFactory: (made: { options: AgentWritModuleOptions; fromFactory: boolean }) =>
        new AgentWritRuntime(made.options, settings.globalGuard, made.fromFactory),
      inject: [OPTIONS],
    },
    {
      provide: AGENTWRIT_VERIFIER,
      useFactory: (r: AgentWritRuntime): Verifier => r.verifier,
      inject: [AgentWritRuntime],
    },
    AgentAuthExceptionFilter,
  ]
  if (settings.globalGuard) {
    providers.push({
      provide: APP_GUARD,
      useFactory: (r: AgentWritRuntime) => new GlobalAgentAuthGuard(r),
      inject: [AgentWritRuntime],
    })
  }
  if (settings.exceptionFilter) providers.push({ provide: APP_FILTER, useExisting: AgentAuthExceptionFilter })
  return {
    module: AgentWritModule,
    global: true,
    imports: [DiscoveryModule, ...imports],
    providers,
    exports: [AgentWritRuntime, AGENTWRIT_VERIFIER, AgentAuthExceptionFilter],
  }
}
