/**
 * A circuit breaker for one remote endpoint (the broker's `POST /v1/token/validate`).
 *
 * - **closed**: every call goes out; `threshold` consecutive failures open it.
 * - **open**: for `cooldownMs` every call is refused at once (the caller answers 503 without a
 *   network call).
 * - **half-open**: after the cooldown exactly one call (the probe) goes out; calls meanwhile are
 *   refused. The probe's success closes the breaker, its failure opens it for another cooldown.
 *
 * A success at any time closes the breaker and resets the count, including the success of a call
 * that went out before the breaker opened (the broker has just answered). The failure of such a
 * straggler while the breaker is open or half-open is old news and changes nothing.
 *
 * The cooldown is fixed (no exponential backoff): an open breaker already costs the broker at most
 * one probe per cooldown per process, and a fixed cooldown bounds how long the service stays
 * refused after the broker comes back.
 *
 * No timers: the state is derived from the injected clock. A clock that steps back while the
 * breaker is open lets the next call through as a probe rather than stretching the cooldown.
 */

/** Where the breaker stands. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. `0` = the breaker never opens (off). */
  readonly threshold: number
  /** How long an open breaker refuses every call before it lets one probe through, ms. */
  readonly cooldownMs: number
  /** Clock in milliseconds. */
  readonly now: () => number
}

/** Leave to make one call; report how it ended, once, with {@link CircuitBreaker.record}. */
export interface BreakerPermit {
  readonly admitted: true
  /** `true` for the half-open probe. */
  readonly probe: boolean
}

/** The call must not be made. */
export interface BreakerRefusal {
  readonly admitted: false
  /** Milliseconds until a probe may go out: the rest of the cooldown, `0` while a probe is in flight. */
  readonly retryInMs: number
}

/** The answer of {@link CircuitBreaker.admit}. */
export type BreakerAdmission = BreakerPermit | BreakerRefusal

/** A circuit breaker; see the module documentation for its states. */
export interface CircuitBreaker {
  /** The current state (read from the clock). */
  readonly state: CircuitState
  /** Failures since the last success. */
  readonly consecutiveFailures: number
  /** May a call go out now? A permit must be followed by exactly one {@link CircuitBreaker.record}. */
  admit(): BreakerAdmission
  /** Report the outcome of a permitted call: `ok` = the endpoint gave a usable answer. */
  record(permit: BreakerPermit, ok: boolean): void
}

const CALL: BreakerPermit = Object.freeze({ admitted: true, probe: false })
const PROBE: BreakerPermit = Object.freeze({ admitted: true, probe: true })

/** Create a circuit breaker. */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const { threshold, cooldownMs, now } = options
  let failures = 0
  /** Clock reading when the breaker last opened; `undefined` while closed. */
  let openedAt: number | undefined
  /** A probe is in flight. */
  let probing = false

  /** Milliseconds left in the cooldown, or a negative number once it is over. */
  function cooldownLeft(): number {
    const elapsed = now() - openedAt!
    return elapsed >= 0 && elapsed < cooldownMs ? cooldownMs - elapsed : -1
  }

  function open(): void {
    openedAt = now()
    probing = false
  }

  function close(): void {
    failures = 0
    openedAt = undefined
    probing = false
  }

  return {
    get state(): CircuitState {
      if (openedAt === undefined) return 'closed'
      return cooldownLeft() > 0 ? 'open' : 'half-open'
    },
    get consecutiveFailures() {
      return failures
    },
    admit(): BreakerAdmission {
      if (openedAt === undefined) return CALL
      const left = cooldownLeft()
      if (left > 0) return { admitted: false, retryInMs: left }
      if (probing) return { admitted: false, retryInMs: 0 }
      probing = true
      return PROBE
    },
    record(permit: BreakerPermit, ok: boolean): void {
      if (ok) {
        close()
        return
      }
      failures++
      if (permit.probe && probing) {
        open()
        return
      }
      // A call made while closed (or a probe whose question a straggler's success already settled).
      if (openedAt === undefined && threshold > 0 && failures >= threshold) open()
    },
  }
}
