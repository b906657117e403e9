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

/** An instant with nanosecond precision: whole Unix milliseconds plus the nanoseconds within them. */
export interface GoInstant {
  /** Unix time, whole milliseconds (floored). */
  readonly ms: number
  /** Nanoseconds past `ms`, 0…999,999. */
  readonly subNs: number
}

/** Compare two instants: negative, zero or positive. */
export function compareInstants(a: GoInstant, b: GoInstant): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.subNs - b.subNs
}

/**
 * Go `t.UTC().Format(time.RFC3339Nano)` of an instant given to the nanosecond (contract §4.9:
 * audit timestamps; the hash chain hashes this exact text).
 */
export function formatInstantRfc3339Nano(t: GoInstant): string {
  const whole = Math.floor(t.ms / 1000)
  const nanos = (t.ms - whole * 1000) * 1_000_000 + t.subNs
  if (whole !== lastWhole) {
    lastWhole = whole
    lastPrefix = isoSeconds(whole * 1000)
  }
  return nanos === 0 ? `${lastPrefix}Z` : `${lastPrefix}.${pad(nanos, 9).replace(/0+$/, '')}Z`
}

// one-entry cache: consecutive audit events mostly fall in the same second
let lastWhole = Number.NaN
let lastPrefix = ''

/** Days from 1970-01-01 to a proleptic Gregorian date (any year). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

// Go's general layout parser for "2006-01-02T15:04:05Z07:00": the hour (`15`) may have one digit, a
// fraction may follow the seconds after '.' or ',' (any number of digits, nanoseconds truncated), the zone
// is `Z` or ±hh:mm.
const GO_RFC3339_LAYOUT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

/**
 * Go `time.Parse(time.RFC3339, s)` (Go 1.25): its RFC 3339 fast path and, when that fails, its general
 * layout parser, which is a little more lenient (a one-digit hour, a `,` before the fraction, zone offsets
 * up to 24 h / 60 min). Fractional seconds are accepted although the layout has none; digits past the
 * ninth are dropped. Date fields are range-checked (month 1–12, day within the month, hour ≤ 23, minute
 * and second ≤ 59).
 * @returns the instant, or `null` when Go returns an error
 */
export function parseGoRfc3339(s: string): GoInstant | null {
  const m = GO_RFC3339_LAYOUT.exec(s)
  if (m === null) return null
  const [, ys, mos, ds, hs, mis, ss, frac, sign, zhs, zms] = m
  const year = Number(ys)
  const month = Number(mos)
  const day = Number(ds)
  const hour = Number(hs)
  const minute = Number(mis)
  const second = Number(ss)
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null
  if (hour > 23 || minute > 59 || second > 59) return null
  let offsetSeconds = 0
  if (sign !== undefined) {
    const zh = Number(zhs)
    const zm = Number(zms)
    if (zh > 24 || zm > 60) return null
    offsetSeconds = (zh * 60 + zm) * 60 * (sign === '-' ? -1 : 1)
  }
  const nanos = frac === undefined ? 0 : Number(frac.slice(0, 9).padEnd(9, '0'))
  const seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
  return { ms: seconds * 1000 + Math.floor(nanos / 1_000_000), subNs: nanos % 1_000_000 }
}
