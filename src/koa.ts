/**
 * Koa adapter (Koa 2.x/3.x, route params from `@koa/router`): `agentAuth()` middleware,
 * `requireScope()`, `requireAnyScope()`. It only translates between Koa and the core.
 *
 * @example
 * ```ts
 * import Koa from 'koa'
 * import Router from '@koa/router'
 * import { agentAuth, requireScope } from 'agentwrit-verify/koa'
 * const app = new Koa()
 * const router = new Router()
 * app.use(agentAuth({ broker: 'http://127.0.0.1:8080' }))
 * router.get('/customers/:id', requireScope('read:data:customer-:id'), (ctx) => {
 *   ctx.body = { customer: ctx.params.id, by: ctx.state.agent.id }
 * })
 * app.use(router.routes())
 * ```
 * @module
 */
import type { Context, Middleware, Next } from 'koa'
import { type AdapterOptions, setupAdapter } from './core/adapter-setup.js'
import { type AdapterState, accessOf, asRefusal, authenticateFor, identityFor } from './core/adapter-state.js'
import type { AgentIdentity } from './core/claims.js'
import { compileDelegationGuard, type DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { compileScopeGuard, type ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'

declare module 'koa' {
  interface DefaultState {
    /**
     * The verified AgentWrit identity, set by `agentAuth()`. Absent on routes that no
     * `agentAuth()` ran for, and on requests an `optional: true` middleware let through without
     * credentials. `agentOf(ctx)` returns it typed non-null (or refuses the request).
     */
    agent?: AgentIdentity
  }
}

/** Renders a refusal in Koa. */
export type KoaErrorHandler = (err: AgentAuthError, ctx: Context) => void | Promise<void>

/** Koa-specific options, on top of {@link AgentAuthOptions}. */
export interface KoaAuthOptions {
  /**
   * How refusals are answered. Default: the adapter sets the status, the
   * `WWW-Authenticate`/`Retry-After` headers and an RFC 7807 `application/problem+json` body.
   * `'throw'`: throw the error, so your error middleware (or Koa's own, which uses `err.status`,
   * `err.headers` and `err.expose`) renders it. A function: render it yourself.
   */
  onError?: 'throw' | KoaErrorHandler
}

/** The middleware returned by {@link agentAuth}, with its verifier. */
export interface KoaAgentAuthMiddleware extends Middleware {
  readonly verifier: Verifier
  close(): Promise<void>
}

type KoaState = AdapterState<KoaErrorHandler>

function sendProblem(err: AgentAuthError, ctx: Context): void {
  const answer = problemResponse(err, ctx.originalUrl ?? ctx.url)
  ctx.status = answer.status
  ctx.set(answer.headers)
  ctx.body = answer.body
  ctx.type = answer.headers['Content-Type']!
}

/**
 * Authenticate every request it sees: a valid AgentWrit token puts the identity on
 * `ctx.state.agent`; anything else is refused (400/401/503, see the README's error table). With
 * `optional: true`, a request without an `Authorization` header passes with `ctx.state.agent`
 * absent. The identity carries this middleware's settings, so the guards find them through it.
 * @param options - verifier options (or an existing verifier) plus {@link KoaAuthOptions}.
 */
export function agentAuth(
  options: (AgentAuthOptions & KoaAuthOptions & AdapterOptions) | Verifier,
): KoaAgentAuthMiddleware {
  const { verifier, state } = setupAdapter<KoaErrorHandler>(options, {
    keyword: 'throw',
    byDefault: sendProblem,
    forKeyword: (err) => {
      throw err
    },
  })
  // Plain functions, not async ones: a cached answer goes straight to next() with no extra promise.
  const middleware = ((ctx: Context, next: Next) => {
    let result: AgentIdentity | undefined | Promise<AgentIdentity | undefined>
    try {
      result = authenticateFor(state, verifier, ctx.req, ctx)
    } catch (err) {
      return refuse(err, ctx, state)
    }
    if (result instanceof Promise) {
      return result.then(
        (agent) => {
          if (agent !== undefined) ctx.state.agent = agent
          return next()
        },
        (err: unknown) => refuse(err, ctx, state),
      )
    }
    if (result !== undefined) ctx.state.agent = result
    return next()
  }) as KoaAgentAuthMiddleware
  Object.defineProperty(middleware, 'verifier', { value: verifier })
  Object.defineProperty(middleware, 'close', { value: () => verifier.close() })
  return middleware
}

/**
 * End the request with a refusal: whatever was thrown becomes an `AgentAuthError` first (Koa
 * would hang on a rejected `null`); it is rendered by the configured handler, or thrown (as a
 * rejected promise) so Koa's error handling answers it. A misconfigured route
 * (`configuration_error`) is the developer's bug and is always thrown, so Koa logs it as a 500.
 */
function refuse(thrown: unknown, ctx: Context, state: KoaState | undefined): Promise<void> {
  const err = asRefusal(thrown)
  if (err.code === 'configuration_error' || state === undefined) return Promise.reject(err)
  try {
    return Promise.resolve(state.fail(err, ctx)).catch((rendered: unknown) => {
      throw asRefusal(rendered)
    })
  } catch (rendered) {
    return Promise.reject(asRefusal(rendered))
  }
}

/**
 * The verified identity of a request, typed non-null: `agentOf(ctx).id`. Throws the refusal for a
 * request without one, which Koa answers: 401 `missing_token` where `optional: true` let the
 * request through without credentials, 500 `configuration_error` where no `agentAuth()` ran.
 */
export function agentOf(ctx: Context): AgentIdentity {
  return identityFor(accessOf(ctx.state.agent, ctx), 'agentOf(ctx)').agent
}

/** A scope requirement for Koa: a template string or `(ctx, agent) => scope(s)`. */
export type KoaScopeRequirement = ScopeRequirement<Context>

function guard(mode: 'all' | 'any', requirements: KoaScopeRequirement[]): Middleware {
  const compiled = compileScopeGuard<Context>(mode, requirements)
  return (ctx: Context, next: Next) => {
    const access = accessOf<KoaErrorHandler>(ctx.state.agent, ctx)
    try {
      compiled.enforce(access, (ctx as Context & { params?: Record<string, unknown> }).params, ctx, () =>
        String((ctx as Context & { _matchedRoute?: unknown })._matchedRoute ?? ctx.path),
      )
    } catch (err) {
      return refuse(err, ctx, access.state)
    }
    return next()
  }
}

/**
 * Require every listed scope. Strings are templates whose `:name` placeholders are filled from
 * `ctx.params` (`'read:data:customer-:id'`); functions compute scopes from the context.
 * A malformed template throws here, at route definition.
 */
export function requireScope(...requirements: KoaScopeRequirement[]): Middleware {
  return guard('all', requirements)
}

/** Require at least one of the listed scopes (same forms as {@link requireScope}). */
export function requireAnyScope(...requirements: KoaScopeRequirement[]): Middleware {
  return guard('any', requirements)
}

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id). Anything else: 403 `delegation_not_allowed`.
 */
export function requireDelegatedFrom(...roots: DelegationRootMatcher[]): Middleware {
  const compiled = compileDelegationGuard(roots)
  return (ctx: Context, next: Next) => {
    const access = accessOf<KoaErrorHandler>(ctx.state.agent, ctx)
    try {
      compiled.enforce(access)
    } catch (err) {
      return refuse(err, ctx, access.state)
    }
    return next()
  }
}

export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
