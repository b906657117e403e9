/**
 * Route guards, framework-free: "the token must hold all of these scopes" / "any of these",
 * where each scope is a template filled from route params or a function of the request.
 * Compiled once at route definition; a malformed template throws there.
 */
import { type GuardAccess, identityFor, reportGuardDecision } from './adapter-state.js'
import type { AgentIdentity } from './claims.js'
import { AgentAuthError } from './errors.js'
import { scopeCovers } from './scope.js'
import { compileScopeTemplate, type ScopeTemplate } from './scope-template.js'

/**
 * One required scope: a template such as `'read:data:customer-:id'` (placeholders filled from
 * route params), or a function computing concrete scope(s) from the request and the identity.
 */
export type ScopeRequirement<Req> =
  | string
  | ((request: Req, agent: AgentIdentity) => string | readonly string[])

/** `all`: every required scope must be held. `any`: at least one. */
export type GuardMode = 'all' | 'any'

/** A compiled guard. Adapters call {@link ScopeGuard.check} with their framework's params. */
export interface ScopeGuard<Req> {
  readonly mode: GuardMode
  /** Route params the templates need (adapters that know the route check them at startup). */
  readonly placeholders: readonly string[]
  /** Template sources, for error messages and introspection. */
  readonly templates: readonly string[]
  /**
   * Throw an `AgentAuthError` unless `agent` holds the required scopes:
   * `invalid_scope_parameter` (400) for a param that cannot be used in a scope,
   * `insufficient_scope` (403) naming the concrete scopes, `configuration_error` (500) when a
   * computed requirement returns nothing usable.
   */
  check(agent: AgentIdentity, params: Readonly<Record<string, unknown>>, request: Req): void
  /**
   * What adapters call. First who is asking: no identity on a request that an `optional: true`
   * middleware let through is `missing_token` (401); no identity at all (a route without
   * `agentAuth()`, or the identity replaced after it) is a `configuration_error` (500). Then the
   * route: a placeholder that is not a key of `params` is `invalid_scope_parameter` (400) when the
   * route's path declares it (an optional parameter that is absent, `/opt{/:id}`) and a
   * `configuration_error` naming the route otherwise (`route(request)`, the route's path pattern,
   * is only called then). Then {@link ScopeGuard.check}.
   */
  enforce(
    access: GuardAccess<unknown>,
    params: Readonly<Record<string, unknown>> | undefined,
    request: Req,
    route: (request: Req) => string,
  ): void
  /**
   * Fill the templates only: throws `invalid_scope_parameter` for a param that cannot be used in
   * a scope, so an adapter that knows the params before authentication refuses such a request
   * without asking the broker. Returns the filled scopes for {@link ScopeGuard.checkPrepared}.
   */
  prepare(params: Readonly<Record<string, unknown>>): readonly string[]
  /** {@link ScopeGuard.check} with the template scopes already filled by {@link ScopeGuard.prepare}. */
  checkPrepared(agent: AgentIdentity, filled: readonly string[], request: Req): void
}

/** Compile a guard. Throws a `TypeError` for an empty list, a bad entry or a malformed template. */
export function compileScopeGuard<Req>(
  mode: GuardMode,
  requirements: readonly ScopeRequirement<Req>[],
  caller = mode === 'all' ? 'requireScope' : 'requireAnyScope',
): ScopeGuard<Req> {
  if (requirements.length === 0) throw new TypeError(`agentwrit-verify: ${caller}() needs at least one scope`)
  const templates: ScopeTemplate[] = []
  const computed: ((request: Req, agent: AgentIdentity) => string | readonly string[])[] = []
  for (const r of requirements) {
    if (typeof r === 'string') templates.push(compileScopeTemplate(r))
    else if (typeof r === 'function') computed.push(r)
    else
      throw new TypeError(`agentwrit-verify: ${caller}() takes scope strings or functions (got ${typeof r})`)
  }
  const placeholders = [...new Set(templates.flatMap((t) => t.placeholders))]

  /** Fill every template (`invalid_scope_parameter` for a refused param). */
  function fillTemplates(params: Readonly<Record<string, unknown>>): string[] {
    return templates.map((t) => t.fill(params))
  }

  function withComputed(filled: readonly string[], agent: AgentIdentity, request: Req) {
    if (computed.length === 0) return filled
    const out = [...filled]
    for (const fn of computed) {
      let value: unknown
      try {
        value = fn(request, agent)
      } catch (err) {
        throw new AgentAuthError('configuration_error', {
          detail: `${caller}(): a computed scope threw`,
          reason: 'computed_scope_threw',
          cause: err,
        })
      }
      const list = typeof value === 'string' ? [value] : value
      if (
        !Array.isArray(list) ||
        list.length === 0 ||
        !list.every((s) => typeof s === 'string' && s !== '')
      ) {
        throw new AgentAuthError('configuration_error', {
          detail: `${caller}(): a computed scope returned no scope strings`,
        })
      }
      out.push(...list)
    }
    return out
  }

  const guardName = mode === 'all' ? 'requireScope' : 'requireAnyScope'

  function checkPrepared(agent: AgentIdentity, filled: readonly string[], request: Req) {
    const needed = withComputed(filled, agent, request)
    if (!(mode === 'all' ? holdsAll(agent.scope, needed) : holdsAny(agent.scope, needed))) {
      const refusal = new AgentAuthError('insufficient_scope', {
        detail: `token lacks required scope: ${needed.join(mode === 'all' ? ' ' : ' or ')}`,
        requiredScope: needed,
      })
      reportGuardDecision(agent, guardName, refusal, needed)
      throw refusal
    }
    reportGuardDecision(agent, guardName, undefined, needed)
  }

  function check(agent: AgentIdentity, params: Readonly<Record<string, unknown>>, request: Req) {
    checkPrepared(agent, fillTemplates(params), request)
  }

  return Object.freeze({
    mode,
    placeholders,
    templates: templates.map((t) => t.source),
    check,
    enforce(access, params, request, route) {
      const agent = identityFor(access, `${caller}()`)
      const p = params ?? {}
      for (const name of placeholders) {
        if (Object.hasOwn(p, name)) continue
        const path = route(request)
        if (routeDeclares(path, name)) {
          throw new AgentAuthError('invalid_scope_parameter', {
            detail: `route parameter "${name}" is required by the scope but absent`,
            reason: 'param_absent',
          })
        }
        throw new AgentAuthError('configuration_error', {
          detail: `${caller}(): scope placeholder ":${name}" is not a parameter of route ${path}`,
        })
      }
      check(agent, p, request)
    },
    prepare: fillTemplates,
    checkPrepared,
  } satisfies ScopeGuard<Req>)
}

/** Some held scope covers `needed` (plain loops: this runs on every guarded request). */
function covered(held: readonly string[], needed: string): boolean {
  for (let i = 0; i < held.length; i++) if (scopeCovers(needed, held[i]!)) return true
  return false
}

function holdsAll(held: readonly string[], needed: readonly string[]): boolean {
  for (let i = 0; i < needed.length; i++) if (!covered(held, needed[i]!)) return false
  return true
}

function holdsAny(held: readonly string[], needed: readonly string[]): boolean {
  for (let i = 0; i < needed.length; i++) if (covered(held, needed[i]!)) return true
  return false
}

/** Whether a route path declares the parameter `name` (`/a/:name`, `/a{/:name}`, `/a/:name?`). */
function routeDeclares(path: string, name: string): boolean {
  let at = path.indexOf(`:${name}`)
  while (at >= 0) {
    const next = path.charCodeAt(at + name.length + 1)
    if (
      !(next >= 48 && next <= 57) &&
      !(next >= 65 && next <= 90) &&
      !(next >= 97 && next <= 122) &&
      next !== 95
    ) {
      return true
    }
    at = path.indexOf(`:${name}`, at + 1)
  }
  return false
}
