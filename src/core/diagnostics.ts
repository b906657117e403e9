/**
 * The package's `node:diagnostics_channel` channels and the shapes of their messages: a tracing
 * channel around each verification and plain channels for guards, broker calls, the caches, key
 * sets and the revocation feed. Applications bridge them to metrics, traces and logs (README,
 * "Observability"); the package depends on nothing for that.
 *
 * - Publishing costs nothing unless someone subscribes: every publisher checks `hasSubscribers`
 *   first and builds no message otherwise.
 * - No message ever carries a token, a part of one, or a header: only codes, reasons, counts,
 *   durations, the agent id and the token id (`jti`) — which are claims, not the token.
 * - Messages are published synchronously, in the async context of the request being verified, so
 *   an `AsyncLocalStorage` (OpenTelemetry's context, a logger's request scope) sees that request.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel'
import type { CircuitState } from './circuit-breaker.js'
import type { VerificationSource } from './claims.js'
import type { AgentAuthErrorCode } from './errors.js'

/** The channel names. The tracing channel's events are `tracing:agentwrit-verify:verify:start` etc. */
export const DIAGNOSTICS_CHANNELS = Object.freeze({
  /** Tracing channel (`diagnostics_channel.tracingChannel`): one trace per verification. */
  verify: 'agentwrit-verify:verify',
  /** One message per guard decision (`requireScope`, `requireAnyScope`, `requireDelegatedFrom`). */
  guard: 'agentwrit-verify:guard',
  /** Validate calls to the broker and circuit breaker changes. */
  broker: 'agentwrit-verify:broker',
  /** Cache hits and misses, single-flight joins, stores, evictions, invalidations. */
  cache: 'agentwrit-verify:cache',
  /** Key set fetches (JWKS URL) and use of the last good set while the URL fails. */
  keys: 'agentwrit-verify:keys',
  /** Revocation feed polls and the feed's credential. */
  feed: 'agentwrit-verify:feed',
} as const)

/** Which entry point verified the request. */
export type AdapterName = 'express' | 'koa' | 'fastify' | 'hono' | 'nest' | 'mcp' | 'fetch' | 'verifier'

/**
 * The context object of one verification, on every event of the `agentwrit-verify:verify`
 * tracing channel (the same object from `start` to the last event; subscribers may keep their own
 * state on it, such as a span).
 *
 * When the outcome is known: a verification answered from a cached answer completes
 * synchronously (`start`, then `error` if refused, then `end`); any other completes
 * asynchronously (`start`, `end` before the outcome, then `error` if refused, `asyncStart`,
 * `asyncEnd`). So handle a message once its `outcome` is set: at `end` or at `asyncEnd`.
 */
export interface VerifyMessage {
  /** The entry point: an adapter, `fetch` (`authenticateFetchRequest`) or `verifier` (`authenticate`/`verifyToken`). */
  readonly adapter: AdapterName
  readonly mode: 'remote' | 'local' | 'hybrid'
  /** The request's `X-Request-ID` header when it is a plausible id (1–200 visible ASCII characters, not a JWT). */
  readonly requestId?: string | undefined
  /** `accepted` or `refused`; unset until the outcome is known. */
  outcome?: 'accepted' | 'refused'
  /** Where an accepted answer came from: a cached answer, the broker now, or a local signature check now. */
  source?: VerificationSource
  /**
   * The agent (the token's `sub`). Verified on an acceptance; on a refusal it is what the token
   * claims (unverified), when its payload could be read, else unset.
   */
  agentId?: string
  /** The token id (`jti`), verified or claimed like {@link VerifyMessage.agentId}. */
  jti?: string
  /** The refusal's stable code, reason and HTTP status. */
  code?: AgentAuthErrorCode
  reason?: string | undefined
  status?: number
  /** Milliseconds from `start` to the outcome. */
  durationMs?: number
  /** The refusal (an `AgentAuthError`, which never carries the token), per the tracing-channel convention. */
  error?: unknown
}

/** One guard decision on a verified identity. */
export interface GuardMessage {
  readonly adapter: AdapterName | undefined
  readonly guard: 'requireScope' | 'requireAnyScope' | 'requireDelegatedFrom'
  readonly outcome: 'granted' | 'refused'
  readonly agentId: string
  readonly jti: string
  /** The request's id, when the verification that produced this identity had one. */
  readonly requestId: string | undefined
  /** The scopes asked for (filled from the route), for scope guards. */
  readonly requiredScope?: readonly string[]
  /** The refusal's stable code, reason and HTTP status (403). */
  readonly code?: AgentAuthErrorCode
  readonly reason?: string | undefined
  readonly status?: number
}

/** Messages of `agentwrit-verify:broker`. */
export type BrokerMessage =
  | {
      /** One `POST /v1/token/validate` call (with its retry on a reset connection, if any). */
      readonly event: 'validate'
      /** `valid` / `invalid`: the broker answered; `error`: no usable answer (a 503 for the request). */
      readonly outcome: 'valid' | 'invalid' | 'error'
      /** The HTTP status, when an answer arrived. */
      readonly status: number | undefined
      /** Why the call failed (`timeout`, `unreachable`, `status_500`, `not_json`, `circuit_open`…), else unset. */
      readonly reason: string | undefined
      readonly durationMs: number
      /** The call was sent twice: the first connection turned out to be closed. */
      readonly retried: boolean
      /** The breaker after the call (`undefined` without a breaker). */
      readonly breaker: CircuitState | undefined
    }
  | {
      /** The circuit breaker changed state. */
      readonly event: 'breaker'
      readonly state: CircuitState
      readonly previous: CircuitState
      readonly consecutiveFailures: number
    }
  | {
      /** The open breaker refused a call: nothing was sent. */
      readonly event: 'refused'
      readonly reason: 'circuit_open'
      readonly retryInMs: number
    }

/** Messages of `agentwrit-verify:cache`. */
export type CacheMessage =
  | {
      /** A verification answered from a cached answer (`via: 'connection'`: the keep-alive connection's last answer). */
      readonly event: 'hit'
      readonly mode: 'remote' | 'local' | 'hybrid'
      readonly via: 'connection' | 'cache'
      readonly ageMs: number
    }
  | {
      /** No usable cached answer: the token is verified now. */
      readonly event: 'miss'
      readonly mode: 'remote' | 'local' | 'hybrid'
    }
  | {
      /** `join`: a lookup joined a computation already in flight (single flight). `store`: an answer was cached for `ttlMs`. */
      readonly event: 'join' | 'store'
      readonly cache: 'remote' | 'local'
      readonly ttlMs?: number
      /** For `store`: a positive (`valid`) or negative answer. */
      readonly valid?: boolean
    }
  | {
      /** `evict`: the least recently used entry made room (capacity). `invalidate`: entries dropped because the revocation feed learned they lost trust. */
      readonly event: 'evict' | 'invalidate'
      readonly cache: 'remote' | 'local'
      readonly count: number
    }

/** Messages of `agentwrit-verify:keys`. */
export type KeysMessage =
  | {
      /** A JWKS fetch. `url` is the JWKS URL without credentials or query. */
      readonly event: 'fetch'
      readonly url: string
      readonly outcome: 'ok' | 'error'
      readonly status: number | undefined
      readonly durationMs: number
      readonly reason?: string
    }
  | {
      /** The JWKS URL failed and the last good set was used (or none was left: `available: false`). */
      readonly event: 'stale'
      readonly reason: string
      readonly available: boolean
    }

/** Messages of `agentwrit-verify:feed`. */
export type FeedMessage =
  | {
      /** One poll of the audit log. */
      readonly event: 'poll'
      readonly outcome: 'ok' | 'error'
      readonly reason: string | undefined
      readonly durationMs: number
      /** Time since the last good poll started, after this one, ms (`null` before the first). */
      readonly lagMs: number | null
      readonly synced: boolean
      /** Events this poll applied. */
      readonly applied: { readonly revocations: number; readonly releases: number; readonly renewals: number }
    }
  | {
      /** The feed's own credential was obtained or renewed (`login` with the admin secret, `renewal` of its token). */
      readonly event: 'credential'
      readonly kind: 'login' | 'renewal'
      readonly outcome: 'ok' | 'error'
    }

export const verifyTrace = tracingChannel<VerifyMessage, VerifyMessage>(DIAGNOSTICS_CHANNELS.verify)
export const guardChannel = channel(DIAGNOSTICS_CHANNELS.guard)
export const brokerChannel = channel(DIAGNOSTICS_CHANNELS.broker)
export const cacheChannel = channel(DIAGNOSTICS_CHANNELS.cache)
export const keysChannel = channel(DIAGNOSTICS_CHANNELS.keys)
export const feedChannel = channel(DIAGNOSTICS_CHANNELS.feed)

/** Publish `message()` on `ch` only when someone listens (the message is not built otherwise). */
export function publish<M>(
  ch: { readonly hasSubscribers: boolean; publish(m: unknown): void },
  message: () => M,
): void {
  if (ch.hasSubscribers) ch.publish(message())
}

/** Milliseconds to the microsecond (durations in messages). */
export function ms(value: number): number {
  return Math.round(value * 1000) / 1000
}
