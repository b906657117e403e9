/**
 * Go `encoding/json` compatibility: an encoder that produces the exact bytes of Go's
 * `json.Marshal` / `json.Encoder` (HTML-escaping on), and a decoder with Go's lenient struct-decoding
 * semantics (unknown fields ignored, case-insensitive field names, `null` leaves a field unset, a wrong
 * JSON type or a non-integer literal for an integer field is an error).
 *
 * The broker's `chain_hash` is SHA-256 over Go's encoding of the delegation chain (contract §11.4), and
 * every broker JSON body is produced by Go's encoder; the dev broker uses this module for both.
 */

import { normalizeRfc3339 } from './go-time.js'

const HEX = '0123456789abcdef'

function escapeString(s: string): string {
  let out = '"'
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let rep: string | undefined
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      switch (c) {
        case 0x22:
          rep = '\\"'
          break
        case 0x5c:
          rep = '\\\\'
          break
        case 0x08:
          rep = '\\b'
          break
        case 0x0c:
          rep = '\\f'
          break
        case 0x0a:
          rep = '\\n'
          break
        case 0x0d:
          rep = '\\r'
          break
        case 0x09:
          rep = '\\t'
          break
        default:
          rep = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`
      }
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? '\\u2028' : '\\u2029'
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++ // a valid surrogate pair is copied verbatim
        continue
      }
      rep = '\\ufffd' // Go replaces invalid UTF-8 (a lone surrogate here) with U+FFFD, escaped
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      rep = '\\ufffd'
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep
      start = i + 1
    }
  }
  return out + s.slice(start) + '"'
}

function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${n}`)
  if (Object.is(n, -0)) return '-0'
  // JavaScript's shortest round-trip formatting matches Go's for both the plain and the exponent form
  // (same 1e-6 / 1e21 thresholds, Go trims "e-07" to "e-7").
  return String(n)
}

function encodeValue(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'string':
      return escapeString(v)
    case 'number':
      return encodeNumber(v)
    case 'bigint':
      return v.toString()
    case 'boolean':
      return v ? 'true' : 'false'
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(encodeValue).join(',')}]`
      const parts: string[] = []
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        if (val === undefined) continue
        parts.push(`${escapeString(k)}:${encodeValue(val)}`)
      }
      return `{${parts.join(',')}}`
    }
    default:
      throw new TypeError(`json: unsupported type: ${typeof v}`)
  }
}

/**
 * Encode like Go's `json.Marshal`: compact, object keys in insertion order, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped as `\u003c` etc., `\b`/`\f` short escapes, lone surrogates as `\ufffd`.
 * `undefined` object members are omitted (use it for Go's `omitempty`); `bigint` is written as an integer.
 * @throws TypeError for non-finite numbers, functions and symbols
 */
export function goJsonStringify(value: unknown): string {
  return encodeValue(value)
}

// ---------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------

/** A JSON number kept as its literal text (Go decides per target type whether it is acceptable). */
export class GoJsonNumber {
  constructor(readonly raw: string) {}
}

/** A JSON object with its members in document order (duplicates kept; the last one wins in Go). */
export class GoJsonObject {
  constructor(readonly entries: ReadonlyArray<readonly [string, GoJsonValue]>) {}
}

/** A parsed JSON value. */
export type GoJsonValue = null | boolean | string | GoJsonNumber | GoJsonObject | GoJsonValue[]

class SyntaxFail extends Error {}

class Parser {
  pos = 0
  constructor(readonly text: string) {}

  ws(): void {
    const t = this.text
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++
      else break
    }
  }

  value(depth: number): GoJsonValue {
    if (depth > 10000) throw new SyntaxFail('exceeded max depth')
    this.ws()
    const t = this.text
    const c = t[this.pos]
    switch (c) {
      case '{':
        return this.object(depth)
      case '[':
        return this.array(depth)
      case '"':
        return this.string()
      case 't':
        return this.literal('true', true)
      case 'f':
        return this.literal('false', false)
      case 'n':
        return this.literal('null', null)
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
        throw new SyntaxFail('invalid character')
    }
  }

  literal<T>(word: string, v: T): T {
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length
      return v
    }
    throw new SyntaxFail('invalid literal')
  }

  number(): GoJsonNumber {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(
      this.text.slice(this.pos, this.pos + 4096),
    )
    if (m === null) throw new SyntaxFail('invalid number')
    this.pos += m[0].length
    return new GoJsonNumber(m[0])
  }

  string(): string {
    const t = this.text
    this.pos++ // opening quote
    let out = ''
    let start = this.pos
    for (;;) {
      if (this.pos >= t.length) throw new SyntaxFail('unexpected end of string')
      const c = t.charCodeAt(this.pos)
      if (c === 0x22) {
        out += t.slice(start, this.pos)
        this.pos++
        return out
      }
      if (c < 0x20) throw new SyntaxFail('control character in string')
      if (c !== 0x5c) {
        this.pos++
        continue
      }
      out += t.slice(start, this.pos)
      const e = t[this.pos + 1]
      this.pos += 2
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e
          break
        case 'b':
          out += '\b'
          break
        case 'f':
          out += '\f'
          break
        case 'n':
          out += '\n'
          break
        case 'r':
          out += '\r'
          break
        case 't':
          out += '\t'
          break
        case 'u': {
          const cu = this.hex4(this.pos)
          this.pos += 4
          if (cu >= 0xd800 && cu <= 0xdbff) {
            // Go: a high surrogate must be followed by an escaped low surrogate, else U+FFFD.
            if (t[this.pos] === '\\' && t[this.pos + 1] === 'u') {
              const lo = this.hex4(this.pos + 2)
              if (lo >= 0xdc00 && lo <= 0xdfff) {
                out += String.fromCharCode(cu, lo)
                this.pos += 6
                break
              }
            }
            out += '\ufffd'
          } else if (cu >= 0xdc00 && cu <= 0xdfff) {
            out += '\ufffd'
          } else {
            out += String.fromCharCode(cu)
          }
          break
        }
        default:
          throw new SyntaxFail('invalid escape')
      }
      start = this.pos
    }
  }

  hex4(at: number): number {
    const h = this.text.slice(at, at + 4)
    if (!/^[0-9a-fA-F]{4}$/.test(h)) throw new SyntaxFail('invalid \\u escape')
    return Number.parseInt(h, 16)
  }

  array(depth: number): GoJsonValue[] {
    this.pos++
    const out: GoJsonValue[] = []
    this.ws()
    if (this.text[this.pos] === ']') {
      this.pos++
      return out
    }
    for (;;) {
      out.push(this.value(depth + 1))
      this.ws()
      const c = this.text[this.pos]
      this.pos++
      if (c === ']') return out
      if (c !== ',') throw new SyntaxFail('expected , or ]')
    }
  }

  object(depth: number): GoJsonObject {
    this.pos++
    const entries: Array<readonly [string, GoJsonValue]> = []
    this.ws()
    if (this.text[this.pos] === '}') {
      this.pos++
      return new GoJsonObject(entries)
    }
    for (;;) {
      this.ws()
      if (this.text[this.pos] !== '"') throw new SyntaxFail('expected string key')
      const key = this.string()
      this.ws()
      if (this.text[this.pos] !== ':') throw new SyntaxFail('expected :')
      this.pos++
      entries.push([key, this.value(depth + 1)])
      this.ws()
      const c = this.text[this.pos]
      this.pos++
      if (c === '}') return new GoJsonObject(entries)
      if (c !== ',') throw new SyntaxFail('expected , or }')
    }
  }
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * Parse JSON like Go.
 * @param input - text, or bytes (invalid UTF-8 becomes U+FFFD, as in Go; a BOM is a syntax error)
 * @param mode - `'unmarshal'` (`json.Unmarshal`: only whitespace may follow the value) or `'decoder'`
 *   (`json.NewDecoder(r).Decode`: the first value is read, anything after it is ignored)
 * @returns the value, or `undefined` on a syntax error (including empty input)
 */
export function parseGoJson(
  input: string | Uint8Array,
  mode: 'unmarshal' | 'decoder' = 'unmarshal',
): GoJsonValue | undefined {
  const text = typeof input === 'string' ? input : utf8.decode(input)
  const p = new Parser(text)
  try {
    const v = p.value(0)
    if (mode === 'unmarshal') {
      p.ws()
      if (p.pos !== text.length) return undefined
    }
    return v
  } catch (e) {
    if (e instanceof SyntaxFail) return undefined
    throw e
  }
}

/** The Go type of a struct field, for {@link decodeGoStruct}. */
export type GoFieldType =
  | 'string'
  | 'int'
  | 'bool'
  | 'string[]'
  | 'time'
  | { readonly struct: GoStructSpec }
  | { readonly sliceOf: GoStructSpec }

/** Field name (as in the `json:"…"` tag) → Go type. */
export type GoStructSpec = Readonly<Record<string, GoFieldType>>

/** Thrown internally when a value does not fit its Go type (an `UnmarshalTypeError`). */
class TypeFail extends Error {}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function decodeField(v: GoJsonValue, type: GoFieldType): unknown {
  if (v === null) return undefined // Go: null leaves the field unchanged (nil pointer / zero value)
  if (type === 'string') {
    if (typeof v !== 'string') throw new TypeFail()
    return v
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw new TypeFail()
    return v
  }
  if (type === 'int') {
    if (!(v instanceof GoJsonNumber) || !/^-?[0-9]+$/.test(v.raw)) throw new TypeFail()
    const n = BigInt(v.raw)
    if (n < INT64_MIN || n > INT64_MAX) throw new TypeFail()
    return n
  }
  if (type === 'time') {
    if (typeof v !== 'string') throw new TypeFail()
    const t = normalizeRfc3339(v)
    if (t === null) throw new TypeFail()
    return t
  }
  if (type === 'string[]') {
    if (!Array.isArray(v)) throw new TypeFail()
    return v.map((e) => {
      if (e === null) return ''
      if (typeof e !== 'string') throw new TypeFail()
      return e
    })
  }
  if ('struct' in type) return decodeObject(v, type.struct)
  if (!Array.isArray(v)) throw new TypeFail()
  return v.map((e) => (e === null ? decodeObject(null, type.sliceOf) : decodeObject(e, type.sliceOf)))
}

function decodeObject(v: GoJsonValue, spec: GoStructSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (v === null) return out
  if (!(v instanceof GoJsonObject)) throw new TypeFail()
  const names = Object.keys(spec)
  for (const [key, val] of v.entries) {
    let name = names.find((n) => n === key)
    if (name === undefined) {
      const lower = key.toLowerCase()
      name = names.find((n) => n.toLowerCase() === lower)
    }
    if (name === undefined) continue // unknown fields are ignored
    const type = spec[name] as GoFieldType
    const decoded = decodeField(val, type)
    if (decoded !== undefined) out[name] = decoded
    else if (type === 'string[]' || (typeof type === 'object' && 'sliceOf' in type)) {
      delete out[name] // null into a slice sets it to nil; into anything else it has no effect
    }
  }
  return out
}

/**
 * Decode a parsed JSON value into a Go struct described by `spec`.
 *
 * The result holds only the fields that were set: an absent field and a field given as `null` are both
 * absent (Go's zero value / nil pointer). Integers come back as `bigint` (Go `int`/`int64`, range-checked),
 * `time` fields as a normalised RFC 3339 string (see {@link normalizeRfc3339}).
 * @returns the fields, or `null` when Go would report an error (top-level value not an object or `null`,
 *   wrong JSON type for a known field, non-integer literal for an integer field)
 */
export function decodeGoStruct(value: GoJsonValue, spec: GoStructSpec): Record<string, unknown> | null {
  try {
    return decodeObject(value, spec)
  } catch (e) {
    if (e instanceof TypeFail) return null
    throw e
  }
}
