/**
 * Go `encoding/base64` decoding rules (non-strict mode, as the broker uses them): the alphabet is
 * enforced, `\r` and `\n` are ignored, padding is required by `StdEncoding` and forbidden by
 * `RawURLEncoding`. Node's own base64 decoder silently skips invalid characters, so it cannot be used
 * alone to decide validity.
 */

const RAW_URL = /^[A-Za-z0-9_-]*$/
const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Go `base64.RawURLEncoding.DecodeString`. @returns the bytes, or `null` on a decode error */
export function decodeRawUrlBase64(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, '')
  if (!RAW_URL.test(t) || t.length % 4 === 1) return null
  return Buffer.from(t, 'base64url')
}

/** Go `base64.StdEncoding.DecodeString` (padding required). @returns the bytes, or `null` on a decode error */
export function decodeStdBase64(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, '')
  if (!STD.test(t)) return null
  return Buffer.from(t, 'base64')
}

/** Go `hex.DecodeString` (either case, even length). @returns the bytes, or `null` on a decode error */
export function decodeHex(s: string): Buffer | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null
  return Buffer.from(s, 'hex')
}
