/**
 * The adapter kit: everything an adapter does at request time, once, framework-free. An adapter
 * describes its framework in a {@link FrameworkBinding} (how to read the request, where the
 * identity lives, how to go on and how to answer) and gets its middleware, its guards and
 * `agentOf()` from {@link createAdapterKit}.
 *
 * Request flow: extract → verify → attach → guard → answer.
 * - `authentication(setup)` reads the request ({@link FrameworkBinding.authRequest}), verifies it
 *   (synchronously when the answer is cached: no promise on the warm path), attaches the identity
 *   ({@link FrameworkBinding.storeAgent}) and goes on ({@link FrameworkBinding.pass});
 * - the guards find the middleware that attached the identity through the identity itself
 *   (`adapter-state.ts`), check it, and go on;
 * - every other outcome is a refusal ({@link AdapterKit.refuse}): whatever was thrown becomes an
 *   `AgentAuthError`; a misconfiguration (500) goes to the framework's error handling
 *   ({@link FrameworkBinding.escalate}), anything else to the middleware's renderer (the adapter's
 *   problem answer or the user's `onError`), and a renderer that fails or answers nothing ends in
 *   the framework's error handling too. Never in the handler, never in a hang.
 *
 * Handlers take the framework's arguments as three positional parameters `(a, b, c)`: `a` is the
 * request object the identity lives on (Express `req`, Koa `ctx`, Fastify `request`, Hono `c`),
 * `b` and `c` the rest (`res, next`; `next`; `reply, done`; `next`).
 */
import { type AdapterInput, type AdapterSetup, type RefusalConfig, setupAdapter } from './adapter-setup.js'
import {
  type AdapterState,
  accessOf,
  asRefusal,
  authenticateWith,
  type GuardAccess,
  identityFor,
} from './adapter-state.js'
import type { AgentIdentity } from './claims.js'
import { compileDelegationGuard, type DelegationRootMatcher } from './delegation.js'
import type { AgentAuthError } from './errors.js'
import { compileScopeGuard, type ScopeGuard, type ScopeRequirement } from './guard.js'
import type { AuthRequest, Verifier } from './verifier.js'

/** A framework's handler, reduced to three positional arguments (see the module comment). */
export type KitHandler<A, B, C, R> = (a: A, b: B, c: C) => R | Promise<R>

/** A renderer of refusals: the adapter's default, or the user's `onError`. */
export type KitRenderer<A, B, C> = (err: AgentAuthError, a: A, b: B, c: C) => unknown

/** What an adapter tells the kit about its framework. */
export interface FrameworkBinding<A extends object, B, C, R> extends RefusalConfig<KitRenderer<A, B, C>> {
  /** How `agentOf()` names its argument in errors: `'req'`, `'ctx'`, `'request'`, `'c'`. */
  readonly requestName: string
  /** The parts of the request the verifier reads (Node's `IncomingMessage` fits). */
  authRequest(a: A): AuthRequest
  /** Whatever the request carries as its identity (unchecked: the guards check it). */
  storedAgent(a: A): unknown
  /** Put the verified identity on the request. */
  storeAgent(a: A, agent: AgentIdentity): void
  /** The route parameters, `undefined` when the router gave none. */
  routeParams(a: A): Readonly<Record<string, unknown>> | undefined
  /** The matched route's path pattern, for error messages (`/customers/:id`). */
  routePath(a: A): string
  /** Go on to the next handler. */
  pass(a: A, b: B, c: C): R | Promise<R>
  /** Hand an error to the framework's own error handling (`next(err)`, a rejection, `done(err)`). */
  escalate(err: AgentAuthError, a: A, b: B, c: C): R | Promise<R>
  /**
   * End the request once a renderer returned `rendered` for `err`: nothing to do (Express), wait
   * for it (Koa), end the hook unless a reply was sent (Fastify), return the response (Hono). A
   * renderer that rejected, or answered nothing where the framework needs an answer, ends in
   * {@link FrameworkBinding.escalate}.
   */
  rendered(rendered: unknown, err: AgentAuthError, a: A, b: B, c: C): R | Promise<R>
}

/** The middleware, guards and accessors of one framework. */
export interface AdapterKit<A extends object, B, C, R> {
  /** Read the adapter's argument (options or a verifier) into its verifier and settings. */
  setup(input: AdapterInput): AdapterSetup<KitRenderer<A, B, C>>
  /** The authentication middleware of one setup. */
  authentication(setup: AdapterSetup<KitRenderer<A, B, C>>): KitHandler<A, B, C, R>
  /**
   * `agentAuth(input)` of a middleware framework: the authentication middleware of
   * `setup(input)`, with its `verifier` and `close()` (which closes the verifier).
   */
  middleware(input: AdapterInput): KitHandler<A, B, C, R> & KitMiddlewareExtras
  /**
   * Authenticate one request: the identity (synchronously when cached), `undefined` for an
   * anonymous pass (`optional: true`), or a promise of either. May throw; not yet attached.
   */
  authenticate(
    state: AdapterState<KitRenderer<A, B, C>>,
    a: A,
  ): AgentIdentity | undefined | Promise<AgentIdentity | undefined>
  /** End the request with a refusal (see the module comment). `state` renders it, when known. */
  refuse(
    thrown: unknown,
    state: AdapterState<KitRenderer<A, B, C>> | undefined,
    a: A,
    b: B,
    c: C,
  ): R | Promise<R>
  /** The guard middleware of a compiled guard (scope or delegation). */
  guardHandler(guard: Enforceable<A>): KitHandler<A, B, C, R>
  /** `requireScope(...)`: every listed scope (templates filled from the route params, or functions). */
  requireScope(...requirements: ScopeRequirement<A>[]): KitHandler<A, B, C, R>
  /** `requireAnyScope(...)`: at least one of the listed scopes. */
  requireAnyScope(...requirements: ScopeRequirement<A>[]): KitHandler<A, B, C, R>
  /** `requireDelegatedFrom(...)`: delegated tokens whose chain starts at one of these agents. */
  requireDelegatedFrom(...roots: DelegationRootMatcher[]): KitHandler<A, B, C, R>
  /** The verified identity of a request, or the refusal (401 anonymous, 500 no authentication). */
  agentOf(a: A): AgentIdentity
  /** What a guard knows about the request: the identity and the middleware that attached it. */
  accessOf(a: A): GuardAccess<KitRenderer<A, B, C>>
}

/** What `agentAuth()` middleware carries besides being a handler. */
export interface KitMiddlewareExtras {
  /** The verifier behind this middleware (stats, `verifyToken`). */
  readonly verifier: Verifier
  /** Close the verifier's sockets and timers. */
  close(): Promise<void>
}

/** A compiled guard, as the kit runs it. */
export interface Enforceable<A> {
  enforce: ScopeGuard<A>['enforce']
}

export function createAdapterKit<A extends object, B, C, R>(
  binding: FrameworkBinding<A, B, C, R>,
): AdapterKit<A, B, C, R> {
  type State = AdapterState<KitRenderer<A, B, C>>

  function authenticate(state: State, a: A) {
    return authenticateWith(state, binding.authRequest(a), a)
  }

  function refuse(thrown: unknown, state: State | undefined, a: A, b: B, c: C): R | Promise<R> {
    const refusal = asRefusal(thrown)
    // Errors are made without a realm where checks fail: they get this middleware's here.
    const err = state === undefined ? refusal : refusal.inRealm(state.realm)
    const render = state?.render
    if (render === undefined || err.code === 'configuration_error') return binding.escalate(err, a, b, c)
    let rendered: unknown
    try {
      rendered = render(err, a, b, c)
    } catch (renderError) {
      return binding.escalate(asRefusal(renderError), a, b, c)
    }
    return binding.rendered(rendered, err, a, b, c)
  }

  function authentication({ state }: AdapterSetup<KitRenderer<A, B, C>>): KitHandler<A, B, C, R> {
    return function agentwritAuthentication(a, b, c) {
      let result: AgentIdentity | undefined | Promise<AgentIdentity | undefined>
      try {
        result = authenticate(state, a)
      } catch (err) {
        return refuse(err, state, a, b, c)
      }
      if (result instanceof Promise) {
        return result.then(
          (agent) => {
            if (agent !== undefined) binding.storeAgent(a, agent)
            return binding.pass(a, b, c)
          },
          (err: unknown) => refuse(err, state, a, b, c),
        )
      }
      if (result !== undefined) binding.storeAgent(a, result)
      return binding.pass(a, b, c)
    }
  }

  function access(a: A): GuardAccess<KitRenderer<A, B, C>> {
    return accessOf(binding.storedAgent(a), a)
  }

  function guardHandler(guard: Enforceable<A>): KitHandler<A, B, C, R> {
    const routePath = binding.routePath
    return function agentwritGuard(a, b, c) {
      const found = access(a)
      try {
        guard.enforce(found, binding.routeParams(a), a, routePath)
      } catch (err) {
        return refuse(err, found.state, a, b, c)
      }
      return binding.pass(a, b, c)
    }
  }

  function middleware(input: AdapterInput) {
    const setup = setupAdapter(input, binding)
    const handler = authentication(setup)
    Object.defineProperty(handler, 'verifier', { value: setup.verifier })
    Object.defineProperty(handler, 'close', { value: () => setup.verifier.close() })
    return handler as KitHandler<A, B, C, R> & KitMiddlewareExtras
  }

  const agentOfCaller = `agentOf(${binding.requestName})`
  return Object.freeze({
    setup: (input: AdapterInput) => setupAdapter(input, binding),
    authentication,
    middleware,
    authenticate,
    refuse,
    guardHandler,
    requireScope: (...requirements: ScopeRequirement<A>[]) =>
      guardHandler(compileScopeGuard('all', requirements)),
    requireAnyScope: (...requirements: ScopeRequirement<A>[]) =>
      guardHandler(compileScopeGuard('any', requirements)),
    requireDelegatedFrom: (...roots: DelegationRootMatcher[]) => guardHandler(compileDelegationGuard(roots)),
    agentOf: (a: A) => identityFor(access(a), agentOfCaller),
    accessOf: access,
  })
}
