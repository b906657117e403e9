/**
 * The dev broker's state and business rules, free of HTTP: token issuance/verification/renewal,
 * registration, launch tokens, apps, delegation and revocation, each following the AgentWrit broker's
 * Go services (contract §4–§12). Failures are thrown as {@link BrokerError} carrying the exact status,
 * `error_code` and detail string the broker uses. Every service records the broker's audit events
 * (`event_type`, ids, detail text and outcome exactly as the Go writers do) in {@link BrokerCore.audit}.
 */
import { createHash, createPublicKey, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto'
import { parseScope, scopeIsSubset } from '../core/scope.js'
import { AuditLog } from './audit-log.js'
import { decodeHex, decodeStdBase64 } from './go-base64.js'
import { formatRfc3339Nano, type GoInstant } from './go-time.js'
import {
  chainHash,
  type DelegRecord,
  signClaims,
  type TknClaims,
  type VerifyFailure,
  verifyTokenDetailed,
} from './jwt.js'
import type { SigningKey } from './keys.js'
import type { ProblemType } from './problem.js'
import { RateLimiter } from './rate-limiter.js'
import { type RevocationLevel, Revocations } from './revocation.js'

/** A refusal with the broker's exact status, `error_code` and detail. */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly type: ProblemType,
    readonly detail: string,
  ) {
    super(detail)
    this.name = 'BrokerError'
  }
}

/** `AA_DEFAULT_TTL`: used when a TTL ≤ 0 reaches the token service, seconds. */
export const DEFAULT_TTL = 300
/** `AA_ADMIN_TOKEN_TTL` default, seconds. */
export const ADMIN_TOKEN_TTL = 300
/** `AA_APP_TOKEN_TTL` default, seconds. */
export const APP_TOKEN_TTL = 1800
/** Nonce lifetime, seconds. */
export const NONCE_TTL = 30
/** Launch token validity when the request's `ttl` ≤ 0, seconds. */
export const LAUNCH_TOKEN_TTL = 30
/** Launch token `max_ttl` when the request's `max_ttl` ≤ 0, seconds. */
export const LAUNCH_TOKEN_MAX_TTL = 300
/** Delegated token TTL when the request's `ttl` ≤ 0, seconds. */
export const DELEGATED_TTL = 60
/** Maximum delegation chain length of the bearer token that may still delegate (contract §11.1). */
export const MAX_DELEGATION_DEPTH = 5
/** Scopes of an admin token. */
export const ADMIN_SCOPES: readonly string[] = ['admin:launch-tokens:*', 'admin:revoke:*', 'admin:audit:*']
/** Scopes of an app token. */
export const APP_TOKEN_SCOPES: readonly string[] = ['app:launch-tokens:*', 'app:agents:*', 'app:audit:read']

const APP_NAME = /^[a-z][a-z0-9](?:-?[a-z0-9]+)*$/
const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/
/** SPIFFE trust domain characters (go-spiffe). */
export const TRUST_DOMAIN = /^[a-z0-9._-]+$/

/** Configuration of a broker core (resolved options). */
export interface BrokerCoreConfig {
  readonly key: SigningKey
  readonly adminSecret: string
  readonly trustDomain: string
  /** `AA_ISSUER`; `''` = unset. */
  readonly issuer: string
  /** `AA_AUDIENCE`; `''` = unset. */
  readonly audience: string
  /** `AA_MAX_TTL`, seconds; 0 = no clamp. */
  readonly maxTtl: number
  /** Clock, milliseconds. */
  readonly now: () => number
  /**
   * Clock of the audit log's timestamps, to the nanosecond. Default: `now()` (its fractional part kept down
   * to the nanosecond).
   */
  readonly preciseNow?: () => GoInstant
}

/** `now()` (milliseconds, possibly fractional) as an instant. */
export function instantOf(ms: number): GoInstant {
  const whole = Math.floor(ms)
  return { ms: whole, subNs: Math.min(999_999, Math.round((ms - whole) * 1_000_000)) }
}

interface LaunchTokenRecord {
  readonly allowedScope: string[]
  readonly maxTtl: number
  readonly singleUse: boolean
  readonly expiresAt: number
  /** The creating app's id when an app token created it (`''` for admin). */
  readonly appId: string
  consumed: boolean
}

/** A registered agent (in-memory agent table). */
export interface AgentRecord {
  readonly agentId: string
  readonly publicKey: Buffer
  readonly orchId: string
  readonly taskId: string
  readonly scope: string[]
}

/** A registered app. */
export interface AppRecord {
  readonly appId: string
  readonly name: string
  readonly clientId: string
  readonly secretHash: Buffer
  scopes: string[]
  tokenTtl: number
  status: 'active' | 'inactive'
  readonly createdAt: number
  updatedAt: number
}

/** Result of token issuance. */
export interface Issued {
  readonly token: string
  readonly expiresIn: number
  readonly claims: TknClaims
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Go `fmt.Sprintf("%v", []string)` (a nil slice prints `[]`). */
export function goSlice(s: readonly string[] | null): string {
  if (s === null) return '[]'
  return `[${s.join(' ')}]`
}

function appAbbrev(name: string): string {
  const parts = name.split('-')
  if (parts.length === 1) return name.length >= 2 ? name.slice(0, 2) : name
  let abbrev = ''
  for (const p of parts) {
    if (p.length > 0) abbrev += p[0]
    if (abbrev.length >= 3) break
  }
  return abbrev
}

/** The broker's state and rules. */
export class BrokerCore {
  readonly revocations = new Revocations()
  /** The audit trail every service writes to (persisted by the Go broker; survives restarts). */
  readonly audit: AuditLog
  /** `POST /v1/admin/auth`: 5/s, burst 10, per client IP. */
  adminAuthLimiter: RateLimiter
  /** `POST /v1/app/auth`: 10/min, burst 3, per client_id. */
  appAuthLimiter: RateLimiter
  startedAt: number
  readonly #nonces = new Map<string, { expiresAt: number; consumed: boolean }>()
  readonly #launchTokens = new Map<string, LaunchTokenRecord>()
  readonly #agents = new Map<string, AgentRecord>()
  readonly #apps = new Map<string, AppRecord>()

  constructor(readonly config: BrokerCoreConfig) {
    this.adminAuthLimiter = new RateLimiter(5, 10, config.now)
    this.appAuthLimiter = new RateLimiter(10 / 60, 3, config.now)
    this.startedAt = config.now()
    this.audit = new AuditLog(config.preciseNow ?? (() => instantOf(config.now())))
  }

  /**
   * What a restart of the Go broker process loses and keeps: nonces, launch tokens, the agent table and
   * the rate-limit buckets live in memory only and are gone, and uptime starts again; the signing key (a
   * file), revocations, apps and audit events are in SQLite and come back — the audit log rebuilt as
   * `NewAuditLogWithEvents` does (see {@link AuditLog.reload}).
   */
  simulateProcessRestart(): void {
    this.#nonces.clear()
    this.#launchTokens.clear()
    this.#agents.clear()
    this.adminAuthLimiter = new RateLimiter(5, 10, this.config.now)
    this.appAuthLimiter = new RateLimiter(10 / 60, 3, this.config.now)
    this.startedAt = this.config.now()
    this.audit.reload()
  }

  /** Current time in whole Unix seconds. */
  nowSeconds(): number {
    return Math.floor(this.config.now() / 1000)
  }

  #audience(): string[] | null {
    return this.config.audience === '' ? null : [this.config.audience]
  }

  /** `TknSvc.Issue`: TTL ≤ 0 → 300 s, clamped by `maxTtl`; `iat = nbf = now`, `exp = iat + ttl`. */
  issue(req: {
    sub: string
    aud: readonly string[] | null
    scope: readonly string[] | null
    taskId?: string
    orchId?: string
    sid?: string
    ttl: number
    chain?: readonly DelegRecord[] | null
    chainHash?: string
  }): Issued {
    let ttl = req.ttl
    if (ttl <= 0) ttl = DEFAULT_TTL
    if (this.config.maxTtl > 0 && ttl > this.config.maxTtl) ttl = this.config.maxTtl
    const now = BigInt(this.nowSeconds())
    const claims: TknClaims = {
      iss: this.config.issuer,
      sub: req.sub,
      aud: req.aud,
      exp: now + BigInt(ttl),
      nbf: now,
      iat: now,
      jti: hex(16),
      sid: req.sid ?? '',
      scope: req.scope,
      task_id: req.taskId ?? '',
      orch_id: req.orchId ?? '',
      delegation_chain: req.chain ?? null,
      chain_hash: req.chainHash ?? '',
    }
    return {
      token: signClaims(claims, this.config.key.kid, this.config.key.privateKey),
      expiresIn: ttl,
      claims,
    }
  }

  /** `TknSvc.Verify` with the revocation service installed (contract §7). */
  verify(token: string): TknClaims | null {
    const r = this.verifyDetailed(token)
    return 'claims' in r ? r.claims : null
  }

  /** {@link BrokerCore.verify} with the Go error text of a refusal. */
  verifyDetailed(token: string): { readonly claims: TknClaims } | { readonly error: VerifyFailure } {
    return verifyTokenDetailed(token, {
      kid: this.config.key.kid,
      publicKey: this.config.key.publicKey,
      nowSeconds: BigInt(this.nowSeconds()),
      issuer: this.config.issuer,
      isRevoked: (c) => this.revocations.isRevoked(c),
    })
  }

  /**
   * `TknSvc.Renew`: verify, revoke the old `jti` first (`RevokeByJTI`: no audit event), re-issue with TTL
   * `exp − iat` (contract §9). The handler records `token_renewed` / `token_renewal_failed`.
   * @returns the new token, or the Go error text when the renewal's own verification fails
   */
  renew(token: string): Issued | { readonly error: string } {
    const v = this.verifyDetailed(token)
    if ('error' in v) return v
    const c = v.claims
    this.revocations.revoke('token', c.jti)
    let ttl = Number(c.exp - c.iat)
    if (ttl <= 0) ttl = DEFAULT_TTL
    return this.issue({
      sub: c.sub,
      aud: c.aud,
      scope: c.scope,
      taskId: c.task_id,
      orchId: c.orch_id,
      sid: c.sid,
      ttl,
      chain: c.delegation_chain,
      chainHash: c.chain_hash,
    })
  }

  /**
   * `POST /v1/revoke` after its checks: add the predicate (`RevSvc.Revoke`) and record `token_revoked` with
   * `agent_id` = the target at every level and detail `revoked at level=<level> target=<target>`.
   */
  revokeAndRecord(level: RevocationLevel, target: string): void {
    this.revocations.revoke(level, target)
    this.audit.record({
      event_type: 'token_revoked',
      agent_id: target,
      detail: `revoked at level=${level} target=${target}`,
      outcome: 'success',
    })
  }

  /** `GET /v1/challenge`: a 64-hex nonce valid for 30 s, single use. */
  createNonce(): string {
    const nonce = hex(32)
    this.#nonces.set(nonce, { expiresAt: this.config.now() + NONCE_TTL * 1000, consumed: false })
    return nonce
  }

  #consumeNonce(nonce: string): void {
    const rec = this.#nonces.get(nonce)
    if (rec === undefined) throw new BrokerError(401, 'unauthorized', 'nonce: nonce not found or expired')
    if (rec.consumed) throw new BrokerError(401, 'unauthorized', 'nonce: nonce already consumed')
    if (this.config.now() > rec.expiresAt) {
      this.#nonces.delete(nonce)
      throw new BrokerError(401, 'unauthorized', 'nonce: nonce not found or expired')
    }
    rec.consumed = true
  }

  /** `POST /v1/admin/auth` credential check and admin token issuance. */
  adminAuthenticate(secret: string): Issued {
    const ok = timingSafeEqual(sha256(secret), sha256(this.config.adminSecret))
    if (!ok) {
      this.audit.record({
        event_type: 'admin_auth_failed',
        detail: 'failed admin authentication attempt',
        outcome: 'denied',
      })
      throw new BrokerError(401, 'unauthorized', 'invalid credentials')
    }
    const issued = this.issue({
      sub: 'admin',
      aud: this.#audience(),
      scope: [...ADMIN_SCOPES],
      ttl: ADMIN_TOKEN_TTL,
    })
    this.audit.record({
      event_type: 'admin_auth',
      detail: 'admin authenticated as admin',
      outcome: 'success',
    })
    return issued
  }

  /**
   * `POST /v1/{admin,app}/launch-tokens` after authentication (contract §4.11).
   * @param callerSub - the Bearer token's `sub`; `app:<id>` triggers the app ceiling check
   */
  createLaunchToken(
    callerSub: string,
    req: {
      agentName: string
      allowedScope: string[]
      maxTtl: number
      ttl: number
      singleUse: boolean | undefined
    },
  ): { launchToken: string; expiresAt: number; allowedScope: string[]; maxTtl: number } {
    let appId = ''
    if (callerSub.startsWith('app:')) {
      appId = callerSub.slice(4)
      const app = this.#apps.get(appId)
      if (app === undefined) throw new BrokerError(403, 'forbidden', 'app not found')
      if (!scopeIsSubset(req.allowedScope, app.scopes)) {
        this.audit.record({
          event_type: 'scope_ceiling_exceeded',
          agent_id: callerSub,
          detail: `app=${appId} requested=${goSlice(req.allowedScope)} ceiling=${goSlice(app.scopes)}`,
          outcome: 'denied',
        })
        throw new BrokerError(
          403,
          'forbidden',
          `requested scopes exceed app ceiling; allowed: ${goSlice(app.scopes)}`,
        )
      }
    }
    const denied = (reason: string): BrokerError => {
      this.audit.record({
        event_type: 'launch_token_denied',
        agent_id: callerSub,
        detail: `launch token denied for agent=${req.agentName} by=${callerSub} reason=${reason}`,
        outcome: 'denied',
      })
      return new BrokerError(400, 'invalid_request', reason)
    }
    if (req.agentName === '') throw denied('agent_name is required')
    if (req.allowedScope.length === 0) throw denied('allowed_scope must not be empty')
    const maxTtl = req.maxTtl <= 0 ? LAUNCH_TOKEN_MAX_TTL : req.maxTtl
    const ttl = req.ttl <= 0 ? LAUNCH_TOKEN_TTL : req.ttl
    const launchToken = hex(32)
    const expiresAt = this.config.now() + ttl * 1000
    this.#launchTokens.set(launchToken, {
      allowedScope: req.allowedScope,
      maxTtl,
      singleUse: req.singleUse ?? true,
      expiresAt,
      appId,
      consumed: false,
    })
    this.audit.record({
      event_type: 'launch_token_issued',
      detail:
        `launch token issued for agent=${req.agentName} scope=${goSlice(req.allowedScope)} max_ttl=${maxTtl}` +
        ` created_by=${callerSub}${appId === '' ? '' : ` app_id=${appId}`}`,
      outcome: 'success',
    })
    return { launchToken, expiresAt, allowedScope: req.allowedScope, maxTtl }
  }

  /** `IdSvc.Register` (contract §4.3), in the broker's exact processing order. */
  register(req: {
    launchToken: string
    nonce: string
    publicKey: string
    signature: string
    orchId: string
    taskId: string
    requestedScope: string[]
  }): { agentId: string; issued: Issued } {
    if (!req.launchToken || !req.nonce || !req.publicKey || !req.signature || !req.orchId || !req.taskId) {
      throw new BrokerError(400, 'invalid_request', 'missing required field')
    }
    if (req.requestedScope.length === 0) {
      throw new BrokerError(400, 'invalid_request', 'missing required field: requested_scope')
    }
    const lt = this.#launchTokens.get(req.launchToken)
    if (lt === undefined) throw new BrokerError(401, 'unauthorized', 'launch token: launch token not found')
    if (this.config.now() > lt.expiresAt) {
      throw new BrokerError(401, 'unauthorized', 'launch token: launch token expired')
    }
    if (lt.consumed) throw new BrokerError(401, 'unauthorized', 'launch token: launch token already consumed')
    if (!scopeIsSubset(req.requestedScope, lt.allowedScope)) {
      this.audit.record({
        event_type: 'registration_policy_violation',
        task_id: req.taskId,
        orch_id: req.orchId,
        detail: `scope violation: requested ${goSlice(req.requestedScope)} exceeds allowed ${goSlice(lt.allowedScope)}`,
        outcome: 'denied',
      })
      throw new BrokerError(403, 'scope_violation', 'requested scope exceeds allowed scope')
    }
    this.#consumeNonce(req.nonce)
    const pub = decodeStdBase64(req.publicKey)
    if (pub === null) {
      throw new BrokerError(401, 'unauthorized', 'invalid Ed25519 public key: base64 decode failed')
    }
    if (pub.length !== 32)
      throw new BrokerError(401, 'unauthorized', 'invalid Ed25519 public key: wrong key size')
    const sig = decodeStdBase64(req.signature)
    if (sig === null) {
      throw new BrokerError(401, 'unauthorized', 'nonce signature verification failed: base64 decode failed')
    }
    const message = decodeHex(req.nonce) ?? Buffer.from(req.nonce, 'utf8')
    let ok = false
    try {
      const key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') },
        format: 'jwk',
      })
      ok = sig.length === 64 && verify(null, message, key, sig)
    } catch {
      ok = false
    }
    if (!ok) throw new BrokerError(401, 'unauthorized', 'nonce signature verification failed')
    if (lt.singleUse) lt.consumed = true
    // go-spiffe FromSegments: fails AFTER the nonce and the launch token were consumed → 500.
    for (const seg of [req.orchId, req.taskId]) {
      if (!SPIFFE_SEGMENT.test(seg) || seg === '.' || seg === '..') {
        throw new BrokerError(500, 'internal_error', 'registration failed')
      }
    }
    const agentId = `spiffe://${this.config.trustDomain}/agent/${req.orchId}/${req.taskId}/${hex(8)}`
    const ttl = lt.maxTtl <= 0 ? LAUNCH_TOKEN_MAX_TTL : lt.maxTtl
    const issued = this.issue({
      sub: agentId,
      aud: this.#audience(),
      scope: req.requestedScope,
      taskId: req.taskId,
      orchId: req.orchId,
      ttl,
    })
    this.#agents.set(agentId, {
      agentId,
      publicKey: pub,
      orchId: req.orchId,
      taskId: req.taskId,
      scope: req.requestedScope,
    })
    // `ttl` is the launch token's max_ttl (before the AA_MAX_TTL clamp), as the broker logs it
    const fromApp = lt.appId === '' ? '' : ` app_id=${lt.appId}`
    const who = { agent_id: agentId, task_id: req.taskId, orch_id: req.orchId, outcome: 'success' }
    this.audit.record({
      event_type: 'agent_registered',
      ...who,
      detail: `Agent registered with scope ${goSlice(req.requestedScope)}${fromApp}`,
    })
    this.audit.record({
      event_type: 'token_issued',
      ...who,
      detail: `Token issued, jti=${issued.claims.jti}, ttl=${ttl}${fromApp}`,
    })
    return { agentId, issued }
  }

  /** The registered agent with this SPIFFE id, if any. */
  getAgent(agentId: string): AgentRecord | undefined {
    return this.#agents.get(agentId)
  }

  /**
   * `DelegSvc.Delegate` (contract §11): depth, attenuation, target lookup, then a token for the delegatee
   * carrying the bearer's `aud`/`task_id`/`orch_id`, the extended chain and its hash.
   */
  delegate(
    bearer: TknClaims,
    req: { delegateTo: string; scope: string[]; ttl: number },
  ): { issued: Issued; chain: DelegRecord[] } {
    if (req.delegateTo === '' || req.scope.length === 0) {
      throw new BrokerError(500, 'internal_error', 'delegation failed')
    }
    const prior = bearer.delegation_chain ?? []
    if (prior.length >= MAX_DELEGATION_DEPTH) {
      throw new BrokerError(403, 'scope_violation', 'delegation depth limit exceeded')
    }
    if (!scopeIsSubset(req.scope, bearer.scope ?? [])) {
      this.audit.record({
        event_type: 'delegation_attenuation_violation',
        agent_id: bearer.sub,
        task_id: bearer.task_id,
        orch_id: bearer.orch_id,
        detail:
          `delegation_attenuation_violation | delegator=${bearer.sub} | target=${req.delegateTo}` +
          ` | requested=${goSlice(req.scope)} | allowed=${goSlice(bearer.scope)}`,
        outcome: 'denied',
        deleg_depth: prior.length,
      })
      throw new BrokerError(403, 'scope_violation', 'delegated scope exceeds delegator scope')
    }
    if (!this.#agents.has(req.delegateTo)) throw new BrokerError(404, 'not_found', 'delegate agent not found')
    const delegatedAt = formatRfc3339Nano(this.config.now())
    const scope = bearer.scope ?? null
    const signature = sign(
      null,
      Buffer.from(`${bearer.sub}|${(scope ?? []).join(',')}|${delegatedAt}`),
      this.config.key.privateKey,
    ).toString('hex')
    const chain: DelegRecord[] = [
      ...prior,
      { agent: bearer.sub, scope: scope === null ? null : [...scope], delegated_at: delegatedAt, signature },
    ]
    const hash = chainHash(chain)
    const issued = this.issue({
      sub: req.delegateTo,
      aud: bearer.aud,
      scope: req.scope,
      taskId: bearer.task_id,
      orchId: bearer.orch_id,
      ttl: req.ttl <= 0 ? DELEGATED_TTL : req.ttl,
      chain,
      chainHash: hash,
    })
    this.audit.record({
      event_type: 'delegation_created',
      agent_id: req.delegateTo,
      task_id: bearer.task_id,
      orch_id: bearer.orch_id,
      detail: `delegation from ${bearer.sub} to ${req.delegateTo} scope=${goSlice(req.scope)} depth=${chain.length}`,
      outcome: 'success',
      deleg_depth: chain.length,
      deleg_chain_hash: hash,
    })
    return { issued, chain }
  }

  // -------------------------------------------------------------------------------------------------
  // Apps
  // -------------------------------------------------------------------------------------------------

  /**
   * `AppSvc.RegisterApp`: name format, scope format, TTL bounds (60…86400; `undefined` → 1800 s).
   * The handler's own checks (name/scopes present, explicit TTL > 0) run before this.
   */
  registerApp(
    name: string,
    scopes: string[],
    tokenTtl: number | undefined,
  ): { app: AppRecord; clientSecret: string } {
    if (name === '' || name.length > 64 || !APP_NAME.test(name)) {
      throw new BrokerError(
        400,
        'invalid_request',
        'invalid app name: must be lowercase letters, digits, and hyphens',
      )
    }
    this.#checkScopeFormat(scopes)
    let ttl = tokenTtl ?? 0
    if (ttl === 0) ttl = APP_TOKEN_TTL
    else this.#checkAppTtl(ttl)
    const clientSecret = hex(32)
    const now = this.config.now()
    const app: AppRecord = {
      appId: `app-${name}-${hex(3)}`,
      name,
      clientId: `${appAbbrev(name)}-${hex(6)}`,
      secretHash: sha256(clientSecret),
      scopes,
      tokenTtl: ttl,
      status: 'active',
      createdAt: now,
      updatedAt: now,
    }
    this.#apps.set(app.appId, app)
    this.audit.record({
      event_type: 'app_registered',
      detail: `app=${name} client_id=${app.clientId} scopes=${goSlice(scopes)} token_ttl=${ttl}`,
      outcome: 'success',
    })
    return { app, clientSecret }
  }

  #checkScopeFormat(scopes: readonly string[]): void {
    for (const s of scopes) {
      if (parseScope(s) === null) {
        throw new BrokerError(400, 'invalid_request', 'invalid scope format: use action:resource:identifier')
      }
    }
  }

  #checkAppTtl(ttl: number): void {
    if (ttl < 60 || ttl > 86400) {
      throw new BrokerError(
        400,
        'invalid_ttl',
        `invalid token TTL: must be between 60 and 86400 seconds, got ${ttl}`,
      )
    }
  }

  /** All apps, in registration order. */
  listApps(): AppRecord[] {
    return [...this.#apps.values()]
  }

  /** @throws BrokerError 404 `app not found` */
  getApp(appId: string): AppRecord {
    const app = this.#apps.get(appId)
    if (app === undefined) throw new BrokerError(404, 'not_found', 'app not found')
    return app
  }

  /**
   * `PUT /v1/admin/apps/{id}` scope part: format first, then existence.
   * @param updatedBy - the caller's `sub` (audit detail)
   */
  updateAppScopes(appId: string, scopes: string[], updatedBy = ''): void {
    this.#checkScopeFormat(scopes)
    const app = this.getApp(appId)
    app.scopes = scopes
    app.updatedAt = this.config.now()
    this.audit.record({
      event_type: 'app_updated',
      detail: `app_id=${appId} scopes=${goSlice(scopes)} updated_by=${updatedBy}`,
      outcome: 'success',
    })
  }

  /** `PUT /v1/admin/apps/{id}` TTL part: bounds first, then existence. */
  updateAppTtl(appId: string, ttl: number, updatedBy = ''): void {
    this.#checkAppTtl(ttl)
    const app = this.getApp(appId)
    const oldTtl = app.tokenTtl
    app.tokenTtl = ttl
    app.updatedAt = this.config.now()
    this.audit.record({
      event_type: 'app_updated',
      detail: `app_id=${appId} token_ttl=${oldTtl}->${ttl} updated_by=${updatedBy}`,
      outcome: 'success',
    })
  }

  /** Soft delete: the app can no longer authenticate; its issued tokens keep working. */
  deregisterApp(appId: string, deregisteredBy = ''): void {
    const app = this.getApp(appId)
    app.status = 'inactive'
    app.updatedAt = this.config.now()
    this.audit.record({
      event_type: 'app_deregistered',
      detail: `app_id=${appId} name=${app.name} deregistered_by=${deregisteredBy}`,
      outcome: 'success',
    })
  }

  /** `AppSvc.AuthenticateApp`: one generic failure for unknown id, inactive app or wrong secret. */
  appAuthenticate(clientId: string, clientSecret: string): Issued {
    const app = [...this.#apps.values()].find((a) => a.clientId === clientId)
    const fail = (reason: string): BrokerError => {
      this.audit.record({
        event_type: 'app_auth_failed',
        detail: `client_id=${clientId} reason=${reason}`,
        outcome: 'denied',
      })
      return new BrokerError(401, 'unauthorized', 'Authentication failed')
    }
    if (app === undefined) throw fail('unknown_client_id')
    if (app.status !== 'active') throw fail('app_inactive')
    if (!timingSafeEqual(sha256(clientSecret), app.secretHash)) throw fail('wrong_secret')
    const issued = this.issue({
      sub: `app:${app.appId}`,
      aud: this.#audience(),
      scope: [...APP_TOKEN_SCOPES],
      ttl: app.tokenTtl,
    })
    this.audit.record({
      event_type: 'app_authenticated',
      detail: `client_id=${clientId} app_id=${app.appId}`,
      outcome: 'success',
    })
    return issued
  }
}
