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
 */
export type FaultMode = (
  | { readonly kind: 'down' }
  | { readonly kind: 'slow'; readonly delayMs: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'status'; readonly status: 500 | 502 | 503 | 504 }
  | { readonly kind: 'garbage' }
  | { readonly kind: 'json'; readonly body: unknown }
) & {
  /** Paths the fault applies to. Default {@link DEFAULT_FAULT_PATHS}. */
  readonly paths?: FaultPaths
}

/** Whether `fault` applies to a request for `path`. */
export function faultApplies(fault: FaultMode, path: string): boolean {
  const paths = fault.paths ?? DEFAULT_FAULT_PATHS
  return paths === '*' || paths.includes(path)
}

/** Whether `fault` takes the whole server down (every connection). */
export function faultIsTotalOutage(fault: FaultMode | null): boolean {
  return fault !== null && fault.kind === 'down' && fault.paths === '*'
}

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
      if (![500, 502, 503, 504].includes(fault.status)) {
        throw new TypeError('fault.status: expected 500, 502, 503 or 504')
      }
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

/** The canned answer of an answering fault (`status`, `garbage`, `json`); `null` for the others. */
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
    default:
      return null
  }
}
