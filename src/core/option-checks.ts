/**
 * The checks every option goes through: each throws a `TypeError` naming the option, with what it
 * must be and what it got (a URL with credentials is never echoed).
 */

export function fail(option: string, expected: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
  throw new TypeError(`agentwrit-verify: option "${option}" must be ${expected} (got ${shown})`)
}

export function httpUrl(option: string, value: unknown): URL {
  if (typeof value !== 'string' && !(value instanceof URL))
    fail(option, 'an http(s) URL string or URL', value)
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    fail(option, 'an http(s) URL', value)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(option, 'an http(s) URL', value)
  if (url.username || url.password) fail(option, 'a URL without credentials', '<redacted>')
  return url
}

export function intIn(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `an integer from ${min} to ${max}`, value)
  }
  return value
}

export function bool(option: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(option, 'a boolean', value)
  return value
}

export function nonEmptyString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) fail(option, 'a non-empty string', value)
  return value
}
