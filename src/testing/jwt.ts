/**
 * The broker's token format (contract §6) and its verification algorithm (contract §7, `TknSvc.Verify`).
 *
 * Claims are modelled on the broker's Go struct so that decoding and re-encoding behave like Go:
 * integers are `bigint` (Go `int64`), absent slices are `null`, a missing `delegated_at` is Go's zero time.
 */
import { createHash, type KeyObject, sign, verify } from 'node:crypto'
import { decodeRawUrlBase64 } from './go-base64.js'
import { decodeGoStruct, type GoStructSpec, goJsonStringify, parseGoJson } from './go-json.js'

/** One delegation record as the broker's Go struct holds it (`DelegRecord`, contract §11.2). */
export interface DelegRecord {
  readonly agent: string
  /** `null` when absent in a decoded token (Go nil slice, encoded as `null`). */
  readonly scope: readonly string[] | null
  /** Normalised RFC3339Nano text (Go `time.Time`). */
  readonly delegated_at: string
  /** Lowercase hex Ed25519 signature; `''` when absent (omitted when encoded). */
  readonly signature: string
}

/** The broker's claims struct (`TknClaims`, contract §6.2). */
export interface TknClaims {
  readonly iss: string
  readonly sub: string
  readonly aud: readonly string[] | null
  readonly exp: bigint
  readonly nbf: bigint
  readonly iat: bigint
  readonly jti: string
  readonly sid: string
  readonly scope: readonly string[] | null
  readonly task_id: string
  readonly orch_id: string
  readonly delegation_chain: readonly DelegRecord[] | null
  readonly chain_hash: string
}

/** Go's zero `time.Time`, as its JSON encoder writes it. */
const ZERO_TIME = '0001-01-01T00:00:00Z'

const DELEG_SPEC: GoStructSpec = {
  agent: 'string',
  scope: 'string[]',
  delegated_at: 'time',
  signature: 'string',
}

const CLAIMS_SPEC: GoStructSpec = {
  iss: 'string',
  sub: 'string',
  aud: 'string[]',
  exp: 'int',
  nbf: 'int',
  iat: 'int',
  jti: 'string',
  sid: 'string',
  scope: 'string[]',
  task_id: 'string',
  orch_id: 'string',
  delegation_chain: { sliceOf: DELEG_SPEC },
  chain_hash: 'string',
}

const HEADER_SPEC: GoStructSpec = { alg: 'string', typ: 'string', kid: 'string' }

/** Go field order and `omitempty` rules of one delegation record. */
export function delegRecordToJson(r: {
  readonly agent: string
  readonly scope: readonly string[] | null
  readonly delegated_at: string
  readonly signature?: string
}): Record<string, unknown> {
  return {
    agent: r.agent,
    scope: r.scope,
    delegated_at: r.delegated_at,
    signature: r.signature ? r.signature : undefined,
  }
}

/** Go field order and `omitempty` rules of the claims (the payload, and the `claims` of validate). */
export function claimsToJson(c: TknClaims): Record<string, unknown> {
  return {
    iss: c.iss,
    sub: c.sub,
    aud: c.aud && c.aud.length > 0 ? c.aud : undefined,
    exp: c.exp,
    nbf: c.nbf,
    iat: c.iat,
    jti: c.jti,
    sid: c.sid || undefined,
    scope: c.scope,
    task_id: c.task_id || undefined,
    orch_id: c.orch_id || undefined,
    delegation_chain:
      c.delegation_chain && c.delegation_chain.length > 0
        ? c.delegation_chain.map(delegRecordToJson)
        : undefined,
    chain_hash: c.chain_hash || undefined,
  }
}

/**
 * The broker's `chain_hash`: lowercase hex SHA-256 of Go `json.Marshal(chain)` (contract §11.4).
 * @param chain - records in chain order; `delegated_at` must already be in Go's RFC3339Nano form
 */
export function chainHash(
  chain: ReadonlyArray<{
    readonly agent: string
    readonly scope: readonly string[] | null
    readonly delegated_at: string
    readonly signature?: string
  }>,
): string {
  return createHash('sha256')
    .update(goJsonStringify(chain.map(delegRecordToJson)))
    .digest('hex')
}

/**
 * Decode a payload like Go `json.Unmarshal(payload, &TknClaims{})`.
 * @returns the claims, or `null` when Go would fail (syntax, trailing data, wrong types, bad times)
 */
export function decodeClaims(payload: Uint8Array): TknClaims | null {
  const v = parseGoJson(payload, 'unmarshal')
  if (v === undefined) return null
  const f = decodeGoStruct(v, CLAIMS_SPEC)
  if (f === null) return null
  const chain = f.delegation_chain as Array<Record<string, unknown>> | undefined
  return {
    iss: (f.iss as string | undefined) ?? '',
    sub: (f.sub as string | undefined) ?? '',
    aud: (f.aud as string[] | undefined) ?? null,
    exp: (f.exp as bigint | undefined) ?? 0n,
    nbf: (f.nbf as bigint | undefined) ?? 0n,
    iat: (f.iat as bigint | undefined) ?? 0n,
    jti: (f.jti as string | undefined) ?? '',
    sid: (f.sid as string | undefined) ?? '',
    scope: (f.scope as string[] | undefined) ?? null,
    task_id: (f.task_id as string | undefined) ?? '',
    orch_id: (f.orch_id as string | undefined) ?? '',
    delegation_chain:
      chain?.map((r) => ({
        agent: (r.agent as string | undefined) ?? '',
        scope: (r.scope as string[] | undefined) ?? null,
        delegated_at: (r.delegated_at as string | undefined) ?? ZERO_TIME,
        signature: (r.signature as string | undefined) ?? '',
      })) ?? null,
    chain_hash: (f.chain_hash as string | undefined) ?? '',
  }
}

/**
 * Sign a compact JWS: base64url (no padding) of the exact header and payload texts, Ed25519 signature.
 * @param headerJson - header JSON text, used byte for byte
 * @param payloadJson - payload JSON text, used byte for byte
 */
export function signCompact(headerJson: string, payloadJson: string, privateKey: KeyObject): string {
  const input = `${Buffer.from(headerJson).toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`
}

/** The exact header text the broker emits: `{"alg":"EdDSA","typ":"JWT","kid":"…"}`. */
export function brokerHeaderJson(kid: string): string {
  return goJsonStringify({ alg: 'EdDSA', typ: 'JWT', kid })
}

/** Encode and sign claims exactly as the broker does. */
export function signClaims(claims: TknClaims, kid: string, privateKey: KeyObject): string {
  return signCompact(brokerHeaderJson(kid), goJsonStringify(claimsToJson(claims)), privateKey)
}

/** What {@link verifyToken} checks against. */
export interface VerifyContext {
  readonly kid: string
  readonly publicKey: KeyObject
  /** Current time, whole Unix seconds. */
  readonly nowSeconds: bigint
  /** Expected `iss`; empty → not checked (`AA_ISSUER` unset). */
  readonly issuer: string
  /** Revocation predicate (contract §8). */
  readonly isRevoked: (claims: TknClaims) => boolean
}

/**
 * Why {@link verifyTokenDetailed} refused a token: the text of the Go error `TknSvc.Verify` returns, which
 * the broker writes into the `token_auth_failed` audit detail (never into an HTTP answer).
 */
export type VerifyFailure =
  | 'invalid token format'
  | 'signature verification failed'
  | 'missing subject'
  | 'missing jti'
  | 'token has no expiry'
  | 'token expired'
  | 'token not yet valid'
  | 'invalid issuer'
  | 'token has been revoked'

/**
 * The broker's `TknSvc.Verify` (contract §7), step by step: split into at most three parts; header
 * (base64url → JSON, `alg` exactly `EdDSA`, `kid` equal when present); signature; payload; `sub`/`jti`
 * non-empty, `exp > 0`, expired iff `now > exp`, `nbf` when non-zero; issuer when configured; revocation.
 * @returns the claims, or the Go error text of the first failed step
 */
export function verifyTokenDetailed(
  token: string,
  ctx: VerifyContext,
): { readonly claims: TknClaims } | { readonly error: VerifyFailure } {
  const format = { error: 'invalid token format' } as const
  const signature = { error: 'signature verification failed' } as const
  const d1 = token.indexOf('.')
  if (d1 < 0) return format
  const d2 = token.indexOf('.', d1 + 1)
  if (d2 < 0) return format
  const [h, p, s] = [token.slice(0, d1), token.slice(d1 + 1, d2), token.slice(d2 + 1)]

  const headerBytes = decodeRawUrlBase64(h)
  if (headerBytes === null) return format
  const hv = parseGoJson(headerBytes, 'unmarshal')
  if (hv === undefined) return format
  const header = decodeGoStruct(hv, HEADER_SPEC)
  if (header === null || header.alg !== 'EdDSA') return format
  if (typeof header.kid === 'string' && header.kid !== '' && header.kid !== ctx.kid) return format

  const sig = decodeRawUrlBase64(s)
  if (sig === null || sig.length !== 64) return signature
  let ok = false
  try {
    ok = verify(null, Buffer.from(`${h}.${p}`), ctx.publicKey, sig)
  } catch {
    ok = false
  }
  if (!ok) return signature

  const payload = decodeRawUrlBase64(p)
  if (payload === null) return format
  const c = decodeClaims(payload)
  if (c === null) return format
  if (c.sub === '') return { error: 'missing subject' }
  if (c.jti === '') return { error: 'missing jti' }
  if (c.exp <= 0n) return { error: 'token has no expiry' }
  if (ctx.nowSeconds > c.exp) return { error: 'token expired' }
  if (c.nbf !== 0n && ctx.nowSeconds < c.nbf) return { error: 'token not yet valid' }
  if (ctx.issuer !== '' && c.iss !== ctx.issuer) return { error: 'invalid issuer' }
  if (ctx.isRevoked(c)) return { error: 'token has been revoked' }
  return { claims: c }
}

/**
 * {@link verifyTokenDetailed} without the reason.
 * @returns the claims, or `null` for any failure (the broker never says which)
 */
export function verifyToken(token: string, ctx: VerifyContext): TknClaims | null {
  const r = verifyTokenDetailed(token, ctx)
  return 'claims' in r ? r.claims : null
}
