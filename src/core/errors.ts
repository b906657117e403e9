/**
 * One error type for every refusal, with a stable `code`, the HTTP status, the RFC 6750
 * `WWW-Authenticate` challenge and an RFC 7807 problem body shaped like the broker's own
 * (shared contract §2). Infrastructure failures are 503s, never 401s.
 */

/** Stable error codes. They never change meaning between versions. */
export type AgentAuthErrorCode =
  /** No credentials in the request: 401 with a bare `Bearer realm` challenge (RFC 6750 §3.1). */
  | 'missing_token'
  /** Malformed request: duplicate or malformed `Authorization`, token in two places, oversized token. 400. */
  | 'invalid_request'
  /** A route parameter cannot be used in a scope (empty, or contains `:`, `*`, whitespace, control characters). 400. */
  | 'invalid_scope_parameter'
  /** Token is malformed, forged, expired, revoked, released, of the wrong kind or for another issuer/audience. 401. */
  | 'invalid_token'
  /** Token is valid but lacks a required scope. 403 with `scope="…"`. */
  | 'insufficient_scope'
  /** Valid token, but its delegation chain is not accepted here (too deep, or not rooted at an allowed agent). 403. */
  | 'delegation_not_allowed'
  /** The broker could not be asked (down, timeout, 5xx, unreadable answer). 503 with `Retry-After`. */
  | 'broker_unavailable'
  /** The key source (JWKS URL) could not be read. 503 with `Retry-After`. */
  | 'key_source_unavailable'
  /** Server-side misconfiguration found at request time (e.g. a scope placeholder that is not a route param). 500. */
  | 'configuration_error'

/** The RFC 6750 §3.1 `error` value that goes into the challenge, where there is one. */
export type BearerErrorValue = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

const SPEC: Record<
  AgentAuthErrorCode,
  { status: number; title: string; bearer: BearerErrorValue | null; detail: string }
> = {
  missing_token: {
    status: 401,
    title: 'Unauthorized',
    bearer: null,
    detail: 'missing bearer token',
  },
  invalid_request: {
    status: 400,
    title: 'Bad Request',
    bearer: 'invalid_request',
    detail: 'malformed authorization request',
  },
  invalid_scope_parameter: {
    status: 400,
    title: 'Bad Request',
    bearer: 'invalid_request',
    detail: 'route parameter cannot be used in a scope',
  },
  invalid_token: {
    status: 401,
    title: 'Unauthorized',
    bearer: 'invalid_token',
    detail: 'token is invalid or expired',
  },
  insufficient_scope: {
    status: 403,
    title: 'Forbidden',
    bearer: 'insufficient_scope',
    detail: 'token lacks required scope',
  },
  delegation_not_allowed: {
    status: 403,
    title: 'Forbidden',
    bearer: 'insufficient_scope',
    detail: 'token delegation chain is not accepted for this resource',
  },
  broker_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    bearer: null,
    detail: 'token could not be verified: authorization broker unavailable',
  },
  key_source_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    bearer: null,
    detail: 'token could not be verified: key source unavailable',
  },
  configuration_error: {
    status: 500,
    title: 'Internal Server Error',
    bearer: null,
    detail: 'authorization is misconfigured on this route',
  },
}

/** The RFC 7807 body we send, field order as the broker emits it. */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  error_code: AgentAuthErrorCode
  /** Present on 403 `insufficient_scope`: the concrete scopes that were required. */
  required_scope?: string[]
}

export interface AgentAuthErrorOptions {
  /** Client-safe description; defaults to the code's generic text. Never put a token here. */
  detail?: string
  /** Internal reason for logs (e.g. `expired`, `audience_mismatch`). Not sent to the client. */
  reason?: string
  /** For `insufficient_scope`: the concrete scopes required, named in the challenge. */
  requiredScope?: readonly string[]
  /** For 503s: seconds for `Retry-After`. Default 5. */
  retryAfterSeconds?: number
  /**
   * `realm` in the challenge. Default: the realm of the verifier or middleware the error leaves
   * through (see {@link AgentAuthError.inRealm}), `agentwrit` for an error that leaves through
   * neither.
   */
  realm?: string
  /** Underlying error (kept for logs; never exposed to the client). */
  cause?: unknown
}

/** Default realm used in `WWW-Authenticate` challenges. */
export const DEFAULT_REALM = 'agentwrit'

/** Default `Retry-After` (seconds) on 503 answers. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5

function quote(value: string): string {
  // RFC 7235 quoted-string. Header values must be visible ASCII: escape `"` and `\`, and
  // percent-encode anything else (a route param may carry unicode; Node would refuse the header).
  let out = ''
  for (const ch of value) {
    const c = ch.codePointAt(0)!
    if (c >= 0x20 && c <= 0x7e) out += ch === '"' || ch === '\\' ? `\\${ch}` : ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return `"${out}"`
}

/**
 * The single error type thrown (or passed to `next`) by every part of agentwrit-verify.
 *
 * It carries `status`/`statusCode`, `headers` (with the `WWW-Authenticate` challenge or
 * `Retry-After`) and `expose`, so Express, Koa and Fastify error handling already answer with the
 * right status and headers; {@link AgentAuthError.toProblem} gives the RFC 7807 body.
 */
export class AgentAuthError extends Error {
  override readonly name = 'AgentAuthError'
  /** Stable code, see {@link AgentAuthErrorCode}. */
  readonly code: AgentAuthErrorCode
  /** HTTP status. */
  readonly status: number
  /** Same as `status`, for frameworks that read `statusCode`. */
  readonly statusCode: number
  /**
   * Response headers to send: `WWW-Authenticate` on 400/401/403, `Retry-After` on 503, and
   * `Cache-Control: no-store` on every refusal.
   */
  readonly headers: Readonly<Record<string, string>>
  /** `true` for 4xx (the message is safe to show), `false` for 5xx. */
  readonly expose: boolean
  /** Internal reason for logs; never sent to clients. */
  readonly reason: string | undefined
  /** Concrete scopes that were required (403 only). */
  readonly requiredScope: readonly string[] | undefined
  /** RFC 6750 error value, or `null` where the challenge carries none. */
  readonly bearerError: BearerErrorValue | null

  /** The options it was made with (and its realm, once stamped). */
  #options: AgentAuthErrorOptions

  constructor(code: AgentAuthErrorCode, options: AgentAuthErrorOptions = {}) {
    const spec = SPEC[code]
    super(options.detail ?? spec.detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = spec.status
    this.statusCode = spec.status
    this.expose = spec.status < 500
    this.reason = options.reason
    this.requiredScope = options.requiredScope ? Object.freeze([...options.requiredScope]) : undefined
    this.bearerError = spec.bearer
    this.#options = options
    this.headers = headersFor(this, options.realm ?? DEFAULT_REALM, options.retryAfterSeconds)
  }

  /** `realm` of the challenge (`WWW-Authenticate: Bearer realm="…"`). */
  get realm(): string {
    return this.#options.realm ?? DEFAULT_REALM
  }

  /**
   * Give this refusal the realm of the verifier or middleware it leaves through, once. Errors are
   * made where a check fails, without knowing whose middleware they will leave through: the
   * verifier and the adapters stamp the realm where the error leaves them, so the challenge names
   * it. An error made with a `realm` option, or already stamped, keeps its realm.
   * @returns this error.
   */
  inRealm(realm: string): this {
    if (this.#options.realm !== undefined) return this
    this.#options = { ...this.#options, realm }
    ;(this as { headers: AgentAuthError['headers'] }).headers = headersFor(
      this,
      realm,
      this.#options.retryAfterSeconds,
    )
    return this
  }

  /**
   * RFC 7807 body, shaped like the broker's problem documents (`type` `urn:agentwrit:error:<code>`,
   * `title`, `status`, `detail`, `instance`, `error_code`).
   * @param instance - the request path (no query string), as the broker uses it.
   */
  toProblem(instance?: string): ProblemDetails {
    const body: ProblemDetails = {
      type: `urn:agentwrit:error:${this.code}`,
      title: SPEC[this.code].title,
      status: this.status,
      detail: this.message,
      ...(instance === undefined ? {} : { instance }),
      error_code: this.code,
    }
    if (this.requiredScope && this.requiredScope.length > 0) body.required_scope = [...this.requiredScope]
    return body
  }
}

/**
 * The response headers of a refusal: the RFC 6750 challenge on 400/401/403, `Retry-After` on 503,
 * `Cache-Control: no-store` on every one.
 */
function headersFor(
  err: AgentAuthError,
  realm: string,
  retryAfterSeconds: number | undefined,
): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const { status, bearerError, requiredScope } = err
  if (status === 401 || status === 400 || status === 403) {
    const params = [`realm=${quote(realm)}`]
    if (bearerError !== null) {
      params.push(`error=${quote(bearerError)}`)
      params.push(`error_description=${quote(err.message)}`)
    }
    if (err.code === 'insufficient_scope' && requiredScope && requiredScope.length > 0) {
      params.push(`scope=${quote(requiredScope.join(' '))}`)
    }
    headers['WWW-Authenticate'] = `Bearer ${params.join(', ')}`
  }
  if (status === 503) headers['Retry-After'] = String(retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS)
  // A refusal is about this request's credentials: no cache (shared or private) may replay it.
  headers['Cache-Control'] = 'no-store'
  return Object.freeze(headers)
}

/** Type guard for {@link AgentAuthError}. */
export function isAgentAuthError(err: unknown): err is AgentAuthError {
  return err instanceof AgentAuthError
}

/** Content type of problem bodies. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** A ready-to-send HTTP answer for an {@link AgentAuthError}. */
export interface ProblemResponse {
  readonly status: number
  /** The error's headers plus `Content-Type: application/problem+json`. */
  readonly headers: Readonly<Record<string, string>>
  /** The JSON-encoded RFC 7807 body. */
  readonly body: string
}

/**
 * Render an error the way every adapter answers by default: status, challenge headers and an
 * RFC 7807 body whose `instance` is the request path (query string removed, as the broker does).
 */
export function problemResponse(err: AgentAuthError, url: string | undefined): ProblemResponse {
  return {
    status: err.status,
    headers: { ...err.headers, 'Content-Type': PROBLEM_CONTENT_TYPE },
    body: JSON.stringify(err.toProblem(problemInstance(url))),
  }
}

/** A problem's `instance`: the request path of `url`, query string removed, as the broker does. */
export function problemInstance(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}
