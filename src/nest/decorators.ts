/**
 * The route decorators: `@Public()`, `@RequireScope()`, `@RequireAnyScope()` and
 * `@RequireDelegatedFrom()`, on a handler or on a controller class.
 *
 * How class and handler metadata combine:
 * - requirements add up: the controller's and the handler's all apply (a class-level requirement
 *   is a floor every handler of the controller must meet), checked in the order written, the
 *   controller's first;
 * - `@Public()` is read with `Reflector.getAllAndOverride`: the handler's wins over the class's
 *   (`@Public(false)` on a handler of a `@Public()` controller authenticates that handler).
 *
 * Templates and delegation matchers are compiled when the decorator runs (a malformed template
 * throws at class definition); placeholders are checked against the route's path at bootstrap.
 * A requirement decorator also puts `AgentAuthGuard` first among the guards of its class or
 * handler, so a route with a requirement is guarded even where the module registers no global
 * guard (`globalGuard: false`) and no `@UseGuards(AgentAuthGuard)` was written.
 */
import { SetMetadata } from '@nestjs/common'
import { GUARDS_METADATA } from '@nestjs/common/constants.js'
import { compileDelegationGuard, type DelegationRootMatcher } from '../core/delegation.js'
import { compileScopeGuard, type GuardMode, type ScopeRequirement } from '../core/guard.js'
import { AgentAuthGuard } from './guard.js'
import type { AgentWritRequest } from './http-request.js'
import { PUBLIC_KEY, REQUIREMENTS_KEY, type Requirement, reflector, requirementsOf } from './metadata.js'

/** A decorator for a controller class or one of its handlers. */
export type ClassOrMethodDecorator = ClassDecorator & MethodDecorator

/**
 * A scope requirement in a decorator: a template (`'read:data:customer-:id'`, placeholders filled
 * from the route parameters) or a function of the request and the identity returning the scope(s).
 */
export type NestScopeRequirement<Req extends object = AgentWritRequest> = ScopeRequirement<Req>

/**
 * The route needs no token: nothing is read or verified (`@Agent()` then refuses with 500; read
 * `@Req()` yourself). On a controller, every handler; `@Public(false)` on a handler undoes it.
 */
export function Public(isPublic = true): ClassOrMethodDecorator {
  if (typeof isPublic !== 'boolean') throw new TypeError('agentwrit-verify: @Public() takes a boolean')
  return SetMetadata(PUBLIC_KEY, isPublic)
}

/**
 * Require every listed scope (403 `insufficient_scope` naming them otherwise). Templates are
 * filled from the route parameters (400 `invalid_scope_parameter` for one that cannot be used in
 * a scope); functions compute scopes from the request and the identity.
 */
export function RequireScope<Req extends object = AgentWritRequest>(
  ...requirements: NestScopeRequirement<Req>[]
): ClassOrMethodDecorator {
  return scopeRequirement('all', requirements, '@RequireScope')
}

/** Require at least one of the listed scopes (same forms as {@link RequireScope}). */
export function RequireAnyScope<Req extends object = AgentWritRequest>(
  ...requirements: NestScopeRequirement<Req>[]
): ClassOrMethodDecorator {
  return scopeRequirement('any', requirements, '@RequireAnyScope')
}

function scopeRequirement(
  mode: GuardMode,
  requirements: readonly NestScopeRequirement<never>[],
  caller: string,
): ClassOrMethodDecorator {
  const guard = compileScopeGuard(mode, requirements as readonly ScopeRequirement<object>[], caller)
  return requirement({ kind: 'scope', guard })
}

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id); anything else is 403 `delegation_not_allowed`.
 */
export function RequireDelegatedFrom(...roots: DelegationRootMatcher[]): ClassOrMethodDecorator {
  return requirement({ kind: 'delegation', guard: compileDelegationGuard(roots) })
}

function requirement(compiled: Requirement): ClassOrMethodDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const where = (descriptor === undefined ? target : descriptor.value) as Function
    // Decorators run bottom-up: putting each first keeps the order in which they are written.
    SetMetadata(REQUIREMENTS_KEY, [compiled, ...requirementsOf(where)])(where)
    const guards = reflector.get<unknown[] | undefined>(GUARDS_METADATA, where) ?? []
    SetMetadata(GUARDS_METADATA, [AgentAuthGuard, ...guards.filter((g) => g !== AgentAuthGuard)])(where)
  }) as ClassOrMethodDecorator
}
