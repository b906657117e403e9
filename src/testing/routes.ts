/**
 * The dev broker's HTTP surface: Go `http.ServeMux` routing (404 / 405 + `Allow`), `ValMw` Bearer
 * authentication and `RequireScope`, rate limiting, request decoding, and one handler per endpoint
 * (contract §4), each recording the broker's audit events. Pure: takes a parsed request, returns a
 * {@link Reply}.
 */

import { scopeIsSubset } from '../core/scope.js'
import { AUDIT_DEFAULT_LIMIT, type CompiledAuditFilter } from './audit-log.js'
import { APP_TOKEN_SCOPES, type AppRecord, type BrokerCore, BrokerError, NONCE_TTL } from './broker-core.js'
import { decodeGoStruct, type GoStructSpec, parseGoJson } from './go-json.js'
import { formatRfc3339, parseGoRfc3339 } from './go-time.js'
import { goAtoi, parseGoQuery, queryGet } from './go-url.js'
import { claimsToJson, delegRecordToJson, type TknClaims } from './jwt.js'
import { problemReply } from './problem.js'
import { emptyReply, goHttpError, jsonReply, type Reply } from './reply.js'
import { REVOCATION_LEVELS, type RevocationLevel } from './revocation.js'

/** What a handler sees of a request. */
export interface BrokerRequest {
  readonly method: string
  /** URL path, no query. */
  readonly path: string
  /** The raw query (after the first `?`, not decoded); `''` for none. */
  readonly query: string
  /** First value of a header (Go `Header.Get`), by lower-case name. */
  readonly header: (name: string) => string | undefined
  readonly body: Buffer
  readonly requestId: string
  /** Client IP as the broker computes it (first `X-Forwarded-For` entry, else the peer address). */
  readonly clientIp: string
}

interface RouteContext extends BrokerRequest {
  readonly params: Readonly<Record<string, string>>
}

type Handler = (core: BrokerCore, req: RouteContext) => Reply

interface Route {
  readonly method: string
  readonly segments: readonly string[]
  readonly handler: Handler
}

const VERSION = '2.0.0'

function problem(
  req: RouteContext,
  status: number,
  type: BrokerError['type'],
  detail: string,
  headers = {},
): Reply {
  return problemReply(status, type, detail, req.path, req.requestId, headers)
}

function fromError(req: RouteContext, e: unknown): Reply {
  if (e instanceof BrokerError) return problem(req, e.status, e.type, e.detail)
  throw e
}

/** Go `json.NewDecoder(r.Body).Decode(&req)` into a struct; `null` = malformed JSON body. */
function decodeBody(req: RouteContext, spec: GoStructSpec): Record<string, unknown> | null {
  const v = parseGoJson(req.body, 'decoder')
  if (v === undefined) return null
  return decodeGoStruct(v, spec)
}

function malformed(req: RouteContext): Reply {
  return problem(req, 400, 'invalid_request', 'malformed JSON body')
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : []
}

function int(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : 0
}

/**
 * `ValMw.Wrap` (+ `RequireScope` when `scope` is given), contract §4.1, with its audit events: every
 * refusal is recorded (`token_auth_failed` — the detail names the Go verification error — or
 * `scope_violation`), outcome `denied`, `resource` = the path. (`token_revoked_access` is unreachable in
 * the production wiring: a revoked token already fails verification with `token has been revoked`.)
 * @returns the verified claims, or the refusal to send
 */
function authenticate(core: BrokerCore, req: RouteContext, scope?: string): TknClaims | Reply {
  const path = req.path
  const denied = { outcome: 'denied', resource: path }
  const auth = req.header('authorization')
  if (auth === undefined || auth === '') {
    core.audit.record({
      event_type: 'token_auth_failed',
      detail: `missing authorization header | path=${path}`,
      ...denied,
    })
    return problem(req, 401, 'unauthorized', 'missing authorization header')
  }
  if (!auth.startsWith('Bearer ')) {
    core.audit.record({
      event_type: 'token_auth_failed',
      detail: `invalid authorization scheme | path=${path}`,
      ...denied,
    })
    return problem(req, 401, 'unauthorized', 'invalid authorization scheme')
  }
  const v = core.verifyDetailed(auth.slice('Bearer '.length))
  if ('error' in v) {
    core.audit.record({
      event_type: 'token_auth_failed',
      detail: `token verification failed: ${v.error} | path=${path}`,
      ...denied,
    })
    return problem(req, 401, 'unauthorized', 'token verification failed')
  }
  const claims = v.claims
  const who = { agent_id: claims.sub, task_id: claims.task_id, orch_id: claims.orch_id }
  const aud = core.config.audience
  if (aud !== '' && !(claims.aud ?? []).includes(aud)) {
    core.audit.record({
      event_type: 'token_auth_failed',
      ...who,
      detail: `audience mismatch | expected=${aud} | path=${path}`,
      ...denied,
    })
    return problem(req, 401, 'unauthorized', 'token audience mismatch')
  }
  if (scope !== undefined && !scopeIsSubset([scope], claims.scope ?? [])) {
    core.audit.record({
      event_type: 'scope_violation',
      ...who,
      detail: `scope_violation | required=${scope} | actual=${(claims.scope ?? []).join(',')} | path=${path}`,
      ...denied,
    })
    return problem(req, 403, 'insufficient_scope', `token lacks required scope: ${scope}`)
  }
  return claims
}

function isReply(v: TknClaims | Reply): v is Reply {
  return 'status' in v && 'body' in v
}

function rateLimited(req: RouteContext, retryAfter: string): Reply {
  return problem(req, 429, 'rate_limited', 'rate limit exceeded, try again later', {
    'Retry-After': retryAfter,
  })
}

// ---------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------

const challenge: Handler = (core) => jsonReply(200, { nonce: core.createNonce(), expires_in: NONCE_TTL })

const register: Handler = (core, req) => {
  const b = decodeBody(req, {
    launch_token: 'string',
    nonce: 'string',
    public_key: 'string',
    signature: 'string',
    orch_id: 'string',
    task_id: 'string',
    requested_scope: 'string[]',
  })
  if (b === null) return malformed(req)
  try {
    const { agentId, issued } = core.register({
      launchToken: str(b.launch_token),
      nonce: str(b.nonce),
      publicKey: str(b.public_key),
      signature: str(b.signature),
      orchId: str(b.orch_id),
      taskId: str(b.task_id),
      requestedScope: strs(b.requested_scope),
    })
    return jsonReply(200, { agent_id: agentId, access_token: issued.token, expires_in: issued.expiresIn })
  } catch (e) {
    return fromError(req, e)
  }
}

const validate: Handler = (core, req) => {
  const b = decodeBody(req, { token: 'string' })
  if (b === null) return malformed(req)
  const token = str(b.token)
  if (token === '') return problem(req, 400, 'invalid_request', 'token field is required')
  const claims = core.verify(token)
  if (claims === null) return jsonReply(200, { valid: false, error: 'token is invalid or expired' })
  return jsonReply(200, { valid: true, claims: claimsToJson(claims) })
}

const renew: Handler = (core, req) => {
  const claims = authenticate(core, req)
  if (isReply(claims)) return claims
  const r = core.renew((req.header('authorization') ?? '').slice('Bearer '.length))
  const who = { agent_id: claims.sub, task_id: claims.task_id, orch_id: claims.orch_id }
  if ('error' in r) {
    core.audit.record({
      event_type: 'token_renewal_failed',
      ...who,
      detail: `token renewal failed for agent=${claims.sub}: ${r.error}`,
      outcome: 'denied',
    })
    return problem(req, 401, 'unauthorized', 'token renewal failed')
  }
  core.audit.record({
    event_type: 'token_renewed',
    ...who,
    detail: `token renewed for agent=${claims.sub} new_jti=${r.claims.jti}`,
    outcome: 'success',
  })
  return jsonReply(200, { access_token: r.token, expires_in: r.expiresIn })
}

const release: Handler = (core, req) => {
  const claims = authenticate(core, req)
  if (isReply(claims)) return claims
  core.revocations.revoke('token', claims.jti)
  core.audit.record({
    event_type: 'token_released',
    agent_id: claims.sub,
    task_id: claims.task_id,
    orch_id: claims.orch_id,
    detail: `token released | jti=${claims.jti}`,
    outcome: 'success',
  })
  return emptyReply(204)
}

const delegate: Handler = (core, req) => {
  const claims = authenticate(core, req)
  if (isReply(claims)) return claims
  const b = decodeBody(req, { delegate_to: 'string', scope: 'string[]', ttl: 'int' })
  if (b === null) return malformed(req)
  try {
    const { issued, chain } = core.delegate(claims, {
      delegateTo: str(b.delegate_to),
      scope: strs(b.scope),
      ttl: int(b.ttl),
    })
    return jsonReply(200, {
      access_token: issued.token,
      expires_in: issued.expiresIn,
      delegation_chain: chain.map(delegRecordToJson),
    })
  } catch (e) {
    return fromError(req, e)
  }
}

const revoke: Handler = (core, req) => {
  const claims = authenticate(core, req, 'admin:revoke:*')
  if (isReply(claims)) return claims
  const b = decodeBody(req, { level: 'string', target: 'string' })
  if (b === null) return malformed(req)
  const level = str(b.level)
  const target = str(b.target)
  if (level === '' || target === '')
    return problem(req, 400, 'invalid_request', 'level and target are required')
  if (!REVOCATION_LEVELS.includes(level as RevocationLevel)) {
    return problem(req, 400, 'invalid_request', `invalid revocation level: ${level}`)
  }
  core.revokeAndRecord(level as RevocationLevel, target)
  return jsonReply(200, { revoked: true, level, target, count: 1 })
}

/**
 * `GET /v1/audit/events` (`AuditHdl`, contract §4.9): query parameters read like Go's `r.URL.Query()`;
 * `since` / `until` through `time.Parse(time.RFC3339, …)`, ignored when unparseable; `limit` / `offset`
 * through `strconv.Atoi`, ignored (0) when unparseable. The answer echoes `offset` as parsed (negative
 * included) and `limit` as parsed when > 0, else 100.
 */
const auditEvents: Handler = (core, req) => {
  const claims = authenticate(core, req, 'admin:audit:*')
  if (isReply(claims)) return claims
  const q = parseGoQuery(req.query)
  const time = (name: string) => {
    const v = queryGet(q, name)
    return v === '' ? null : parseGoRfc3339(v)
  }
  const atoi = (name: string) => {
    const v = queryGet(q, name)
    return v === '' ? 0n : (goAtoi(v) ?? 0n)
  }
  const filter: CompiledAuditFilter = {
    agentId: queryGet(q, 'agent_id'),
    taskId: queryGet(q, 'task_id'),
    eventType: queryGet(q, 'event_type'),
    outcome: queryGet(q, 'outcome'),
    since: time('since'),
    until: time('until'),
  }
  const limit = atoi('limit')
  const offset = atoi('offset')
  const { events, total } = core.audit.query(filter, { offset, limit })
  return jsonReply(200, {
    events,
    total,
    offset,
    limit: limit <= 0n ? AUDIT_DEFAULT_LIMIT : limit,
  })
}

const adminAuth: Handler = (core, req) => {
  if (!core.adminAuthLimiter.allow(req.clientIp)) return rateLimited(req, '1')
  const b = decodeBody(req, { secret: 'string', client_id: 'string', client_secret: 'string' })
  if (b === null) return malformed(req)
  if (str(b.client_id) !== '' || str(b.client_secret) !== '') {
    return problem(
      req,
      400,
      'invalid_request',
      'Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret',
    )
  }
  const secret = str(b.secret)
  if (secret === '') return problem(req, 400, 'invalid_request', 'secret is required')
  try {
    const issued = core.adminAuthenticate(secret)
    return jsonReply(200, { access_token: issued.token, expires_in: issued.expiresIn, token_type: 'Bearer' })
  } catch (e) {
    return fromError(req, e)
  }
}

function launchTokens(scope: string): Handler {
  return (core, req) => {
    const claims = authenticate(core, req, scope)
    if (isReply(claims)) return claims
    const b = decodeBody(req, {
      agent_name: 'string',
      allowed_scope: 'string[]',
      max_ttl: 'int',
      ttl: 'int',
      single_use: 'bool',
    })
    if (b === null) return malformed(req)
    try {
      const lt = core.createLaunchToken(claims.sub, {
        agentName: str(b.agent_name),
        allowedScope: strs(b.allowed_scope),
        maxTtl: int(b.max_ttl),
        ttl: int(b.ttl),
        singleUse: typeof b.single_use === 'boolean' ? b.single_use : undefined,
      })
      return jsonReply(201, {
        launch_token: lt.launchToken,
        expires_at: formatRfc3339(lt.expiresAt),
        policy: { allowed_scope: b.allowed_scope ?? null, max_ttl: lt.maxTtl },
      })
    } catch (e) {
      return fromError(req, e)
    }
  }
}

function appJson(a: AppRecord): Record<string, unknown> {
  return {
    app_id: a.appId,
    name: a.name,
    client_id: a.clientId,
    scopes: a.scopes,
    token_ttl: a.tokenTtl,
    status: a.status,
    created_at: formatRfc3339(a.createdAt),
    updated_at: formatRfc3339(a.updatedAt),
  }
}

const ADMIN_APPS_SCOPE = 'admin:launch-tokens:*'

const createApp: Handler = (core, req) => {
  const claims = authenticate(core, req, ADMIN_APPS_SCOPE)
  if (isReply(claims)) return claims
  const b = decodeBody(req, { name: 'string', scopes: 'string[]', token_ttl: 'int' })
  if (b === null) return malformed(req)
  const name = str(b.name)
  const scopes = strs(b.scopes)
  if (name === '') return problem(req, 400, 'invalid_request', 'name is required')
  if (scopes.length === 0) return problem(req, 400, 'invalid_request', 'scopes must not be empty')
  const ttl = b.token_ttl === undefined ? undefined : int(b.token_ttl)
  if (ttl !== undefined && ttl <= 0) {
    return problem(
      req,
      400,
      'invalid_ttl',
      `invalid token TTL: must be between 60 and 86400 seconds, got ${ttl}`,
    )
  }
  try {
    const { app, clientSecret } = core.registerApp(name, scopes, ttl)
    return jsonReply(201, {
      app_id: app.appId,
      name: '',
      client_id: app.clientId,
      client_secret: clientSecret,
      scopes: app.scopes,
      token_ttl: app.tokenTtl,
      status: '',
    })
  } catch (e) {
    return fromError(req, e)
  }
}

const listApps: Handler = (core, req) => {
  const claims = authenticate(core, req, ADMIN_APPS_SCOPE)
  if (isReply(claims)) return claims
  const apps = core.listApps().map(appJson)
  return jsonReply(200, { apps, total: apps.length })
}

const getApp: Handler = (core, req) => {
  const claims = authenticate(core, req, ADMIN_APPS_SCOPE)
  if (isReply(claims)) return claims
  try {
    return jsonReply(200, appJson(core.getApp(req.params.id ?? '')))
  } catch (e) {
    return fromError(req, e)
  }
}

const updateApp: Handler = (core, req) => {
  const claims = authenticate(core, req, ADMIN_APPS_SCOPE)
  if (isReply(claims)) return claims
  const b = decodeBody(req, { scopes: 'string[]', token_ttl: 'int' })
  if (b === null) return malformed(req)
  const scopes = strs(b.scopes)
  if (scopes.length === 0 && b.token_ttl === undefined) {
    return problem(req, 400, 'invalid_request', 'at least one of scopes or token_ttl must be provided')
  }
  const id = req.params.id ?? ''
  try {
    if (scopes.length > 0) core.updateAppScopes(id, scopes, claims.sub)
    if (b.token_ttl !== undefined) core.updateAppTtl(id, int(b.token_ttl), claims.sub)
    return jsonReply(200, appJson(core.getApp(id)))
  } catch (e) {
    return fromError(req, e)
  }
}

const deleteApp: Handler = (core, req) => {
  const claims = authenticate(core, req, ADMIN_APPS_SCOPE)
  if (isReply(claims)) return claims
  const id = req.params.id ?? ''
  try {
    core.deregisterApp(id, claims.sub)
  } catch (e) {
    return fromError(req, e)
  }
  return jsonReply(200, {
    app_id: id,
    name: '',
    client_id: '',
    scopes: null,
    token_ttl: 0,
    status: 'inactive',
    deregistered_at: formatRfc3339(core.config.now()),
  })
}

/** `clientIDFromBody`: `json.Unmarshal` of the body into `{client_id}`; any error → `''`. */
function clientIdFromBody(body: Buffer): string {
  const v = parseGoJson(body, 'unmarshal')
  if (v === undefined) return ''
  const b = decodeGoStruct(v, { client_id: 'string' })
  return b === null ? '' : str(b.client_id)
}

const appAuth: Handler = (core, req) => {
  const key = clientIdFromBody(req.body) || req.clientIp
  if (!core.appAuthLimiter.allow(key)) return rateLimited(req, '60')
  const b = decodeBody(req, { client_id: 'string', client_secret: 'string' })
  if (b === null) return malformed(req)
  const clientId = str(b.client_id)
  const clientSecret = str(b.client_secret)
  if (clientId === '' || clientSecret === '') {
    return problem(req, 400, 'invalid_request', 'client_id and client_secret are required')
  }
  try {
    const issued = core.appAuthenticate(clientId, clientSecret)
    return jsonReply(200, {
      access_token: issued.token,
      expires_in: issued.expiresIn,
      token_type: 'Bearer',
      scopes: [...APP_TOKEN_SCOPES],
    })
  } catch (e) {
    return fromError(req, e)
  }
}

const health: Handler = (core) =>
  jsonReply(200, {
    status: 'ok',
    version: VERSION,
    uptime: Math.floor((core.config.now() - core.startedAt) / 1000),
    db_connected: true,
    audit_events_count: core.audit.size,
  })

const jwks: Handler = (core) => jsonReply(200, { keys: [core.config.key.publicJwk] })

function route(pattern: string, handler: Handler): Route {
  const [method, path] = pattern.split(' ') as [string, string]
  return { method, segments: path.split('/').slice(1), handler }
}

const ROUTES: readonly Route[] = [
  route('GET /v1/challenge', challenge),
  route('POST /v1/register', register),
  route('POST /v1/token/validate', validate),
  route('POST /v1/token/renew', renew),
  route('POST /v1/token/release', release),
  route('POST /v1/delegate', delegate),
  route('POST /v1/revoke', revoke),
  route('GET /v1/audit/events', auditEvents),
  route('POST /v1/admin/auth', adminAuth),
  route('POST /v1/admin/launch-tokens', launchTokens('admin:launch-tokens:*')),
  route('POST /v1/app/launch-tokens', launchTokens('app:launch-tokens:*')),
  route('POST /v1/admin/apps', createApp),
  route('GET /v1/admin/apps', listApps),
  route('GET /v1/admin/apps/{id}', getApp),
  route('PUT /v1/admin/apps/{id}', updateApp),
  route('DELETE /v1/admin/apps/{id}', deleteApp),
  route('POST /v1/app/auth', appAuth),
  route('GET /v1/health', health),
  // EXTENSION: the real broker has no key-distribution endpoint (contract §14).
  route('GET /v1/jwks', jwks),
]

function matchPath(route: Route, segments: readonly string[]): Record<string, string> | null {
  if (route.segments.length !== segments.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const want = route.segments[i] as string
    const got = segments[i] as string
    if (want.startsWith('{') && want.endsWith('}')) {
      if (got === '') return null
      params[want.slice(1, -1)] = got
    } else if (want !== got) {
      return null
    }
  }
  return params
}

/**
 * Route a request like Go's `http.ServeMux` with method patterns: a match runs its handler (`HEAD` is
 * served by a `GET` route); a path known only for other methods → `405 Method Not Allowed` with a sorted
 * `Allow` header; anything else → `404 page not found` (plain text).
 */
export function dispatch(core: BrokerCore, req: BrokerRequest): Reply {
  const segments = req.path.split('/').slice(1)
  const allowed = new Set<string>()
  for (const r of ROUTES) {
    const params = matchPath(r, segments)
    if (params === null) continue
    if (r.method === req.method || (req.method === 'HEAD' && r.method === 'GET')) {
      return r.handler(core, { ...req, params })
    }
    allowed.add(r.method)
  }
  if (allowed.size > 0) {
    return goHttpError(405, 'Method Not Allowed', { Allow: [...allowed].sort().join(', ') })
  }
  return goHttpError(404, '404 page not found')
}
