/**
 * `AgentAuthGuard`: the guard `AgentWritModule` registers globally, for `@UseGuards()` where it
 * does not (`globalGuard: false`). Written without decorator syntax (the decorators are called
 * as functions), so the build needs no decorator support.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable, Optional } from '@nestjs/common'
import { AgentWritRuntime } from './runtime.js'

/**
 * Authenticates the route it guards, unless `@Public()`, and enforces its `@RequireScope`,
 * `@RequireAnyScope` and `@RequireDelegatedFrom` (the controller's and the handler's): `true`,
 * or an `AgentAuthException`. HTTP routes only (Express or Fastify platform); any other
 * execution context (`ws`, `rpc`, `graphql`) is refused with a 500 `configuration_error`.
 *
 * Where the module's global guard is registered it has already done this for every route, and
 * this guard lets the request through; so does a second `AgentAuthGuard` on a route.
 */
export class AgentAuthGuard implements CanActivate {
  readonly #runtime: AgentWritRuntime

  constructor(runtime?: AgentWritRuntime) {
    if (!(runtime instanceof AgentWritRuntime)) {
      throw new TypeError(
        'agentwrit-verify: AgentAuthGuard needs AgentWritModule.forRoot() or forRootAsync() in the application',
      )
    }
    this.#runtime = runtime
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    return this.#runtime.authorize(context, this instanceof GlobalAgentAuthGuard)
  }
}

/** The `AgentAuthGuard` that `AgentWritModule` registers as `APP_GUARD`: it runs before any other. */
export class GlobalAgentAuthGuard extends AgentAuthGuard {}

Injectable()(AgentAuthGuard)
Optional()(AgentAuthGuard, undefined, 0)
Inject(AgentWritRuntime)(AgentAuthGuard, undefined, 0)
