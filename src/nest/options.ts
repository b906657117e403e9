/**
 * The options of `AgentWritModule.forRoot()` / `forRootAsync()`: the options object every adapter
 * takes (or a verifier), plus the module's own settings.
 */
import type { InjectionToken, ModuleMetadata, OptionalFactoryDependency } from '@nestjs/common'
import type { AdapterInput, AdapterOptions } from '../core/adapter-setup.js'
import type { AgentAuthOptions } from '../core/options.js'
import { isVerifier, type Verifier } from '../core/verifier.js'

/** The module's own settings, on top of the verifier options. */
export interface AgentWritModuleSettings {
  /**
   * `false`: the module does not register `AgentAuthGuard` as a global guard (`APP_GUARD`); guard
   * controllers or handlers with `@UseGuards(AgentAuthGuard)`. Routes with `@RequireScope`,
   * `@RequireAnyScope` or `@RequireDelegatedFrom` are guarded either way. Default `true`: every
   * route is authenticated unless `@Public()`.
   */
  globalGuard?: boolean
  /**
   * `false`: the module does not register `AgentAuthExceptionFilter` as a global filter
   * (`APP_FILTER`), so that an `APP_FILTER` of the application's root module sees refusals
   * (Nest asks that one after ours). The filter stays injectable, to render refusals from yours.
   * Default `true`.
   */
  exceptionFilter?: boolean
}

/** What authenticates: the options every adapter takes (`optional` included), or a verifier. */
export type AgentWritAuthOptions = (AgentAuthOptions & AdapterOptions & { verifier?: Verifier }) | Verifier

/**
 * `AgentWritModule.forRoot()`'s argument: verifier options (or `{ verifier }`) plus `optional`
 * and the module settings, or a verifier made with `createVerifier()`.
 */
export type AgentWritModuleOptions =
  | (AgentAuthOptions & AdapterOptions & AgentWritModuleSettings & { verifier?: Verifier })
  | Verifier

/** `AgentWritModule.forRootAsync()`'s argument. */
export interface AgentWritModuleAsyncOptions extends AgentWritModuleSettings {
  /** Modules whose providers `useFactory` injects (e.g. `ConfigModule`). */
  imports?: ModuleMetadata['imports']
  /** Providers passed to `useFactory`, in order. */
  inject?: (InjectionToken | OptionalFactoryDependency)[]
  /** The options (or a verifier); the module settings go into `forRootAsync()` itself. */
  // biome-ignore lint/suspicious/noExplicitAny: Nest's factories take whatever `inject` lists
  useFactory: (...args: any[]) => AgentWritAuthOptions | Promise<AgentWritAuthOptions>
}

const SETTINGS = ['globalGuard', 'exceptionFilter'] as const

/** The module settings of `options`, checked. */
export function settingsOf(
  options: AgentWritModuleSettings | Verifier | undefined,
): Required<AgentWritModuleSettings> {
  const given = (isVerifier(options) ? {} : (options ?? {})) as Record<string, unknown>
  const out = { globalGuard: true, exceptionFilter: true }
  for (const key of SETTINGS) {
    const value = given[key]
    if (value === undefined) continue
    if (typeof value !== 'boolean') {
      throw new TypeError(`agentwrit-verify: option "${key}" must be a boolean (got ${String(value)})`)
    }
    out[key] = value
  }
  return out
}

/**
 * The adapter input of `options` (module settings removed). `onError` has no meaning here:
 * refusals are exceptions, answered by exception filters.
 * @param fromFactory - `options` came from `forRootAsync()`'s `useFactory`, where the module
 *   settings cannot be read any more (the module's providers are already fixed).
 */
export function adapterInputOf(options: AgentWritModuleOptions, fromFactory = false): AdapterInput {
  if (isVerifier(options)) return options
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('agentwrit-verify: AgentWritModule needs verifier options or a verifier')
  }
  const { globalGuard, exceptionFilter, ...rest } = options as AgentWritModuleSettings &
    Record<string, unknown>
  if ('onError' in rest) {
    throw new TypeError(
      'agentwrit-verify: option "onError" does not apply to AgentWritModule: refusals are AgentAuthExceptions, answered by exception filters',
    )
  }
  if (fromFactory && (globalGuard !== undefined || exceptionFilter !== undefined)) {
    throw new TypeError(
      'agentwrit-verify: give "globalGuard" and "exceptionFilter" to AgentWritModule.forRootAsync() itself, not in what useFactory returns',
    )
  }
  return rest as AdapterInput
}
