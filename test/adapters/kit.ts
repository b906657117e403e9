/**
 * What every adapter's test apps are made of. Each adapter has one file (express-apps.ts, …) that
 * exports the two builders of {@link AdapterKit}; apps.ts lists those files. Everything here is
 * framework-free: listening on 127.0.0.1, the service's shared pieces and the misuse wiring.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AgentIdentity, Verifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'

export interface RunningServer {
  readonly url: string
  close(): Promise<void>
}

/** The two apps an adapter builds for the cross-adapter suites. */
export interface AdapterKit {
  /**
   * The protected service of the conformance, hostile, outage and revocation suites around
   * `verifier`: `/public` (no token), `/me`, `/customers/:id` (`read:data:customer-:id`),
   * `PUT /orders/:id`, `/tenants/:tenant/analytics` (`read:analytics::tenant`), `/either`
   * (any of two scopes), `/computed/:id` (a scope function), `POST /deploy/:service` (delegated from
   * {@link ORCHESTRATORS}), `/opt{/:id}` (optional parameter) and, where the framework allows it
   * at all, `/misconfigured/:id` (a placeholder that is not a route parameter). Handlers answer
   * {@link summary}.
   */
  service(verifier: Verifier): Promise<RunningServer>
  /** The misuse table's app: `/things/:id` (guarded as `setup.guard` says) and `/open`, wired as `setup` says. */
  misuse(setup: Setup, broker: DevBroker, real: Verifier): Promise<MisuseApp>
}

export function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}

/** Serve a Node request listener on 127.0.0.1. */
export async function serve(listener: RequestListener): Promise<RunningServer> {
  const server = createServer(listener)
  const url = await listen(server)
  return { url, close: () => closeServer(server) }
}

// ---------------------------------------------------------------------------------------------------
// The protected service
// ---------------------------------------------------------------------------------------------------

/** What the service's handlers answer: who called, with what, verified how. */
export function summary(agent: AgentIdentity, extra: Record<string, unknown> = {}) {
  return {
    agent: agent.id,
    scope: agent.scope,
    taskId: agent.taskId,
    delegated: agent.delegated,
    source: agent.verification.source,
    ...extra,
  }
}

/** Deploys are accepted only from chains started by a release orchestrator. */
export const ORCHESTRATORS = /^spiffe:\/\/agentwrit\.local\/agent\/release-orchestrator\//

/** `read:data:customer-<id>` computed by a function, to exercise the function form. */
export const computedScope = (id: unknown) => `read:data:customer-${String(id)}`

// ---------------------------------------------------------------------------------------------------
// The misuse wiring (test/e2e/misuse.test.ts)
// ---------------------------------------------------------------------------------------------------

/** In what order the app declares authentication and the guarded route. */
export type Order =
  /** `agentAuth()` / `await app.register(agentwrit)` first, then the routes: the documented way. */
  | 'auth-first'
  /** The routes first, authentication after them. */
  | 'route-first'
  /** Fastify: `app.register(agentwrit)` without `await`, then the routes. */
  | 'unawaited'
  /** Guards with no authentication at all. */
  | 'no-auth'

/** How the route `/things/:id` is guarded. */
export type Guard =
  | { readonly template: string }
  | { readonly computed: (id: string) => unknown }
  | { readonly delegatedFrom: string }

/** An adapter's form of each {@link Guard} (middleware, route options, …). */
export interface GuardForms<T> {
  template(template: string): T
  /** A scope function of the route's `id` parameter. */
  computed(scopeOf: (id: string) => unknown): T
  delegatedFrom(root: string): T
}

/** The adapter's form of `guard`, or `none` without one. */
export function guardForm<T>(guard: Guard | undefined, none: T, forms: GuardForms<T>): T {
  if (guard === undefined) return none
  if ('template' in guard) return forms.template(guard.template)
  if ('computed' in guard) return forms.computed(guard.computed)
  return forms.delegatedFrom(guard.delegatedFrom)
}

export interface Setup {
  readonly order?: Order
  readonly guard?: Guard
  /** Wraps the real verifier (a hand-written `Verifier`). */
  readonly verifier?: (real: Verifier) => Verifier
  /** Middleware after authentication that replaces the identity with a wide-scoped fake. */
  readonly tamper?: boolean
  readonly optional?: boolean
  /** A refusal renderer that itself throws this. */
  readonly onErrorThrows?: { readonly value: unknown }
}

export interface MisuseApp extends RunningServer {
  /** How many times a handler ran. */
  readonly reached: () => number
}

/** What a tampering middleware puts in place of the identity. */
export const FAKE = Object.freeze({
  id: 'spiffe://agentwrit.local/agent/x/y/z',
  scope: ['read:data:*'],
}) as unknown as AgentIdentity

/** The adapter's authentication input for `setup` (a cast away from each adapter's own option type). */
export function authInput(setup: Setup, broker: DevBroker, real: Verifier) {
  const verifier = setup.verifier?.(real) ?? real
  const onError =
    setup.onErrorThrows === undefined
      ? undefined
      : () => {
          throw setup.onErrorThrows!.value
        }
  return { broker: broker.url, verifier, optional: setup.optional, onError }
}
