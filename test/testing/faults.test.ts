import { get } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call } from './support.js'

function causeCode(e: unknown): string | undefined {
  let c: unknown = e
  for (let i = 0; i < 5 && c; i++) {
    const code = (c as { code?: string }).code
    if (typeof code === 'string') return code
    c = (c as { cause?: unknown }).cause
  }
  return undefined
}

describe('faults, stop/restart and stats', () => {
  let broker: DevBroker
  let token: string
  const validate = (init: RequestInit = {}) =>
    fetch(`${broker.url}/v1/token/validate`, { method: 'POST', body: JSON.stringify({ token }), ...init })

  beforeAll(async () => {
    broker = await startDevBroker()
    token = (await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })).accessToken
  })
  afterAll(() => broker.close())

  it('stats count validate calls (faulted ones included) and requests per path; resetStats zeroes them', async () => {
    broker.resetStats()
    await validate()
    await call(broker.url, 'GET', '/v1/health')
    await call(broker.url, 'GET', '/v1/health')
    broker.fault({ kind: 'status', status: 503 })
    await validate()
    broker.fault(null)
    expect(broker.stats).toEqual({ validateCalls: 2, requests: { '/v1/token/validate': 2, '/v1/health': 2 } })
    broker.resetStats()
    expect(broker.stats).toEqual({ validateCalls: 0, requests: {} })
  })

  it('down (default paths): validate connections are reset, other endpoints and helpers still work', async () => {
    broker.resetStats()
    broker.fault({ kind: 'down' })
    await expect(validate()).rejects.toThrow(TypeError)
    expect((await call(broker.url, 'GET', '/v1/health')).status).toBe(200)
    expect(await broker.adminToken()).toMatch(/^ey/)
    expect(broker.stats.validateCalls).toBe(1)
    broker.fault(null)
    expect((await validate()).status).toBe(200)
  })

  it("down with paths '*': every connection is dropped until cleared", async () => {
    broker.fault({ kind: 'down', paths: '*' })
    await expect(fetch(`${broker.url}/v1/health`)).rejects.toThrow(TypeError)
    await expect(broker.validate(token)).rejects.toThrow(/no response/)
    broker.fault(null)
    expect((await call(broker.url, 'GET', '/v1/health')).status).toBe(200)
  })

  it('slow: responses on the fault paths are delayed, others are not', async () => {
    broker.fault({ kind: 'slow', delayMs: 500 })
    let t = performance.now()
    const res = await validate()
    expect(performance.now() - t).toBeGreaterThanOrEqual(490)
    expect(((await res.json()) as { valid: boolean }).valid).toBe(true)
    t = performance.now()
    await call(broker.url, 'GET', '/v1/health')
    expect(performance.now() - t).toBeLessThan(400)
    broker.fault(null)
  })

  it('hang: no answer until the client gives up', async () => {
    broker.fault({ kind: 'hang' })
    await expect(validate({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
      name: 'TimeoutError',
    })
    broker.fault(null)
    expect((await validate()).status).toBe(200)
  })

  it('status / garbage / json answers', async () => {
    broker.fault({ kind: 'status', status: 502 })
    let res = await validate()
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await res.text()).toBe('502 Bad Gateway\n')
    broker.fault({ kind: 'garbage' })
    res = await validate()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await res.text()).toMatch(/^<!DOCTYPE html>/)
    broker.fault({ kind: 'json', body: { valid: true } })
    res = await validate()
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ valid: true })
    broker.fault(null)
  })

  it('paths option limits a fault to the listed paths', async () => {
    broker.fault({ kind: 'status', status: 500, paths: ['/v1/health'] })
    expect((await call(broker.url, 'GET', '/v1/health')).status).toBe(500)
    expect((await validate()).status).toBe(200)
    broker.fault(null)
  })

  it('invalid fault modes are a TypeError', () => {
    expect(() => broker.fault({ kind: 'status', status: 418 as 500 })).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'slow', delayMs: -1 })).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'nope' } as never)).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'down', paths: ['no-slash'] })).toThrow(TypeError)
  })

  it('stop → connection refused; restart → same port, state kept', async () => {
    const url = broker.url
    await broker.stop()
    // a fresh connection (pooled keep-alive sockets were reset by stop())
    const err = await new Promise((resolve) => {
      get(`${url}/v1/health`, { agent: false }, (res) => resolve(res.statusCode)).on('error', resolve)
    })
    expect(causeCode(err)).toBe('ECONNREFUSED')
    await broker.restart()
    expect(broker.url).toBe(url)
    const res = await validate()
    expect(((await res.json()) as { valid: boolean }).valid).toBe(true) // same key, tokens still valid
    const child = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    expect(child.agentId).toMatch(/^spiffe:/)
  })

  it('stop/close also end hanging and slow requests', async () => {
    broker.fault({ kind: 'hang' })
    const hanging = validate().catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 50)) // a fault applies when the request arrives
    broker.fault({ kind: 'slow', delayMs: 60_000, paths: ['/v1/health'] })
    const slow = fetch(`${broker.url}/v1/health`).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 50))
    await broker.stop()
    expect(await hanging).toBeInstanceOf(TypeError)
    expect(await slow).toBeInstanceOf(TypeError)
    broker.fault(null)
    await broker.restart()
  })
})

describe('close', () => {
  it('is idempotent and restart after close is an error', async () => {
    const broker = await startDevBroker({ sampleApp: false })
    await broker.close()
    await broker.close()
    await expect(broker.restart()).rejects.toThrow(/after close/)
  })
})
