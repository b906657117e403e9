/**
 * What one `agentAuth()` (or one Fastify plugin registration) knows at request time, and how its
 * route guards find it again: the realm, how refusals are answered, whether anonymous requests
 * may pass. Framework-free: every adapter uses it the same way, so a misuse (a guard without
 * authentication, an identity replaced by other middleware, a hand-written verifier that resolves
 * with junk or rejects with `null`) ends in a refusal in every adapter, never in the handler.
 *
 * How a guard finds the state of the request it guards:
 * - an identity built by our verifier carries the state as its owner (`identityOwner`), so the
 *   warm path stores nothing but the identity on the request;
 * - an identity from a hand-written {@link Verifier} is checked for shape and remembered in a
 *   `WeakMap` (identity → state);
 * - an anonymous request (`optional: true`, no `Authorization` header) is remembered in a
 *   `WeakMap` (request → state), so a guard on that route answers 401, not 500.
 * Anything else on the request (no identity, or an object that only looks like one) is a
 * `configuration_error` (500).
 */

import { hasQueryToken } from './bearer.js'
import type { AgentIdentity } from './claims.js'
import { identityOwner } from './claims.js'
import { type AdapterName, type GuardMessage, guardChannel } from './diagnostics.js'
import { AgentAuthError } from './errors.js'
import type { VerificationCounters } from './verification-counters.js'
import { requestIdOfIdentity } from './verification-trace.js'
import type { AuthRequest, RequestAuthenticator } from './verifier.js'

/** Identities returned by hand-written verifiers, with the state that accepted them. */
const foreignIdentities = new WeakMap<object, AdapterState<unknown>>()
/** Requests let through anonymously (`optional: true`), with the state that let them through. */
const anonymousRequests = new WeakMap<object, AdapterState<unknown>>()

/** The settings of one authentication middleware, which its guards need at request time too. */
export class AdapterState<H> {
  constructor(
    /** `realm` of every challenge this middleware's refusals carry. */
    readonly realm: string,
    /**
     * What renders a refusal: the adapter's default problem answer or the user's `onError`.
     * `undefined` (`onError: 'next'` / `'throw'`): every refusal goes to the framework's error
     * handling.
     */
    readonly render: H | undefined,
    /** `true`: a request without an `Authorization` header passes with no identity. */
    readonly optional: boolean,
    /** How this middleware's verifier is asked (see `requestAuthenticator`). */
    readonly authenticateRequest: RequestAuthenticator,
    /** The adapter, in diagnostics messages. */
    readonly adapter?: AdapterName,
    /** The verifier's counters, where guards count their refusals (`undefined` for a hand-written verifier). */
    readonly counters?: VerificationCounters,
  ) {}

  /**
   * The identity a verifier produced, checked. Ours carry this state as their owner and pass at
   * the cost of one brand check; anything else must look like an identity (non-empty string `id`,
   * string array `scope`) and is remembered as this state's.
   * @throws AgentAuthError `configuration_error` (500) for anything that is not an identity.
   */
  accept(value: unknown): AgentIdentity {
    if (identityOwner(value) === this) return value as AgentIdentity
    if (!looksLikeIdentity(value)) {
      throw new AgentAuthError('configuration_error', {
        detail: 'the verifier resolved with something that is not an identity',
        reason: 'verifier_returned_no_identity',
      })
    }
    foreignIdentities.set(value, this as AdapterState<unknown>)
    return value
  }

  /** `true` when `request` has no credentials at all and this middleware lets such requests pass. */
  letsPassAnonymously(request: AuthRequest): boolean {
    return (
      this.optional &&
      request.headers.authorization === undefined &&
      (request.url === undefined || !hasQueryToken(request.url))
    )
  }

  /** Remember that this middleware let `request` (the framework's request object) pass anonymously. */
  markAnonymous(request: object): void {
    anonymousRequests.set(request, this as AdapterState<unknown>)
  }

  /** Whether `agent` is an identity this middleware attached (not one put there by other code). */
  owns(agent: unknown): boolean {
    return identityOwner(agent) === this || (isObject(agent) && foreignIdentities.get(agent) === this)
  }
}

/**
 * Authenticate one request for an adapter: the identity synchronously when the answer is cached,
 * `undefined` for a request `state` lets pass anonymously (recorded on `requestObject`, the
 * framework's request or context), a promise of either otherwise. Whatever the verifier produces
 * is checked with {@link AdapterState.accept}. May throw synchronously; adapters turn every throw
 * or rejection into a refusal with {@link asRefusal}.
 */
export function authenticateWith<H>(
  state: AdapterState<H>,
  request: AuthRequest,
  requestObject: object,
): AgentIdentity | undefined | Promise<AgentIdentity | undefined> {
  if (state.letsPassAnonymously(request)) {
    state.markAnonymous(requestObject)
    return undefined
  }
  const result: unknown = state.authenticateRequest(request, state)
  if (identityOwner(result) === state) return result as AgentIdentity
  if (isThenable(result)) return Promise.resolve(result).then((value) => state.accept(value))
  return state.accept(result)
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return isObject(value) && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * Report a guard's decision on `agent`: a refusal is counted in the verifier's stats; while
 * someone subscribes, the decision is published on `agentwrit-verify:guard` (diagnostics.ts).
 */
export function reportGuardDecision(
  agent: AgentIdentity,
  guard: GuardMessage['guard'],
  refusal: AgentAuthError | undefined,
  requiredScope?: readonly string[],
): void {
  if (refusal === undefined && !guardChannel.hasSubscribers) return
  const state = stateOf(agent)
  if (refusal !== undefined) state?.counters?.countRefusal(refusal)
  if (!guardChannel.hasSubscribers) return
  const message: GuardMessage = {
    adapter: state?.adapter,
    guard,
    outcome: refusal === undefined ? 'granted' : 'refused',
    agentId: agent.id,
    jti: agent.jti,
    requestId: requestIdOfIdentity(agent),
    ...(requiredScope === undefined ? {} : { requiredScope }),
    ...(refusal === undefined ? {} : { code: refusal.code, reason: refusal.reason, status: refusal.status }),
  }
  guardChannel.publish(message)
}

/** The middleware that attached an identity, if known. */
function stateOf(agent: AgentIdentity): AdapterState<unknown> | undefined {
  const owner = identityOwner(agent)
  return owner instanceof AdapterState ? owner : foreignIdentities.get(agent)
}

/** What a guard knows about the request it guards. */
export type GuardAccess<F> =
  /** An identity attached by the middleware `state`. */
  | { readonly agent: AgentIdentity; readonly state: AdapterState<F> }
  /** A request `state` let through without credentials. */
  | { readonly agent: undefined; readonly state: AdapterState<F> }
  /** No authentication ran for this request, or its identity was replaced. */
  | { readonly agent: undefined; readonly state: undefined }

const NO_ACCESS = Object.freeze({ agent: undefined, state: undefined })

/**
 * For guards that do not know their middleware (Express, Koa): find the state behind the identity
 * on the request, or the state that let the request pass anonymously.
 * @param agent - what the request carries as its identity (`req.agent`, `ctx.state.agent`)
 * @param request - the framework's request object the anonymous pass was recorded on
 */
export function accessOf<F>(agent: unknown, request: object): GuardAccess<F> {
  const owner = identityOwner(agent)
  if (owner instanceof AdapterState) return { agent: agent as AgentIdentity, state: owner as AdapterState<F> }
  if (isObject(agent)) {
    const state = foreignIdentities.get(agent)
    return state === undefined
      ? NO_ACCESS
      : { agent: agent as AgentIdentity, state: state as AdapterState<F> }
  }
  if (agent !== undefined && agent !== null) return NO_ACCESS
  const anonymous = anonymousRequests.get(request)
  return anonymous === undefined ? NO_ACCESS : { agent: undefined, state: anonymous as AdapterState<F> }
}

/**
 * Turn whatever a verifier or a guard threw into a refusal. An `AgentAuthError` stays as it is;
 * anything else (an `Error`, or a thrown `null`, `undefined`, `0`, `false`, string…) becomes a
 * `configuration_error` (500) carrying it as `cause`, so no framework ever reads a falsy error as
 * "carry on".
 */
export function asRefusal(err: unknown): AgentAuthError {
  if (err instanceof AgentAuthError) return err
  return new AgentAuthError('configuration_error', {
    detail: 'authorization failed unexpectedly',
    reason: err instanceof Error ? 'unexpected_error' : 'thrown_non_error',
    cause: err,
  })
}

/**
 * The identity a guard (or a handler's accessor) works with, or the refusal for a
 * request without one: `missing_token` (401) where an `optional: true` middleware let it through
 * anonymously, `configuration_error` (500) where no authentication ran or the identity was
 * replaced. `caller` names the guard or accessor in the error.
 */
export function identityFor(access: GuardAccess<unknown>, caller: string): AgentIdentity {
  if (access.agent !== undefined) return access.agent
  if (access.state !== undefined) {
    throw new AgentAuthError('missing_token', { reason: 'anonymous_request', realm: access.state.realm })
  }
  throw new AgentAuthError('configuration_error', {
    detail: `${caller}: no verified identity on this request (a route without agentAuth(), or the identity was replaced after it)`,
    reason: 'no_identity',
  })
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null
}

function looksLikeIdentity(value: unknown): value is AgentIdentity {
  if (!isObject(value)) return false
  const v = value as { id?: unknown; scope?: unknown }
  return (
    typeof v.id === 'string' &&
    v.id.length > 0 &&
    Array.isArray(v.scope) &&
    v.scope.every((s) => typeof s === 'string')
  )
}
