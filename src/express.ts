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
import { type AdapterOptions, setupAdapter } from './core/adapter-setup.js'
import { type AdapterState, accessOf, asRefusal, authenticateFor, identityFor } from './core/adapter-state.js'
import type { AgentIdentity } from './core/claims.js'
import { compileDelegationGuard, type DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { compileScopeGuard, type ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'

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

/** Express-specific options, on top of {@link AgentAuthOptions}. */
export interface ExpressAuthOptions {
  /**
   * How refusals are answered. Default: the adapter answers itself with the status, the
   * `WWW-Authenticate`/`Retry-After` headers and an RFC 7807 `application/problem+json` body.
   * `'next'`: call `next(err)` so your error middleware renders it (`err.status`, `err.headers`,
   * `err.toProblem()` are there). A function: render it yourself.
   */
  onError?: 'next' | ExpressErrorHandler
}

/** The middleware returned by {@link agentAuth}, with its verifier. */
export interface AgentAuthMiddleware extends RequestHandler {
  /** The verifier behind this middleware (stats, `verifyToken`). */
  readonly verifier: Verifier
  /** Close the verifier's sockets and timers. */
  close(): Promise<void>
}

/** Express's middleware and guards' shared settings (realm, refusal handler, `optional`). */
type ExpressState = AdapterState<ExpressErrorHandler>

function sendProblem(err: AgentAuthError, req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(err)
    return
  }
  const answer = problemResponse(err, req.originalUrl ?? req.url)
  res.status(answer.status).set(answer.headers).send(answer.body)
}

/**
 * Authenticate every request it sees: a valid AgentWrit token puts the identity on `req.agent`;
 * anything else is refused (400/401/503, see the README's error table). With `optional: true`, a
 * request without an `Authorization` header passes with `req.agent` absent.
 *
 * The identity carries this middleware's settings (see `src/core/adapter-state.ts`), so the warm
 * path stores one property on `req`: Express gives every request its own prototype, after which
 * each added property costs V8 a new hidden class (BENCHMARKS.md).
 * @param options - verifier options (or an existing verifier) plus {@link ExpressAuthOptions}.
 */
export function agentAuth(
  options: (AgentAuthOptions & ExpressAuthOptions & AdapterOptions) | Verifier,
): AgentAuthMiddleware {
  const { verifier, state } = setupAdapter<ExpressErrorHandler>(options, {
    keyword: 'next',
    byDefault: sendProblem,
    forKeyword: (err, _req, _res, next) => next(err),
  })
  const middleware = ((req: Request, res: Response, next: NextFunction) => {
    let result: AgentIdentity | undefined | Promise<AgentIdentity | undefined>
    try {
      result = authenticateFor(state, verifier, req, req)
    } catch (err) {
      refuse(err, req, res, next, state)
      return
    }
    if (result instanceof Promise) {
      result.then(
        (agent) => {
          if (agent !== undefined) req.agent = agent
          next()
        },
        (err: unknown) => refuse(err, req, res, next, state),
      )
    } else {
      if (result !== undefined) req.agent = result
      next()
    }
  }) as AgentAuthMiddleware
  Object.defineProperty(middleware, 'verifier', { value: verifier })
  Object.defineProperty(middleware, 'close', { value: () => verifier.close() })
  return middleware
}

/**
 * End the request with a refusal: whatever was thrown becomes an `AgentAuthError` first (a thrown
 * `null` is never read as "carry on"). A configuration error (500) goes to Express's error
 * handling, to be logged; every other refusal is rendered by the middleware's handler.
 */
function refuse(
  thrown: unknown,
  req: Request,
  res: Response,
  next: NextFunction,
  state: ExpressState | undefined,
): void {
  const err = asRefusal(thrown)
  if (err.code === 'configuration_error' || state === undefined) {
    next(err)
    return
  }
  try {
    state.fail(err, req, res, next)
  } catch (renderError) {
    next(asRefusal(renderError))
  }
}

/**
 * The verified identity of a request, typed non-null: `agentOf(req).id`. Throws the refusal for a
 * request without one, which Express answers: 401 `missing_token` where `optional: true` let the
 * request through without credentials, 500 `configuration_error` where no `agentAuth()` ran.
 */
export function agentOf(req: Request): AgentIdentity {
  return identityFor(accessOf(req.agent, req), 'agentOf(req)').agent
}

/** A scope requirement for Express: a template string or `(req, agent) => scope(s)`. */
export type ExpressScopeRequirement = ScopeRequirement<Request>

function guard(mode: 'all' | 'any', requirements: ExpressScopeRequirement[]): RequestHandler {
  const compiled = compileScopeGuard<Request>(mode, requirements)
  return (req: Request, res: Response, next: NextFunction) => {
    const access = accessOf<ExpressErrorHandler>(req.agent, req)
    try {
      compiled.enforce(access, req.params, req, () => String(req.route?.path ?? req.path))
    } catch (err) {
      refuse(err, req, res, next, access.state)
      return
    }
    next()
  }
}

/**
 * Require every listed scope. Strings are templates whose `:name` placeholders are filled from
 * `req.params` (`'read:data:customer-:id'`); functions compute scopes from the request.
 * A malformed template throws here, at route definition.
 */
export function requireScope(...requirements: ExpressScopeRequirement[]): RequestHandler {
  return guard('all', requirements)
}

/** Require at least one of the listed scopes (same forms as {@link requireScope}). */
export function requireAnyScope(...requirements: ExpressScopeRequirement[]): RequestHandler {
  return guard('any', requirements)
}

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id). Anything else: 403 `delegation_not_allowed`.
 */
export function requireDelegatedFrom(...roots: DelegationRootMatcher[]): RequestHandler {
  const compiled = compileDelegationGuard(roots)
  return (req: Request, res: Response, next: NextFunction) => {
    const access = accessOf<ExpressErrorHandler>(req.agent, req)
    try {
      compiled.enforce(access)
    } catch (err) {
      refuse(err, req, res, next, access.state)
      return
    }
    next()
  }
}

export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
