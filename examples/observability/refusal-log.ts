/**
 * Recipe — one structured log line per refused request (README, "Observability"), for pino or any
 * logger with pino's `(object, message)` signature.
 *
 * One line `request refused` per refused verification (400/401/503) and per refused guard decision
 * (403), with the {@link RefusalLine} fields. A 503 (broker or key source unavailable: the
 * service's problem, not the caller's) goes to `logger.error` when the logger has one. The token is
 * never logged: no diagnostics message carries it.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * logRefusals(pino())
 * ```
 */
import {
  type GuardMessage,
  subscribeDiagnostics,
  subscribeVerifications,
  type VerifyMessage,
} from '../../src/index.js'

/** What the recipe needs of a logger (pino's `logger.warn(obj, msg)`). */
export interface RefusalLogger {
  warn(obj: object, msg: string): void
  error?(obj: object, msg: string): void
}

const EVENT = 'agentwrit.refusal'

/** The fields of one refusal line. */
export interface RefusalLine {
  readonly event: typeof EVENT
  /** `verify`: the token was refused; `guard`: a verified token lacked a scope or delegation. */
  readonly phase: 'verify' | 'guard'
  readonly code: string
  readonly reason: string | undefined
  readonly status: number | undefined
  /** On a refused verification: what the token claims (unverified), like `jti`. */
  readonly agentId: string | undefined
  readonly jti: string | undefined
  readonly requestId: string | undefined
  readonly adapter: string | undefined
}

/** Log every refusal on `logger`. Call once. @returns `dispose()`: stop logging. */
export function logRefusals(logger: RefusalLogger): () => void {
  const write = (phase: RefusalLine['phase'], m: VerifyMessage | GuardMessage) => {
    const { code = 'unexpected', reason, status, agentId, jti, requestId, adapter } = m
    const line: RefusalLine = { event: EVENT, phase, code, reason, status, agentId, jti, requestId, adapter }
    if (status === 503 && logger.error !== undefined) logger.error(line, 'request refused')
    else logger.warn(line, 'request refused')
  }
  const stopVerifications = subscribeVerifications((m) => m.outcome === 'refused' && write('verify', m))
  const stopGuards = subscribeDiagnostics('guard', (m) => m.outcome === 'refused' && write('guard', m))
  return () => {
    stopVerifications()
    stopGuards()
  }
}
