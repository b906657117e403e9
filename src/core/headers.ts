/**
 * Framework-neutral request headers.
 *
 * Express `req.headers`, Koa `ctx.headers` and Fastify `request.headers` are all Node's
 * `IncomingHttpHeaders`: an object with lower-case keys and `string | string[] | undefined`
 * values. Node keeps only the **first** of a duplicated singleton header such as `Authorization`
 * and silently drops the others; only `req.rawHeaders` (flat `[name, value, name, value, …]`, names
 * as sent) still shows them, so duplicate detection needs it (see {@link countRawHeader}).
 *
 * A WHATWG `Headers` object (`get(name)`) is accepted too; it joins duplicates with `", "`.
 */

/** A header value as Node and hand-built header objects carry it. */
export type HeaderValue = string | readonly string[] | undefined

/** Node's `IncomingHttpHeaders` and any plain object of header values (keys in any case). */
export interface HeadersRecord {
  readonly [name: string]: HeaderValue
}

/** The WHATWG `Headers` shape (fetch, undici, web frameworks). */
export interface FetchHeadersLike {
  get(name: string): string | null
}

/** What the core reads request headers from. */
export type HeadersLike = HeadersRecord | FetchHeadersLike

function isFetchHeaders(headers: HeadersLike): headers is FetchHeadersLike {
  return typeof (headers as { get?: unknown }).get === 'function'
}

/**
 * Every value of header `name` (case-insensitive) in `headers`, in order: one entry per string
 * value, one per element of an array value, and one per key when a hand-built object carries the
 * same name in several cases (`authorization` and `Authorization`). Values that are neither
 * strings nor arrays of strings are ignored. Only own properties are read.
 */
export function getHeaderValues(headers: HeadersLike | null | undefined, name: string): string[] {
  const out: string[] = []
  if (headers === null || typeof headers !== 'object') return out
  const lower = name.toLowerCase()
  if (isFetchHeaders(headers)) {
    const v = headers.get(lower)
    if (typeof v === 'string') out.push(v)
    return out
  }
  for (const key in headers) {
    if (!Object.hasOwn(headers, key) || key.toLowerCase() !== lower) continue
    const v: unknown = headers[key]
    if (typeof v === 'string') out.push(v)
    else if (Array.isArray(v)) for (const item of v) if (typeof item === 'string') out.push(item)
  }
  return out
}

/**
 * How many times header `name` (case-insensitive) occurs in Node's `rawHeaders` list.
 * `0` when `rawHeaders` is absent or not an array.
 */
export function countRawHeader(rawHeaders: readonly string[] | undefined, name: string): number {
  if (!Array.isArray(rawHeaders)) return 0
  const lower = name.toLowerCase()
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]
    if (typeof key === 'string' && key.length === lower.length && key.toLowerCase() === lower) n++
  }
  return n
}
