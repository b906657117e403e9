import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, SAMPLE_APP_SCOPES, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt, manualClock } from './support.js'

describe('admin auth (contract §4.10, §3)', () => {
  const clock = manualClock()
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now, adminSecret: 's3cret' })
  })
  afterAll(() => broker.close())

  const auth = (body: unknown, ip = '10.0.0.1') =>
    call(broker.url, 'POST', '/v1/admin/auth', { body, headers: { 'X-Forwarded-For': `${ip}, 10.9.9.9` } })

  it('success shape and errors', async () => {
    const ok = await auth({ secret: 's3cret' }, '10.0.0.2')
    expect(ok.status).toBe(200)
    expect(ok.text).toMatch(/^\{"access_token":"[^"]+","expires_in":300,"token_type":"Bearer"\}\n$/)
    expect(decodeJwt(ok.json.access_token).payload.sub).toBe('admin')
    expect((await auth({ secret: 'wrong' }, '10.0.0.2')).json).toMatchObject({
      status: 401,
      detail: 'invalid credentials',
    })
    expect((await auth({}, '10.0.0.2')).json).toMatchObject({ status: 400, detail: 'secret is required' })
    expect((await auth({ client_id: 'x', client_secret: 'y' }, '10.0.0.2')).json.detail).toBe(
      'Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret',
    )
    expect((await auth('{', '10.0.0.2')).json.detail).toBe('malformed JSON body')
  })

  it('rate limit: burst 10 per client IP (failures count), 429 Retry-After 1, refills at 5/s', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await auth(i % 2 ? { secret: 'wrong' } : 'garbage')).status).not.toBe(429)
    }
    const limited = await auth({ secret: 's3cret' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('1')
    expect(limited.json).toMatchObject({
      type: 'urn:agentwrit:error:rate_limited',
      title: 'Too Many Requests',
      detail: 'rate limit exceeded, try again later',
    })
    expect((await auth({ secret: 's3cret' }, '10.0.0.3')).status).toBe(200) // other IP, own bucket
    clock.advance(199)
    expect((await auth({ secret: 's3cret' })).status).toBe(429)
    clock.advance(1) // 200 ms = one token at 5/s
    expect((await auth({ secret: 's3cret' })).status).toBe(200)
    expect((await auth({ secret: 's3cret' })).status).toBe(429)
    expect(await broker.adminToken()).toMatch(/^ey/) // helper uses its own bucket
  })
})

describe('apps and app auth (contract §4.12, §4.13)', () => {
  const clock = manualClock()
  let broker: DevBroker
  let admin: string
  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now })
    admin = await broker.adminToken()
  })
  afterAll(() => broker.close())

  const req = (method: string, path: string, body?: unknown, token = admin) =>
    call(broker.url, method, path, { body, token })

  it('sample app is pre-registered with the documented ceiling', async () => {
    const app = broker.sampleApp!
    expect(app.appId).toMatch(/^app-sample-app-[0-9a-f]{6}$/)
    expect(app.clientId).toMatch(/^sa-[0-9a-f]{12}$/)
    expect(app.clientSecret).toMatch(/^[0-9a-f]{64}$/)
    expect(app.scopes).toEqual(SAMPLE_APP_SCOPES)
    const res = await req('GET', `/v1/admin/apps/${app.appId}`)
    expect(res.json).toMatchObject({
      name: 'sample-app',
      status: 'active',
      token_ttl: 1800,
      scopes: SAMPLE_APP_SCOPES,
    })
  })

  it('CRUD: create 201 (name and status empty), list, get, update, soft delete', async () => {
    const created = await req('POST', '/v1/admin/apps', { name: 'weather-bot', scopes: ['read:weather:*'] })
    expect(created.status).toBe(201)
    expect(Object.keys(created.json)).toEqual([
      'app_id',
      'name',
      'client_id',
      'client_secret',
      'scopes',
      'token_ttl',
      'status',
    ])
    expect(created.json).toMatchObject({ name: '', status: '', scopes: ['read:weather:*'], token_ttl: 1800 })
    expect(created.json.app_id).toMatch(/^app-weather-bot-[0-9a-f]{6}$/)
    expect(created.json.client_id).toMatch(/^wb-[0-9a-f]{12}$/)
    const id = created.json.app_id

    const list = await req('GET', '/v1/admin/apps')
    expect(list.json.total).toBe(2)
    expect(list.json.apps.map((a: { app_id: string }) => a.app_id)).toEqual([broker.sampleApp!.appId, id])

    const got = await req('GET', `/v1/admin/apps/${id}`)
    expect(Object.keys(got.json)).toEqual([
      'app_id',
      'name',
      'client_id',
      'scopes',
      'token_ttl',
      'status',
      'created_at',
      'updated_at',
    ])
    expect(got.json.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)

    clock.advance(5000)
    const updated = await req('PUT', `/v1/admin/apps/${id}`, {
      scopes: ['read:weather:current'],
      token_ttl: 600,
    })
    expect(updated.json).toMatchObject({ scopes: ['read:weather:current'], token_ttl: 600 })
    expect(updated.json.updated_at).not.toBe(updated.json.created_at)

    const appToken = (
      await call(broker.url, 'POST', '/v1/app/auth', {
        body: { client_id: created.json.client_id, client_secret: created.json.client_secret },
      })
    ).json
    expect(appToken.expires_in).toBe(600)

    const deleted = await req('DELETE', `/v1/admin/apps/${id}`)
    expect(deleted.status).toBe(200)
    expect(deleted.text).toMatch(
      /^\{"app_id":"[^"]+","name":"","client_id":"","scopes":null,"token_ttl":0,"status":"inactive","deregistered_at":"[^"]+Z"\}\n$/,
    )
    expect((await req('GET', `/v1/admin/apps/${id}`)).json.status).toBe('inactive')
    const login = await call(broker.url, 'POST', '/v1/app/auth', {
      body: { client_id: created.json.client_id, client_secret: created.json.client_secret },
    })
    expect(login.json).toMatchObject({ status: 401, detail: 'Authentication failed' })
    // already-issued app JWTs keep working, including on /v1/app/launch-tokens
    const lt = await req(
      'POST',
      '/v1/app/launch-tokens',
      { agent_name: 'w', allowed_scope: ['read:weather:current'] },
      appToken.access_token,
    )
    expect(lt.status).toBe(201)
  })

  it('CRUD validation errors', async () => {
    const cases: Array<[string, string, unknown, number, string, string?]> = [
      ['POST', '/v1/admin/apps', { scopes: ['a:b:c'] }, 400, 'name is required'],
      ['POST', '/v1/admin/apps', { name: 'ok-app' }, 400, 'scopes must not be empty'],
      [
        'POST',
        '/v1/admin/apps',
        { name: 'Bad_Name', scopes: ['a:b:c'] },
        400,
        'invalid app name: must be lowercase letters, digits, and hyphens',
      ],
      [
        'POST',
        '/v1/admin/apps',
        { name: 'ok-app', scopes: ['a:b'] },
        400,
        'invalid scope format: use action:resource:identifier',
      ],
      [
        'POST',
        '/v1/admin/apps',
        { name: 'ok-app', scopes: ['a:b:c'], token_ttl: 0 },
        400,
        'invalid token TTL: must be between 60 and 86400 seconds, got 0',
        'invalid_ttl',
      ],
      [
        'POST',
        '/v1/admin/apps',
        { name: 'ok-app', scopes: ['a:b:c'], token_ttl: 30 },
        400,
        'invalid token TTL: must be between 60 and 86400 seconds, got 30',
        'invalid_ttl',
      ],
      ['GET', '/v1/admin/apps/app-nope', undefined, 404, 'app not found', 'not_found'],
      ['PUT', '/v1/admin/apps/app-nope', {}, 400, 'at least one of scopes or token_ttl must be provided'],
      ['PUT', '/v1/admin/apps/app-nope', { scopes: ['a:b:c'] }, 404, 'app not found', 'not_found'],
      [
        'PUT',
        '/v1/admin/apps/app-nope',
        { token_ttl: 10 },
        400,
        'invalid token TTL: must be between 60 and 86400 seconds, got 10',
        'invalid_ttl',
      ],
      ['DELETE', '/v1/admin/apps/app-nope', undefined, 404, 'app not found', 'not_found'],
    ]
    for (const [method, path, body, status, detail, code = 'invalid_request'] of cases) {
      const res = await req(method, path, body)
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status)
      expect(res.json).toMatchObject({ detail, error_code: code })
    }
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    expect((await req('GET', '/v1/admin/apps', undefined, agent.accessToken)).json.detail).toBe(
      'token lacks required scope: admin:launch-tokens:*',
    )
  })

  it('app auth: shape, errors, rate limit burst 3 per client_id with Retry-After 60', async () => {
    const created = (await req('POST', '/v1/admin/apps', { name: 'limiter', scopes: ['read:x:*'] })).json
    const auth = (body: unknown) => call(broker.url, 'POST', '/v1/app/auth', { body })
    const good = { client_id: created.client_id, client_secret: created.client_secret }
    const ok = await auth(good)
    expect(ok.text).toMatch(
      /^\{"access_token":"[^"]+","expires_in":1800,"token_type":"Bearer","scopes":\["app:launch-tokens:\*","app:agents:\*","app:audit:read"\]\}\n$/,
    )
    expect((await auth({ ...good, client_secret: 'x' })).json.detail).toBe('Authentication failed')
    expect((await auth({ ...good, client_secret: 'x' })).status).toBe(401)
    const limited = await auth(good)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('60')
    expect(limited.json.detail).toBe('rate limit exceeded, try again later')
    expect((await auth({ client_id: 'someone-else', client_secret: 'x' })).status).toBe(401) // own bucket
    clock.advance(6000) // 10/min = one token every 6 s
    expect((await auth(good)).status).toBe(200)
    expect((await auth(good)).status).toBe(429)
    expect((await auth({ client_id: '', client_secret: '' })).json.detail).toBe(
      'client_id and client_secret are required',
    )
  })

  it('launch tokens: app ceiling, route scopes, required fields, defaults', async () => {
    const app = broker.sampleApp!
    const appToken = (
      await call(broker.url, 'POST', '/v1/app/auth', {
        body: { client_id: app.clientId, client_secret: app.clientSecret },
      })
    ).json.access_token
    const lt = (body: unknown, token: string, path = '/v1/app/launch-tokens') =>
      req('POST', path, body, token)
    const over = await lt({ agent_name: 'x', allowed_scope: ['read:data:*', 'admin:revoke:*'] }, appToken)
    expect(over.status).toBe(403)
    expect(over.json).toMatchObject({
      error_code: 'forbidden',
      detail: `requested scopes exceed app ceiling; allowed: [${SAMPLE_APP_SCOPES.join(' ')}]`,
    })
    const ok = await lt({ agent_name: 'x', allowed_scope: ['read:data:customers'] }, appToken)
    expect(ok.status).toBe(201)
    expect(ok.json.policy).toEqual({ allowed_scope: ['read:data:customers'], max_ttl: 300 })
    expect((await lt({ agent_name: 'x', allowed_scope: ['read:data:x'] }, admin)).json.detail).toBe(
      'token lacks required scope: app:launch-tokens:*',
    )
    expect(
      (await lt({ agent_name: 'x', allowed_scope: ['read:data:x'] }, appToken, '/v1/admin/launch-tokens'))
        .json.detail,
    ).toBe('token lacks required scope: admin:launch-tokens:*')
    expect((await lt({ allowed_scope: ['read:data:x'] }, admin, '/v1/admin/launch-tokens')).json.detail).toBe(
      'agent_name is required',
    )
    expect((await lt({ agent_name: 'x', allowed_scope: [] }, appToken)).json.detail).toBe(
      'allowed_scope must not be empty',
    )
    // admin launch tokens are not format-checked nor ceiling-bound
    expect(
      (await lt({ agent_name: 'x', allowed_scope: ['anything'] }, admin, '/v1/admin/launch-tokens')).status,
    ).toBe(201)
  })
})
