/** Go `time.Parse(time.RFC3339, …)`, `url.ParseQuery` and `strconv.Atoi` as the audit handler uses them. */
import { describe, expect, it } from 'vitest'
import { formatInstantRfc3339Nano, parseGoRfc3339 } from '../../src/testing/go-time.js'
import { goAtoi, parseGoQuery, queryGet } from '../../src/testing/go-url.js'

describe('parseGoRfc3339 (time.Parse with time.RFC3339)', () => {
  const fmt = (s: string) => {
    const t = parseGoRfc3339(s)
    return t === null ? null : formatInstantRfc3339Nano(t)
  }

  it.each([
    ['2026-04-14T20:26:15Z', '2026-04-14T20:26:15Z'],
    ['2026-04-14T20:26:15.130922919Z', '2026-04-14T20:26:15.130922919Z'],
    ['2026-04-14T20:26:15.1309229199999Z', '2026-04-14T20:26:15.130922919Z'], // digits past the 9th dropped
    ['2026-04-14T20:26:15.5+02:00', '2026-04-14T18:26:15.5Z'],
    ['2026-04-14T20:26:15,25-01:30', '2026-04-14T21:56:15.25Z'], // general parser: ',' fraction
    ['2026-04-14T2:26:15Z', '2026-04-14T02:26:15Z'], // general parser: one-digit hour
    ['2026-04-14T20:26:15+24:00', '2026-04-13T20:26:15Z'], // general parser: offsets up to 24 h
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['0000-01-01T00:00:00Z', '0000-01-01T00:00:00Z'],
    ['1969-12-31T23:59:59.999999999Z', '1969-12-31T23:59:59.999999999Z'],
  ])('%s → %s', (input, out) => {
    expect(fmt(input)).toBe(out)
  })

  it.each([
    '2026-04-14',
    '2026-04-14T20:26:15',
    '2026-04-14 20:26:15Z',
    '2026-04-14t20:26:15Z',
    '2026-04-14T20:26:15z',
    '2026-04-14T20:26:15.Z',
    '2026-04-14T24:00:00Z',
    '2026-04-14T20:60:00Z',
    '2026-04-14T20:26:60Z',
    '2023-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-04-14T20:26:15+25:00',
    '2026-04-14T20:26:15+0200',
    '+2026-04-14T20:26:15Z',
    '2026-04-14T20:26:15Z ',
  ])('%s is rejected', (input) => {
    expect(parseGoRfc3339(input)).toBeNull()
  })
})

describe('parseGoQuery / goAtoi', () => {
  it('splits on &, decodes + and %XX, keeps the first value, drops bad pairs', () => {
    const q = parseGoQuery('a=1&a=2&b=x+y%2Bz&c&=v&d=%zz&e=1;2&&f=%C3%A9')
    expect(queryGet(q, 'a')).toBe('1')
    expect(queryGet(q, 'b')).toBe('x y+z')
    expect(queryGet(q, 'c')).toBe('')
    expect(q.has('c')).toBe(true)
    expect(queryGet(q, '')).toBe('v')
    expect(q.has('d')).toBe(false)
    expect(q.has('e')).toBe(false)
    expect(queryGet(q, 'f')).toBe('é')
  })

  it('more than 10,000 parameters: Go parses none of them', () => {
    expect(queryGet(parseGoQuery(`limit=5${'&'.repeat(9999)}`), 'limit')).toBe('5')
    expect(parseGoQuery(`limit=5${'&'.repeat(10_000)}`).size).toBe(0)
  })

  it('Atoi: sign, decimal digits, int64 range', () => {
    expect(goAtoi('42')).toBe(42n)
    expect(goAtoi('+7')).toBe(7n)
    expect(goAtoi('-007')).toBe(-7n)
    expect(goAtoi('9223372036854775807')).toBe(9223372036854775807n)
    expect(goAtoi('-9223372036854775808')).toBe(-9223372036854775808n)
    for (const bad of ['', '+', '1_000', ' 1', '1 ', '0x10', '1e3', '1.0', '9223372036854775808']) {
      expect(goAtoi(bad), bad).toBeNull()
    }
  })
})
