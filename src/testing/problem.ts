/**
 * RFC 7807 problem bodies exactly as the broker's `problemdetails.WriteProblem` writes them (contract §2).
 */

import { goJsonStringify } from './go-json.js'
import type { Reply } from './reply.js'

/** Go `http.StatusText` for the statuses the broker (and the dev broker's faults) use. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Request Entity Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** The broker's `errType` / `error_code` values (contract §2). */
export type ProblemType =
  | 'invalid_request'
  | 'invalid_ttl'
  | 'unauthorized'
  | 'insufficient_scope'
  | 'scope_violation'
  | 'forbidden'
  | 'not_found'
  | 'payload_too_large'
  | 'rate_limited'
  | 'internal_error'

/**
 * A problem reply: fields in the order `type, title, status, detail, instance, error_code, request_id`,
 * `Content-Type: application/problem+json`, body ending in `\n`.
 * @param instance - the request path (no query)
 * @param requestId - the X-Request-ID value; `''` omits `request_id` (Go `omitempty`)
 */
export function problemReply(
  status: number,
  errType: ProblemType,
  detail: string,
  instance: string,
  requestId: string,
  headers: Record<string, string> = {},
): Reply {
  const body = goJsonStringify({
    type: `urn:agentwrit:error:${errType}`,
    title: STATUS_TEXT[status] ?? '',
    status,
    detail,
    instance,
    error_code: errType,
    request_id: requestId || undefined,
  })
  return { status, headers: { 'Content-Type': 'application/problem+json', ...headers }, body: `${body}\n` }
}
