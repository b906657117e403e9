import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, MAX_BODY_BYTES, startDevBroker } from '../../src/testing/index.js'
import { call, PROBLEM_FIELDS } from './support.js'

const SECURITY = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
}

function securityHeaders(h: Headers): Record<string, string | null> {
  return Object.fromEntries(Object.keys(SECURITY).map((k) => [k, h.get(k)]))
}

describe('global HTTP behaviour (contract §1)', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(() => broker.close())

  it('binds 127.0.0.1 only', () => {
    expect(broker.url).toBe(`http://127.0.0.1:${broker.port}`)
    expect(broker.port).toBeGreaterThan(0)
  })

  it('unknown path → 404 text/plain "404 page not found", security headers, X-Request-ID', async () => {
    const res = await call(broker.url, 'GET', '/v1/nope?x=1')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.text).toBe('404 page not found\n')
    expect(securityHeaders(res.headers)).toEqual(SECURITY)
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/)
    for (const p of [
      '/v1/health/',
      '/v1/admin/apps/',
      '/v1/admin/apps/a/b',
      '/v1/audit/events/',
      '/v1/metrics',
      '/',
    ]) {
      expect((await call(broker.url, 'GET', p)).status, p).toBe(404)
    }
  })

  it('wrong method → 405 "Method Not Allowed" with a sorted Allow header', async () => {
    const res = await call(broker.url, 'GET', '/v1/token/validate')
    expect(res.status).toBe(405)
    expect(res.text).toBe('Method Not Allowed\n')
    expect(res.headers.get('allow')).toBe('POST')
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect((await call(broker.url, 'PATCH', '/v1/admin/apps/x')).headers.get('allow')).toBe(
      'DELETE, GET, PUT',
    )
    expect((await call(broker.url, 'DELETE', '/v1/admin/apps')).headers.get('allow')).toBe('GET, POST')
    expect((await call(broker.url, 'POST', '/v1/health')).headers.get('allow')).toBe('GET')
  })

  it('HEAD is served by GET routes without a body', async () => {
    const res = await fetch(`${broker.url}/v1/health`, { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('health: shape, compact JSON + newline, application/json', async () => {
    const res = await call(broker.url, 'GET', '/v1/health')
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.text).toMatch(
      /^\{"status":"ok","version":"2\.0\.0","uptime":\d+,"db_connected":true,"audit_events_count":\d+\}\n$/,
    )
    // audit_events_count is the size of the audit log (here at least the sample app's registration)
    expect(res.json.audit_events_count).toBe(broker.auditEvents().length)
    expect(res.json.audit_events_count).toBeGreaterThan(0)
  })

  it('X-Request-ID is reused verbatim and echoed into problem bodies', async () => {
    const res = await call(broker.url, 'POST', '/v1/token/validate', {
      body: {},
      headers: { 'X-Request-ID': 'abc 123' },
    })
    expect(res.headers.get('x-request-id')).toBe('abc 123')
    expect(Object.keys(res.json)).toEqual(PROBLEM_FIELDS)
    expect(res.json.request_id).toBe('abc 123')
  })

  it('body over 1 MiB → 413 problem without security headers, on any path', async () => {
    for (const path of ['/v1/token/validate', '/v1/unknown']) {
      const res = await call(broker.url, 'POST', path, { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) })
      expect(res.status).toBe(413)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.json).toMatchObject({
        type: 'urn:agentwrit:error:payload_too_large',
        title: 'Request Entity Too Large',
        status: 413,
        detail: 'request body must not exceed 1 MB',
        instance: path,
        error_code: 'payload_too_large',
      })
      expect(res.json.request_id).toBe(res.headers.get('x-request-id'))
      expect(securityHeaders(res.headers)).toEqual({
        'x-content-type-options': null,
        'cache-control': null,
        'x-frame-options': null,
      })
    }
    const exact = Buffer.concat([Buffer.from('{"token":""}'), Buffer.alloc(MAX_BODY_BYTES - 12, 0x20)])
    const res = await call(broker.url, 'POST', '/v1/token/validate', { body: exact })
    expect(res.json.detail).toBe('token field is required')
  })

  it('lenient decoding: unknown fields ignored, case-insensitive names, content type ignored, trailing data ignored', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const raw = `{"TOKEN":"${agent.accessToken}","extra":{"nested":[1,2]}} trailing garbage`
    const res = await call(broker.url, 'POST', '/v1/token/validate', {
      body: raw,
      headers: { 'Content-Type': 'text/xml' },
    })
    expect(res.json.valid).toBe(true)
  })

  it('response strings are HTML-escaped like Go (\\u003c, \\u003e, \\u0026)', async () => {
    const res = await call(broker.url, 'POST', '/v1/revoke', {
      token: await broker.adminToken(),
      body: { level: 'task', target: '<a&b>' },
    })
    expect(res.text).toBe('{"revoked":true,"level":"task","target":"\\u003ca\\u0026b\\u003e","count":1}\n')
  })

  it('Authorization: only the first header value counts (Go Header.Get)', async () => {
    const admin = await broker.adminToken()
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(broker.port, '127.0.0.1', () => {
        sock.write(
          `POST /v1/token/renew HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n` +
            'Authorization: Bearer junk\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        )
      })
      let data = ''
      sock.on('data', (c) => {
        data += c
      })
      sock.on('end', () => resolve(data))
      sock.on('error', reject)
    })
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true)
  })
})
