/**
 * One `AgentWritModule`'s state, shared by its guards, `@Agent()` and its shutdown: the verifier and
 * adapter state (`setupAdapter`, as every adapter), the route plans compiled at bootstrap, and the
 * authorization of one request.
 */
import type { ExecutionContext } from '@nestjs/common'
import { type AdapterSetup, setupAdapter } from '../core/adapter-setup.js'
import { authenticateWith } from '../core/adapter-state.js'
import type { AgentIdentity } from '../core/claims.js'
import { AgentAuthError } from '../core/errors.js'
import type { Verifier } from '../core/verifier.js'
import { refusalException } from './exception.js'
import { authRequestOf, paramsOf, storeAgent } from './http-request.js'
import { type AgentWritModuleOptions, adapterInputOf } from './options.js'
import { compileRoutePlan, type RoutePlan, type RouteRef } from './route-plan.js'

/**
 * Refusals are thrown as exceptions, never rendered by the adapter: no renderer, and `onError`
 * is refused before `setupAdapter` sees it.
 */
const NEST_REFUSALS = { adapter: 'nest', escalateKeyword: 'throw', render: undefined } as const

/** The error for a guard or `@Agent()` outside an HTTP route. */
export function unsupportedContext(caller: string, type: string): AgentAuthError {
  const graphql = type === 'graphql' ? ' (GraphQL resolvers are not supported)' : ''
  return new AgentAuthError('configuration_error', {
    detail: `agentwrit-verify: ${caller} authenticates HTTP routes only, not a "${type}" handler${graphql}`,
    reason: 'unsupported_context',
  })
}

export class AgentWritRuntime {
  readonly #setup: AdapterSetup<undefined>
  /** Route plans compiled at bootstrap: controller → handler → plan. */
  readonly #plans = new Map<Function, Map<Function, RoutePlan>>()
  /**
   * Requests an `AgentAuthGuard` authorized where the module has no global guard, so that a second
   * one on the same route (`@UseGuards` on the class, the one a requirement decorator adds to the
   * handler) does not authenticate again. Only a guard marks a request: an identity put on it by
   * other code never spares it the check.
   */
  readonly #authorized = new WeakSet<object>()

  /**
   * @param options - `forRoot()`'s options or what `forRootAsync()`'s factory returned
   * @param hasGlobalGuard - the module registers a global `AgentAuthGuard` (`APP_GUARD`)
   * @param fromFactory - `options` came from `forRootAsync()`'s `useFactory`
   */
  constructor(
    options: AgentWritModuleOptions,
    readonly hasGlobalGuard: boolean,
    fromFactory: boolean,
  ) {
    this.#setup = setupAdapter<undefined>(adapterInputOf(options, fromFactory), NEST_REFUSALS)
  }

  /** The verifier behind the module. */
  get verifier(): Verifier {
    return this.#setup.verifier
  }

  /** Close the verifier if the module created it (one passed in is the caller's to close). */
  async close(): Promise<void> {
    if (this.#setup.owned) await this.#setup.verifier.close()
  }

  /** Compile the plan of every route (bootstrap). Throws the first route's `TypeError`. */
  compileRoutes(routes: Iterable<RouteRef>): void {
    for (const route of routes) this.#keep(route, compileRoutePlan(route))
  }

  #keep(route: RouteRef, plan: RoutePlan): RoutePlan {
    let byHandler = this.#plans.get(route.controller)
    if (byHandler === undefined) {
      byHandler = new Map()
      this.#plans.set(route.controller, byHandler)
    }
    byHandler.set(route.handler, plan)
    return plan
  }

  /**
   * The plan of a route: compiled at bootstrap or, for a route bootstrap did not see (the guard
   * called before `app.init()`), on its first request, where a bad plan is a 500
   * `configuration_error`: such a route never answers unauthenticated.
   */
  #planOf(controller: Function, handler: Function): RoutePlan {
    const planned = this.#plans.get(controller)?.get(handler)
    if (planned !== undefined) return planned
    const route = { controller, handler, name: handler.name }
    try {
      return this.#keep(route, compileRoutePlan(route))
    } catch (err) {
      throw new AgentAuthError('configuration_error', {
        detail: (err as Error).message,
        reason: 'route_config',
      })
    }
  }

  /**
   * Authorize one request (`canActivate`): `true` once the route is public, or the request
   * authenticated and its route's requirements met; otherwise throws the `AgentAuthException`.
   * Synchronous when the verifier's answer is cached.
   * @param first - the module's global guard, which runs before any other guard. Another
   *   `AgentAuthGuard` (`@UseGuards`, or the one a requirement decorator adds) leaves the
   *   request to it where it is registered, or else to the first of them on the route.
   */
  authorize(context: ExecutionContext, first: boolean): boolean | Promise<boolean> {
    const type = context.getType()
    if (type !== 'http') throw unsupportedContext('AgentAuthGuard', type)
    if (!first && this.hasGlobalGuard) return true
    const http = context.switchToHttp()
    const request = http.getRequest<object>()
    if (!first && this.#authorized.has(request)) return true
    const state = this.#setup.state
    let plan: RoutePlan
    let filled: readonly (readonly string[])[]
    let result: AgentIdentity | undefined | Promise<AgentIdentity | undefined>
    try {
      plan = this.#planOf(context.getClass(), context.getHandler())
      if (plan.isPublic) return this.#passed(request, first)
      filled = plan.prepare(paramsOf(request))
      result = authenticateWith(state, authRequestOf(request), request)
      if (!(result instanceof Promise)) {
        plan.check(result, filled, request, state)
        if (result !== undefined) storeAgent(request, result)
        return this.#passed(request, first)
      }
    } catch (err) {
      throw refusalException(err, state.realm, http)
    }
    const routePlan = plan
    return result.then(
      (agent) => {
        try {
          routePlan.check(agent, filled, request, state)
        } catch (err) {
          throw refusalException(err, state.realm, http)
        }
        if (agent !== undefined) storeAgent(request, agent)
        return this.#passed(request, first)
      },
      (err: unknown) => {
        throw refusalException(err, state.realm, http)
      },
    )
  }

  #passed(request: object, first: boolean): true {
    if (!first) this.#authorized.add(request)
    return true
  }
}
