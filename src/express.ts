/**
 * Express adapter (Express 4.x/5.x): `agentAuth()` middleware, `requireScope()`,
 * `requireAnyScope()`. It only translates between Express and the framework-free core.
 *
 * @example
 * ```ts
 * import { agentAuth, requireScope } from 'agentwrit-verify/express'
 * app.use(agentAuth({ broker: 'http://127.0.0.1:8080' }))
 * app.get('/customers/:id', requireScope('read:data:customer-:id'), (req, res) => {
 *   res.json({ customer: req.params.id, by: req.agent.id })
 * })
 * ```
 * @module
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { createAdapterKit, type KitMiddlewareExtras } from './core/adapter-kit.js'
import type { AdapterOptions, OnErrorOption } from './core/adapter-setup.js'
import type { AgentIdentity } from './core/claims.js'
import type { DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError } from './core/errors.js'
import type { ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'
import { expressBinding } from './express-binding.js'

declare global {
  namespace Express {
    interface Request {
      /**
       * The verified AgentWrit identity, set by `agentAuth()`. Absent on routes that no
       * `agentAuth()` ran for, and on requests an `optional: true` middleware let through without
       * credentials. `agentOf(req)` returns it typed non-null (or refuses the request).
       */
      agent?: AgentIdentity
    }
  }
}

/** Renders a refusal. Call `next(err)` to hand it to Express's error handling instead. */
export type ExpressErrorHandler = (
  err: AgentAuthError,
  req: Request,
  res: Response,
  next: NextFunction,
) => void

/** Express-specific options, on top of {@link AgentAuthOptions}: `onError` (`'next'` or a function). */
export type ExpressAuthOptions = OnErrorOption<ExpressErrorHandler, 'next'>

/** The middleware returned by {@link agentAuth}, with its verifier. */
export interface AgentAuthMiddleware extends RequestHandler, KitMiddlewareExtras {}

const kit = createAdapterKit(expressBinding)

/**
 * Authenticate every request it sees: a valid AgentWrit token puts the identity on `req.agent`;
 * anything else is refused (400/401/503, see the README's error table). With `optional: true`, a
 * request without an `Authorization` header passes with `req.agent` absent.
 * @param options - verifier options (or an existing verifier) plus {@link ExpressAuthOptions}.
 */
export function agentAuth(
  options: (AgentAuthOptions & ExpressAuthOptions & AdapterOptions) | Verifier,
): AgentAuthMiddleware {
  return kit.middleware(options) as AgentAuthMiddleware
}

/**
 * The verified identity of a request, typed non-null: `agentOf(req).id`. Throws the refusal for a
 * request without one, which Express answers: 401 `missing_token` where `optional: true` let the
 * request through without credentials, 500 `configuration_error` where no `agentAuth()` ran.
 */
export const agentOf: (req: Request) => AgentIdentity = kit.agentOf

/** A scope requirement for Express: a template string or `(req, agent) => scope(s)`. */
export type ExpressScopeRequirement = ScopeRequirement<Request>

/**
 * Require every listed scope. Strings are templates whose `:name` placeholders are filled from
 * `req.params` (`'read:data:customer-:id'`); functions compute scopes from the request.
 * A malformed template throws here, at route definition.
 */
export const requireScope = kit.requireScope as (...requirements: ExpressScopeRequirement[]) => RequestHandler

/** Require at least one of the listed scopes (same forms as {@link requireScope}). */
export const requireAnyScope = kit.requireAnyScope as (
  ...requirements: ExpressScopeRequirement[]
) => RequestHandler

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id). Anything else: 403 `delegation_not_allowed`.
 */
export const requireDelegatedFrom = kit.requireDelegatedFrom as (
  ...roots: DelegationRootMatcher[]
) => RequestHandler

export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
