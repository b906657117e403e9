import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, manualClock } from './support.js'

describe('registration (contract §4.2, §4.3)', () => {
  const clock = manualClock()
  let broker: DevBroker
  let admin: string

  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now, maxTtl: 1000 })
    admin = await broker.adminToken()
  })
  afterAll(() => broker.close())

  async function launchToken(body: Record<string, unknown> = {}): Promise<string> {
    const res = await call(broker.url, 'POST', '/v1/admin/launch-tokens', {
      token: admin,
      body: { agent_name: 'worker', allowed_scope: ['read:data:*'], ...body },
    })
    expect(res.status).toBe(201)
    return res.json.launch_token
  }

  async function nonce(): Promise<string> {
    const res = await call(broker.url, 'GET', '/v1/challenge')
    expect(res.status).toBe(200)
    return res.json.nonce
  }

  function proof(n: string, key?: { privateKey: KeyObject; publicKey: KeyObject }) {
    const k = key ?? generateKeyPairSync('ed25519')
    const x = k.publicKey.export({ format: 'jwk' }).x as string
    return {
      public_key: Buffer.from(x, 'base64url').toString('base64'),
      signature: sign(null, Buffer.from(n, 'hex'), k.privateKey).toString('base64'),
    }
  }

  async function register(body: Record<string, unknown>) {
    return call(broker.url, 'POST', '/v1/register', { body })
  }

  async function fullBody(over: Record<string, unknown> = {}) {
    const n = await nonce()
    return {
      launch_token: await launchToken(),
      nonce: n,
      ...proof(n),
      orch_id: 'orch',
      task_id: 'task',
      requested_scope: ['read:data:customers'],
      ...over,
    }
  }

  it('challenge, launch token and register answer with the documented shapes', async () => {
    const ch = await call(broker.url, 'GET', '/v1/challenge')
    expect(ch.text).toMatch(/^\{"nonce":"[0-9a-f]{64}","expires_in":30\}\n$/)
    const lt = await call(broker.url, 'POST', '/v1/admin/launch-tokens', {
      token: admin,
      body: { agent_name: 'w', allowed_scope: ['read:data:*'], max_ttl: 600 },
    })
    expect(lt.status).toBe(201)
    expect(Object.keys(lt.json)).toEqual(['launch_token', 'expires_at', 'policy'])
    expect(lt.json.launch_token).toMatch(/^[0-9a-f]{64}$/)
    expect(lt.json.expires_at).toBe(new Date(clock.ms + 30_000).toISOString().replace('.000Z', 'Z'))
    expect(lt.json.policy).toEqual({ allowed_scope: ['read:data:*'], max_ttl: 600 })
    const n = ch.json.nonce
    const res = await register({
      launch_token: lt.json.launch_token,
      nonce: n,
      ...proof(n),
      orch_id: 'orch',
      task_id: 'task',
      requested_scope: ['read:data:customers'],
    })
    expect(res.status).toBe(200)
    expect(Object.keys(res.json)).toEqual(['agent_id', 'access_token', 'expires_in'])
    expect(res.json.agent_id).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch\/task\/[0-9a-f]{16}$/)
    expect(res.json.expires_in).toBe(600)
    expect(await broker.validate(res.json.access_token)).toMatchObject({ valid: true })
  })

  it('missing fields → 400 (requested_scope has its own message)', async () => {
    const body = await fullBody()
    for (const f of ['launch_token', 'nonce', 'public_key', 'signature', 'orch_id', 'task_id']) {
      const res = await register({ ...body, [f]: '' })
      expect(res.status, f).toBe(400)
      expect(res.json.detail).toBe('missing required field')
    }
    const res = await register({ ...body, requested_scope: [] })
    expect(res.json).toMatchObject({ status: 400, detail: 'missing required field: requested_scope' })
    expect((await register({ ...body, requested_scope: 'read:data:x' })).json.detail).toBe(
      'malformed JSON body',
    )
  })

  it('unknown launch token → 401; scope violation → 403 and the launch token stays usable', async () => {
    const body = await fullBody()
    const unknown = await register({ ...body, launch_token: 'ab'.repeat(32) })
    expect(unknown.json).toMatchObject({ status: 401, detail: 'launch token: launch token not found' })
    const wide = await register({ ...body, requested_scope: ['write:data:x'] })
    expect(wide.status).toBe(403)
    expect(wide.json).toMatchObject({
      error_code: 'scope_violation',
      detail: 'requested scope exceeds allowed scope',
    })
    expect((await register(body)).status).toBe(200) // neither the nonce nor the launch token was consumed
  })

  it('nonce: unknown, reused, expired', async () => {
    const body = await fullBody()
    expect((await register({ ...body, nonce: 'cd'.repeat(32) })).json.detail).toBe(
      'nonce: nonce not found or expired',
    )
    expect((await register(body)).status).toBe(200)
    const again = await register({ ...body, launch_token: await launchToken() })
    expect(again.json).toMatchObject({ status: 401, detail: 'nonce: nonce already consumed' })
    const late = await fullBody()
    clock.advance(30_001)
    const lateRes = await register({ ...late, launch_token: await launchToken() })
    expect(lateRes.json.detail).toBe('nonce: nonce not found or expired')
  })

  it('public key and signature errors burn the nonce', async () => {
    const body = await fullBody()
    const badB64 = await register({ ...body, public_key: 'not base64!' })
    expect(badB64.json).toMatchObject({
      status: 401,
      detail: 'invalid Ed25519 public key: base64 decode failed',
    })
    expect((await register(body)).json.detail).toBe('nonce: nonce already consumed')

    const b2 = await fullBody()
    const short = await register({ ...b2, public_key: Buffer.alloc(31).toString('base64') })
    expect(short.json.detail).toBe('invalid Ed25519 public key: wrong key size')

    const b3 = await fullBody()
    const sigB64 = await register({ ...b3, signature: '***' })
    expect(sigB64.json.detail).toBe('nonce signature verification failed: base64 decode failed')

    const b4 = await fullBody()
    const wrongKey = proof(b4.nonce) // signature by another key
    const bad = await register({ ...b4, signature: wrongKey.signature })
    expect(bad.json).toMatchObject({ status: 401, detail: 'nonce signature verification failed' })
    expect((await register(b4)).json.detail).toBe('nonce: nonce already consumed')
  })

  it('single-use launch token is consumed; single_use:false can register twice', async () => {
    const body = await fullBody()
    expect((await register(body)).status).toBe(200)
    const n = await nonce()
    const second = await register({ ...body, nonce: n, ...proof(n) })
    expect(second.json).toMatchObject({ status: 401, detail: 'launch token: launch token already consumed' })

    const multi = await launchToken({ single_use: false })
    for (let i = 0; i < 2; i++) {
      const m = await nonce()
      expect((await register({ ...body, launch_token: multi, nonce: m, ...proof(m) })).status).toBe(200)
    }
  })

  it('expired launch token → 401 launch token expired (ttl seconds)', async () => {
    const lt = await launchToken({ ttl: 5 })
    clock.advance(5_001)
    const n = await nonce()
    const res = await register({ ...(await fullBody()), launch_token: lt, nonce: n, ...proof(n) })
    expect(res.json.detail).toBe('launch token: launch token expired')
  })

  it('invalid SPIFFE segment → 500 registration failed AFTER consuming nonce and launch token', async () => {
    const body = await fullBody({ orch_id: 'a/b' })
    const res = await register(body)
    expect(res.status).toBe(500)
    expect(res.json).toMatchObject({ error_code: 'internal_error', detail: 'registration failed' })
    const n = await nonce()
    const retry = await register({ ...body, orch_id: 'ok', nonce: n, ...proof(n) })
    expect(retry.json.detail).toBe('launch token: launch token already consumed')
    const sameNonce = await register({ ...body, orch_id: 'ok', launch_token: await launchToken() })
    expect(sameNonce.json.detail).toBe('nonce: nonce already consumed')
    for (const seg of ['..', '.', 'sp ace', 'ü']) {
      expect((await register(await fullBody({ task_id: seg }))).status, seg).toBe(500)
    }
  })

  it('agent TTL = launch token max_ttl, clamped by maxTtl', async () => {
    const lt = await launchToken({ max_ttl: 5000 })
    const n = await nonce()
    const res = await register({ ...(await fullBody()), launch_token: lt, nonce: n, ...proof(n) })
    expect(res.json.expires_in).toBe(1000)
  })
})
