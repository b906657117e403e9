/**
 * What the decorators record on a controller class or a handler, and how it is read back: the
 * requirements (`@RequireScope`, `@RequireAnyScope`, `@RequireDelegatedFrom`, compiled when the
 * decorator runs) and `@Public()`.
 */
import { Reflector } from '@nestjs/core'
import type { DelegationGuard } from '../core/delegation.js'
import type { ScopeGuard } from '../core/guard.js'

/** Metadata key of `@Public()`. */
export const PUBLIC_KEY = 'agentwrit-verify:public'
/** Metadata key of the requirements of a class or handler, in the order they are written. */
export const REQUIREMENTS_KEY = 'agentwrit-verify:requirements'

/** One requirement decorator, compiled. */
export type Requirement =
  | { readonly kind: 'scope'; readonly guard: ScopeGuard<object> }
  | { readonly kind: 'delegation'; readonly guard: DelegationGuard }

/** Reads metadata; needs nothing injected. */
export const reflector = new Reflector()

/** The requirements recorded on a class or a handler (a class's include those it inherits). */
export function requirementsOf(target: Function): readonly Requirement[] {
  return (reflector.get<readonly Requirement[] | undefined>(REQUIREMENTS_KEY, target) ?? []) as Requirement[]
}

/** `@Public()` of a route: the handler's, else its class's (`@Public(false)` on a handler wins). */
export function isPublic(controller: Function, handler: Function): boolean {
  return reflector.getAllAndOverride<boolean | undefined>(PUBLIC_KEY, [handler, controller]) === true
}
