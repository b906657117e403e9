/**
 * Go `net/url` query parsing (`r.URL.Query()`) and `strconv.Atoi`, as the broker's audit handler uses them
 * for `GET /v1/audit/events` (contract §4.9).
 */

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

/**
 * Go `url.QueryUnescape` over raw request bytes: `+` → space, `%XX` → the byte; a `%` not followed by two
 * hex digits is an error. The bytes are read as UTF-8 (invalid sequences become U+FFFD).
 * @returns the text, or `null` on an escape error
 */
export function goQueryUnescape(raw: Buffer): string | null {
  const out = Buffer.alloc(raw.length)
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number
    if (c === 0x25) {
      if (i + 2 >= raw.length || !isHex(raw[i + 1] as number) || !isHex(raw[i + 2] as number)) return null
      out[n++] = Number.parseInt(raw.toString('latin1', i + 1, i + 3), 16)
      i += 2
    } else {
      out[n++] = c === 0x2b ? 0x20 : c
    }
  }
  return out.toString('utf8', 0, n)
}

/** Go's default `urlmaxqueryparams` (1.25.x security backport, 1.26): more pairs and nothing is parsed. */
export const GO_MAX_QUERY_PARAMS = 10_000

/**
 * Go `url.ParseQuery` as `URL.Query()` uses it (errors dropped): more than 10,000 `&`-separated parts →
 * no values at all; otherwise pairs split on `&`; a pair containing `;` is skipped (Go ≥ 1.17); empty pairs
 * are skipped; key and value split at the first `=`; a pair whose key or value has a bad `%` escape is
 * skipped.
 * @param rawQuery - the request target after the first `?`, as received (Node gives it as latin1 text)
 */
export function parseGoQuery(rawQuery: string): Map<string, string[]> {
  const values = new Map<string, string[]>()
  const pairs = rawQuery.split('&')
  if (pairs.length > GO_MAX_QUERY_PARAMS) return values
  for (const pair of pairs) {
    if (pair === '' || pair.includes(';')) continue
    const eq = pair.indexOf('=')
    const key = goQueryUnescape(Buffer.from(eq < 0 ? pair : pair.slice(0, eq), 'latin1'))
    if (key === null) continue
    const value = goQueryUnescape(Buffer.from(eq < 0 ? '' : pair.slice(eq + 1), 'latin1'))
    if (value === null) continue
    const list = values.get(key)
    if (list === undefined) values.set(key, [value])
    else list.push(value)
  }
  return values
}

/** Go `url.Values.Get`: the first value, or `''`. */
export function queryGet(values: Map<string, string[]>, key: string): string {
  return values.get(key)?.[0] ?? ''
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * Go `strconv.Atoi` on a 64-bit platform: an optional `+`/`-` then decimal digits only (no spaces, no
 * underscores), within the int64 range.
 * @returns the value, or `null` where Go returns an error
 */
export function goAtoi(s: string): bigint | null {
  if (!/^[+-]?[0-9]+$/.test(s)) return null
  const v = BigInt(s)
  return v < INT64_MIN || v > INT64_MAX ? null : v
}
