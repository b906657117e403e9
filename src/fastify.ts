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
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preHandlerHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import { setupAdapter } from './core/adapter-setup.js'
import type { AgentIdentity } from './core/claims.js'
import {
  compileDelegationGuard,
  type DelegationGuard,
  type DelegationRootMatcher,
} from './core/delegation.js'
import { AgentAuthError, problemResponse } from './core/errors.js'
import { compileScopeGuard, type ScopeGuard, type ScopeRequirement } from './core/guard.js'
import type { AgentAuthOptions } from './core/options.js'
import { authenticateFast, type Verifier } from './core/verifier.js'

/** A scope requirement for Fastify guards: a template string or `(request, agent) => scope(s)`. */
export type FastifyScopeRequirement = ScopeRequirement<FastifyRequest>

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified AgentWrit identity, set in `onRequest` by the agentwrit-verify plugin.
     * `null` at run time on routes outside the plugin's context or marked `agentAuth: false`.
     */
    agent: AgentIdentity
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

/** Plugin options: the verifier options (or `verifier`) plus Fastify-specific ones. */
export interface FastifyAgentAuthOptions extends AgentAuthOptions {
  /** Use this verifier instead of creating one from the options (it is then not closed with the app). */
  verifier?: Verifier
  /**
   * How refusals are answered. Default: the plugin replies with the status, the
   * `WWW-Authenticate`/`Retry-After` headers and an RFC 7807 `application/problem+json` body.
   * `'throw'`: throw the error so your `setErrorHandler` (or Fastify's default, which applies
   * `err.statusCode` and `err.headers`) renders it. A function: render it yourself.
   */
  onError?: 'throw' | FastifyErrorHandler
}

const kGuard = Symbol('agentwrit-verify.guard')

type MarkedHandler = preHandlerHookHandler & { [kGuard]?: ScopeGuard<FastifyRequest> }
type HookDone = (err?: Error) => void

/** Route parameter names of a Fastify route URL (`/a/:id/:b(^\\d+)` → id, b). */
function routeParams(url: string): Set<string> {
  return new Set([...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))
}

function asList(v: string | readonly string[] | undefined, option: string, url: string): string[] {
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

const agentwritPlugin: FastifyPluginAsync<FastifyAgentAuthOptions> = async (fastify, pluginOptions) => {
  const { verifier, owned, fail } = setupAdapter<FastifyErrorHandler>(
    pluginOptions,
    'throw',
    (err, request, reply) => {
      const answer = problemResponse(err, request.url)
      reply.code(answer.status).headers(answer.headers).send(answer.body)
    },
    (err) => {
      throw err
    },
    // fastify passes its own keys in plugin options; they are not ours.
    ['prefix', 'logLevel', 'logSerializers'],
  )
  const realm = verifier.options.realm

  fastify.decorateRequest('agent', null as unknown as AgentIdentity)
  fastify.decorate('agentVerifier', verifier)

  /**
   * Answer a refusal and end the hook: the configured handler replies, or (`'throw'`, or a
   * configuration error, or a handler that sent nothing) Fastify's error handling does. Never lets
   * the request through.
   */
  function refuse(err: unknown, request: FastifyRequest, reply: FastifyReply, done: HookDone): void {
    if (!(err instanceof AgentAuthError) || err.code === 'configuration_error') {
      done(err as Error)
      return
    }
    let rendered: void | Promise<void>
    try {
      rendered = fail(err, request, reply)
    } catch (thrown) {
      done(thrown as Error)
      return
    }
    const finish = () => {
      if (!reply.sent) done(err)
    }
    if (rendered instanceof Promise) rendered.then(finish, (thrown: unknown) => done(thrown as Error))
    else finish()
  }

  /** Run `check` as a callback-style preHandler (no promise when it passes). */
  function guardHook(check: (request: FastifyRequest) => void): MarkedHandler {
    return function agentwritGuard(request: FastifyRequest, reply: FastifyReply, done: HookDone) {
      try {
        check(request)
      } catch (err) {
        refuse(err, request, reply, done)
        return
      }
      done()
    } as unknown as MarkedHandler
  }

  function preHandler(mode: 'all' | 'any', requirements: FastifyScopeRequirement[]): preHandlerHookHandler {
    const guard = compileScopeGuard<FastifyRequest>(mode, requirements)
    const handler = guardHook((request) =>
      guard.enforce(
        request.agent ?? undefined,
        request.params as Record<string, unknown>,
        request,
        realm,
        () => request.routeOptions.url ?? request.url,
      ),
    )
    handler[kGuard] = guard
    return handler
  }
  fastify.decorate('requireScope', (...r: FastifyScopeRequirement[]) => preHandler('all', r))
  fastify.decorate('requireAnyScope', (...r: FastifyScopeRequirement[]) => preHandler('any', r))
  fastify.decorate('requireDelegatedFrom', (...roots: DelegationRootMatcher[]) => {
    const guard = compileDelegationGuard(roots)
    return guardHook((request) => guard.enforce(request.agent ?? undefined, realm))
  })

  /**
   * The authentication hook of one route: its guards are compiled once, at route definition, and
   * closed over, so a request costs no lookups. A cached answer completes without a promise.
   */
  function authHook(
    guards: readonly ScopeGuard<FastifyRequest>[],
    delegation: DelegationGuard | undefined,
  ): onRequestHookHandler {
    const none: readonly (readonly string[])[] = []
    const admitted = (
      request: FastifyRequest,
      agent: AgentIdentity,
      filled: readonly (readonly string[])[],
    ) => {
      request.agent = agent
      delegation?.check(agent, realm)
      for (let i = 0; i < guards.length; i++) guards[i]!.checkPrepared(agent, filled[i]!, request, realm)
    }
    return function agentwritAuth(request, reply, done) {
      let result: AgentIdentity | Promise<AgentIdentity>
      let filled = none
      try {
        // Template scopes are filled before authentication: a param that cannot be used in a
        // scope is refused before any broker call.
        if (guards.length > 0) {
          const params = request.params as Record<string, unknown>
          filled = guards.map((g) => g.prepare(params, realm))
        }
        result = authenticateFast(verifier, request.raw)
        if (!(result instanceof Promise)) admitted(request, result, filled)
      } catch (err) {
        refuse(err, request, reply, done)
        return
      }
      if (!(result instanceof Promise)) {
        done()
        return
      }
      result.then(
        (agent) => {
          try {
            admitted(request, agent, filled)
          } catch (err) {
            refuse(err, request, reply, done)
            return
          }
          done()
        },
        (err: unknown) => refuse(err, request, reply, done),
      )
    }
  }

  // Every route of this context: compile its guards once, check placeholders against its params at
  // startup, and put the authentication hook first among its onRequest hooks.
  fastify.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as {
      scope?: unknown
      anyScope?: unknown
      delegatedFrom?: unknown
      agentAuth?: unknown
    }
    const guards: ScopeGuard<FastifyRequest>[] = []
    const all = asList(config.scope as string | string[] | undefined, 'scope', route.url)
    const any = asList(config.anyScope as string | string[] | undefined, 'anyScope', route.url)
    if (all.length > 0) guards.push(compileScopeGuard('all', all))
    if (any.length > 0) guards.push(compileScopeGuard('any', any))
    for (const g of guards) assertPlaceholders(g, route.url, String(route.method))
    const pre = route.preHandler
    for (const h of (Array.isArray(pre) ? pre : pre ? [pre] : []) as MarkedHandler[]) {
      if (h[kGuard]) assertPlaceholders(h[kGuard], route.url, String(route.method))
    }
    const from = config.delegatedFrom as DelegationRootMatcher | DelegationRootMatcher[] | undefined
    const delegation =
      from === undefined ? undefined : compileDelegationGuard(Array.isArray(from) ? from : [from])
    if (config.agentAuth === false) {
      if (guards.length > 0 || delegation) {
        throw new TypeError(
          `agentwrit-verify: route ${route.url}: config.scope/delegatedFrom need agentAuth, not agentAuth: false`,
        )
      }
      return
    }
    const own = route.onRequest
    route.onRequest = [authHook(guards, delegation), ...(Array.isArray(own) ? own : own ? [own] : [])]
  })

  if (owned) fastify.addHook('onClose', async () => verifier.close())
}

/**
 * The agentwrit-verify Fastify plugin (`fastify-plugin`, name `agentwrit-verify`, Fastify 5.x).
 * Options: {@link FastifyAgentAuthOptions}.
 */
const agentwrit = fp(agentwritPlugin, { fastify: '5.x', name: 'agentwrit-verify' })

export default agentwrit
export type { AgentAuthOptions, AgentIdentity, Verifier }
export { AgentAuthError, agentwrit }
