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
import { createAdapterKit, type FrameworkBinding, type KitMiddlewareExtras } from './core/adapter-kit.js'
import type { AdapterOptions, OnErrorOption } from './core/adapter-setup.js'
import { asRefusal } from './core/adapter-state.js'
import type { AgentIdentity } from './core/claims.js'
import type { DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import type { ScopeRequirement } from './core/guard.js'
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

/** Koa-specific options, on top of {@link AgentAuthOptions}: `onError` (`'throw'` or a function). */
export type KoaAuthOptions = OnErrorOption<KoaErrorHandler, 'throw'>

/** The middleware returned by {@link agentAuth}, with its verifier. */
export interface KoaAgentAuthMiddleware extends Middleware, KitMiddlewareExtras {}

type KoaContext = Context & { params?: Record<string, unknown>; _matchedRoute?: unknown }

/**
 * Koa for the adapter kit. Plain functions, not async ones: a cached answer goes straight to
 * `next()` with no extra promise. A refusal handed to Koa is a rejected promise (Koa would hang
 * on a rejected `null`, which the kit never lets through); Koa's error handling answers it from
 * `err.status`, `err.headers` and `err.expose`, and logs a 500.
 */
const binding: FrameworkBinding<KoaContext, Next, undefined, unknown> = {
  requestName: 'ctx',
  adapter: 'koa',
  escalateKeyword: 'throw',
  authRequest: (ctx) => ctx.req,
  storedAgent: (ctx) => ctx.state.agent,
  storeAgent(ctx, agent) {
    ctx.state.agent = agent
  },
  routeParams: (ctx) => ctx.params,
  routePath: (ctx) => String(ctx._matchedRoute ?? ctx.path),
  pass: (_ctx, next) => next(),
  escalate: (err) => Promise.reject(err),
  render(err, ctx) {
    const answer = problemResponse(err, ctx.originalUrl ?? ctx.url)
    ctx.status = answer.status
    ctx.set(answer.headers)
    ctx.body = answer.body
    ctx.type = answer.headers['Content-Type']!
  },
  rendered: (rendered) =>
    Promise.resolve(rendered).catch((renderError: unknown) => {
      throw asRefusal(renderError)
    }),
}

const kit = createAdapterKit(binding)

/**
 * Authenticate every request it sees: a valid AgentWrit token puts the identity on
 * `ctx.state.agent`; anything else is refused (400/401/503, see the README's error table). With
 * `optional: true`, a request without an `Authorization` header passes with `ctx.state.agent`
 * absent.
 * @param options - verifier options (or an existing verifier) plus {@link KoaAuthOptions}.
 */
export function agentAuth(
  options: (AgentAuthOptions & KoaAuthOptions & AdapterOptions) | Verifier,
): KoaAgentAuthMiddleware {
  return kit.middleware(options) as unknown as KoaAgentAuthMiddleware
}

/**
 * The verified identity of a request, typed non-null: `agentOf(ctx).id`. Throws the refusal for a
 * request without one, which Koa answers: 401 `missing_token` where `optional: true` let the
 * request through without credentials, 500 `configuration_error` where no `agentAuth()` ran.
 */
export const agentOf: (ctx: Context) => AgentIdentity = kit.agentOf

/** A scope requirement for Koa: a template string or `(ctx, agent) => scope(s)`. */
export type KoaScopeRequirement = ScopeRequirement<Context>

/**
 * Require every listed scope. Strings are templates whose `:name` placeholders are filled from
 * `ctx.params` (`'read:data:customer-:id'`, `@koa/router`); functions compute scopes from the
 * context. A malformed template throws here, at route definition.
 */
export const requireScope = kit.requireScope as unknown as (
  ...requirements: KoaScopeRequirement[]
) => Middleware

/** Require at least one of the listed scopes (same forms as {@link requireScope}). */
export const requireAnyScope = kit.requireAnyScope as unknown as (
  ...requirements: KoaScopeRequirement[]
) => Middleware

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id). Anything else: 403 `delegation_not_allowed`.
 */
export const requireDelegatedFrom = kit.requireDelegatedFrom as unknown as (
  ...roots: DelegationRootMatcher[]
) => Middleware

export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
