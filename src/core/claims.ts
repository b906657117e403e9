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

/**
 * Bounds on what the broker issues (contract §5, §6.2, §11). A claim set outside them did not come
 * from a genuine broker, so it is refused: in a token before any signature check or broker call,
 * and in a broker answer (there, as an unusable answer). Each bound is far above anything a
 * broker writes.
 */

/**
 * Longest string claim or entry, in UTF-16 code units: `sub`, `iss`, `jti`, `sid`, `task_id`,
 * `orch_id`, every `aud` and `scope` entry, and a delegation record's `agent` and scope entries.
 * 2048 is the SPIFFE ID limit (SPIFFE-ID spec: implementations "SHOULD NOT generate URIs of length
 * greater than 2048 bytes"): a broker subject never exceeds it, and the orch and task ids are path
 * segments of that subject; the broker's other strings are far shorter (`jti` is 32 hex characters,
 * scopes are `action:resource:identifier`).
 */
export const MAX_CLAIM_STRING_LENGTH = 2048
/**
 * Most entries of a `scope` array (the token's, or a delegation record's). A token of the default
 * `maxTokenLength` (8192) holds about 300 realistic scopes at most; the broker grants what a
 * launch token allows, never hundreds.
 */
export const MAX_SCOPE_ENTRIES = 256
/** Most `aud` entries. The broker writes at most one (`[AA_AUDIENCE]`). */
export const MAX_AUDIENCE_ENTRIES = 16
/**
 * Longest delegation chain: the broker refuses a sixth hop (contract §11.1). The same number as
 * `BROKER_MAX_DELEGATION_DEPTH` (delegation.ts, which imports this module's types).
 */
export const MAX_DELEGATION_CHAIN_LENGTH = 5
/** `chain_hash`: lowercase hex SHA-256 (contract §11.4). */
const CHAIN_HASH = /^[0-9a-f]{64}$/
/** A record's `signature`, when present: lowercase hex of a 64-byte Ed25519 signature (contract §11.2). */
const RECORD_SIGNATURE = /^[0-9a-f]{128}$/
/**
 * A record's `delegated_at` exactly as Go's `time.RFC3339Nano` writes a UTC time (contract §11.2):
 * whole seconds, then up to nine fractional digits without trailing zeros, then `Z`. The broker
 * re-encodes the time it decoded, so any other spelling would also differ from its answer.
 */
const DELEGATED_AT =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{0,8}[1-9])?Z$/
/** An unpaired UTF-16 surrogate (a `\ud800` escape): the broker's decoder turns it into U+FFFD. */
const LONE_SURROGATE = /\p{Surrogate}/u

/** A string claim as the broker could write it: bounded and well-formed UTF-16. */
function isClaimString(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_CLAIM_STRING_LENGTH && !LONE_SURROGATE.test(v)
}

function isStringArray(v: unknown, max: number): v is string[] {
  return Array.isArray(v) && v.length <= max && v.every(isClaimString)
}

function isOptionalString(v: unknown): boolean {
  return v === undefined || isClaimString(v)
}

function isUnixSeconds(v: unknown): v is number {
  // The broker decodes these into Go int64: a float, string or out-of-range value fails there.
  return typeof v === 'number' && Number.isSafeInteger(v)
}

function isDelegationRecord(v: unknown): v is DelegationRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const r = v as Record<string, unknown>
  return (
    isClaimString(r.agent) &&
    r.agent.length > 0 &&
    isStringArray(r.scope, MAX_SCOPE_ENTRIES) &&
    typeof r.delegated_at === 'string' &&
    DELEGATED_AT.test(r.delegated_at) &&
    (r.signature === undefined ||
      r.signature === '' ||
      (typeof r.signature === 'string' && RECORD_SIGNATURE.test(r.signature)))
  )
}

/** Empty `aud` / `delegation_chain` of an identity: frozen, so sharing it between requests is safe. */
const NONE: readonly never[] = Object.freeze([])

/**
 * Check that an unknown value has the shape of AgentWrit claims as the broker issues them, and
 * return a clean, deep-frozen copy holding only the known fields (prototype-free input like
 * `__proto__` keys is never copied).
 *
 * Types as the broker's Go struct decodes them (`exp`/`nbf`/`iat` safe integers, strings,
 * string arrays, records with `agent`, `scope` and `delegated_at`), and what a genuine broker never
 * writes refused too: strings longer than {@link MAX_CLAIM_STRING_LENGTH} or with an unpaired
 * surrogate, more than {@link MAX_SCOPE_ENTRIES} scopes or {@link MAX_AUDIENCE_ENTRIES} audiences,
 * a delegation chain longer than {@link MAX_DELEGATION_CHAIN_LENGTH}, a chain without `chain_hash`
 * or a `chain_hash` without a chain, a `chain_hash` that is not 64 lowercase hex, a record
 * `signature` that is not 128 lowercase hex, a `delegated_at` not in Go's RFC3339Nano UTC form.
 * @returns the claims, or `null` when the shape is wrong.
 */
export function parseClaims(raw: unknown): AgentWritClaims | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null
  const c = raw as Record<string, unknown>
  if (!isClaimString(c.sub) || c.sub.length === 0) return null
  if (!isClaimString(c.jti) || c.jti.length === 0) return null
  if (!isUnixSeconds(c.exp) || c.exp <= 0) return null
  // nbf and iat are always emitted by the broker; tolerate absence (Go zero value) as 0.
  if (c.nbf !== undefined && !isUnixSeconds(c.nbf)) return null
  if (c.iat !== undefined && !isUnixSeconds(c.iat)) return null
  if (!isOptionalString(c.iss)) return null
  if (c.aud !== undefined && !isStringArray(c.aud, MAX_AUDIENCE_ENTRIES)) return null
  if (!isOptionalString(c.sid) || !isOptionalString(c.task_id) || !isOptionalString(c.orch_id)) return null
  // The broker emits `scope` always; Go decodes JSON null into a nil slice (holds nothing).
  if (c.scope !== undefined && c.scope !== null && !isStringArray(c.scope, MAX_SCOPE_ENTRIES)) return null
  const chain = c.delegation_chain
  const hasChain = Array.isArray(chain) && chain.length > 0
  if (chain !== undefined && chain !== null) {
    if (!Array.isArray(chain) || chain.length > MAX_DELEGATION_CHAIN_LENGTH) return null
    if (!chain.every(isDelegationRecord)) return null
  }
  // The broker writes both or neither (contract §11.3, §11.4).
  if (c.chain_hash !== undefined && typeof c.chain_hash !== 'string') return null
  const hash = c.chain_hash === undefined ? '' : c.chain_hash
  if (hasChain !== (hash !== '')) return null
  if (hash !== '' && !CHAIN_HASH.test(hash)) return null
  return copyClaims(c)
}

/**
 * A clean, deep-frozen copy of claims of the right types: only the known fields, Go zero values
 * (empty strings and arrays) dropped, every array and record copied and frozen where it is built.
 */
function copyClaims(c: Record<string, unknown>): AgentWritClaims {
  const chain = c.delegation_chain
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
  if (Array.isArray(chain) && chain.length > 0) {
    out.delegation_chain = Object.freeze(
      (chain as DelegationRecord[]).map((r) => {
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

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Whether two claim sets from {@link parseClaims} say the same thing: every claim equal, arrays
 * entry by entry in order, the delegation chain record by record. Used to check that the broker's
 * answer is about the token that was sent (a token's claims and the broker's re-encoding of them
 * are equal once both went through `parseClaims`).
 */
export function sameClaims(a: AgentWritClaims, b: AgentWritClaims): boolean {
  if (a === b) return true
  if (
    a.sub !== b.sub ||
    a.jti !== b.jti ||
    a.exp !== b.exp ||
    a.iat !== b.iat ||
    a.nbf !== b.nbf ||
    a.iss !== b.iss ||
    a.sid !== b.sid ||
    a.task_id !== b.task_id ||
    a.orch_id !== b.orch_id ||
    a.chain_hash !== b.chain_hash ||
    !sameStrings(a.scope, b.scope) ||
    !sameStrings(a.aud, b.aud)
  ) {
    return false
  }
  const x = a.delegation_chain
  const y = b.delegation_chain
  if (x === y) return true
  if (x === undefined || y === undefined || x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) {
    const r = x[i]!
    const s = y[i]!
    if (
      r.agent !== s.agent ||
      r.delegated_at !== s.delegated_at ||
      r.signature !== s.signature ||
      !sameStrings(r.scope, s.scope)
    ) {
      return false
    }
  }
  return true
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

/**
 * Build the claims-only part of an identity, frozen all the way down: the claims (deep-frozen by
 * {@link parseClaims}; claims built by hand, not frozen, are copied and frozen first) and, for a
 * token without `aud` or a chain, one frozen empty array. Nothing in it can be changed by a
 * handler, so it is safely shared by every request carrying these claims.
 */
export function identityBase(given: AgentWritClaims): IdentityBase {
  const claims = Object.isFrozen(given) ? given : copyClaims(given as unknown as Record<string, unknown>)
  const kind = tokenKindOf(claims.sub)
  const chain = claims.delegation_chain ?? NONE
  return Object.freeze({
    id: claims.sub,
    kind: kind?.kind ?? 'agent',
    trustDomain: kind?.trustDomain,
    scope: claims.scope,
    taskId: claims.task_id,
    orchId: claims.orch_id,
    jti: claims.jti,
    issuer: claims.iss,
    audience: claims.aud ?? NONE,
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
 * {@link AgentIdentity} fields as own enumerable properties, plus a private owner: the settings
 * of the adapter middleware that authenticated the request (its `AdapterState`), so that route
 * guards find them through the identity alone (`req.agent`), with no second property on the
 * request. Not exported from the package: the public type is the {@link AgentIdentity} interface.
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
  readonly #owner: object | undefined

  constructor(
    base: IdentityBase,
    verification: { source: VerificationSource; cacheAgeMs: number },
    owner: object | undefined,
  ) {
    this.#owner = owner
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

  static ownerOf(value: unknown): object | undefined {
    return typeof value === 'object' && value !== null && #owner in value
      ? (value as VerifiedIdentity).#owner
      : undefined
  }
}
// `AgentIdentity { id: …, … }` in console.log and util.inspect.
Object.defineProperty(VerifiedIdentity, 'name', { value: 'AgentIdentity' })

/**
 * One request's identity: the shared base plus fresh `Date`s and how it was verified. Frozen.
 * @param owner - the authenticating adapter's settings, read back with {@link identityOwner}.
 */
export function identityFrom(
  base: IdentityBase,
  verification: { source: VerificationSource; cacheAgeMs: number },
  owner?: object,
): AgentIdentity {
  return new VerifiedIdentity(base, verification, owner)
}

/**
 * The owner an identity was built with by {@link identityFrom} (the adapter settings that
 * authenticated it); `undefined` for anything else (an object that only looks like an identity,
 * or one built without an owner, e.g. by `verifyToken`).
 */
export function identityOwner(value: unknown): object | undefined {
  return VerifiedIdentity.ownerOf(value)
}
