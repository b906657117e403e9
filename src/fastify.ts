/**
 * Fastify 5 adapter: a `fastify-plugin` plugin that verifies the token in `onRequest`, puts the
 * identity on `request.agent`, and enforces route guards given as route config
 * (`{ config: { scope: 'read:data:customer-:id' } }`) or as a `preHandler`
 * (`app.requireScope(...)`). It only translates between Fastify and the core.
 *
 * Encapsulation: the plugin's hook applies to the context it is registered in and its children.
 * Register it inside an encapsulated plugin (e.g. one registered with a `prefix`) to protect only
 * that plugin's routes; register it at the root to protect every route. `config: { agentAuth: false }`
 * makes one route public.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import agentwrit from 'agentwrit-verify/fastify'
 * const app = Fastify()
 * await app.register(agentwrit, { broker: 'http://127.0.0.1:8080' })
 * app.get('/customers/:id', { config: { scope: 'read:data:customer-:id' } }, async (request) => ({
 *   customer: (request.params as { id: string }).id,
 *   by: request.agent.id,
 * }))
 * ```
 * @module
 */
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerHookHandler,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import { createAdapterKit, type FrameworkBinding, type KitRenderer } from './core/adapter-kit.js'
import type { AdapterOptions, OnErrorOption } from './core/adapter-setup.js'
import { type AdapterState, asRefusal, identityFor } from './core/adapter-state.js'
import type { AgentIdentity } from './core/claims.js'
import {
  compileDelegationGuard,
  type DelegationGuard,
  type DelegationRootMatcher,
} from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { compileScopeGuard, type ScopeGuard, type ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'

/** A scope requirement for Fastify guards: a template string or `(request, agent) => scope(s)`. */
export type FastifyScopeRequirement = ScopeRequirement<FastifyRequest>

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified AgentWrit identity, set in `onRequest` by the agentwrit-verify plugin. `null`
     * on routes outside the plugin's context or marked `agentAuth: false`, and on requests an
     * `optional: true` plugin let through without credentials. `agentOf(request)` returns it typed
     * non-null (or refuses the request).
     */
    agent: AgentIdentity | null
  }
  interface FastifyInstance {
    /** `preHandler` requiring every listed scope (templates filled from `request.params`, or functions). */
    requireScope(...requirements: FastifyScopeRequirement[]): preHandlerHookHandler
    /** `preHandler` requiring at least one of the listed scopes. */
    requireAnyScope(...requirements: FastifyScopeRequirement[]): preHandlerHookHandler
    /** `preHandler` accepting only delegated tokens whose chain starts at one of these agents. */
    requireDelegatedFrom(...roots: DelegationRootMatcher[]): preHandlerHookHandler
    /** The verifier behind the plugin (stats, `verifyToken`). */
    agentVerifier: Verifier
  }
  interface FastifyContextConfig {
    /** Scope template(s) this route requires, all of them (e.g. `'read:data:customer-:id'`). */
    scope?: string | readonly string[]
    /** Scope template(s) of which this route requires at least one. */
    anyScope?: string | readonly string[]
    /** Accept only delegated tokens whose chain starts at one of these agents (ids or RegExps). */
    delegatedFrom?: string | RegExp | readonly (string | RegExp)[]
    /** `false` makes this route public: no token is read or verified. Default `true`. */
    agentAuth?: boolean
  }
}

/** Renders a refusal in Fastify. */
export type FastifyErrorHandler = (
  err: AgentAuthError,
  request: FastifyRequest,
  reply: FastifyReply,
) => void | Promise<void>

/** Plugin options: the verifier options (or `verifier`) plus `optional` and `onError` (`'throw'` or a function). */
export interface FastifyAgentAuthOptions
  extends AgentAuthOptions,
    AdapterOptions,
    OnErrorOption<FastifyErrorHandler, 'throw'> {
  /** Use this verifier instead of creating one from the options (it is then not closed with the app). */
  verifier?: Verifier
}

type HookDone = (err?: Error) => void

/**
 * Fastify for the adapter kit: hooks in callback style (no promise when a cached answer passes).
 * A refusal handed to Fastify is `done(err)`: Fastify's error handling answers it from
 * `err.statusCode` and `err.headers` (and logs a 500); so does a renderer that sent nothing.
 */
const binding: FrameworkBinding<FastifyRequest, FastifyReply, HookDone, void> = {
  requestName: 'request',
  adapter: 'fastify',
  escalateKeyword: 'throw',
  // fastify passes its own keys in plugin options; they are not ours.
  ignoreKeys: ['prefix', 'logLevel', 'logSerializers'],
  authRequest: (request) => request.raw,
  storedAgent: (request) => request.agent,
  storeAgent(request, agent) {
    request.agent = agent
  },
  routeParams: (request) => request.params as Record<string, unknown>,
  routePath: (request) => request.routeOptions.url ?? request.url,
  pass: (_request, _reply, done) => done(),
  escalate: (err, _request, _reply, done) => done(err),
  render(err, request, reply) {
    const answer = problemResponse(err, request.url)
    reply.code(answer.status).headers(answer.headers).send(answer.body)
  },
  rendered(rendered, err, _request, reply, done) {
    const finish = () => {
      if (!reply.sent) done(err)
    }
    if (rendered instanceof Promise) {
      rendered.then(finish, (renderError: unknown) => done(asRefusal(renderError)))
    } else finish()
  },
}

const kit = createAdapterKit(binding)
type FastifyState = AdapterState<KitRenderer<FastifyRequest, FastifyReply, HookDone>>

const kGuard = Symbol('agentwrit-verify.guard')
/** Where a route's compiled plan is kept: a key of its `config`, which Fastify copies per route. */
const kPlan = Symbol('agentwrit-verify.route')

/** A guard hook of ours: its compiled scope guard (`requireScope`), or `true` (`requireDelegatedFrom`). */
type MarkedHandler = preHandlerHookHandler & { [kGuard]?: ScopeGuard<FastifyRequest> | true }

/** What the plugin does on one route, compiled once from its config. */
interface RoutePlan {
  /** `config: { agentAuth: false }`: no token is read or verified. */
  readonly public: boolean
  readonly guards: readonly ScopeGuard<FastifyRequest>[]
  readonly delegation: DelegationGuard | undefined
}

const PUBLIC: RoutePlan = Object.freeze({ public: true, guards: [], delegation: undefined })
const NONE: readonly (readonly string[])[] = []

/** Route parameter names of a Fastify route URL (`/a/:id/:b(^\\d+)` → id, b). */
function routeParams(url: string): Set<string> {
  return new Set([...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))
}

function asList(v: unknown, option: string, url: string): string[] {
  if (v === undefined) return []
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string')) {
    throw new TypeError(
      `agentwrit-verify: route ${url}: config.${option} must be a scope string or a non-empty array`,
    )
  }
  return [...list]
}

function assertPlaceholders(guard: ScopeGuard<FastifyRequest>, url: string, method: string): void {
  const params = routeParams(url)
  for (const p of guard.placeholders) {
    if (!params.has(p)) {
      throw new TypeError(
        `agentwrit-verify: ${method} ${url}: scope placeholder ":${p}" (in ${guard.templates.join(', ')}) is not a route parameter`,
      )
    }
  }
}

/**
 * Compile a route's config (`scope`, `anyScope`, `delegatedFrom`, `agentAuth`) into its plan.
 * @throws TypeError for a bad config value or a placeholder that is not a route parameter.
 */
function planRoute(config: Record<PropertyKey, unknown>, url: string, method: string): RoutePlan {
  const all = asList(config.scope, 'scope', url)
  const any = asList(config.anyScope, 'anyScope', url)
  const guards: ScopeGuard<FastifyRequest>[] = []
  if (all.length > 0) guards.push(compileScopeGuard('all', all))
  if (any.length > 0) guards.push(compileScopeGuard('any', any))
  for (const g of guards) assertPlaceholders(g, url, method)
  const from = config.delegatedFrom as DelegationRootMatcher | DelegationRootMatcher[] | undefined
  const delegation =
    from === undefined ? undefined : compileDelegationGuard(Array.isArray(from) ? from : [from])
  if (config.agentAuth === false) {
    if (guards.length > 0 || delegation) {
      throw new TypeError(
        `agentwrit-verify: route ${url}: config.scope/anyScope/delegatedFrom need agentAuth, not agentAuth: false`,
      )
    }
    return PUBLIC
  }
  if (config.agentAuth !== undefined && config.agentAuth !== true) {
    throw new TypeError(`agentwrit-verify: route ${url}: config.agentAuth must be true or false`)
  }
  return Object.freeze({ public: false, guards, delegation })
}

/** `app.requireScope(...)` and friends: preHandlers, marked so `onRoute` can check them. */
function decorateGuards(fastify: FastifyInstance): void {
  const scopeHook = (mode: 'all' | 'any', requirements: FastifyScopeRequirement[]) => {
    const guard = compileScopeGuard<FastifyRequest>(mode, requirements)
    return marked(kit.guardHandler(guard), guard)
  }
  fastify.decorate('requireScope', (...r: FastifyScopeRequirement[]) => scopeHook('all', r))
  fastify.decorate('requireAnyScope', (...r: FastifyScopeRequirement[]) => scopeHook('any', r))
  fastify.decorate('requireDelegatedFrom', (...roots: DelegationRootMatcher[]) =>
    marked(kit.guardHandler(compileDelegationGuard(roots)), true),
  )
}

function marked(handler: unknown, guard: ScopeGuard<FastifyRequest> | true): MarkedHandler {
  const hook = handler as MarkedHandler
  hook[kGuard] = guard
  return hook
}

/**
 * The `onRoute` hook: routes declared once the plugin is loaded get their plan now, so a bad
 * config, a guard preHandler on a public route, or a placeholder that is not a route parameter
 * fails at startup, naming the route.
 */
function planAtDeclaration(route: RouteOptions): void {
  const config = (route.config ?? {}) as Record<PropertyKey, unknown>
  const method = String(route.method)
  const plan = planRoute(config, route.url, method)
  const pre = route.preHandler
  for (const h of (Array.isArray(pre) ? pre : pre ? [pre] : []) as MarkedHandler[]) {
    const guard = h[kGuard]
    if (guard === undefined) continue
    if (plan.public) {
      throw new TypeError(
        `agentwrit-verify: ${method} ${route.url}: a requireScope/requireAnyScope/requireDelegatedFrom preHandler needs agentAuth, not agentAuth: false`,
      )
    }
    if (guard !== true) assertPlaceholders(guard, route.url, method)
  }
  route.config = { ...config, [kPlan]: plan } as RouteOptions['config']
}

/**
 * The plan of a request's route: compiled at declaration, or, for a route declared before the
 * plugin was loaded (`app.register(agentwrit)` without `await`, then routes; the onRoute hook
 * never saw it, but this context's onRequest hook still runs for it), on its first request. A
 * config error there is a 500 `configuration_error`: such a route never answers
 * unauthenticated. `undefined`: no route matched, Fastify's 404 handling answers.
 */
function createPlanLookup(): (request: FastifyRequest) => RoutePlan | undefined {
  const latePlans = new WeakMap<object, RoutePlan>()
  return function planOf(request) {
    const config = request.routeOptions.config as unknown as
      | (Record<PropertyKey, unknown> & { url?: string })
      | undefined
    if (config === undefined || config.url === undefined) return undefined
    const planned = config[kPlan] as RoutePlan | undefined
    if (planned !== undefined) return planned
    let plan = latePlans.get(config)
    if (plan === undefined) {
      try {
        plan = planRoute(config, config.url, request.method)
      } catch (err) {
        throw new AgentAuthError('configuration_error', {
          detail: (err as Error).message,
          reason: 'route_config',
        })
      }
      latePlans.set(config, plan)
    }
    return plan
  }
}

/**
 * The authentication hook, for every route of the plugin's context whatever the order of
 * declaration (a hook of the context, not of each route). Template scopes of the route's config
 * are filled before authentication: a param that cannot be used in a scope is refused before any
 * broker call. A cached answer completes without a promise.
 */
function authenticationHook(state: FastifyState) {
  const planOf = createPlanLookup()
  return function agentwritAuth(request: FastifyRequest, reply: FastifyReply, done: HookDone): void {
    let plan: RoutePlan | undefined
    let result: AgentIdentity | undefined | Promise<AgentIdentity | undefined>
    let filled: readonly (readonly string[])[] = NONE
    try {
      plan = planOf(request)
      if (plan === undefined || plan.public) {
        done()
        return
      }
      if (plan.guards.length > 0) filled = prepareScopes(plan, request)
      result = kit.authenticate(state, request)
      if (!(result instanceof Promise)) {
        attachAndGuard(request, result, plan, filled, state)
        done()
        return
      }
    } catch (err) {
      kit.refuse(err, state, request, reply, done)
      return
    }
    const routePlan = plan
    result.then(
      (agent) => {
        try {
          attachAndGuard(request, agent, routePlan, filled, state)
        } catch (err) {
          kit.refuse(err, state, request, reply, done)
          return
        }
        done()
      },
      (err: unknown) => kit.refuse(err, state, request, reply, done),
    )
  }
}

function prepareScopes(plan: RoutePlan, request: FastifyRequest) {
  const params = request.params as Record<string, unknown>
  return plan.guards.map((g) => g.prepare(params))
}

/** Attach the identity and run the route's config guards (an anonymous request meets them as a 401). */
function attachAndGuard(
  request: FastifyRequest,
  agent: AgentIdentity | undefined,
  plan: RoutePlan,
  filled: readonly (readonly string[])[],
  state: FastifyState,
): void {
  if (agent !== undefined) request.agent = agent
  if (plan.guards.length === 0 && plan.delegation === undefined) return
  const checked = agent ?? identityFor({ agent: undefined, state }, 'route config')
  plan.delegation?.check(checked)
  for (let i = 0; i < plan.guards.length; i++) {
    plan.guards[i]!.checkPrepared(checked, filled[i]!, request)
  }
}

const agentwritPlugin: FastifyPluginAsync<FastifyAgentAuthOptions> = async (fastify, options) => {
  const setup = kit.setup(options)
  fastify.decorateRequest('agent', null)
  fastify.decorate('agentVerifier', setup.verifier)
  decorateGuards(fastify)
  fastify.addHook('onRoute', planAtDeclaration)
  fastify.addHook('onRequest', authenticationHook(setup.state))
  if (setup.owned) fastify.addHook('onClose', async () => setup.verifier.close())
}

/**
 * The verified identity of a request, typed non-null: `agentOf(request).id`. Throws the refusal
 * for a request without one, which Fastify answers: 401 `missing_token` where `optional: true`
 * let the request through without credentials, 500 `configuration_error` where the plugin did not
 * authenticate the route.
 */
export const agentOf: (request: FastifyRequest) => AgentIdentity = kit.agentOf

/**
 * The agentwrit-verify Fastify plugin (`fastify-plugin`, name `agentwrit-verify`, Fastify 5.x).
 * Options: {@link FastifyAgentAuthOptions}.
 */
const agentwrit = fp(agentwritPlugin, { fastify: '5.x', name: 'agentwrit-verify' })

export default agentwrit
export type { AdapterOptions, AgentAuthOptions, AgentIdentity, Verifier }
export { AgentAuthError, agentwrit }
