/**
 * Go `time` formatting used by the broker: RFC 3339 (whole seconds) and RFC3339Nano, always UTC here.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-](\d{2}):(\d{2}))$/

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  return month === 2 && leap ? 29 : (DAYS[month - 1] as number)
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

function isoSeconds(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000)
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`
  )
}

/**
 * Go `t.UTC().Format(time.RFC3339)`: whole seconds (truncated), `Z` suffix.
 * @param ms - Unix time in milliseconds
 */
export function formatRfc3339(ms: number): string {
  return `${isoSeconds(ms)}Z`
}

/**
 * Go `t.UTC().Format(time.RFC3339Nano)`: up to nine fractional digits with trailing zeros trimmed and
 * no fraction at all when it is zero, `Z` suffix — e.g. `2026-04-14T20:26:15.13Z`.
 * @param ms - Unix time in milliseconds; a fractional part is kept down to the nanosecond
 */
export function formatRfc3339Nano(ms: number): string {
  const whole = Math.floor(ms / 1000)
  const nanos = Math.min(999_999_999, Math.round((ms - whole * 1000) * 1e6))
  const frac = nanos === 0 ? '' : `.${pad(nanos, 9).replace(/0+$/, '')}`
  return `${isoSeconds(whole * 1000)}${frac}Z`
}

/**
 * Parse an RFC 3339 time the way Go's `time.Time` JSON decoder does and re-format it the way its encoder
 * does (RFC3339Nano: fraction with trailing zeros trimmed, none when zero; a zero offset written `Z`).
 * @returns the normalised text, or `null` when Go would reject it
 */
export function normalizeRfc3339(s: string): string | null {
  const m = RFC3339.exec(s)
  if (m === null) return null
  const [, y, mo, d, h, mi, se, frac, zone, zh, zm] = m
  const month = Number(mo)
  const day = Number(d)
  if (month < 1 || month > 12 || day < 1 || day > daysIn(Number(y), month)) return null
  if (Number(h) > 23 || Number(mi) > 59 || Number(se) > 59) return null
  let z = zone as string
  if (z !== 'Z') {
    if (Number(zh) > 23 || Number(zm) > 59) return null
    if (Number(zh) === 0 && Number(zm) === 0) z = 'Z'
  }
  const f = (frac ?? '').replace(/0+$/, '')
  return `${y}-${mo}-${d}T${h}:${mi}:${se}${f === '' ? '' : `.${f}`}${z}`
}
