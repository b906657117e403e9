/**
 * One verification under the `agentwrit-verify:verify` tracing channel (diagnostics.ts), with the
 * verifier's counters. Only used while someone subscribes: the verifier counts without it
 * otherwise. Events follow Node's tracing-channel convention: `start`, then `error` for a refusal
 * and `end` for an answer given synchronously (a cached answer); `start`, `end`, then `error`,
 * `asyncStart`, `asyncEnd` for an answer that took a promise. The message gets its outcome before
 * `error`/`end` (synchronous) or before `error`/`asyncStart` (asynchronous).
 */

import { looksLikeJws } from './bearer.js'
import type { AgentIdentity } from './claims.js'
import { type AdapterName, ms, type VerifyMessage, verifyTrace } from './diagnostics.js'
import { isAgentAuthError } from './errors.js'
import { readTokenClaims } from './token-shape.js'
import type { VerificationCounters } from './verification-counters.js'

/** The request id of the verification that produced an identity (kept only while tracing). */
const requestIds = new WeakMap<AgentIdentity, string>()

/** The request id of the traced verification that produced `identity`, if any. */
export function requestIdOfIdentity(identity: AgentIdentity): string | undefined {
  return requestIds.get(identity)
}

/** What a trace starts with. */
export interface TraceStart {
  readonly adapter: AdapterName
  readonly mode: VerifyMessage['mode']
  readonly requestId: string | undefined
}

/** `X-Request-ID` when it is a plausible request id: 1–200 visible ASCII characters, not a JWT. */
export function requestIdOf(headers: { readonly [name: string]: unknown }): string | undefined {
  const id = headers['x-request-id']
  if (typeof id !== 'string' || id.length === 0 || id.length > 200 || !/^[\x21-\x7e]+$/.test(id))
    return undefined
  return looksLikeJws(id) ? undefined : id
}

/**
 * Verify with `run` under the tracing channel. `token` gives the request's token (or `undefined`)
 * on a refusal only, so the message can name what the token claims.
 */
export function traceVerification(
  start: TraceStart,
  counters: VerificationCounters,
  run: () => AgentIdentity | Promise<AgentIdentity>,
  token: () => string | undefined,
): AgentIdentity | Promise<AgentIdentity> {
  const message: VerifyMessage = { adapter: start.adapter, mode: start.mode, requestId: start.requestId }
  const started = performance.now()
  return verifyTrace.start.runStores(message, () => {
    let result: AgentIdentity | Promise<AgentIdentity>
    try {
      result = run()
    } catch (err) {
      refused(message, err, started, counters, token)
      verifyTrace.error.publish(message)
      verifyTrace.end.publish(message)
      throw err
    }
    if (!(result instanceof Promise)) {
      accepted(message, result, started, counters)
      verifyTrace.end.publish(message)
      return result
    }
    verifyTrace.end.publish(message)
    return result.then(
      (identity) => {
        accepted(message, identity, started, counters)
        verifyTrace.asyncStart.publish(message)
        verifyTrace.asyncEnd.publish(message)
        return identity
      },
      (err: unknown) => {
        refused(message, err, started, counters, token)
        verifyTrace.error.publish(message)
        verifyTrace.asyncStart.publish(message)
        verifyTrace.asyncEnd.publish(message)
        throw err
      },
    )
  })
}

function accepted(
  message: VerifyMessage,
  identity: AgentIdentity,
  started: number,
  counters: VerificationCounters,
) {
  counters.accepted++
  if (message.requestId !== undefined) requestIds.set(identity, message.requestId)
  message.outcome = 'accepted'
  message.source = identity.verification.source
  message.agentId = identity.id
  message.jti = identity.jti
  message.durationMs = ms(performance.now() - started)
}

function refused(
  message: VerifyMessage,
  err: unknown,
  started: number,
  counters: VerificationCounters,
  token: () => string | undefined,
) {
  counters.verificationRefused(err)
  message.outcome = 'refused'
  message.error = err
  if (isAgentAuthError(err)) {
    message.code = err.code
    message.reason = err.reason
    message.status = err.status
  }
  const claimed = claimedBy(token)
  if (claimed !== undefined) {
    message.agentId = claimed.sub
    message.jti = claimed.jti
  }
  message.durationMs = ms(performance.now() - started)
}

/** What a refused token claims (`sub`, `jti`), when its payload reads as the broker's claims. */
function claimedBy(token: () => string | undefined): { sub: string; jti: string } | undefined {
  try {
    const t = token()
    if (t === undefined || !looksLikeJws(t)) return undefined
    const { sub, jti } = readTokenClaims(t)
    return { sub, jti }
  } catch {
    return undefined
  }
}
