/**
 * A response as data: handlers return it, the server writes it. Keeps handlers free of node:http.
 */
import { goJsonStringify } from './go-json.js'

/** An HTTP response to write. */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Body text; `''` for none. */
  readonly body: string
}

/** A JSON success body as Go's `json.NewEncoder(w).Encode(v)` writes it: compact, HTML-escaped, `\n`. */
export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: `${goJsonStringify(value)}\n`,
  }
}

/** An empty-bodied reply (e.g. `204` from release). */
export function emptyReply(status: number): Reply {
  return { status, headers: {}, body: '' }
}

/** Go `http.Error(w, msg, status)`: plain text with a trailing newline and `nosniff`. */
export function goHttpError(status: number, message: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...headers },
    body: `${message}\n`,
  }
}
