/**
 * The verifier's two entry points (a request, a token), counted in its stats and, while someone
 * subscribes to the verify or guard channel (diagnostics.ts), traced. Without a subscriber the
 * warm path pays two `hasSubscribers` checks and one increment.
 */
import type { AgentIdentity } from './claims.js'
import { type AdapterName, guardChannel, verifyTrace } from './diagnostics.js'
import type { VerificationCounters } from './verification-counters.js'
import { requestIdOf, traceVerification } from './verification-trace.js'
import type { AuthRequest } from './verifier.js'

/** An authenticator that also says which entry point asks. */
export type ObservedAuthenticator = (
  request: AuthRequest,
  owner: object | undefined,
  adapter: AdapterName,
) => AgentIdentity | Promise<AgentIdentity>

export interface EntryPoints {
  readonly authenticate: ObservedAuthenticator
  verifyToken(token: string, adapter: AdapterName): Promise<AgentIdentity>
}

/** What is observed: the verifier's own ways of authenticating a request and verifying a token. */
export interface ObservedParts {
  readonly mode: 'remote' | 'local' | 'hybrid'
  readonly counters: VerificationCounters
  /** Synchronous when the answer is cached; may throw. */
  authenticate(request: AuthRequest, owner: object | undefined): AgentIdentity | Promise<AgentIdentity>
  verifyToken(token: string): Promise<AgentIdentity>
  /** The request's bearer token, for a refusal's message only; `undefined` when unreadable. */
  bearerOf(request: AuthRequest): string | undefined
}

export function observeEntryPoints(parts: ObservedParts): EntryPoints {
  const { counters, mode } = parts
  const countAccepted = (identity: AgentIdentity): AgentIdentity => {
    counters.accepted++
    return identity
  }
  const countRefused = (err: unknown): never => {
    counters.verificationRefused(err)
    throw err
  }

  // Guard messages name the request id of the verification, which only a trace reads.
  const authenticate: ObservedAuthenticator = (request, owner, adapter) => {
    if (verifyTrace.hasSubscribers || guardChannel.hasSubscribers) {
      const start = { adapter, mode, requestId: requestIdOf(request.headers) }
      return traceVerification(
        start,
        counters,
        () => parts.authenticate(request, owner),
        () => parts.bearerOf(request),
      )
    }
    let result: AgentIdentity | Promise<AgentIdentity>
    try {
      result = parts.authenticate(request, owner)
    } catch (err) {
      return countRefused(err)
    }
    if (result instanceof Promise) return result.then(countAccepted, countRefused)
    counters.accepted++
    return result
  }

  function verifyToken(token: string, adapter: AdapterName): Promise<AgentIdentity> {
    if (!verifyTrace.hasSubscribers) return parts.verifyToken(token).then(countAccepted, countRefused)
    const given = typeof token === 'string' ? token : undefined
    const start = { adapter, mode, requestId: undefined }
    return Promise.resolve(
      traceVerification(
        start,
        counters,
        () => parts.verifyToken(token),
        () => given,
      ),
    )
  }

  return { authenticate, verifyToken }
}
