import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type DevBroker, type RequestLogLine, startDevBroker } from '../../src/testing/index.js'
import { formatRequestLogLine } from '../../src/testing/request-log.js'
import { bearer, payloadOf, segments } from '../helpers/tokens.js'
import { call } from './support.js'

const ADMIN_SECRET = 'request-log-admin-secret'

describe('dev broker requestLog', () => {
  let broker: DevBroker
  const lines: RequestLogLine[] = []

  /** The lines logged from now on, once `n` of them are there. */
  async function nextLines(n: number, act: () => Promise<unknown>): Promise<RequestLogLine[]> {
    const from = lines.length
    await act()
    await vi.waitFor(() => expect(lines.length - from).toBeGreaterThanOrEqual(n), { timeout: 1000 })
    await new Promise((resolve) => setTimeout(resolve, 20)) // … and no more than `n`
    return lines.slice(from)
  }

  beforeAll(async () => {
    broker = await startDevBroker({ adminSecret: ADMIN_SECRET, requestLog: (l) => lines.push(l) })
  })
  afterAll(() => broker.close())

  it('one line per request: method, decoded path, status, event; no token, secret or query in any line', async () => {
    let token = ''
    const registration = await nextLines(4, async () => {
      token = (await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:x'] })).accessToken
    })
    expect(registration.map((l) => [l.method, l.path, l.status])).toEqual([
      ['POST', '/v1/app/auth', 200],
      ['POST', '/v1/app/launch-tokens', 201],
      ['GET', '/v1/challenge', 200],
      ['POST', '/v1/register', 200],
    ])

    let answer: Awaited<ReturnType<typeof call>> | undefined
    const [valid] = await nextLines(1, async () => {
      answer = await call(broker.url, 'POST', '/v1/token/validate', { body: { token } })
    })
    expect(valid).toMatchObject({ method: 'POST', path: '/v1/token/validate', status: 200, event: 'valid' })
    expect(valid?.requestId).toBe(answer?.headers.get('x-request-id'))
    expect(valid?.bytes).toBe(Number(answer?.headers.get('content-length')))
    expect(valid?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

    const jti = payloadOf(token).jti as string
    const revocation = await nextLines(2, () => broker.revoke('token', jti))
    expect(revocation.map((l) => [l.path, l.status, l.event])).toEqual([
      ['/v1/admin/auth', 200, undefined],
      ['/v1/revoke', 200, 'token'],
    ])
    const [invalid] = await nextLines(1, async () => {
      expect((await broker.validate(token)).valid).toBe(false)
    })
    expect(invalid).toMatchObject({ path: '/v1/token/validate', status: 200, event: 'invalid' })

    // a token in the query and in the Authorization header, and an encoded path
    const query = `access_token=${token}&secret=${ADMIN_SECRET}`
    const [health, renew, validateQ, encoded] = await nextLines(4, async () => {
      await call(broker.url, 'GET', `/v1/health?${query}`, { headers: bearer(token) })
      await call(broker.url, 'POST', `/v1/token/renew?${query}`, { token })
      await call(broker.url, 'POST', `/v1/token/validate?token=${token}`, { body: { token } })
      await call(broker.url, 'GET', `/v1/heal%74h?${query}`, { token })
    })
    expect(health).toMatchObject({ method: 'GET', path: '/v1/health', status: 200 })
    expect(health?.event).toBeUndefined()
    expect(renew).toMatchObject({ method: 'POST', path: '/v1/token/renew', status: 401 })
    expect(validateQ).toMatchObject({ path: '/v1/token/validate', status: 200, event: 'invalid' })
    expect(encoded).toMatchObject({ path: '/v1/health', status: 200 })

    const all = JSON.stringify(lines)
    const secrets = [token, ...segments(token), jti, ADMIN_SECRET, broker.sampleApp?.clientSecret as string]
    for (const s of secrets) expect(all).not.toContain(s)
    expect(all).not.toContain('?')
    expect(all).not.toContain('access_token')
    expect(all).not.toContain('Bearer')
    for (const l of lines) {
      expect(
        Object.keys(l).every((k) =>
          /^(time|requestId|method|path|status|durationMs|bytes|fault|event)$/.test(k),
        ),
      ).toBe(true)
      expect(Math.round(l.durationMs * 10) / 10).toBe(l.durationMs)
    }
  })

  it('faults: down and hang log status 0 with the fault (hang when the client gives up), status faults their code', async () => {
    try {
      broker.fault({ kind: 'down' })
      const [down] = await nextLines(1, () =>
        call(broker.url, 'POST', '/v1/token/validate', { body: { token: 'x' } }).catch(() => undefined),
      )
      expect(down).toMatchObject({ path: '/v1/token/validate', status: 0, fault: 'down' })
      expect(down?.bytes).toBeUndefined()

      broker.fault({ kind: 'status', status: 503 })
      const [status] = await nextLines(1, () => call(broker.url, 'POST', '/v1/token/validate', { body: {} }))
      expect(status).toMatchObject({ status: 503, fault: 'status' })
      expect(status?.event).toBeUndefined()

      broker.fault({ kind: 'hang' })
      const [hang] = await nextLines(1, () =>
        fetch(`${broker.url}/v1/token/validate`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(150),
        }).catch(() => undefined),
      )
      expect(hang).toMatchObject({ status: 0, fault: 'hang' })
      expect(hang?.durationMs).toBeGreaterThanOrEqual(100)
    } finally {
      broker.fault(null)
    }
  })

  it('keeps the client X-Request-ID; a throwing sink does not break the broker; requestLog is checked', async () => {
    const [line] = await nextLines(1, () =>
      call(broker.url, 'GET', '/v1/health', { headers: { 'X-Request-ID': 'req-42' } }),
    )
    expect(line?.requestId).toBe('req-42')

    const throwing = await startDevBroker({
      requestLog: () => {
        throw new Error('sink failed')
      },
    })
    try {
      expect((await call(throwing.url, 'GET', '/v1/health')).status).toBe(200)
      expect((await call(throwing.url, 'GET', '/v1/health')).status).toBe(200)
    } finally {
      await throwing.close()
    }
    await expect(
      startDevBroker({ requestLog: 'stderr' as unknown as (l: RequestLogLine) => void }),
    ).rejects.toThrow(TypeError)
  })
})

describe('formatRequestLogLine', () => {
  it('prints one human line: status 0 as -, control characters escaped', () => {
    const base = { time: '2026-12-02T04:20:00.123Z', requestId: '7f3a09c1d2e4b5a6', method: 'POST' }
    expect(
      formatRequestLogLine({
        ...base,
        path: '/v1/token/validate',
        status: 200,
        durationMs: 1.2,
        bytes: 57,
        event: 'valid',
      }),
    ).toBe('2026-12-02T04:20:00.123Z 7f3a09c1d2e4b5a6 POST /v1/token/validate 200 1.2ms 57B valid')
    expect(formatRequestLogLine({ ...base, path: '/a\nb', status: 0, durationMs: 3, fault: 'hang' })).toBe(
      '2026-12-02T04:20:00.123Z 7f3a09c1d2e4b5a6 POST /a\\nb - 3ms fault=hang',
    )
  })
})
