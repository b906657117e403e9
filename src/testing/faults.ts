/**
 * Outage simulation for the dev broker: what a verifier sees when the broker (or whatever sits in front
 * of it) misbehaves.
 */
import type { Reply } from './reply.js'

/**
 * Which request paths a fault applies to: exact paths (no query), or `'*'` for every path.
 * Default: `['/v1/token/validate']` only, so the broker's helpers (admin auth, agent creation,
 * delegation, revocation) keep working while the verifier's calls fail.
 */
export type FaultPaths = readonly string[] | '*'

/** The default {@link FaultPaths}. */
export const DEFAULT_FAULT_PATHS: readonly string[] = Object.freeze(['/v1/token/validate'])

/** The audit log's path, for faults that hit only the audit endpoint (`paths: [AUDIT_EVENTS_PATH]`). */
export const AUDIT_EVENTS_PATH = '/v1/audit/events'

/** The 5xx statuses a fault can answer with. */
export type FaultStatus = 500 | 502 | 503 | 504

/**
 * A simulated failure.
 * - `down`: the connection is destroyed without an answer (the client sees a reset / "socket hang up").
 *   With `paths: '*'` every open connection is destroyed at once and new connections are destroyed as soon
 *   as they are accepted. (For "connection refused", use `stop()`.)
 * - `slow`: every matching response is delayed by `delayMs` milliseconds, then answered normally.
 * - `hang`: matching requests are never answered (the connection stays open until the client gives up or
 *   the broker is stopped/closed).
 * - `status`: answer with that status and a short `text/plain` body (a proxy or a crashed broker).
 * - `garbage`: `200` with an HTML body (`text/html`), e.g. a captive portal or a misrouted proxy.
 * - `json`: `200` with `body` serialised as JSON (`application/json`), e.g. a wrong shape.
 * - `problem`: the broker itself fails: `status` (default 500) with an RFC 7807 problem body
 *   (`application/problem+json`, `error_code` `internal_error`, `detail` default `internal error`),
 *   `X-Request-ID` and the security headers, as a broker handler error would look.
 * - `raw`: `status` (default 200), `Content-Type` `contentType` (default `application/json`) and `body`
 *   verbatim, e.g. truncated or non-JSON text labelled as JSON.
 *
 * Example — only the audit log is slow, everything else (validate included) answers normally:
 * `broker.fault({ kind: 'slow', delayMs: 2000, paths: [AUDIT_EVENTS_PATH] })`.
 */
export type FaultMode = (
  | { readonly kind: 'down' }
  | { readonly kind: 'slow'; readonly delayMs: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'status'; readonly status: FaultStatus }
  | { readonly kind: 'garbage' }
  | { readonly kind: 'json'; readonly body: unknown }
  | { readonly kind: 'problem'; readonly status?: FaultStatus; readonly detail?: string }
  | { readonly kind: 'raw'; readonly status?: number; readonly contentType?: string; readonly body: string }
) & {
  /** Paths the fault applies to. Default {@link DEFAULT_FAULT_PATHS}. */
  readonly paths?: FaultPaths
}

/** Whether `fault` applies to a request for `path`. */
export function faultApplies(fault: FaultMode, path: string): boolean {
  const paths = fault.paths ?? DEFAULT_FAULT_PATHS
  return paths === '*' || paths.includes(path)
}

/** The fault that applies to `path`: the first of `faults` whose paths match, or `null`. */
export function faultFor(faults: readonly FaultMode[], path: string): FaultMode | null {
  return faults.find((f) => faultApplies(f, path)) ?? null
}

/** Whether `fault` takes the whole server down (every connection). */
export function faultIsTotalOutage(fault: FaultMode | null): boolean {
  return fault !== null && fault.kind === 'down' && fault.paths === '*'
}

/**
 * Check what `broker.fault()` was given: one mode, several (the first whose `paths` match a request
 * applies to it), or `null` / `[]` for none.
 * @throws TypeError naming what is wrong
 */
export function checkFaults(faults: FaultMode | readonly FaultMode[] | null): FaultMode[] {
  if (faults === null) return []
  if (Array.isArray(faults)) return faults.map((f, i) => checkFaultAt(f, `faults[${i}]`))
  return [checkFaultAt(faults as FaultMode, 'fault')]
}

function checkFaultAt(fault: FaultMode, name: string): FaultMode {
  try {
    const f = checkFault(fault)
    if (f === null) throw new TypeError('fault: expected an object')
    return f
  } catch (e) {
    if (e instanceof TypeError && name !== 'fault') throw new TypeError(e.message.replace(/^fault/, name))
    throw e
  }
}

const FAULT_STATUSES: readonly number[] = [500, 502, 503, 504]

/**
 * Check a fault given at runtime (tests may be written in JavaScript).
 * @throws TypeError naming what is wrong
 */
export function checkFault(fault: FaultMode | null): FaultMode | null {
  if (fault === null) return null
  if (typeof fault !== 'object') throw new TypeError('fault: expected an object or null')
  const paths = fault.paths
  if (
    paths !== undefined &&
    paths !== '*' &&
    !(Array.isArray(paths) && paths.every((p) => typeof p === 'string' && p.startsWith('/')))
  ) {
    throw new TypeError("fault.paths: expected '*' or an array of paths starting with '/'")
  }
  switch (fault.kind) {
    case 'down':
    case 'hang':
    case 'garbage':
    case 'json':
      return fault
    case 'slow':
      if (!Number.isFinite(fault.delayMs) || fault.delayMs < 0) {
        throw new TypeError('fault.delayMs: expected a non-negative number of milliseconds')
      }
      return fault
    case 'status':
      if (!FAULT_STATUSES.includes(fault.status)) {
        throw new TypeError('fault.status: expected 500, 502, 503 or 504')
      }
      return fault
    case 'problem':
      if (fault.status !== undefined && !FAULT_STATUSES.includes(fault.status)) {
        throw new TypeError('fault.status: expected 500, 502, 503 or 504')
      }
      if (fault.detail !== undefined && typeof fault.detail !== 'string') {
        throw new TypeError('fault.detail: expected a string')
      }
      return fault
    case 'raw':
      if (
        fault.status !== undefined &&
        !(Number.isInteger(fault.status) && fault.status >= 200 && fault.status <= 599)
      ) {
        throw new TypeError('fault.status: expected an integer HTTP status between 200 and 599')
      }
      if (fault.contentType !== undefined && typeof fault.contentType !== 'string') {
        throw new TypeError('fault.contentType: expected a string')
      }
      if (typeof fault.body !== 'string') throw new TypeError('fault.body: expected a string')
      return fault
    default:
      throw new TypeError(`fault.kind: unknown kind ${JSON.stringify((fault as { kind: unknown }).kind)}`)
  }
}

const STATUS_LINE: Readonly<Record<number, string>> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * The canned answer of an answering fault (`status`, `garbage`, `json`, `raw`); `null` for the others
 * (`problem` is answered by the server, which adds the request id and security headers).
 */
export function faultReply(fault: FaultMode): Reply | null {
  switch (fault.kind) {
    case 'status':
      return {
        status: fault.status,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
        body: `${fault.status} ${STATUS_LINE[fault.status]}\n`,
      }
    case 'garbage':
      return {
        status: 200,
        headers: { 'Content-Type': 'text/html; charset=utf-8' },
        body: '<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>\n',
      }
    case 'json':
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        body: `${JSON.stringify(fault.body) ?? 'null'}\n`,
      }
    case 'raw':
      return {
        status: fault.status ?? 200,
        headers: { 'Content-Type': fault.contentType ?? 'application/json' },
        body: fault.body,
      }
    default:
      return null
  }
}
