/**
 * The Fetch API entry point: a web-standard `Request` in, a verified identity or a ready refusal
 * `Response` out. For any runtime with `Request`/`Response` (Node 20, Deno, Bun, Cloudflare
 * Workers, Hono on any of them). Framework-free.
 *
 * A Fetch `Request` joins repeated headers with `", "`, so a duplicated `Authorization` header
 * reads as `Bearer a, Bearer b`, which is refused as malformed (400), as on Node.
 */
import { asRefusal } from './adapter-state.js'
import type { AgentIdentity } from './claims.js'
import { type AgentAuthError, DEFAULT_REALM, problemResponse } from './errors.js'
import { type AuthRequest, requestAuthenticator, type Verifier } from './verifier.js'

/** What {@link authenticateFetchRequest} resolves with: never a rejection. */
export type FetchAuthentication =
  | { readonly ok: true; readonly agent: AgentIdentity }
  | {
      readonly ok: false
      /** The refusal (status, code, challenge), for logs or your own rendering. */
      readonly error: AgentAuthError
      /** The refusal as a response: status, `WWW-Authenticate`/`Retry-After`, RFC 7807 body. */
      readonly response: Response
    }

/**
 * The parts of a Fetch `Request` the verifier reads: its `Authorization` header and its target
 * (path and query, for the `access_token`-in-query refusal).
 * @param connection - an object that lives as long as the client's connection (Node's socket),
 *   if the runtime exposes one: a keep-alive connection repeating one token then skips the hash
 *   and the cache lookup. Omit it elsewhere.
 */
export function fetchAuthRequest(request: Request, connection?: object): AuthRequest {
  const authorization = request.headers.get('authorization')
  return {
    headers: authorization === null ? {} : { authorization },
    url: targetOf(request.url),
    socket: connection,
  }
}

/**
 * Authenticate a Fetch `Request`: `{ ok: true, agent }`, or `{ ok: false, error, response }` with
 * the refusal ready to return (400/401/403/503, or 500 for anything unexpected). Never rejects.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ broker: 'http://127.0.0.1:8080' })
 * export default {
 *   async fetch(request: Request) {
 *     const auth = await authenticateFetchRequest(verifier, request)
 *     if (!auth.ok) return auth.response
 *     return Response.json({ by: auth.agent.id })
 *   },
 * }
 * ```
 */
export async function authenticateFetchRequest(
  verifier: Verifier,
  request: Request,
): Promise<FetchAuthentication> {
  try {
    const agent = await requestAuthenticator(verifier, 'fetch')(fetchAuthRequest(request))
    return { ok: true, agent }
  } catch (thrown) {
    const realm = typeof verifier.options?.realm === 'string' ? verifier.options.realm : DEFAULT_REALM
    const error = asRefusal(thrown).inRealm(realm)
    return { ok: false, error, response: refusalResponse(error, request) }
  }
}

/**
 * A refusal as a Fetch `Response`: the error's status and headers (`WWW-Authenticate`,
 * `Retry-After`, `Cache-Control: no-store`, `Content-Type: application/problem+json`) and its
 * RFC 7807 body, `instance` being the request's path. Anything that is not an `AgentAuthError`
 * is answered as a 500 `configuration_error`.
 */
export function refusalResponse(err: unknown, request?: Request): Response {
  const answer = problemResponse(asRefusal(err), request === undefined ? undefined : targetOf(request.url))
  return new Response(answer.body, { status: answer.status, headers: answer.headers })
}

/** `/path?query` of an absolute URL (`http://host/path?query`); the URL itself when it has no host. */
function targetOf(url: string): string {
  const scheme = url.indexOf('://')
  if (scheme < 0) return url
  const path = url.indexOf('/', scheme + 3)
  if (path >= 0) return url.slice(path)
  const query = url.indexOf('?', scheme + 3)
  return query < 0 ? '/' : `/${url.slice(query)}`
}
