/**
 * The dev broker's request log (for local debugging): one {@link RequestLogLine} per finished request,
 * built from what the broker decided — never from a header, a body or the query string, so a line
 * carries no token, `Authorization` header, secret or query.
 */
import type { ServerResponse } from 'node:http'
import type { Reply } from './reply.js'
import { REVOCATION_LEVELS, type RevocationLevel } from './revocation.js'

/**
 * One request as the dev broker's `requestLog` option reports it. Contains no token, no `Authorization`
 * header, no request or response body, no secret and no query string.
 */
export interface RequestLogLine {
  /** When the request arrived, ISO 8601 (`Date#toISOString`, wall clock — not the broker's `now`). */
  readonly time: string
  /**
   * The request id: the client's `X-Request-ID`, else the broker's own (16 hex). Faulted requests get one
   * too, though their replies, like a proxy's, do not carry it.
   */
  readonly requestId: string
  readonly method: string
  /** The percent-decoded URL path only; never the query string (a query may carry a token). */
  readonly path: string
  /** The HTTP status sent, or `0` when no response was sent (a `down` / `hang` fault, the client gone). */
  readonly status: number
  /** From arrival until the response finished or the connection closed, ms, rounded to 0.1 ms. */
  readonly durationMs: number
  /** Response body bytes (its `Content-Length`), when known. */
  readonly bytes?: number
  /** The kind of the injected fault that applied to the request (`slow` included: it delayed the answer). */
  readonly fault?: string
  /**
   * What the broker decided, for an answered (200) `POST /v1/token/validate`: `'valid'` or `'invalid'`;
   * for an accepted `POST /v1/revoke`: the revocation level. Absent otherwise.
   */
  readonly event?: string
}

/** What the broker learns about a request while answering it; read when the request ends. */
export interface RequestTrace {
  /** The kind of the injected fault that applied, if any. */
  fault?: string
  /** The reply the broker core dispatched (not a fault's or the body reader's). */
  reply?: Reply
}

/** The request facts known on arrival. */
export interface RequestStart {
  readonly method: string
  readonly path: string
  readonly requestId: string
}

/**
 * Start tracing a request: when `res` closes (the response finished, or the connection went away —
 * including a `hang` fault's, when the client gives up or the broker stops), `sink` gets its line once.
 * An exception the sink throws is ignored: logging never breaks the broker.
 * @returns the trace for the broker to fill in while it answers
 */
export function traceRequest(
  sink: ((line: RequestLogLine) => void) | undefined,
  res: ServerResponse,
  start: RequestStart,
): RequestTrace {
  const trace: RequestTrace = {}
  if (sink === undefined) return trace
  const time = new Date().toISOString()
  const t0 = performance.now()
  res.once('close', () => {
    const line = requestLogLine(start, trace, res, time, performance.now() - t0)
    try {
      sink(line)
    } catch {
      // ignored (documented): a failing log sink must not take the broker down
    }
  })
  return trace
}

function requestLogLine(
  start: RequestStart,
  trace: RequestTrace,
  res: ServerResponse,
  time: string,
  elapsedMs: number,
): RequestLogLine {
  const length = res.headersSent ? Number(res.getHeader('content-length')) : Number.NaN
  const event = requestEvent(start.method, start.path, trace.reply)
  return {
    time,
    requestId: start.requestId,
    method: start.method,
    path: start.path,
    status: res.headersSent ? res.statusCode : 0,
    durationMs: Math.round(elapsedMs * 10) / 10,
    ...(Number.isSafeInteger(length) ? { bytes: length } : {}),
    ...(trace.fault === undefined ? {} : { fault: trace.fault }),
    ...(event === undefined ? {} : { event }),
  }
}

/**
 * The `event` of a request from the broker core's reply: `valid` / `invalid` from the `valid` field of an
 * answered `POST /v1/token/validate`, the `level` of an accepted `POST /v1/revoke`. Only those two fields
 * are read; nothing else of the body leaves this function.
 */
export function requestEvent(method: string, path: string, reply: Reply | undefined): string | undefined {
  if (reply === undefined || reply.status !== 200 || method !== 'POST') return undefined
  if (path === '/v1/token/validate') {
    const valid = jsonField(reply.body, 'valid')
    return valid === true ? 'valid' : valid === false ? 'invalid' : undefined
  }
  if (path === '/v1/revoke') {
    const level = jsonField(reply.body, 'level')
    return REVOCATION_LEVELS.includes(level as RevocationLevel) ? (level as string) : undefined
  }
  return undefined
}

function jsonField(body: string, name: string): unknown {
  try {
    const v: unknown = JSON.parse(body)
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[name] : undefined
  } catch {
    return undefined
  }
}

/** Control characters, quotes and backslashes escaped as in JSON, so one line stays one line. */
function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1)
}

/**
 * A line for people: `time requestId METHOD path status durationMs[ bytes B][ fault=kind][ event]`, e.g.
 * `2026-12-02T04:20:00.123Z 7f3a09c1d2e4b5a6 POST /v1/token/validate 200 1.2ms 57B valid`. A status of
 * `0` (no response) prints as `-`.
 */
export function formatRequestLogLine(line: RequestLogLine): string {
  const parts = [
    line.time,
    printable(line.requestId),
    line.method,
    printable(line.path),
    line.status === 0 ? '-' : String(line.status),
    `${line.durationMs}ms`,
  ]
  if (line.bytes !== undefined) parts.push(`${line.bytes}B`)
  if (line.fault !== undefined) parts.push(`fault=${line.fault}`)
  if (line.event !== undefined) parts.push(line.event)
  return parts.join(' ')
}
