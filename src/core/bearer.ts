/**
 * RFC 6750 §2.1 bearer token extraction from the `Authorization` header, in two steps:
 * {@link readBearer} takes the credential out of the header and {@link assertBearerSyntax} checks
 * that it is a `b64token`. The verifier runs the second only for a token it has not cached and that
 * does not pass {@link looksLikeJws} (three base64url segments are a `b64token` too).
 *
 * Decisions (each one tested in `test/core/bearer.test.ts`; all but the `b64token` rule are
 * {@link readBearer}'s):
 * - No `Authorization` header → `missing_token` (401, bare `Bearer realm` challenge, RFC 6750 §3.1).
 * - Another scheme (`Basic`, `DPoP`, …) → also `missing_token`: the request carries no bearer
 *   credentials, so the answer is the bare challenge that tells the client which scheme to use.
 * - Present but empty or whitespace only → `invalid_request` (400).
 * - More than one `Authorization` header (Node keeps only the first in `req.headers`; we count
 *   `req.rawHeaders`) → `invalid_request`.
 * - The scheme name is case-insensitive (RFC 7235 §2.1): `Bearer`, `bearer`, `BEARER` are all
 *   accepted. (The broker itself requires the exact prefix `Bearer `; we are more lenient on
 *   input, never on what we send.)
 * - Scheme and token are separated by one or more spaces (RFC 7235 `1*SP`); a tab or anything
 *   else there → `invalid_request`.
 * - Leading/trailing spaces and tabs around the whole value are ignored: they are not part of a
 *   field value (RFC 9110 §5.5) and Node's parser already strips them, so a hand-built header
 *   object behaves like a real request.
 * - `Bearer` with no token → `invalid_request`.
 * - A token longer than `maxTokenLength` → `invalid_request` (checked before its characters).
 * - {@link assertBearerSyntax}: the token must be an RFC 6750 `b64token` (`[A-Za-z0-9-._~+/]+=*`)
 *   and nothing may follow it (`Bearer a b`, `Bearer a, Basic b` → `invalid_request`).
 * - No error message or reason ever contains the token or any part of the header.
 *
 * Query-string and form-body tokens (RFC 6750 §2.2/§2.3, optional) are **not** accepted: they
 * end up in access logs, proxies and browser history. Adapters use {@link hasQueryToken} to answer
 * 400 `invalid_request` when a request carries `access_token` in its query string, rather than
 * silently ignoring it (and answering a confusing 401).
 */
import { AgentAuthError } from './errors.js'
import { countRawHeader, getHeaderValues, type HeadersLike } from './headers.js'

export type { HeadersLike } from './headers.js'

/** Options for {@link readBearer}. */
export interface ReadBearerOptions {
  /** Longest accepted token, in characters. Longer tokens are a 400 `invalid_request`. */
  readonly maxTokenLength: number
}

/** RFC 7230 `token` characters (an auth-scheme name). */
const SCHEME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/
/** RFC 6750 `b64token`. Linear: `=` is not in the first class. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
/** Three non-empty base64url segments, no padding. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09
}

function invalid(detail: string, reason: string): AgentAuthError {
  return new AgentAuthError('invalid_request', { detail, reason })
}

/** `value` starts with `bearer` in any letter case. */
function isBearerWord(value: string): boolean {
  return (
    (value.charCodeAt(0) | 0x20) === 0x62 &&
    (value.charCodeAt(1) | 0x20) === 0x65 &&
    (value.charCodeAt(2) | 0x20) === 0x61 &&
    (value.charCodeAt(3) | 0x20) === 0x72 &&
    (value.charCodeAt(4) | 0x20) === 0x65 &&
    (value.charCodeAt(5) | 0x20) === 0x72
  )
}

function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

/**
 * The bearer credential of a request's `Authorization` header (RFC 6750 §2.1), verbatim: every
 * decision above except the `b64token` character check, which {@link assertBearerSyntax} does.
 * Split so a verifier can look a token up in its cache (entries only ever hold tokens that passed
 * that check) before paying for a scan of every character.
 *
 * @param headers - Node `IncomingHttpHeaders` (`req.headers`, `ctx.headers`, `request.headers`),
 *   any plain object of header values, or a WHATWG `Headers`.
 * @param rawHeaders - Node's `req.rawHeaders`, to detect a duplicated `Authorization` header that
 *   `req.headers` silently drops. Pass `undefined` when unavailable.
 * @param options - the size cap.
 * @returns the token, verbatim.
 * @throws AgentAuthError `missing_token` (401) when there are no bearer credentials,
 *   `invalid_request` (400) when the header is malformed, duplicated or the token is too long.
 */
export function readBearer(
  headers: HeadersLike,
  rawHeaders: readonly string[] | undefined,
  options: ReadBearerOptions,
): string {
  const { maxTokenLength } = options

  let raw: string | undefined
  const direct = Array.isArray(rawHeaders)
    ? (headers as { authorization?: unknown }).authorization
    : undefined
  if (typeof direct === 'string') {
    // A Node request: header names are lowercased and duplicates are visible in rawHeaders.
    if (countRawHeader(rawHeaders, 'authorization') > 1) {
      throw invalid('more than one Authorization header', 'duplicate_authorization_header')
    }
    raw = direct
  } else {
    const values = getHeaderValues(headers, 'authorization')
    if (values.length > 1 || countRawHeader(rawHeaders, 'authorization') > 1) {
      throw invalid('more than one Authorization header', 'duplicate_authorization_header')
    }
    raw = values[0]
  }
  if (raw === undefined) {
    throw new AgentAuthError('missing_token', { reason: 'no_authorization_header' })
  }
  const value = trimOws(raw)
  // Hot path: `Bearer <token>` with one space, in any case, needs no regular expression.
  if (
    value.length > 7 &&
    value.charCodeAt(6) === 0x20 &&
    value.charCodeAt(7) !== 0x20 &&
    isBearerWord(value)
  ) {
    if (value.length - 7 > maxTokenLength) throw invalid('bearer token is too long', 'token_too_long')
    return value.slice(7)
  }
  if (value.length === 0) throw invalid('empty Authorization header', 'empty_authorization_header')

  const scheme = SCHEME.exec(value)?.[0]
  if (scheme === undefined) throw invalid('malformed Authorization header', 'malformed_authorization_header')
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') {
    // Credentials of another scheme are not bearer credentials: answer with the bare challenge.
    throw new AgentAuthError('missing_token', { reason: 'unsupported_authorization_scheme' })
  }
  if (value.length === scheme.length) throw invalid('missing bearer token', 'empty_bearer_token')

  let start = scheme.length
  while (start < value.length && value.charCodeAt(start) === 0x20) start++
  if (start === scheme.length)
    throw invalid('malformed Authorization header', 'malformed_authorization_header')

  if (value.length - start > maxTokenLength) throw invalid('bearer token is too long', 'token_too_long')
  return value.slice(start)
}

/** RFC 6750 `b64token` check of a credential from {@link readBearer}: `invalid_request` (400) otherwise. */
export function assertBearerSyntax(token: string): void {
  if (!B64TOKEN.test(token)) throw invalid('malformed bearer token', 'malformed_bearer_token')
}

/**
 * Cheap syntactic check: exactly three non-empty base64url segments (`[A-Za-z0-9_-]+`, no
 * padding) separated by dots, the JWS compact form. The broker refuses anything else, so a
 * verifier can refuse it locally (`invalid_token`) without a network call.
 */
export function looksLikeJws(token: string): boolean {
  return typeof token === 'string' && JWS_COMPACT.test(token)
}

/**
 * Whether a request target (`/path?query`, or an absolute URL) carries an `access_token`
 * query parameter (RFC 6750 §2.3), with any value including an empty one, and with the name
 * percent-encoded or not. The fragment is ignored. Parameter names are case-sensitive.
 *
 * Tokens are accepted only in the `Authorization` header; adapters answer 400 `invalid_request`
 * when this returns `true` so a client learns why, instead of getting a bare 401.
 */
export function hasQueryToken(url: string): boolean {
  if (typeof url !== 'string') return false
  const hash = url.indexOf('#')
  const end = hash < 0 ? url.length : hash
  const q = url.indexOf('?')
  if (q < 0 || q > end) return false
  const query = url.slice(q + 1, end)
  if (!query.includes('access') && !query.includes('%')) return false
  return new URLSearchParams(query).has('access_token')
}
