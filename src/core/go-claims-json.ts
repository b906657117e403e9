/**
 * Read a token payload the way the broker does, or refuse it.
 *
 * The broker decodes claims with Go's `encoding/json` into a struct (contract §7 step 4). Two of
 * its rules differ from `JSON.parse` and matter for a local verifier:
 *
 * - **Field names match case-insensitively** (with Go's folding, where `ſ` is `s` and the Kelvin
 *   sign is `k`), and the last match wins: `{"scope":[…],"Scope":[…]}` means the second scope to
 *   the broker, while `JSON.parse` keeps both keys.
 * - **`exp`, `nbf` and `iat` are `int64`**: `1.9e9` or `1700000000.0` fail to decode there, while
 *   `JSON.parse` yields an integer.
 *
 * A genuine broker never signs such payloads, so rather than emulate Go, we refuse any payload in
 * which a known field name appears in another case, or a time claim is not a plain integer literal.
 */

/** Claim names the broker's struct knows (top level). */
const CLAIM_FIELDS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'sid',
  'scope',
  'task_id',
  'orch_id',
  'delegation_chain',
  'chain_hash',
])
/** Field names of a delegation record. */
const RECORD_FIELDS = new Set(['agent', 'scope', 'delegated_at', 'signature'])
const TIME_FIELDS = new Set(['exp', 'nbf', 'iat'])
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/
/** Where a number literal with a fraction or an exponent could start (see `parseBrokerPayload`). */
const MAYBE_NON_INTEGER = /[:,[][ \t\n\r]*-?[0-9]+[.eE]/

/** Go's `encoding/json` name folding, close enough to decide "another spelling of a known field". */
function fold(name: string): string {
  return name.toLowerCase().replace(/\u017f/g, 's')
}

function hasForeignSpelling(obj: Record<string, unknown>, known: ReadonlySet<string>): boolean {
  for (const key of Object.keys(obj)) {
    if (!known.has(key) && known.has(fold(key))) return true
  }
  return false
}

/**
 * Every top-level member of a JSON object text, in order, duplicates included: its (decoded) key
 * and the raw text of its value. `null` when the text is not a JSON object this scanner can walk
 * (the caller then refuses it). Also used for the JOSE header, to find a duplicated member that
 * `JSON.parse` would silently collapse (token-shape.ts).
 */
export function topLevelMembers(text: string): [string, string][] | null {
  const out: [string, string][] = []
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const string = (): string | null => {
    if (text[i] !== '"') return null
    const start = i++
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    if (i >= text.length) return null
    i++
    return text.slice(start, i)
  }
  const skipValue = (): boolean => {
    const c = text[i]
    if (c === '"') return string() !== null
    if (c === '{' || c === '[') {
      let depth = 0
      while (i < text.length) {
        const d = text[i]
        if (d === '"') {
          if (string() === null) return false
          continue
        }
        if (d === '{' || d === '[') depth++
        else if (d === '}' || d === ']') {
          depth--
          if (depth === 0) {
            i++
            return true
          }
        }
        i++
      }
      return false
    }
    const start = i
    while (i < text.length && !',}] \t\n\r'.includes(text[i]!)) i++
    return i > start
  }
  ws()
  if (text[i] !== '{') return null
  i++
  ws()
  if (text[i] === '}') return out
  for (;;) {
    ws()
    const rawKey = string()
    if (rawKey === null) return null
    let key: string
    try {
      key = JSON.parse(rawKey) as string
    } catch {
      return null
    }
    ws()
    if (text[i] !== ':') return null
    i++
    ws()
    const start = i
    if (!skipValue()) return null
    out.push([key, text.slice(start, i)])
    ws()
    if (text[i] === ',') {
      i++
      continue
    }
    if (text[i] === '}') return out
    return null
  }
}

/**
 * Parse a verified token payload for local verification, refusing what the broker would decode
 * differently (see the module doc). Returns the parsed value, or `null` to refuse.
 */
export function parseBrokerPayload(text: string): unknown {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null
  const obj = raw as Record<string, unknown>
  if (hasForeignSpelling(obj, CLAIM_FIELDS)) return null
  const chain = obj.delegation_chain
  if (Array.isArray(chain)) {
    for (const record of chain) {
      if (
        typeof record === 'object' &&
        record !== null &&
        hasForeignSpelling(record as Record<string, unknown>, RECORD_FIELDS)
      ) {
        return null
      }
    }
  }
  // Fast path: a JSON number literal starts right after `:`, `,` or `[` (and optional
  // whitespace). When no such start runs into a fraction or an exponent, every number literal is a
  // plain integer and the scan below cannot find anything to refuse. (Text inside strings can only
  // make this test match, never hide a literal: the scan then decides.)
  if (!MAYBE_NON_INTEGER.test(text)) return raw
  // Every top-level number value with its key, duplicates included (Go reports an error for any).
  const members = topLevelMembers(text)
  if (members === null) return null
  for (const [key, literal] of members) {
    if (TIME_FIELDS.has(key) && /^[-0-9]/.test(literal) && !INTEGER.test(literal)) return null
  }
  return raw
}
