/**
 * Runtime shape check of AgentWrit claims (shared contract §6.2) and construction of the
 * verified identity that adapters attach to requests.
 */

/** One delegation hop as the broker records it (contract §11.2). */
export interface DelegationRecord {
  /** The delegator's subject (SPIFFE id, `admin` or `app:<id>`). */
  readonly agent: string
  /** The delegator's full scope at the time of delegation. */
  readonly scope: readonly string[]
  /** RFC 3339 (Go RFC3339Nano) UTC time of the delegation. */
  readonly delegated_at: string
  /** Hex Ed25519 signature by the broker's key (provenance only; the broker never re-checks it). */
  readonly signature?: string
}

/** The broker's token claims, as issued and as returned by `POST /v1/token/validate`. */
export interface AgentWritClaims {
  readonly iss: string
  readonly sub: string
  readonly aud?: readonly string[]
  /** Expiry, whole Unix seconds. */
  readonly exp: number
  /** Not-before, whole Unix seconds (equal to `iat`). */
  readonly nbf: number
  /** Issued-at, whole Unix seconds. */
  readonly iat: number
  readonly jti: string
  readonly sid?: string
  readonly scope: readonly string[]
  readonly task_id?: string
  readonly orch_id?: string
  readonly delegation_chain?: readonly DelegationRecord[]
  readonly chain_hash?: string
}

/** What kind of principal a token's `sub` names. */
export type TokenKind = 'agent' | 'admin' | 'app'

/** Where a verification result came from. */
export type VerificationSource = 'broker' | 'local' | 'cache'

/** The verified identity attached to a request (`req.agent`, `ctx.state.agent`, `request.agent`). */
export interface AgentIdentity {
  /** The token subject: a SPIFFE id for agents (`spiffe://<trust-domain>/agent/<orch>/<task>/<instance>`). */
  readonly id: string
  /** `agent`, `admin` or `app` (admin and app tokens are refused unless allowed in the options). */
  readonly kind: TokenKind
  /** SPIFFE trust domain of an agent id, else `undefined`. */
  readonly trustDomain: string | undefined
  /** Granted scopes. */
  readonly scope: readonly string[]
  readonly taskId: string | undefined
  readonly orchId: string | undefined
  /** Token id (safe to log; it is not the token). */
  readonly jti: string
  readonly issuer: string
  /** `aud` claim (empty array when absent). */
  readonly audience: readonly string[]
  /** Issue time. */
  readonly issuedAt: Date
  /** Expiry time. */
  readonly expiresAt: Date
  /** Delegation chain, oldest hop first (empty when not delegated). */
  readonly delegationChain: readonly DelegationRecord[]
  /** `true` when the token came from `POST /v1/delegate`. */
  readonly delegated: boolean
  /** Number of delegation hops (chain length; 0 when not delegated). The broker allows at most 5. */
  readonly delegationDepth: number
  /** The agent that started the chain (`delegation_chain[0].agent`), `undefined` when not delegated. */
  readonly rootAgent: string | undefined
  /** The agent that delegated this token (last hop's `agent`), `undefined` when not delegated. */
  readonly delegatedBy: string | undefined
  /** The raw claim set, deep-frozen. */
  readonly claims: AgentWritClaims
  /** How this request's verification was obtained, for logging. */
  readonly verification: {
    readonly source: VerificationSource
    /** Age of the cached result in milliseconds (0 unless `source` is `cache`). */
    readonly cacheAgeMs: number
  }
}

/**
 * `spiffe://<trust-domain>/agent/<orch>/<task>/<instance>`. Path segments as go-spiffe builds them:
 * `[A-Za-z0-9._-]+` but never `.` or `..`.
 */
const SEGMENT = '(?!\\.\\.?/)[A-Za-z0-9._-]+'
const SPIFFE_AGENT = new RegExp(
  `^spiffe://([a-z0-9._-]+)/agent/${SEGMENT}/${SEGMENT}/(?!\\.\\.?$)[A-Za-z0-9._-]+$`,
)

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string')
}

function isOptionalString(v: unknown): boolean {
  return v === undefined || typeof v === 'string'
}

function isUnixSeconds(v: unknown): v is number {
  // The broker decodes these into Go int64: a float, string or out-of-range value fails there.
  return typeof v === 'number' && Number.isSafeInteger(v)
}

function isDelegationRecord(v: unknown): v is DelegationRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const r = v as Record<string, unknown>
  return (
    typeof r.agent === 'string' &&
    r.agent.length > 0 &&
    isStringArray(r.scope) &&
    typeof r.delegated_at === 'string' &&
    isOptionalString(r.signature)
  )
}

/**
 * Check that an unknown value has the shape of AgentWrit claims and return a clean, deep-frozen
 * copy holding only the known fields (prototype-free input like `__proto__` keys is never copied).
 * @returns the claims, or `null` when the shape is wrong.
 */
export function parseClaims(raw: unknown): AgentWritClaims | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null
  const c = raw as Record<string, unknown>
  if (typeof c.sub !== 'string' || c.sub.length === 0) return null
  if (typeof c.jti !== 'string' || c.jti.length === 0) return null
  if (!isUnixSeconds(c.exp) || c.exp <= 0) return null
  // nbf and iat are always emitted by the broker; tolerate absence (Go zero value) as 0.
  if (c.nbf !== undefined && !isUnixSeconds(c.nbf)) return null
  if (c.iat !== undefined && !isUnixSeconds(c.iat)) return null
  if (c.iss !== undefined && typeof c.iss !== 'string') return null
  if (c.aud !== undefined && !isStringArray(c.aud)) return null
  if (!isOptionalString(c.sid) || !isOptionalString(c.task_id) || !isOptionalString(c.orch_id)) return null
  if (!isOptionalString(c.chain_hash)) return null
  // The broker emits `scope` always; Go decodes JSON null into a nil slice (holds nothing).
  if (c.scope !== undefined && c.scope !== null && !isStringArray(c.scope)) return null
  if (c.delegation_chain !== undefined && c.delegation_chain !== null) {
    if (!Array.isArray(c.delegation_chain) || !c.delegation_chain.every(isDelegationRecord)) return null
  }
  const out: Record<string, unknown> = {
    iss: c.iss ?? '',
    sub: c.sub,
  }
  if (c.aud !== undefined && (c.aud as string[]).length > 0) out.aud = Object.freeze([...(c.aud as string[])])
  out.exp = c.exp
  out.nbf = c.nbf ?? 0
  out.iat = c.iat ?? 0
  out.jti = c.jti
  if (typeof c.sid === 'string' && c.sid !== '') out.sid = c.sid
  out.scope = Object.freeze(Array.isArray(c.scope) ? [...(c.scope as string[])] : [])
  if (typeof c.task_id === 'string' && c.task_id !== '') out.task_id = c.task_id
  if (typeof c.orch_id === 'string' && c.orch_id !== '') out.orch_id = c.orch_id
  if (Array.isArray(c.delegation_chain) && c.delegation_chain.length > 0) {
    out.delegation_chain = Object.freeze(
      (c.delegation_chain as DelegationRecord[]).map((r) => {
        const rec: Record<string, unknown> = {
          agent: r.agent,
          scope: Object.freeze([...r.scope]),
          delegated_at: r.delegated_at,
        }
        if (typeof r.signature === 'string' && r.signature !== '') rec.signature = r.signature
        return Object.freeze(rec)
      }),
    )
  }
  if (typeof c.chain_hash === 'string' && c.chain_hash !== '') out.chain_hash = c.chain_hash
  // Deep-frozen: every object and array above is a fresh copy, frozen where it is built.
  return Object.freeze(out) as unknown as AgentWritClaims
}

/** Classify a subject: SPIFFE agent id, `admin`, or `app:<id>`; `null` for anything else. */
export function tokenKindOf(sub: string): { kind: TokenKind; trustDomain: string | undefined } | null {
  const m = SPIFFE_AGENT.exec(sub)
  if (m) return { kind: 'agent', trustDomain: m[1] }
  if (sub === 'admin') return { kind: 'admin', trustDomain: undefined }
  if (sub.startsWith('app:') && sub.length > 4) return { kind: 'app', trustDomain: undefined }
  return null
}

/** The part of an identity that depends only on the claims (shared by every request with them). */
export type IdentityBase = Omit<AgentIdentity, 'verification' | 'issuedAt' | 'expiresAt'>

/** Build the claims-only part of an identity, frozen. */
export function identityBase(claims: AgentWritClaims): IdentityBase {
  const kind = tokenKindOf(claims.sub)
  const chain = claims.delegation_chain ?? []
  return Object.freeze({
    id: claims.sub,
    kind: kind?.kind ?? 'agent',
    trustDomain: kind?.trustDomain,
    scope: claims.scope,
    taskId: claims.task_id,
    orchId: claims.orch_id,
    jti: claims.jti,
    issuer: claims.iss,
    audience: claims.aud ?? [],
    delegationChain: chain,
    delegated: chain.length > 0,
    delegationDepth: chain.length,
    rootAgent: chain[0]?.agent,
    delegatedBy: chain[chain.length - 1]?.agent,
    claims,
  })
}

/**
 * The runtime class of identities. Its instances are frozen and carry exactly the
 * {@link AgentIdentity} fields as own enumerable properties, plus a private origin: whatever the
 * adapter that authenticated the request passed in (its settings), so that its route guards find
 * them through `req.agent` alone, with no second property on the request. Not exported from the
 * package: the public type is the {@link AgentIdentity} interface.
 */
class VerifiedIdentity implements AgentIdentity {
  declare readonly id: string
  declare readonly kind: TokenKind
  declare readonly trustDomain: string | undefined
  declare readonly scope: readonly string[]
  declare readonly taskId: string | undefined
  declare readonly orchId: string | undefined
  declare readonly jti: string
  declare readonly issuer: string
  declare readonly audience: readonly string[]
  declare readonly issuedAt: Date
  declare readonly expiresAt: Date
  declare readonly delegationChain: readonly DelegationRecord[]
  declare readonly delegated: boolean
  declare readonly delegationDepth: number
  declare readonly rootAgent: string | undefined
  declare readonly delegatedBy: string | undefined
  declare readonly claims: AgentWritClaims
  declare readonly verification: AgentIdentity['verification']
  readonly #origin: unknown

  constructor(
    base: IdentityBase,
    verification: { source: VerificationSource; cacheAgeMs: number },
    origin: unknown,
  ) {
    this.#origin = origin
    this.id = base.id
    this.kind = base.kind
    this.trustDomain = base.trustDomain
    this.scope = base.scope
    this.taskId = base.taskId
    this.orchId = base.orchId
    this.jti = base.jti
    this.issuer = base.issuer
    this.audience = base.audience
    this.issuedAt = new Date(base.claims.iat * 1000)
    this.expiresAt = new Date(base.claims.exp * 1000)
    this.delegationChain = base.delegationChain
    this.delegated = base.delegated
    this.delegationDepth = base.delegationDepth
    this.rootAgent = base.rootAgent
    this.delegatedBy = base.delegatedBy
    this.claims = base.claims
    this.verification = Object.freeze({ source: verification.source, cacheAgeMs: verification.cacheAgeMs })
    Object.freeze(this)
  }

  static originOf(value: unknown): unknown {
    return typeof value === 'object' && value !== null && #origin in value
      ? (value as VerifiedIdentity).#origin
      : undefined
  }
}
// `AgentIdentity { id: …, … }` in console.log and util.inspect.
Object.defineProperty(VerifiedIdentity, 'name', { value: 'AgentIdentity' })

/**
 * One request's identity: the shared base plus fresh `Date`s and how it was verified. Frozen.
 * @param origin - the authenticating adapter's settings, read back with {@link identityOrigin}.
 */
export function identityFrom(
  base: IdentityBase,
  verification: { source: VerificationSource; cacheAgeMs: number },
  origin?: unknown,
): AgentIdentity {
  return new VerifiedIdentity(base, verification, origin)
}

/**
 * The `origin` an identity was built with by {@link identityFrom}; `undefined` for anything else
 * (an object that only looks like an identity, or one built without an origin).
 */
export function identityOrigin(value: unknown): unknown {
  return VerifiedIdentity.originOf(value)
}

/** Build the frozen request identity from verified claims. */
export function toIdentity(
  claims: AgentWritClaims,
  verification: { source: VerificationSource; cacheAgeMs: number },
): AgentIdentity {
  return identityFrom(identityBase(claims), verification)
}
