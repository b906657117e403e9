/**
 * The shape of a token before anything trusts it: its JOSE header against an allowlist, and its
 * (unverified) payload as claims the broker could have issued. One check for every mode, run by the
 * verifier before the strategy is asked, so that a token the broker never writes is refused the
 * same way everywhere — 401 `invalid_token`, with no key lookup and no broker call:
 *
 * - **Header**: strict unpadded base64url, valid UTF-8, a JSON object whose members are exactly
 *   `alg` = `"EdDSA"`, `typ` = `"JWT"` and `kid` = a non-empty string, in any order, each once. The
 *   broker writes exactly `{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}` (contract §6.1). Anything else
 *   is refused: `crit`, `b64`, `jku`, `x5u`, `jwk`, `x5c`, `zip`, `enc`, `cty` or any other member,
 *   a duplicated member (`JSON.parse` would silently keep the last `alg`), `typ` absent or not
 *   exactly `"JWT"`, `kid` `null`, empty or not a string. An absent `kid` is refused unless
 *   `requireKid` is `false` (the broker itself accepts a header without `kid`, §7, but never writes
 *   one: every genuine token carries it).
 * - **Payload**: strict unpadded base64url, valid UTF-8 (fatal decoding), decoded as the broker
 *   decodes it (`parseBrokerPayload`: no other spelling of a claim name, integer time claims), and
 *   claims as the broker issues them (`parseClaims`: types, bounds, chain length, `chain_hash`).
 *
 * The claims read here are not verified: local mode checks the signature over them, remote mode
 * compares the broker's answer with them (every claim, `sameClaims`), hybrid does both. Reading
 * them once here serves every mode: the verifier reads the shape and hands it to the strategy
 * ({@link ShapedStrategy}); a strategy used alone reads what it needs itself (local: the whole
 * shape; remote: the claims, {@link readTokenClaims}).
 *
 * Cost: the header is decoded once per distinct header segment (the last accepted one is
 * remembered: every token of one broker key has the same header); the payload once per cold
 * verification — a cached answer exists only for a token that passed, so the warm path never
 * comes here.
 */
import { type AgentWritClaims, parseClaims } from './claims.js'
import { AgentAuthError } from './errors.js'
import { parseBrokerPayload, topLevelMembers } from './go-claims-json.js'
import type { KeySelector } from './key-source.js'
import type { TokenStrategy, VerifiedToken } from './strategy.js'

/** What a token's header and payload say, after the shape check. */
export interface TokenShape {
  /** The header's key selection: always `alg` `EdDSA`, and the `kid` when there is one. Frozen. */
  readonly selector: KeySelector
  /** The payload's claims, unverified, deep-frozen (`parseClaims`). */
  readonly claims: AgentWritClaims
}

/** Options of {@link createTokenShapeReader}. */
export interface TokenShapeOptions {
  /** Refuse a header without `kid` (see the module doc). */
  readonly requireKid: boolean
}

/**
 * Read a token's shape, or throw `AgentAuthError('invalid_token')` (401; `reason` for logs, never
 * the token).
 */
export type TokenShapeReader = (token: string) => TokenShape

/**
 * A strategy that can be handed the shape the verifier already read, so that the header and the
 * payload are decoded once per verification. Without it, the strategy reads what it needs itself.
 */
export interface ShapedStrategy extends TokenStrategy {
  verify(token: string, key?: string, shape?: TokenShape): Promise<VerifiedToken>
}

/** The three members of the broker's header (contract §6.1). */
const HEADER_MEMBERS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid'])

const BASE64URL = /^[A-Za-z0-9_-]+$/
/**
 * Characters that may end a canonical unpadded base64url text, by `length % 4`: after 2 characters
 * the last one carries 4 unused bits, after 3 characters 2; unused bits must be zero. (A length of
 * `4n + 1` is never valid.)
 */
const LAST_OF_2 = 'AQgw'
const LAST_OF_3 = 'AEIMQUYcgkosw048'

/** Fatal: invalid UTF-8 is an error, not U+FFFD. A leading BOM is kept, so JSON.parse refuses it. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Strict unpadded base64url (Go `RawURLEncoding.Strict()`): alphabet, length, zero unused bits. */
function isStrictBase64url(s: string): boolean {
  if (!BASE64URL.test(s)) return false
  switch (s.length % 4) {
    case 0:
      return true
    case 2:
      return LAST_OF_2.includes(s[s.length - 1]!)
    case 3:
      return LAST_OF_3.includes(s[s.length - 1]!)
    default:
      return false
  }
}

/** The UTF-8 text of a strict base64url segment, or `null`. */
function decodeSegment(segment: string): string | null {
  if (!isStrictBase64url(segment)) return null
  try {
    return utf8.decode(Buffer.from(segment, 'base64url'))
  } catch {
    return null
  }
}

/**
 * Where a compact JWS's two dots are, or `null` unless it has exactly three segments. (The
 * signature segment is the strategy's business: checked locally, or by the broker.)
 */
function dotsOf(token: string): readonly [number, number] | null {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (second < 0 || token.includes('.', second + 1)) return null
  return [first, second]
}

/** The claims of a payload segment (see the module doc), or the reason to refuse them. */
function claimsOf(segment: string): AgentWritClaims | 'malformed_claims' {
  const text = decodeSegment(segment)
  if (text === null) return 'malformed_claims'
  // Decoded as the broker decodes it, or refused (Go field-name folding, int64 time claims).
  const raw = parseBrokerPayload(text)
  if (raw === null) return 'malformed_claims'
  return parseClaims(raw) ?? 'malformed_claims'
}

/**
 * Only the payload part of the shape check: the token's claims, unverified. For a strategy used
 * without the verifier that needs the claims but not the header (remote: to compare the broker's
 * answer with them).
 * @throws AgentAuthError `invalid_token` (401)
 */
export function readTokenClaims(token: string): AgentWritClaims {
  const dots = dotsOf(token)
  const claims = dots === null ? 'malformed' : claimsOf(token.slice(dots[0] + 1, dots[1]))
  if (typeof claims === 'string') throw new AgentAuthError('invalid_token', { reason: claims })
  return claims
}

/**
 * Create a shape reader. It remembers the last header segment it accepted (every token of one
 * broker key carries the same header), so a header is decoded once, not once per token; a refused
 * header is never remembered.
 */
export function createTokenShapeReader(options: TokenShapeOptions): TokenShapeReader {
  const { requireKid } = options
  let last: { readonly segment: string; readonly selector: KeySelector } | undefined

  const invalid = (reason: string): AgentAuthError => new AgentAuthError('invalid_token', { reason })

  const readHeader = (segment: string): KeySelector => {
    const text = decodeSegment(segment)
    if (text === null) throw invalid('malformed_header')
    let header: unknown
    try {
      header = JSON.parse(text)
    } catch {
      throw invalid('malformed_header')
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw invalid('malformed_header')
    }
    const h = header as Record<string, unknown>
    const names = Object.keys(h)
    for (const name of names) if (!HEADER_MEMBERS.has(name)) throw invalid('header_member_refused')
    if (h.alg !== 'EdDSA') throw invalid('alg_not_allowed')
    if (h.typ !== 'JWT') throw invalid('typ_not_allowed')
    if (h.kid === undefined) {
      if (requireKid) throw invalid('kid_missing')
    } else if (typeof h.kid !== 'string' || h.kid.length === 0) {
      throw invalid('malformed_kid')
    }
    // JSON.parse keeps the last of duplicated members: count them in the text itself.
    if (topLevelMembers(text)?.length !== names.length) throw invalid('duplicate_header_member')
    return Object.freeze(
      h.kid === undefined ? { alg: 'EdDSA' as const } : { alg: 'EdDSA' as const, kid: h.kid },
    )
  }

  return (token: string): TokenShape => {
    const dots = dotsOf(token)
    if (dots === null) throw invalid('malformed')
    const [first, second] = dots
    const segment = token.slice(0, first)
    let selector: KeySelector
    if (last !== undefined && last.segment === segment) {
      selector = last.selector
    } else {
      selector = readHeader(segment)
      last = { segment, selector }
    }
    const claims = claimsOf(token.slice(first + 1, second))
    if (typeof claims === 'string') throw invalid(claims)
    return { selector, claims }
  }
}
