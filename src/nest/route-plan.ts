/**
 * What `AgentAuthGuard` does on one route, compiled once from its metadata: public, or
 * authenticated with the requirements of its controller and of its handler (all of them must
 * pass). At bootstrap a placeholder that is not a parameter of the route's path, or a requirement
 * on a `@Public()` route, is a `TypeError` naming the controller and the handler.
 */
import { RequestMethod } from '@nestjs/common'
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js'
import type { AdapterState } from '../core/adapter-state.js'
import { identityFor } from '../core/adapter-state.js'
import type { AgentIdentity } from '../core/claims.js'
import type { ScopeGuard } from '../core/guard.js'
import { isPublic, type Requirement, reflector, requirementsOf } from './metadata.js'

/** A route of the application: a handler of a controller, and the path of its module. */
export interface RouteRef {
  readonly controller: Function
  readonly handler: Function
  /** The handler's method name. */
  readonly name: string
  /** The path `RouterModule` gives the controller's module, if any. */
  readonly modulePath?: string | undefined
}

/** One route's plan. */
export class RoutePlan {
  constructor(
    /** `@Public()`: no token is read or verified. */
    readonly isPublic: boolean,
    /** The controller's requirements, then the handler's, in the order they are written. */
    readonly requirements: readonly Requirement[],
  ) {
    this.#scopes = requirements.flatMap((r) => (r.kind === 'scope' ? [r.guard] : []))
  }

  readonly #scopes: readonly ScopeGuard<object>[]

  /**
   * Fill the scope templates from the route parameters, before authentication (no broker call
   * for a request refused for its parameters): throws `invalid_scope_parameter` (400) for a
   * parameter that cannot be used in a scope or, on an optional parameter, is absent.
   */
  prepare(params: Readonly<Record<string, unknown>>): readonly (readonly string[])[] {
    const scopes = this.#scopes
    if (scopes.length === 0) return NONE
    const filled: (readonly string[])[] = new Array(scopes.length)
    for (let i = 0; i < scopes.length; i++) filled[i] = scopes[i]!.prepare(params)
    return filled
  }

  /**
   * Check the requirements on what authentication gave: `undefined` (an anonymous request of an
   * `optional: true` module) meets them as 401 `missing_token`; then 403s for what the token lacks.
   */
  check(
    agent: AgentIdentity | undefined,
    filled: readonly (readonly string[])[],
    request: object,
    state: AdapterState<unknown>,
  ): void {
    const requirements = this.requirements
    if (requirements.length === 0) return
    const checked = agent ?? identityFor({ agent: undefined, state }, 'AgentAuthGuard')
    let scope = 0
    for (let i = 0; i < requirements.length; i++) {
      const r = requirements[i]!
      if (r.kind === 'delegation') r.guard.check(checked)
      else r.guard.checkPrepared(checked, filled[scope++]!, request)
    }
  }
}

const NONE: readonly (readonly string[])[] = Object.freeze([])
const PUBLIC = new RoutePlan(true, [])
const AUTHENTICATED = new RoutePlan(false, [])

/**
 * Compile a route's plan.
 * @throws TypeError naming the controller and handler for a requirement on a `@Public()` route, or
 * a scope placeholder that is not a parameter of every path of the route.
 */
export function compileRoutePlan(route: RouteRef): RoutePlan {
  const requirements = [...requirementsOf(route.controller), ...requirementsOf(route.handler)]
  if (isPublic(route.controller, route.handler)) {
    if (requirements.length > 0) {
      throw new TypeError(
        `agentwrit-verify: ${describe(route)}: @RequireScope/@RequireAnyScope/@RequireDelegatedFrom need authentication, not @Public()`,
      )
    }
    return PUBLIC
  }
  if (requirements.length === 0) return AUTHENTICATED
  const paths = routePaths(route)
  for (const r of requirements) {
    if (r.kind !== 'scope') continue
    for (const path of paths) {
      const params = paramNames(path)
      for (const p of r.guard.placeholders) {
        if (!params.has(p)) {
          throw new TypeError(
            `agentwrit-verify: ${describe(route, path)}: scope placeholder ":${p}" (in ${r.guard.templates.join(', ')}) is not a route parameter`,
          )
        }
      }
    }
  }
  return new RoutePlan(false, requirements)
}

/** `CustomersController.get (GET /customers/:id)`. */
function describe(route: RouteRef, path = routePaths(route)[0]): string {
  const method = RequestMethod[reflector.get<RequestMethod>(METHOD_METADATA, route.handler)] ?? 'ALL'
  return `${route.controller.name}.${route.name} (${method} ${path})`
}

function asPaths(value: unknown): string[] {
  if (Array.isArray(value)) return value.length === 0 ? [''] : value.map(String)
  return [value === undefined ? '' : String(value)]
}

/** Every path the route answers: module path × controller paths × handler paths. */
function routePaths(route: RouteRef): string[] {
  const paths: string[] = []
  for (const controller of asPaths(reflector.get(PATH_METADATA, route.controller))) {
    for (const handler of asPaths(reflector.get(PATH_METADATA, route.handler))) {
      const joined = `/${route.modulePath ?? ''}/${controller}/${handler}`.replace(/\/{2,}/g, '/')
      paths.push(joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined)
    }
  }
  return paths
}

/** Parameter names of a route path (`:id`, `{/:id}`, `:id?`, Express's named wildcard `*rest`). */
function paramNames(path: string): Set<string> {
  return new Set([...path.matchAll(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))
}
