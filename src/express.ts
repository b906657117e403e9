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
import { setupAdapter } from './core/adapter-setup.js'
import { type AgentIdentity, identityOrigin } from './core/claims.js'
import { compileDelegationGuard, type DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { compileScopeGuard, type ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import { authenticateFast, type Verifier } from './core/verifier.js'

declare global {
  namespace Express {
    interface Request {
      /**
       * The verified AgentWrit identity. Set by `agentAuth()`; only read it on routes behind it
       * (elsewhere it is `undefined` at run time).
       */
      agent: AgentIdentity
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

/** One `agentAuth()`'s settings, which its route guards need to refuse a request its way. */
class AdapterState {
  constructor(
    readonly realm: string,
    readonly fail: ExpressErrorHandler,
  ) {}
}

/**
 * Where a guard finds the settings of the `agentAuth()` that authenticated the request: inside the
 * identity (`identityOrigin`), so the middleware stores one property on `req`, `agent`. Express
 * gives every request its own prototype (`Object.setPrototypeOf(req, app.request)`), after which
 * each property added to `req` costs V8 a new hidden class: about 2.5 µs per request on the
 * benchmark machine, as much as the rest of the warm path (BENCHMARKS.md). A hand-written
 * verifier returns identities without an origin; then the settings go on `req` under this symbol.
 */
const kState = Symbol('agentwrit-verify.express')
type StatefulRequest = Request & { [kState]?: AdapterState }

function stateOf(req: StatefulRequest): AdapterState | undefined {
  const origin = identityOrigin(req.agent)
  return origin instanceof AdapterState ? origin : req[kState]
}

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
 * anything else is refused (400/401/503, see the README's error table).
 * @param options - verifier options (or an existing verifier) plus {@link ExpressAuthOptions}.
 */
export function agentAuth(options: (AgentAuthOptions & ExpressAuthOptions) | Verifier): AgentAuthMiddleware {
  const { verifier, fail: render } = setupAdapter<ExpressErrorHandler>(
    options,
    'next',
    sendProblem,
    (err, _req, _res, next) => next(err),
  )
  const state = new AdapterState(verifier.options.realm, render)
  const attach = (req: StatefulRequest, agent: AgentIdentity) => {
    req.agent = agent
    if (identityOrigin(agent) !== state) req[kState] = state
  }
  const middleware = ((req: StatefulRequest, res: Response, next: NextFunction) => {
    let result: AgentIdentity | Promise<AgentIdentity>
    try {
      result = authenticateFast(verifier, req, state)
    } catch (err) {
      fail(err, req, res, next, state)
      return
    }
    if (result instanceof Promise) {
      result.then(
        (agent) => {
          attach(req, agent)
          next()
        },
        (err: unknown) => fail(err, req, res, next, state),
      )
    } else {
      attach(req, result)
      next()
    }
  }) as AgentAuthMiddleware
  Object.defineProperty(middleware, 'verifier', { value: verifier })
  Object.defineProperty(middleware, 'close', { value: () => verifier.close() })
  return middleware
}

/** A guard's refusal: rendered like any other; a configuration error goes to Express to be logged. */
function refuse(
  err: unknown,
  req: Request,
  res: Response,
  next: NextFunction,
  state: AdapterState | undefined,
): void {
  if (err instanceof AgentAuthError && err.code !== 'configuration_error')
    (state?.fail ?? sendProblem)(err, req, res, next)
  else next(err)
}

function fail(err: unknown, req: Request, res: Response, next: NextFunction, state: AdapterState): void {
  if (!(err instanceof AgentAuthError)) {
    next(err)
    return
  }
  try {
    state.fail(err, req, res, next)
  } catch (renderError) {
    next(renderError)
  }
}

/** A scope requirement for Express: a template string or `(req, agent) => scope(s)`. */
export type ExpressScopeRequirement = ScopeRequirement<Request>

function guard(mode: 'all' | 'any', requirements: ExpressScopeRequirement[]): RequestHandler {
  const compiled = compileScopeGuard<Request>(mode, requirements)
  return (req: StatefulRequest, res: Response, next: NextFunction) => {
    const state = stateOf(req)
    try {
      compiled.enforce(req.agent, req.params, req, state?.realm, () => String(req.route?.path ?? req.path))
    } catch (err) {
      refuse(err, req, res, next, state)
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
  return (req: StatefulRequest, res: Response, next: NextFunction) => {
    const state = stateOf(req)
    try {
      compiled.enforce(req.agent, state?.realm)
    } catch (err) {
      refuse(err, req, res, next, state)
      return
    }
    next()
  }
}

export type { AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
