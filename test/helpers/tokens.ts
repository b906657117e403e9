/** Token helpers of the e2e, hostile and adapter suites: the header that carries one, its parts, a forgery. */
import { randomBytes } from 'node:crypto'

/** `Authorization: Bearer <token>`. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/** base64url of a string or bytes. */
export function b64u(v: string | Uint8Array): string {
  return Buffer.from(v).toString('base64url')
}

/** A token's three segments. */
export function segments(token: string): [string, string, string] {
  const [h, p, s] = token.split('.')
  return [h!, p!, s!]
}

/** The decoded payload of a compact JWS (no verification). */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segments(token)[1], 'base64url').toString('utf8'))
}

/**
 * The same header and payload with one character in the middle of the signature changed: always
 * a different, well-formed signature, so a forgery that only the signature check can refuse.
 */
export function forgeSignature(token: string): string {
  const [h, p, s] = segments(token)
  const c = s[10] === 'A' ? 'B' : 'A'
  return `${h}.${p}.${s.slice(0, 10)}${c}${s.slice(11)}`
}

/** A fresh random `jti` (32 hex digits, like the broker's). */
export function jti(): string {
  return randomBytes(16).toString('hex')
}
