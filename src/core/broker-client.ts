/**
 * `POST /v1/token/validate` over undici: keep-alive pool, one overall timeout, no redirects,
 * bounded response size, one immediate retry when a reused connection turns out to be closed.
 * Anything but a well-formed 200 answer is "broker unavailable" (503), never "invalid token"
 * (shared contract §4.4).
 *
 * A circuit breaker guards the calls: after `breakerThreshold` consecutive failed calls, calls are
 * refused with no network for `breakerCooldownMs` (503, reason `circuit_open`), then one probe
 * decides (see circuit-breaker.ts). A `valid: false` answer is a success of the broker.
 */
import { Agent, type Dispatcher, request } from 'undici'
import { type CircuitBreaker, type CircuitState, createCircuitBreaker } from './circuit-breaker.js'
import { type AgentWritClaims, parseClaims } from './claims.js'
import { brokerChannel, ms, publish } from './diagnostics.js'
import { AgentAuthError } from './errors.js'
import { readBoundedText } from './http-body.js'
import { type LatencySummary, LatencyWindow } from './latency-window.js'

/**
 * What the broker said about a token (the validate answer, contract §4). Also the value of the
 * result cache (cache.ts), whichever strategy reached it.
 */
export type BrokerVerdict =
  | { readonly valid: true; readonly claims: AgentWritClaims }
  | { readonly valid: false }

export interface BrokerClientOptions {
  /** Broker base URL. */
  broker: URL
  /** Overall request timeout (connect + headers + body), ms. */
  timeoutMs: number
  /** Dispatcher to use; when absent the client owns a keep-alive `Agent` and closes it in `close()`. */
  dispatcher: Dispatcher | undefined
  retryAfterSeconds: number
  /** Consecutive failed calls that open the circuit breaker; `0` = no breaker. */
  breakerThreshold: number
  /** How long an open breaker refuses calls before one probe, ms. */
  breakerCooldownMs: number
  /** Clock in ms (drives the breaker's cooldown). */
  now: () => number
}

export interface BrokerClient {
  /**
   * Ask the broker. Rejects only with `AgentAuthError('broker_unavailable')`; reason `circuit_open`
   * when the circuit breaker refused the call (no request was sent).
   */
  validate(token: string): Promise<BrokerVerdict>
  /** Validate calls actually sent to the broker (a breaker refusal is not one). */
  readonly calls: number
  /** The circuit breaker, `undefined` when `breakerThreshold` is `0`. */
  readonly breaker: CircuitBreaker | undefined
  /** Counters, breaker state and latency, for `verifier.stats().broker`. */
  stats(): BrokerStats
  close(): Promise<void>
}

/** What the broker client reports (in `verifier.stats().broker`). */
export interface BrokerStats {
  /** Validate calls sent (a call retried on a closed connection counts once). */
  readonly calls: number
  /** Calls that got no usable answer (each a 503 for its requests), by reason in `errorsByReason`. */
  readonly errors: number
  readonly errorsByReason: Readonly<Record<string, number>>
  /** Calls sent a second time because the pooled connection turned out to be closed. */
  readonly retries: number
  /** The circuit breaker (`undefined` when `breakerThreshold` is `0`). */
  readonly breaker:
    | {
        readonly state: CircuitState
        readonly consecutiveFailures: number
        /** Times it opened. */
        readonly opens: number
        /** Calls it refused (no request sent). */
        readonly refusals: number
      }
    | undefined
  /** Latency of the calls sent, answered or not, ms. */
  readonly latencyMs: LatencySummary
}

/** What one call found out, besides its verdict. */
interface CallTrace {
  status: number | undefined
  retried: boolean
}

/** Largest validate answer we read (the broker's are < 4 KiB unless the chain is long). */
const MAX_ANSWER_BYTES = 256 * 1024

const USER_AGENT = 'agentwrit-verify'

export function createBrokerClient(options: BrokerClientOptions): BrokerClient {
  const url = new URL(
    'v1/token/validate',
    options.broker.href.endsWith('/') ? options.broker : `${options.broker.href}/`,
  )
  const owned =
    options.dispatcher === undefined
      ? new Agent({
          keepAliveTimeout: 10_000,
          connections: 64,
          connect: { timeout: options.timeoutMs },
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        })
      : undefined
  const dispatcher = options.dispatcher ?? owned!

  function unavailable(reason: string, cause?: unknown): AgentAuthError {
    return new AgentAuthError('broker_unavailable', {
      reason,
      cause,
      retryAfterSeconds: options.retryAfterSeconds,
    })
  }

  async function readBody(body: Dispatcher.ResponseData['body']): Promise<string> {
    const text = await readBoundedText(body, MAX_ANSWER_BYTES)
    if (text === null) throw unavailable('answer_too_large')
    return text
  }

  const breaker =
    options.breakerThreshold > 0
      ? createCircuitBreaker({
          threshold: options.breakerThreshold,
          cooldownMs: options.breakerCooldownMs,
          now: options.now,
        })
      : undefined
  let calls = 0
  let errors = 0
  let retries = 0
  let opens = 0
  let breakerRefusals = 0
  const errorsByReason = new Map<string, number>()
  const latency = new LatencyWindow()

  async function validate(token: string): Promise<BrokerVerdict> {
    const admission = breaker?.admit()
    if (admission !== undefined && !admission.admitted) {
      breakerRefusals++
      publish(brokerChannel, () => ({
        event: 'refused',
        reason: 'circuit_open',
        retryInMs: admission.retryInMs,
      }))
      // No call: come back when the breaker lets a probe through (whole seconds, at least 1).
      throw new AgentAuthError('broker_unavailable', {
        reason: 'circuit_open',
        retryAfterSeconds: Math.max(1, Math.ceil(admission.retryInMs / 1000)),
      })
    }
    calls++
    const trace: CallTrace = { status: undefined, retried: false }
    const started = performance.now()
    let verdict: BrokerVerdict
    try {
      verdict = await post(token, trace)
    } catch (err) {
      const reason = err instanceof AgentAuthError ? (err.reason ?? 'error') : 'error'
      errors++
      errorsByReason.set(reason, (errorsByReason.get(reason) ?? 0) + 1)
      called(
        trace,
        started,
        admission === undefined ? undefined : () => breaker!.record(admission, false),
        reason,
      )
      throw err
    }
    // `valid: false` is an answer too: the broker works.
    called(
      trace,
      started,
      admission === undefined ? undefined : () => breaker!.record(admission, true),
      verdict,
    )
    return verdict
  }

  /** Record a sent call: its latency, the breaker's verdict on it, and the diagnostics message. */
  function called(
    trace: CallTrace,
    started: number,
    recordInBreaker: (() => void) | undefined,
    result: BrokerVerdict | string,
  ): void {
    const durationMs = ms(performance.now() - started)
    latency.record(durationMs)
    if (trace.retried) retries++
    const previous = breaker?.state
    recordInBreaker?.()
    const state = breaker?.state
    if (previous !== undefined && state !== previous) {
      if (state === 'open') opens++
      publish(brokerChannel, () => ({
        event: 'breaker',
        state,
        previous,
        consecutiveFailures: breaker!.consecutiveFailures,
      }))
    }
    publish(brokerChannel, () => ({
      event: 'validate',
      outcome: typeof result === 'string' ? 'error' : result.valid ? 'valid' : 'invalid',
      status: trace.status,
      reason: typeof result === 'string' ? result : undefined,
      durationMs,
      retried: trace.retried,
      breaker: state,
    }))
  }

  async function post(token: string, trace: CallTrace): Promise<BrokerVerdict> {
    const body = JSON.stringify({ token })
    // One deadline for both attempts.
    const signal = AbortSignal.timeout(options.timeoutMs)
    let res: Dispatcher.ResponseData | undefined
    for (let attempt = 1; res === undefined; attempt++) {
      try {
        res = await request(url, {
          method: 'POST',
          dispatcher,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'user-agent': USER_AGENT,
          },
          body,
          signal,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        })
      } catch (err) {
        // A pooled keep-alive connection the broker (or a proxy) closed while we were about to
        // reuse it fails with a reset before any answer. Validation has no side effects, so it is
        // asked once more, on a new connection, within the same deadline.
        if (attempt === 1 && isConnectionReset(err) && !signal.aborted) {
          trace.retried = true
          continue
        }
        throw unavailable(isTimeout(err) ? 'timeout' : 'unreachable', sanitize(err))
      }
    }
    trace.status = res.statusCode
    let text: string
    try {
      if (res.statusCode !== 200) {
        await res.body.dump()
        throw unavailable(`status_${res.statusCode}`)
      }
      text = await readBody(res.body)
    } catch (err) {
      if (err instanceof AgentAuthError) throw err
      throw unavailable(isTimeout(err) ? 'timeout' : 'read_failed', sanitize(err))
    }
    let answer: unknown
    try {
      answer = JSON.parse(text)
    } catch {
      throw unavailable('not_json')
    }
    if (typeof answer !== 'object' || answer === null) throw unavailable('bad_answer')
    const a = answer as { valid?: unknown; claims?: unknown }
    if (a.valid === false) return { valid: false }
    if (a.valid !== true) throw unavailable('bad_answer')
    const claims = parseClaims(a.claims)
    if (claims === null) throw unavailable('bad_claims')
    return { valid: true, claims }
  }

  return {
    validate,
    get calls() {
      return calls
    },
    breaker,
    stats: () => ({
      calls,
      errors,
      errorsByReason: Object.fromEntries(errorsByReason),
      retries,
      breaker:
        breaker === undefined
          ? undefined
          : {
              state: breaker.state,
              consecutiveFailures: breaker.consecutiveFailures,
              opens,
              refusals: breakerRefusals,
            },
      latencyMs: latency.summary(),
    }),
    async close() {
      if (owned) await owned.close()
    },
  }
}

/**
 * The connection was closed or reset under the request, before any answer was read: an undici
 * error, or a `fetch()` failure whose `cause` is one.
 */
export function isConnectionReset(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null
  const code = e?.code ?? e?.cause?.code
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE'
}

export function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null
  return (
    e?.name === 'TimeoutError' ||
    e?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e?.code === 'UND_ERR_BODY_TIMEOUT' ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT'
  )
}

/** Keep only name/code/message of a transport error: undici errors never carry the request body. */
export function sanitize(err: unknown): Error {
  const e = err as { name?: string; code?: string; message?: string } | null
  const out = new Error(`${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}: ${e?.message ?? String(err)}`)
  return out
}
