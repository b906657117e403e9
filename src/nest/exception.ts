/**
 * `AgentAuthException`: every refusal of the Nest adapter, an `HttpException` so that it goes
 * through Nest's exception layer (the module's `AgentAuthExceptionFilter`, the application's own
 * filters, or Nest's default one).
 */
import { type ExecutionContext, HttpException } from '@nestjs/common'
import { asRefusal } from '../core/adapter-state.js'
import { AgentAuthError, PROBLEM_CONTENT_TYPE, type ProblemDetails, problemInstance } from '../core/errors.js'
import { setRefusalHeaders, urlOf } from './http-request.js'

/**
 * A refusal, as Nest sees it. `getStatus()` is the HTTP status (400, 401, 403, 500, 503);
 * `getResponse()` the RFC 7807 problem body the other adapters send (`type`, `title`, `status`,
 * `detail`, `instance`, `error_code`, and `required_scope` on a 403 `insufficient_scope`);
 * `headers` what goes with it (`WWW-Authenticate`, `Retry-After`, `Cache-Control: no-store`,
 * `Content-Type: application/problem+json`); `error` the `AgentAuthError` with its stable `code`
 * and, for logs, its `reason` and `cause`.
 *
 * A `configuration_error` (500: a misconfigured route, a verifier that failed unexpectedly) has a
 * generic problem `detail`; the specific one is `error.message`, for logs.
 */
export class AgentAuthException extends HttpException {
  /** The refusal: `code`, `status`, `headers`, `reason`, `cause`. */
  readonly error: AgentAuthError

  /**
   * @param error - the refusal
   * @param instance - the problem's `instance`: the request path (no query string)
   */
  constructor(error: AgentAuthError, instance?: string) {
    const problem =
      error.code === 'configuration_error'
        ? new AgentAuthError('configuration_error').toProblem(instance)
        : error.toProblem(instance)
    super(problem, error.status, { cause: error })
    this.error = error
    this.message = problem.detail
  }

  /** The RFC 7807 problem body. */
  override getResponse(): ProblemDetails {
    return super.getResponse() as ProblemDetails
  }

  /** The response headers of this refusal, `Content-Type: application/problem+json` included. */
  get headers(): Readonly<Record<string, string>> {
    return { ...this.error.headers, 'Content-Type': PROBLEM_CONTENT_TYPE }
  }
}

/**
 * The exception to throw for whatever a guard or `@Agent()` caught on an HTTP request: the
 * refusal (`asRefusal`: anything that is not an `AgentAuthError` is a 500 `configuration_error`),
 * in `realm` where it has none yet, with its headers already on the response.
 */
export function refusalException(
  thrown: unknown,
  realm: string | undefined,
  http: ReturnType<ExecutionContext['switchToHttp']>,
): AgentAuthException {
  const refusal = asRefusal(thrown)
  const err = realm === undefined ? refusal : refusal.inRealm(realm)
  setRefusalHeaders(http.getResponse(), err)
  return new AgentAuthException(err, problemInstance(urlOf(http.getRequest<object>())))
}
