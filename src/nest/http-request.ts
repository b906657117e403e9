/**
 * The request and response objects Nest hands guards, param decorators and filters, read the same
 * way on both HTTP platforms: `@nestjs/platform-express` passes Express's `req` (a Node
 * `IncomingMessage`) and `res`; `@nestjs/platform-fastify` passes Fastify's `request` (Node's
 * request at `request.raw`) and `reply`.
 */
import type { AgentIdentity } from '../core/claims.js'
import type { AgentAuthError } from '../core/errors.js'
import type { AuthRequest } from '../core/verifier.js'

/**
 * The request object of a Nest HTTP route, as guards and `@Agent()` see it (Express's `Request`
 * or Fastify's `FastifyRequest`). Scope functions (`@RequireScope((request, agent) => …)`)
 * receive it.
 */
export interface AgentWritRequest {
  /** The route parameters (`:id` → `params.id`). */
  readonly params: Readonly<Record<string, string | undefined>>
  /**
   * The verified identity, set by `AgentAuthGuard` once the route's requirements passed. Absent
   * on `@Public()` routes and on requests an `optional: true` module let through anonymously.
   * Read it with `@Agent()`, which refuses a request without one.
   */
  agent?: AgentIdentity
}

/** What this adapter reads of either platform's request object. */
interface PlatformRequest {
  readonly params?: unknown
  readonly raw?: unknown
  readonly originalUrl?: string
  readonly url?: string
  agent?: unknown
}

function isNodeRequest(value: unknown): value is AuthRequest {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AuthRequest).headers === 'object' &&
    Array.isArray((value as AuthRequest).rawHeaders)
  )
}

/** Node's request behind `request`: Fastify's `request.raw`, or Express's `req` itself. */
export function authRequestOf(request: object): AuthRequest {
  const raw = (request as PlatformRequest).raw
  return isNodeRequest(raw) ? raw : (request as AuthRequest)
}

/** The route parameters of `request` (`{}` when the platform gave none). */
export function paramsOf(request: object): Readonly<Record<string, unknown>> {
  const params = (request as PlatformRequest).params
  return typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : {}
}

/** The request target as the client sent it (Express's `originalUrl`, Fastify's `url`). */
export function urlOf(request: object): string | undefined {
  const r = request as PlatformRequest
  return r.originalUrl ?? r.url
}

/** Whatever the request carries as its identity (unchecked). */
export function storedAgentOf(request: object): unknown {
  return (request as PlatformRequest).agent
}

/** Put the verified identity on the request. */
export function storeAgent(request: object, agent: AgentIdentity): void {
  ;(request as PlatformRequest).agent = agent
}

/** An Express `res` (a Node `ServerResponse`) or a Fastify `reply`. */
interface PlatformResponse {
  readonly headersSent?: boolean
  readonly sent?: boolean
  readonly raw?: { readonly headersSent?: boolean }
  header?(name: string, value: string): unknown
  setHeader?(name: string, value: string): unknown
}

/**
 * Put a refusal's headers (`WWW-Authenticate`, `Retry-After`, `Cache-Control: no-store`) on the
 * response before the refusal is thrown, so that whichever exception filter answers it (ours,
 * the application's, or Nest's own) sends them. A filter may still change or remove them.
 */
export function setRefusalHeaders(response: unknown, err: AgentAuthError): void {
  if (typeof response !== 'object' || response === null) return
  const r = response as PlatformResponse
  if (r.headersSent === true || r.sent === true || r.raw?.headersSent === true) return
  // Express's res.header() and Fastify's reply.header() both set one header; a bare Node response
  // has setHeader() only.
  const set =
    typeof r.header === 'function' ? r.header : typeof r.setHeader === 'function' ? r.setHeader : undefined
  if (set === undefined) return
  for (const name in err.headers) set.call(r, name, err.headers[name]!)
}
