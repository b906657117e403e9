import { describe, expect, it } from 'vitest'
import { AgentAuthError, PROBLEM_CONTENT_TYPE, problemResponse } from '../../src/core/errors.js'

describe('AgentAuthError', () => {
  it('missing_token: 401 with a bare challenge (no error attribute)', () => {
    const e = new AgentAuthError('missing_token')
    expect(e.status).toBe(401)
    expect(e.statusCode).toBe(401)
    expect(e.expose).toBe(true)
    expect(e.headers['WWW-Authenticate']).toBe('Bearer realm="agentwrit"')
  })

  it('invalid_token: 401 with error and description', () => {
    const e = new AgentAuthError('invalid_token', { realm: 'orders', reason: 'expired' })
    expect(e.headers['WWW-Authenticate']).toBe(
      'Bearer realm="orders", error="invalid_token", error_description="token is invalid or expired"',
    )
    expect(e.reason).toBe('expired')
    expect(e.message).not.toContain('expired"')
  })

  it('invalid_request and invalid_scope_parameter: 400 invalid_request', () => {
    for (const code of ['invalid_request', 'invalid_scope_parameter'] as const) {
      const e = new AgentAuthError(code)
      expect(e.status).toBe(400)
      expect(e.headers['WWW-Authenticate']).toMatch(/^Bearer realm="agentwrit", error="invalid_request"/)
    }
  })

  it('insufficient_scope: 403 naming the concrete scopes', () => {
    const e = new AgentAuthError('insufficient_scope', {
      requiredScope: ['read:data:customer-7', 'write:data:x'],
    })
    expect(e.status).toBe(403)
    expect(e.headers['WWW-Authenticate']).toContain('error="insufficient_scope"')
    expect(e.headers['WWW-Authenticate']).toContain('scope="read:data:customer-7 write:data:x"')
    expect(e.toProblem('/customers/7').required_scope).toEqual(['read:data:customer-7', 'write:data:x'])
  })

  it('503s carry Retry-After and no challenge, and are not exposed', () => {
    for (const code of ['broker_unavailable', 'key_source_unavailable'] as const) {
      const e = new AgentAuthError(code, { retryAfterSeconds: 7 })
      expect(e.status).toBe(503)
      expect(e.expose).toBe(false)
      expect(e.headers['Retry-After']).toBe('7')
      expect(e.headers['WWW-Authenticate']).toBeUndefined()
    }
    expect(new AgentAuthError('broker_unavailable').headers['Retry-After']).toBe('5')
  })

  it('header values stay visible ASCII even for unicode or quotes in a scope', () => {
    const e = new AgentAuthError('insufficient_scope', { requiredScope: ['read:data:caf\u00e9"\\x'] })
    const h = e.headers['WWW-Authenticate']!
    expect(h).toMatch(/^[\x20-\x7e]+$/)
    expect(h).toContain('scope="read:data:caf%C3%A9\\"\\\\x"')
  })

  it('renders an RFC 7807 body shaped like the broker, instance without the query', () => {
    const e = new AgentAuthError('invalid_token')
    const r = problemResponse(e, '/customers/1?x=2')
    expect(r.status).toBe(401)
    expect(r.headers['Content-Type']).toBe(PROBLEM_CONTENT_TYPE)
    expect(Object.keys(JSON.parse(r.body))).toEqual([
      'type',
      'title',
      'status',
      'detail',
      'instance',
      'error_code',
    ])
    expect(JSON.parse(r.body)).toEqual({
      type: 'urn:agentwrit:error:invalid_token',
      title: 'Unauthorized',
      status: 401,
      detail: 'token is invalid or expired',
      instance: '/customers/1',
      error_code: 'invalid_token',
    })
  })

  it('keeps the cause for logs without exposing it', () => {
    const cause = new Error('ECONNREFUSED')
    const e = new AgentAuthError('broker_unavailable', { cause })
    expect(e.cause).toBe(cause)
    expect(JSON.stringify(e.toProblem())).not.toContain('ECONNREFUSED')
  })
})

describe('AgentAuthError.inRealm', () => {
  it('gives an error made without a realm the realm it leaves through, once', () => {
    const err = new AgentAuthError('invalid_token', { reason: 'expired' })
    expect(err.realm).toBe('agentwrit')
    expect(err.headers['WWW-Authenticate']).toMatch(/^Bearer realm="agentwrit", error="invalid_token"/)
    expect(err.inRealm('orders')).toBe(err)
    expect(err.realm).toBe('orders')
    expect(err.headers['WWW-Authenticate']).toMatch(/^Bearer realm="orders", error="invalid_token"/)
    expect(err.headers['Cache-Control']).toBe('no-store')
    expect(Object.isFrozen(err.headers)).toBe(true)
    // Stamped once: a second middleware does not rename it.
    expect(err.inRealm('other').realm).toBe('orders')
  })

  it('keeps an explicit realm and every other header', () => {
    const err = new AgentAuthError('insufficient_scope', { realm: 'shop', requiredScope: ['read:data:x'] })
    expect(err.inRealm('orders').headers['WWW-Authenticate']).toBe(
      'Bearer realm="shop", error="insufficient_scope", error_description="token lacks required scope", scope="read:data:x"',
    )
    const outage = new AgentAuthError('broker_unavailable', { retryAfterSeconds: 9 }).inRealm('orders')
    expect(outage.headers).toEqual({ 'Retry-After': '9', 'Cache-Control': 'no-store' })
  })

  it('the verifier stamps its realm on what leaves verifyToken and authenticate', async () => {
    const { createVerifier } = await import('../../src/index.js')
    const v = createVerifier({ broker: 'http://127.0.0.1:9', realm: 'billing' })
    await expect(v.verifyToken('a.b.c')).rejects.toMatchObject({
      headers: expect.objectContaining({
        'WWW-Authenticate': expect.stringMatching(/^Bearer realm="billing"/),
      }),
    })
    await expect(v.authenticate({ headers: {} })).rejects.toMatchObject({
      headers: { 'WWW-Authenticate': 'Bearer realm="billing"', 'Cache-Control': 'no-store' },
    })
    await v.close()
  })
})
