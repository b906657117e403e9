/**
 * Hono 4 adapter: `agentAuth()` middleware, `requireScope()`, `requireAnyScope()`,
 * `requireDelegatedFrom()` and `agentOf(c)`. The identity is at `c.get('agent')`; route params
 * come from `c.req.param()`. It only translates between Hono and the core, and runs wherever Hono
 * runs: it reads the web-standard `Request` (the core's Fetch entry point), or, under
 * `@hono/node-server`, Node's request directly (`c.env.incoming`), which saves building Fetch
 * headers and lets a keep-alive connection skip the hash and the cache lookup.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { serve } from '@hono/node-server'
 * import { type AgentAuthEnv, agentAuth, agentOf, requireScope } from 'agentwrit-verify/hono'
 * const app = new Hono<AgentAuthEnv>()
 * app.use(agentAuth({ broker: 'http://127.0.0.1:8080' }))
 * app.get('/customers/:id', requireScope('read:data:customer-:id'), (c) =>
 *   c.json({ customer: c.req.param('id'), by: c.get('agent').id }),
 * )
 * serve({ fetch: app.fetch, port: 3000 })
 * ```
 * @module
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import { createAdapterKit, type FrameworkBinding, type KitMiddlewareExtras } from './core/adapter-kit.js'
import type { AdapterOptions, OnErrorOption } from './core/adapter-setup.js'
import { asRefusal } from './core/adapter-state.js'
import type { AgentIdentity } from './core/claims.js'
import type { DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { fetchAuthRequest } from './core/fetch-request.js'
import type { ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import type { AuthRequest, Verifier } from './core/verifier.js'

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The verified AgentWrit identity, set by `agentAuth()`. Absent on routes that no
     * `agentAuth()` ran for, and on requests an `optional: true` middleware let through without
     * credentials. `agentOf(c)` returns it typed non-null (or refuses the request).
     */
    agent?: AgentIdentity
  }
}

/**
 * The Hono environment `agentAuth()` provides: `new Hono<AgentAuthEnv>()` types `c.get('agent')`
 * as the identity on every route behind the middleware.
 */
export type AgentAuthEnv = { Variables: { agent: AgentIdentity } }

/** Renders a refusal in Hono: return the response to send. */
export type HonoErrorHandler = (err: AgentAuthError, c: Context) => Response | Promise<Response>

/**
 * Hono-specific options, on top of {@link AgentAuthOptions}: `onError` (`'throw'` or a function).
 * With `'throw'`, render the error in `app.onError` (Hono's default error handler answers any
 * error that is not an `HTTPException` with a plain 500).
 */
export type HonoAuthOptions = OnErrorOption<HonoErrorHandler, 'throw'>

/** The middleware returned by {@link agentAuth}, with its verifier. */
export interface HonoAgentAuthMiddleware extends MiddlewareHandler<AgentAuthEnv>, KitMiddlewareExtras {}

/** Node's request, when Hono is served by `@hono/node-server` (`c.env.incoming`). */
function nodeRequestOf(c: Context): AuthRequest | undefined {
  const incoming = (c.env as { incoming?: Partial<AuthRequest> } | undefined)?.incoming
  return typeof incoming?.headers === 'object' && Array.isArray(incoming.rawHeaders)
    ? (incoming as AuthRequest)
    : undefined
}

/**
 * Hono for the adapter kit. A refusal is answered by returning a response from the middleware;
 * one handed to Hono (`onError: 'throw'`, a misconfiguration, a renderer that answered nothing)
 * is a rejection, which `app.onError` receives.
 */
const binding: FrameworkBinding<Context, Next, undefined, Response | undefined> = {
  requestName: 'c',
  adapter: 'hono',
  escalateKeyword: 'throw',
  authRequest: (c) => nodeRequestOf(c) ?? fetchAuthRequest(c.req.raw),
  storedAgent: (c) => c.get('agent'),
  storeAgent(c, agent) {
    c.set('agent', agent)
  },
  routeParams: (c) => c.req.param() as Record<string, unknown>,
  routePath: (c) => c.req.routePath,
  pass: (_c, next) => next() as Promise<undefined>,
  escalate: (err) => Promise.reject(err),
  render(err, c) {
    const answer = problemResponse(err, nodeRequestOf(c)?.url ?? c.req.path)
    return c.body(answer.body, answer.status as 400, answer.headers)
  },
  rendered(rendered, err, c) {
    const answered = (response: unknown) => {
      if (response instanceof Response) return response
      if (c.finalized) return undefined
      return Promise.reject(err)
    }
    if (!(rendered instanceof Promise)) return answered(rendered)
    return rendered.then(answered, (renderError: unknown) => Promise.reject(asRefusal(renderError)))
  },
}

const kit = createAdapterKit(binding)

/**
 * Authenticate every request it sees: a valid AgentWrit token puts the identity at
 * `c.get('agent')`; anything else is refused (400/401/503, see the README's error table). With
 * `optional: true`, a request without an `Authorization` header passes with no identity.
 * @param options - verifier options (or an existing verifier) plus {@link HonoAuthOptions}.
 */
export function agentAuth(
  options: (AgentAuthOptions & HonoAuthOptions & AdapterOptions) | Verifier,
): HonoAgentAuthMiddleware {
  return kit.middleware(options) as unknown as HonoAgentAuthMiddleware
}

/**
 * The verified identity of a request, typed non-null: `agentOf(c).id`. Throws the refusal for a
 * request without one, which `app.onError` receives: 401 `missing_token` where `optional: true`
 * let the request through without credentials, 500 `configuration_error` where no `agentAuth()`
 * ran.
 */
export const agentOf: (c: Context) => AgentIdentity = kit.agentOf

/** A scope requirement for Hono: a template string or `(c, agent) => scope(s)`. */
export type HonoScopeRequirement = ScopeRequirement<Context>

/**
 * Require every listed scope. Strings are templates whose `:name` placeholders are filled from
 * `c.req.param()` (`'read:data:customer-:id'`); functions compute scopes from the context.
 * A malformed template throws here, at route definition.
 */
export const requireScope = kit.requireScope as unknown as (
  ...requirements: HonoScopeRequirement[]
) => MiddlewareHandler

/** Require at least one of the listed scopes (same forms as {@link requireScope}). */
export const requireAnyScope = kit.requireAnyScope as unknown as (
  ...requirements: HonoScopeRequirement[]
) => MiddlewareHandler

/**
 * Accept only delegated tokens whose chain starts at one of these agents (exact SPIFFE id,
 * RegExp, or predicate on the root agent id). Anything else: 403 `delegation_not_allowed`.
 */
export const requireDelegatedFrom = kit.requireDelegatedFrom as unknown as (
  ...roots: DelegationRootMatcher[]
) => MiddlewareHandler

export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
