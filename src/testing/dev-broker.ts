/**
 * `startDevBroker()`: an in-process AgentWrit broker on node:http that follows
 * shared/broker-contract.md for the endpoints agents, apps and tests use, with real Ed25519 keys and
 * byte-exact tokens and the broker's audit log, plus test controls (faults, stop/restart, request
 * counters, audit seeding) and helpers that drive the broker through its real HTTP API.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { scopeIsSubset } from '../core/scope.js'
import {
  type AuditEvent,
  type AuditEventFilter,
  type AuditEventInput,
  compileAuditFilter,
} from './audit-log.js'
import { BrokerCore, TRUST_DOMAIN } from './broker-core.js'
import { checkFaults, type FaultMode, faultFor, faultIsTotalOutage, faultReply } from './faults.js'
import { goJsonStringify } from './go-json.js'
import type { GoInstant } from './go-time.js'
import { expectJson } from './http-client.js'
import { signCompact } from './jwt.js'
import { loadSigningKey } from './keys.js'
import { problemReply } from './problem.js'
import type { Ed25519PublicJwk } from './public-jwk.js'
import type { Reply } from './reply.js'
import { type RequestLogLine, type RequestTrace, traceRequest } from './request-log.js'
import { REVOCATION_LEVELS, type RevocationLevel } from './revocation.js'
import { dispatch } from './routes.js'

/** Scope ceiling of the pre-registered `sample-app`. */
export const SAMPLE_APP_SCOPES: readonly string[] = Object.freeze([
  'read:data:*',
  'write:data:*',
  'read:analytics:*',
  'write:reports:*',
  'read:config:*',
  'read:deploy:*',
  'write:deploy:*',
])

/** Global request body limit, bytes (1 MiB). */
export const MAX_BODY_BYTES = 1 << 20

/** Options of {@link startDevBroker}. Every option mirrors a broker setting. */
export interface DevBrokerOptions {
  /** TCP port on 127.0.0.1. Default `0` (a random free port; read it back from `broker.port`). */
  readonly port?: number
  /** `AA_ADMIN_SECRET`, the secret of `POST /v1/admin/auth`. Default `'dev-secret'`. */
  readonly adminSecret?: string
  /** `AA_TRUST_DOMAIN` of agent SPIFFE ids (`[a-z0-9._-]`). Default `'agentwrit.local'`. */
  readonly trustDomain?: string
  /** `AA_ISSUER`: the `iss` of every token, and checked on verification when non-empty. Default `''`. */
  readonly issuer?: string
  /**
   * `AA_AUDIENCE`: when set, tokens carry `aud: [audience]` and Bearer endpoints require it
   * (`/v1/token/validate` never checks it). Default: unset (no `aud` claim).
   */
  readonly audience?: string
  /** `AA_MAX_TTL`: clamp of every token TTL, seconds; `0` = no clamp. Default `86400`. */
  readonly maxTtl?: number
  /** The signing key as PKCS#8 PEM (the broker's `AA_SIGNING_KEY_PATH` file). Default: a fresh random key. */
  readonly signingKeyPem?: string
  /**
   * Clock in milliseconds since the epoch, used for ALL time logic (token times, expiry checks, nonce and
   * launch-token lifetimes, rate-limit refills, `delegated_at`, uptime). Default `Date.now`.
   */
  readonly now?: () => number
  /**
   * Pre-register an app named `sample-app` with the ceiling {@link SAMPLE_APP_SCOPES}; its credentials are
   * on `broker.sampleApp`. Default `true`.
   */
  readonly sampleApp?: boolean
  /**
   * Request log for local debugging: called once per finished request (when its response has been sent or
   * its connection closed — a `hang` fault's request is logged, with status `0`, when the client gives up
   * or the broker stops). A line never carries a token, a header, a body, a secret or the query string;
   * see {@link RequestLogLine}. Exceptions it throws are ignored. Default: none.
   */
  readonly requestLog?: (line: RequestLogLine) => void
}

/** The pre-registered sample app's credentials. */
export interface SampleAppCredentials {
  readonly appId: string
  readonly clientId: string
  readonly clientSecret: string
  readonly scopes: readonly string[]
}

/** Request counters (a snapshot). */
export interface DevBrokerStats {
  /** `POST /v1/token/validate` requests received, including faulted ones. */
  readonly validateCalls: number
  /** Requests received per URL path (any method, including faulted and helper requests). */
  readonly requests: Readonly<Record<string, number>>
}

/** Options of {@link DevBroker.createAgent}. */
export interface CreateAgentOptions {
  /** `orch_id` (a SPIFFE path segment: `[A-Za-z0-9._-]`). */
  readonly orchId: string
  /** `task_id` (a SPIFFE path segment). */
  readonly taskId: string
  /** Requested scopes (also the launch token's `allowed_scope`). */
  readonly scope: readonly string[]
  /** Launch token `max_ttl` = the agent token's TTL, seconds. Default `300`. */
  readonly maxTtl?: number
}

/** A registered agent. */
export interface CreatedAgent {
  /** SPIFFE id, `spiffe://{trustDomain}/agent/{orchId}/{taskId}/{16 hex}`. */
  readonly agentId: string
  readonly accessToken: string
  /** Token TTL, seconds. */
  readonly expiresIn: number
  readonly scope: readonly string[]
  readonly taskId: string
  readonly orchId: string
  /** The agent's own Ed25519 key pair (registration proof of possession). */
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

/** One delegation record as returned by `POST /v1/delegate`. */
export interface DelegationRecordJson {
  readonly agent: string
  readonly scope: readonly string[] | null
  readonly delegated_at: string
  readonly signature?: string
}

/** Result of {@link DevBroker.delegate}. */
export interface DelegationResult {
  readonly accessToken: string
  /** Seconds. */
  readonly expiresIn: number
  /** The full chain, oldest hop first, including the new record. */
  readonly delegationChain: readonly DelegationRecordJson[]
}

/** Options of {@link DevBroker.restart}. */
export interface DevBrokerRestartOptions {
  /**
   * When the broker is running, stop it first (every connection dropped, clients briefly see "connection
   * refused") and listen again on the same port. Default `false`: `restart()` on a running broker does
   * nothing.
   */
  readonly stopFirst?: boolean
  /**
   * Come back like a restarted Go broker process (implies `stopFirst`): what the broker keeps in memory
   * only — nonces, launch tokens, the agent table (earlier agents can no longer be delegation targets),
   * rate-limit buckets, uptime — is gone; what it persists — the signing key, revocations, apps and the
   * audit log (counter and hash chain continuing) — is kept. Default `false`: everything is kept.
   */
  readonly dropMemoryState?: boolean
}

/** Options of {@link DevBroker.seedRevocations}. */
export interface SeedRevocationsOptions {
  /** Revocation level of every seeded entry. Default `'token'`. */
  readonly level?: RevocationLevel
}

/** The body of `POST /v1/token/validate` (always HTTP 200). */
export type ValidateResponse =
  | { readonly valid: true; readonly claims: Record<string, unknown> }
  | { readonly valid: false; readonly error: string }

/** A running development broker. */
export interface DevBroker {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string
  readonly port: number
  /** `GET /v1/jwks` URL — an EXTENSION: the real broker serves no key (contract §14). */
  readonly jwksUrl: string
  /** The tokens' header `kid` (RFC 7638 thumbprint of the public key). */
  readonly kid: string
  /** Public JWK with `kid`, `alg: "EdDSA"`, `use: "sig"`. */
  readonly publicJwk: Ed25519PublicJwk
  /** `{ keys: [publicJwk] }`. */
  readonly jwks: { readonly keys: readonly Ed25519PublicJwk[] }
  /** SPKI PEM of the public key. */
  readonly publicKeyPem: string
  /** PKCS#8 PEM of the signing key (feed it to another broker, or to `agentwrit-verify jwk`). */
  readonly signingKeyPem: string
  readonly adminSecret: string
  readonly trustDomain: string
  /** Configured issuer (`''` = none). */
  readonly issuer: string
  /** Configured audience, if any. */
  readonly audience: string | undefined
  /** The pre-registered `sample-app`, or `null` when `sampleApp: false`. */
  readonly sampleApp: SampleAppCredentials | null
  /** Request counters since start or the last {@link DevBroker.resetStats}. */
  readonly stats: DevBrokerStats
  /** Zero the counters. */
  resetStats(): void

  /**
   * Inject a failure, or clear it with `null` (or `[]`). Replaces any previous fault. Unless `paths` says
   * otherwise a fault applies to `/v1/token/validate` only, so the helpers keep working; target the audit
   * log alone with `paths: [AUDIT_EVENTS_PATH]`. Several modes may be given at once (e.g. a slow validate
   * and a failing audit log): each request gets the first one whose `paths` match. A fault is applied to
   * each request when it arrives; requests already being answered are not affected, except that
   * `{ kind: 'down', paths: '*' }` destroys every open connection at once. See {@link FaultMode}.
   * @throws TypeError for an invalid mode
   */
  fault(mode: FaultMode | readonly FaultMode[] | null): void
  /** Close the listener and every connection (clients get "connection refused"); state is kept. */
  stop(): Promise<void>
  /**
   * Listen again on the same port after {@link DevBroker.stop}. No-op while running, unless
   * `stopFirst` / `dropMemoryState` ask for a bounce. Keys, agents, apps, revocations and the audit log
   * are kept (see {@link DevBrokerRestartOptions.dropMemoryState} for a Go-process-like restart).
   */
  restart(options?: DevBrokerRestartOptions): Promise<void>
  /** Stop for good and release everything. Idempotent. */
  close(): Promise<void>

  /**
   * An admin token from `POST /v1/admin/auth`. Cached while it verifies and has ≥ 30 s left. Helper calls
   * identify as `X-Forwarded-For: agentwrit-dev-broker-helper`, so they do not use up the admin-auth rate
   * limit budget of 127.0.0.1 that tests may be exercising.
   */
  adminToken(): Promise<string>
  /**
   * Register an agent through the real flow: launch token (as `sample-app` through
   * `/v1/app/launch-tokens` when its ceiling covers `scope`, else as admin through
   * `/v1/admin/launch-tokens`), `GET /v1/challenge`, `POST /v1/register` with a fresh Ed25519 key.
   * The app token is cached (app auth allows a burst of 3 per 60 s).
   */
  createAgent(options: CreateAgentOptions): Promise<CreatedAgent>
  /** `POST /v1/delegate` with `bearerToken` (pass a delegated token to extend its chain). */
  delegate(
    bearerToken: string,
    options: { readonly to: string; readonly scope: readonly string[]; readonly ttl?: number },
  ): Promise<DelegationResult>
  /** `POST /v1/revoke` with an admin token. @returns the broker's answer (`count` is always 1) */
  revoke(
    level: RevocationLevel,
    target: string,
  ): Promise<{ revoked: boolean; level: string; target: string; count: number }>
  /** `POST /v1/token/release` (204) with the token as Bearer. */
  release(token: string): Promise<void>
  /** `POST /v1/token/renew`. The old token is revoked. */
  renew(token: string): Promise<{ accessToken: string; expiresIn: number }>
  /** `POST /v1/token/validate`: the broker's JSON answer. */
  validate(token: string): Promise<ValidateResponse>
  /**
   * The audit log (`GET /v1/audit/events` without paging): every event matching `filter`, in insertion
   * order. Filters work as the query parameters do (exact matches, `''` = none, `since` / `until`
   * inclusive), except that an unparseable time is a TypeError here. The events are the broker's own
   * frozen objects, in the wire shape and field order.
   * @throws TypeError for a malformed filter
   */
  auditEvents(filter?: AuditEventFilter): AuditEvent[]
  /**
   * Append events to the audit log directly, as the broker's `AuditLog.Record` would (next id from the
   * counter, timestamp now, detail sanitised, hash chained) — for a large or unusual history without HTTP
   * calls. Nothing else changes (a `token_revoked` event recorded here revokes nothing; see
   * {@link DevBroker.seedRevocations}).
   * @returns the recorded events
   * @throws TypeError for a malformed event (events before it are recorded)
   */
  recordAuditEvents(events: Iterable<AuditEventInput>): AuditEvent[]
  /**
   * Revoke quickly without HTTP: for each target, exactly what an accepted `POST /v1/revoke` does — add the
   * revocation predicate and record `token_revoked` (`agent_id` = target, detail
   * `revoked at level=<level> target=<target>`, outcome `success`). A number makes that many random
   * 32-hex targets (jti-like). 100,000 take about a second and some 50 MB.
   * @returns the targets, in log order
   * @throws TypeError for a bad count, target or level
   */
  seedRevocations(countOrTargets: number | readonly string[], options?: SeedRevocationsOptions): string[]
  /**
   * Sign any payload with the broker's key (for expired, not-yet-valid, malformed or otherwise odd tokens).
   * Objects are serialised like Go (key order kept as given, `bigint` allowed); a string is used verbatim.
   * @param header - default `{"alg":"EdDSA","typ":"JWT","kid":<kid>}`
   */
  signToken(claims: Record<string, unknown> | string, header?: Record<string, unknown> | string): string
}

/** Helper traffic identifies with this `X-Forwarded-For` value (its own rate-limit bucket). */
const HELPER_IP = 'agentwrit-dev-broker-helper'

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headersDistinct[name]
  return v?.[0]
}

function resolveOptions(o: DevBrokerOptions) {
  if (typeof o !== 'object' || o === null) throw new TypeError('startDevBroker: options must be an object')
  const port = o.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError('port: expected an integer between 0 and 65535')
  }
  const adminSecret = o.adminSecret ?? 'dev-secret'
  if (typeof adminSecret !== 'string' || adminSecret === '') {
    throw new TypeError('adminSecret: expected a non-empty string')
  }
  const trustDomain = o.trustDomain ?? 'agentwrit.local'
  if (typeof trustDomain !== 'string' || !TRUST_DOMAIN.test(trustDomain)) {
    throw new TypeError('trustDomain: expected a SPIFFE trust domain ([a-z0-9._-]+)')
  }
  const issuer = o.issuer ?? ''
  if (typeof issuer !== 'string') throw new TypeError('issuer: expected a string')
  const audience = o.audience ?? ''
  if (typeof audience !== 'string') throw new TypeError('audience: expected a string')
  const maxTtl = o.maxTtl ?? 86400
  if (!Number.isInteger(maxTtl) || maxTtl < 0)
    throw new TypeError('maxTtl: expected an integer ≥ 0 (seconds)')
  const now = o.now ?? Date.now
  if (typeof now !== 'function') throw new TypeError('now: expected a function returning milliseconds')
  if (o.signingKeyPem !== undefined && typeof o.signingKeyPem !== 'string') {
    throw new TypeError('signingKeyPem: expected a PKCS#8 PEM string')
  }
  if (o.requestLog !== undefined && typeof o.requestLog !== 'function') {
    throw new TypeError('requestLog: expected a function')
  }
  const sampleApp = o.sampleApp ?? true
  return {
    port,
    adminSecret,
    trustDomain,
    issuer,
    audience,
    maxTtl,
    now,
    sampleApp,
    requestLog: o.requestLog,
  }
}

/**
 * The default audit clock: wall time at start plus the monotonic nanosecond clock since, so audit
 * timestamps carry nanoseconds like Go's `time.Now()` (Date.now() has milliseconds only).
 */
function nanosecondClock(): () => GoInstant {
  const wall0 = Date.now()
  const t0 = process.hrtime()
  return () => {
    const [s, ns] = process.hrtime(t0)
    return { ms: wall0 + s * 1000 + Math.floor(ns / 1_000_000), subNs: ns % 1_000_000 }
  }
}

class DevBrokerImpl implements DevBroker {
  readonly #core: BrokerCore
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  #faults: FaultMode[] = []
  #state: 'running' | 'stopped' | 'closed' = 'stopped'
  #port = 0
  #validateCalls = 0
  #requests: Record<string, number> = {}
  #adminToken: string | undefined
  #appToken: string | undefined
  #appLogin: Promise<string> | undefined
  #adminLogin: Promise<string> | undefined
  readonly #requestLog: ((line: RequestLogLine) => void) | undefined
  readonly sampleApp: SampleAppCredentials | null

  constructor(
    core: BrokerCore,
    readonly audience: string | undefined,
    sampleApp: boolean,
    requestLog?: (line: RequestLogLine) => void,
  ) {
    this.#core = core
    this.#requestLog = requestLog
    this.sampleApp = null
    if (sampleApp) {
      const { app, clientSecret } = core.registerApp('sample-app', [...SAMPLE_APP_SCOPES], undefined)
      this.sampleApp = Object.freeze({
        appId: app.appId,
        clientId: app.clientId,
        clientSecret,
        scopes: SAMPLE_APP_SCOPES,
      })
    }
    this.#server = createServer({ maxHeaderSize: MAX_BODY_BYTES }, (req, res) => {
      this.#onRequest(req, res).catch(() => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('internal error\n')
        }
      })
    })
    this.#server.on('connection', (socket: Socket) => {
      if (this.#faults.some(faultIsTotalOutage)) {
        socket.destroy()
        return
      }
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`
  }
  get port(): number {
    return this.#port
  }
  get jwksUrl(): string {
    return `${this.url}/v1/jwks`
  }
  get kid(): string {
    return this.#core.config.key.kid
  }
  get publicJwk(): Ed25519PublicJwk {
    return this.#core.config.key.publicJwk
  }
  get jwks(): { keys: readonly Ed25519PublicJwk[] } {
    return { keys: [this.publicJwk] }
  }
  get publicKeyPem(): string {
    return this.#core.config.key.publicKeyPem
  }
  get signingKeyPem(): string {
    return this.#core.config.key.privateKeyPem
  }
  get adminSecret(): string {
    return this.#core.config.adminSecret
  }
  get trustDomain(): string {
    return this.#core.config.trustDomain
  }
  get issuer(): string {
    return this.#core.config.issuer
  }
  get stats(): DevBrokerStats {
    return Object.freeze({
      validateCalls: this.#validateCalls,
      requests: Object.freeze({ ...this.#requests }),
    })
  }

  resetStats(): void {
    this.#validateCalls = 0
    this.#requests = {}
  }

  // -------------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------------

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => {
        this.#server.off('listening', onListening)
        reject(e)
      }
      const onListening = () => {
        this.#server.off('error', onError)
        resolve()
      }
      this.#server.once('error', onError)
      this.#server.once('listening', onListening)
      this.#server.listen(port, '127.0.0.1')
    })
    const addr = this.#server.address()
    if (addr === null || typeof addr === 'string') throw new Error('dev broker: no TCP address')
    this.#port = addr.port
    this.#state = 'running'
  }

  #dropConnections(): void {
    for (const d of this.#pendingDelays) {
      clearTimeout(d.timer)
      d.resolve()
    }
    this.#pendingDelays.clear()
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') return
    this.#state = 'stopped'
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#dropConnections()
    this.#server.closeAllConnections()
    await closed
  }

  async restart(options: DevBrokerRestartOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('restart: options must be an object')
    }
    if (this.#state === 'closed') throw new Error('dev broker: restart() after close()')
    const fresh = options.dropMemoryState === true
    if (this.#state === 'running') {
      if (!fresh && options.stopFirst !== true) return
      await this.stop()
    }
    if (fresh) this.#core.simulateProcessRestart()
    await this.listen(this.#port)
  }

  async close(): Promise<void> {
    await this.stop()
    this.#state = 'closed'
    this.#faults = []
  }

  fault(mode: FaultMode | readonly FaultMode[] | null): void {
    this.#faults = checkFaults(mode)
    if (this.#faults.some(faultIsTotalOutage)) this.#dropConnections()
  }

  // -------------------------------------------------------------------------------------------------
  // Audit log controls
  // -------------------------------------------------------------------------------------------------

  auditEvents(filter: AuditEventFilter = {}): AuditEvent[] {
    return this.#core.audit.all(compileAuditFilter(filter))
  }

  recordAuditEvents(events: Iterable<AuditEventInput>): AuditEvent[] {
    if (events === null || typeof (events as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError('recordAuditEvents: expected an iterable of events')
    }
    const out: AuditEvent[] = []
    for (const e of events) out.push(this.#core.audit.record(e))
    return out
  }

  seedRevocations(
    countOrTargets: number | readonly string[],
    options: SeedRevocationsOptions = {},
  ): string[] {
    const level = options.level ?? 'token'
    if (!REVOCATION_LEVELS.includes(level)) {
      throw new TypeError(`seedRevocations: level must be one of ${REVOCATION_LEVELS.join(', ')}`)
    }
    let targets: string[]
    if (typeof countOrTargets === 'number') {
      if (!Number.isSafeInteger(countOrTargets) || countOrTargets < 0) {
        throw new TypeError('seedRevocations: expected a count ≥ 0 or an array of targets')
      }
      const hex = randomBytes(16 * countOrTargets).toString('hex')
      targets = Array.from({ length: countOrTargets }, (_, i) => hex.slice(i * 32, i * 32 + 32))
    } else if (Array.isArray(countOrTargets)) {
      if (!countOrTargets.every((t) => typeof t === 'string' && t !== '')) {
        throw new TypeError('seedRevocations: targets must be non-empty strings')
      }
      targets = [...countOrTargets]
    } else {
      throw new TypeError('seedRevocations: expected a count ≥ 0 or an array of targets')
    }
    for (const t of targets) this.#core.revokeAndRecord(level, t)
    return targets
  }

  // -------------------------------------------------------------------------------------------------
  // Request handling: RequestID → MaxBytesBody → SecurityHeaders → mux (contract §1)
  // -------------------------------------------------------------------------------------------------

  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#pendingDelays.delete(entry)
          resolve()
        }, ms),
        resolve,
      }
      this.#pendingDelays.add(entry)
    })
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const query = q < 0 ? '' : target.slice(q + 1)
    let rawPath = (q < 0 ? target : target.slice(0, q)) || '/'
    if (!rawPath.startsWith('/')) {
      try {
        rawPath = new URL(rawPath).pathname // absolute-form request target
      } catch {
        // keep it: it matches no route
      }
    }
    let path = rawPath
    try {
      path = decodeURIComponent(rawPath)
    } catch {
      // keep the raw path
    }
    this.#requests[path] = (this.#requests[path] ?? 0) + 1
    if (req.method === 'POST' && path === '/v1/token/validate') this.#validateCalls++
    const requestId = firstHeader(req, 'x-request-id') || randomHex(8)
    const trace = this.#trace(req, res, path, requestId)

    const fault = faultFor(this.#faults, path)
    if (fault !== null) trace.fault = fault.kind
    let problemFault: Extract<FaultMode, { kind: 'problem' }> | null = null
    if (fault !== null && fault.kind === 'problem') {
      problemFault = fault
    } else if (fault !== null) {
      if (fault.kind === 'down') {
        req.socket.destroy()
        return
      }
      if (fault.kind === 'hang') {
        req.resume()
        return
      }
      if (fault.kind === 'slow') {
        await this.#delay(fault.delayMs)
        if (res.destroyed || this.#state !== 'running') return
      } else {
        req.resume()
        const reply = faultReply(fault)
        if (reply !== null) this.#write(res, reply)
        return
      }
    }

    res.setHeader('X-Request-ID', requestId)
    const body = await this.#readBody(req)
    if (res.destroyed) return
    if (body === 'too_large' || body === 'error') {
      // MaxBytesBody sits outside SecurityHeaders: these replies carry only X-Request-ID.
      const reply =
        body === 'too_large'
          ? problemReply(413, 'payload_too_large', 'request body must not exceed 1 MB', path, requestId, {
              Connection: 'close',
            })
          : problemReply(400, 'invalid_request', 'failed to read request body', path, requestId)
      this.#write(res, reply)
      return
    }
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('X-Frame-Options', 'DENY')
    if (problemFault !== null) {
      const status = problemFault.status ?? 500
      this.#write(
        res,
        problemReply(status, 'internal_error', problemFault.detail ?? 'internal error', path, requestId),
      )
      return
    }
    const xff = firstHeader(req, 'x-forwarded-for')
    const reply = dispatch(this.#core, {
      method: req.method ?? 'GET',
      path,
      query,
      header: (name) => firstHeader(req, name),
      body,
      requestId,
      clientIp: xff ? (xff.split(',')[0] as string) : (req.socket.remoteAddress ?? ''),
    })
    trace.reply = reply
    this.#write(res, reply)
  }

  /** The request's log trace (see {@link DevBrokerOptions.requestLog}): only the decoded path, no query. */
  #trace(req: IncomingMessage, res: ServerResponse, path: string, requestId: string): RequestTrace {
    return traceRequest(this.#requestLog, res, { method: req.method ?? 'GET', path, requestId })
  }

  #readBody(req: IncomingMessage): Promise<Buffer | 'too_large' | 'error'> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = []
      let size = 0
      let tooLarge = false
      req.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY_BYTES) tooLarge = true
        else chunks.push(c)
      })
      req.on('end', () => resolve(tooLarge ? 'too_large' : Buffer.concat(chunks)))
      req.on('error', () => resolve('error'))
      req.on('aborted', () => resolve('error'))
    })
  }

  #write(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.headersSent) return
    const headers: Record<string, string> = { ...reply.headers }
    if (reply.body !== '' || (reply.status !== 204 && reply.status !== 304)) {
      headers['Content-Length'] = String(Buffer.byteLength(reply.body))
    }
    res.writeHead(reply.status, headers)
    res.end(reply.body)
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers (through the real HTTP API)
  // -------------------------------------------------------------------------------------------------

  #stillGood(token: string | undefined): token is string {
    if (token === undefined) return false
    const c = this.#core.verify(token)
    return c !== null && Number(c.exp) - this.#core.nowSeconds() >= 30
  }

  async adminToken(): Promise<string> {
    if (this.#stillGood(this.#adminToken)) return this.#adminToken
    // Concurrent callers share one login, so parallel helpers never hit the rate limit.
    this.#adminLogin ??= (async () => {
      try {
        const r = (await expectJson(this.url, 'POST', '/v1/admin/auth', 200, {
          headers: { 'X-Forwarded-For': HELPER_IP },
          body: { secret: this.adminSecret },
        })) as { access_token: string }
        this.#adminToken = r.access_token
        return r.access_token
      } finally {
        this.#adminLogin = undefined
      }
    })()
    return this.#adminLogin
  }

  async #sampleAppToken(): Promise<string> {
    if (this.#stillGood(this.#appToken)) return this.#appToken
    const app = this.sampleApp as SampleAppCredentials
    // Concurrent callers share one app login (app auth allows a burst of 3 per client_id).
    this.#appLogin ??= (async () => {
      try {
        const r = (await expectJson(this.url, 'POST', '/v1/app/auth', 200, {
          body: { client_id: app.clientId, client_secret: app.clientSecret },
        })) as { access_token: string }
        this.#appToken = r.access_token
        return r.access_token
      } finally {
        this.#appLogin = undefined
      }
    })()
    return this.#appLogin
  }

  async createAgent(options: CreateAgentOptions): Promise<CreatedAgent> {
    const { orchId, taskId } = options
    const scope = [...options.scope]
    // decide on the app's CURRENT ceiling (it may have been changed through PUT /v1/admin/apps/{id})
    const viaApp =
      this.sampleApp !== null && scopeIsSubset(scope, this.#core.getApp(this.sampleApp.appId).scopes)
    const bearer = viaApp ? await this.#sampleAppToken() : await this.adminToken()
    const lt = (await expectJson(
      this.url,
      'POST',
      viaApp ? '/v1/app/launch-tokens' : '/v1/admin/launch-tokens',
      201,
      {
        headers: { Authorization: `Bearer ${bearer}` },
        body: { agent_name: taskId, allowed_scope: scope, max_ttl: options.maxTtl ?? 300, single_use: true },
      },
    )) as { launch_token: string }
    const ch = (await expectJson(this.url, 'GET', '/v1/challenge', 200)) as { nonce: string }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const x = publicKey.export({ format: 'jwk' }).x as string
    const reg = (await expectJson(this.url, 'POST', '/v1/register', 200, {
      body: {
        launch_token: lt.launch_token,
        nonce: ch.nonce,
        public_key: Buffer.from(x, 'base64url').toString('base64'),
        signature: sign(null, Buffer.from(ch.nonce, 'hex'), privateKey).toString('base64'),
        orch_id: orchId,
        task_id: taskId,
        requested_scope: scope,
      },
    })) as { agent_id: string; access_token: string; expires_in: number }
    return Object.freeze({
      agentId: reg.agent_id,
      accessToken: reg.access_token,
      expiresIn: reg.expires_in,
      scope: Object.freeze(scope),
      taskId,
      orchId,
      privateKey,
      publicKey,
    })
  }

  async delegate(
    bearerToken: string,
    options: { readonly to: string; readonly scope: readonly string[]; readonly ttl?: number },
  ): Promise<DelegationResult> {
    const r = (await expectJson(this.url, 'POST', '/v1/delegate', 200, {
      headers: { Authorization: `Bearer ${bearerToken}` },
      body: {
        delegate_to: options.to,
        scope: options.scope,
        ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
      },
    })) as { access_token: string; expires_in: number; delegation_chain: DelegationRecordJson[] }
    return { accessToken: r.access_token, expiresIn: r.expires_in, delegationChain: r.delegation_chain }
  }

  async revoke(
    level: RevocationLevel,
    target: string,
  ): Promise<{ revoked: boolean; level: string; target: string; count: number }> {
    const admin = await this.adminToken()
    return (await expectJson(this.url, 'POST', '/v1/revoke', 200, {
      headers: { Authorization: `Bearer ${admin}` },
      body: { level, target },
    })) as { revoked: boolean; level: string; target: string; count: number }
  }

  async release(token: string): Promise<void> {
    await expectJson(this.url, 'POST', '/v1/token/release', 204, {
      headers: { Authorization: `Bearer ${token}` },
    })
  }

  async renew(token: string): Promise<{ accessToken: string; expiresIn: number }> {
    const r = (await expectJson(this.url, 'POST', '/v1/token/renew', 200, {
      headers: { Authorization: `Bearer ${token}` },
    })) as { access_token: string; expires_in: number }
    return { accessToken: r.access_token, expiresIn: r.expires_in }
  }

  async validate(token: string): Promise<ValidateResponse> {
    return (await expectJson(this.url, 'POST', '/v1/token/validate', 200, {
      body: { token },
    })) as ValidateResponse
  }

  signToken(claims: Record<string, unknown> | string, header?: Record<string, unknown> | string): string {
    const h = header ?? { alg: 'EdDSA', typ: 'JWT', kid: this.kid }
    return signCompact(
      typeof h === 'string' ? h : goJsonStringify(h),
      typeof claims === 'string' ? claims : goJsonStringify(claims),
      this.#core.config.key.privateKey,
    )
  }
}

/**
 * Start a development broker on `127.0.0.1` (never another interface).
 *
 * It implements, per shared/broker-contract.md: `GET /v1/challenge`, `POST /v1/register`,
 * `POST /v1/token/validate|renew|release`, `POST /v1/delegate`, `POST /v1/revoke`, `POST /v1/admin/auth`,
 * `POST /v1/admin/launch-tokens`, `POST /v1/app/launch-tokens`, `/v1/admin/apps` CRUD, `POST /v1/app/auth`,
 * `GET /v1/audit/events` (every endpoint records the broker's audit events), `GET /v1/health` — and, as an
 * EXTENSION that the real broker does not have, `GET /v1/jwks`. Not implemented: `GET /v1/metrics` (404).
 *
 * @example
 * const broker = await startDevBroker()
 * const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
 * // … exercise code that verifies agent.accessToken against broker.url …
 * await broker.close()
 * @throws TypeError for invalid options; the listen error (e.g. `EADDRINUSE`) when the port is taken
 */
export async function startDevBroker(options: DevBrokerOptions = {}): Promise<DevBroker> {
  const o = resolveOptions(options)
  const core = new BrokerCore({
    key: loadSigningKey(options.signingKeyPem),
    adminSecret: o.adminSecret,
    trustDomain: o.trustDomain,
    issuer: o.issuer,
    audience: o.audience,
    maxTtl: o.maxTtl,
    now: o.now,
    preciseNow: options.now === undefined ? nanosecondClock() : undefined,
  })
  const audience = o.audience === '' ? undefined : o.audience
  const broker = new DevBrokerImpl(core, audience, o.sampleApp, o.requestLog)
  await broker.listen(o.port)
  return broker
}
