/**
 * Who writes which audit event (contract §4.9 table; Go `internal/handler/*`, `internal/authz/val_mw.go`,
 * `internal/identity/id_svc.go`, `internal/deleg/deleg_svc.go`, `internal/admin/*`, `internal/app/*`):
 * one test per writer, each driving the dev broker over real HTTP and reading the events it recorded.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AuditEvent, type DevBroker, MAX_BODY_BYTES, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt, manualClock } from './support.js'

/** Events recorded from now on: `const take = mark(broker); …; take()`. */
function mark(broker: DevBroker): () => AuditEvent[] {
  const n = broker.auditEvents().length
  return () => broker.auditEvents().slice(n)
}

/** The event without its id, timestamp and hashes (checked elsewhere). */
function body(e: AuditEvent | undefined): Record<string, unknown> {
  if (e === undefined) return {}
  const { id: _i, timestamp: _t, hash: _h, prev_hash: _p, ...rest } = e
  return rest
}

const bodies = (events: AuditEvent[]) => events.map(body)

describe('audit writers', () => {
  let broker: DevBroker
  let admin: string
  const adminCall = (method: string, path: string, b?: unknown) =>
    call(broker.url, method, path, { token: admin, body: b })

  beforeAll(async () => {
    broker = await startDevBroker()
    admin = await broker.adminToken()
    await broker.createAgent({ orchId: 'warm', taskId: 'up', scope: ['read:data:*'] }) // caches the app token
  })
  afterAll(() => broker.close())

  it('the pre-registered sample app is the first event (app_registered)', () => {
    const [first] = broker.auditEvents()
    const app = broker.sampleApp!
    expect(first?.id).toBe('evt-000001')
    expect(body(first)).toEqual({
      event_type: 'app_registered',
      detail: `app=sample-app client_id=${app.clientId} scopes=[${app.scopes.join(' ')}] token_ttl=1800`,
      outcome: 'success',
    })
  })

  it('POST /v1/revoke → token_revoked, agent_id = the target at every level; refusals record nothing', async () => {
    for (const [level, target] of [
      ['token', '0123456789abcdef0123456789abcdef'],
      ['agent', 'spiffe://agentwrit.local/agent/o/t/0000000000000000'],
      ['task', 'task-77'],
      ['chain', 'root-agent'],
    ] as const) {
      const take = mark(broker)
      expect((await adminCall('POST', '/v1/revoke', { level, target })).status).toBe(200)
      const evs = take()
      expect(bodies(evs)).toEqual([
        {
          event_type: 'token_revoked',
          agent_id: target,
          detail: `revoked at level=${level} target=${target}`,
          outcome: 'success',
        },
      ])
      expect(Object.keys(evs[0] as AuditEvent)).toEqual([
        'id',
        'timestamp',
        'event_type',
        'agent_id',
        'detail',
        'outcome',
        'hash',
        'prev_hash',
      ])
    }
    const take = mark(broker)
    expect((await adminCall('POST', '/v1/revoke', { level: 'nope', target: 'x' })).status).toBe(400)
    expect((await adminCall('POST', '/v1/revoke', { level: 'token' })).status).toBe(400)
    expect((await adminCall('POST', '/v1/revoke', '{')).status).toBe(400)
    expect(take()).toEqual([])
  })

  it('POST /v1/token/release → token_released (no token_revoked); a second release → token_auth_failed', async () => {
    const agent = await broker.createAgent({ orchId: 'orc', taskId: 'rel', scope: ['read:data:*'] })
    const jti = decodeJwt(agent.accessToken).payload.jti
    const take = mark(broker)
    await broker.release(agent.accessToken)
    expect(bodies(take())).toEqual([
      {
        event_type: 'token_released',
        agent_id: agent.agentId,
        task_id: 'rel',
        orch_id: 'orc',
        detail: `token released | jti=${jti}`,
        outcome: 'success',
      },
    ])
    const again = mark(broker)
    const res = await call(broker.url, 'POST', '/v1/token/release', { token: agent.accessToken })
    expect(res.status).toBe(401)
    expect(bodies(again())).toEqual([
      {
        event_type: 'token_auth_failed',
        detail: 'token verification failed: token has been revoked | path=/v1/token/release',
        resource: '/v1/token/release',
        outcome: 'denied',
      },
    ])
  })

  it('POST /v1/token/renew → token_renewed naming the new jti only; the old jti leaves no trace', async () => {
    const agent = await broker.createAgent({ orchId: 'orc', taskId: 'ren', scope: ['read:data:*'] })
    const oldJti = decodeJwt(agent.accessToken).payload.jti
    const take = mark(broker)
    const renewed = await broker.renew(agent.accessToken)
    const newJti = decodeJwt(renewed.accessToken).payload.jti
    const evs = take()
    expect(bodies(evs)).toEqual([
      {
        event_type: 'token_renewed',
        agent_id: agent.agentId,
        task_id: 'ren',
        orch_id: 'orc',
        detail: `token renewed for agent=${agent.agentId} new_jti=${newJti}`,
        outcome: 'success',
      },
    ])
    expect(JSON.stringify(evs)).not.toContain(oldJti)
    expect(broker.auditEvents({ event_type: 'token_revoked', agent_id: oldJti })).toEqual([])
    expect((await broker.validate(agent.accessToken)).valid).toBe(false) // yet it is revoked
  })

  it('POST /v1/delegate → delegation_created with deleg_depth and deleg_chain_hash, per hop', async () => {
    const a = await broker.createAgent({ orchId: 'orc', taskId: 'del-a', scope: ['read:data:*'] })
    const b = await broker.createAgent({ orchId: 'orc2', taskId: 'del-b', scope: ['read:data:*'] })
    const take = mark(broker)
    const d1 = await broker.delegate(a.accessToken, { to: b.agentId, scope: ['read:data:x', 'read:data:y'] })
    const d2 = await broker.delegate(d1.accessToken, { to: a.agentId, scope: ['read:data:x'] })
    const evs = take()
    expect(bodies(evs)).toEqual([
      {
        event_type: 'delegation_created',
        agent_id: b.agentId,
        task_id: 'del-a',
        orch_id: 'orc',
        detail: `delegation from ${a.agentId} to ${b.agentId} scope=[read:data:x read:data:y] depth=1`,
        outcome: 'success',
        deleg_depth: 1,
        deleg_chain_hash: decodeJwt(d1.accessToken).payload.chain_hash,
      },
      {
        event_type: 'delegation_created',
        agent_id: a.agentId,
        task_id: 'del-a', // the delegator's (a delegated token carries the first delegator's task)
        orch_id: 'orc',
        detail: `delegation from ${b.agentId} to ${a.agentId} scope=[read:data:x] depth=2`,
        outcome: 'success',
        deleg_depth: 2,
        deleg_chain_hash: decodeJwt(d2.accessToken).payload.chain_hash,
      },
    ])
    expect(Object.keys(evs[0] as AuditEvent)).toEqual([
      'id',
      'timestamp',
      'event_type',
      'agent_id',
      'task_id',
      'orch_id',
      'detail',
      'outcome',
      'deleg_depth',
      'deleg_chain_hash',
      'hash',
      'prev_hash',
    ])
  })

  it('delegation widening → delegation_attenuation_violation (deleg_depth = current depth); other refusals nothing', async () => {
    const a = await broker.createAgent({ orchId: 'orc', taskId: 'att', scope: ['read:data:*'] })
    const take = mark(broker)
    const wide = await call(broker.url, 'POST', '/v1/delegate', {
      token: a.accessToken,
      body: { delegate_to: a.agentId, scope: ['write:data:x'] },
    })
    expect([wide.status, wide.json.detail]).toEqual([403, 'delegated scope exceeds delegator scope'])
    const d1 = await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:x'] })
    const wide2 = await call(broker.url, 'POST', '/v1/delegate', {
      token: d1.accessToken,
      body: { delegate_to: a.agentId, scope: ['read:data:x', 'read:data:y'] },
    })
    expect(wide2.status).toBe(403)
    const evs = take()
    expect(bodies([evs[0] as AuditEvent, evs[2] as AuditEvent])).toEqual([
      {
        event_type: 'delegation_attenuation_violation',
        agent_id: a.agentId,
        task_id: 'att',
        orch_id: 'orc',
        detail: `delegation_attenuation_violation | delegator=${a.agentId} | target=${a.agentId} | requested=[write:data:x] | allowed=[read:data:*]`,
        outcome: 'denied',
      },
      {
        event_type: 'delegation_attenuation_violation',
        agent_id: a.agentId,
        task_id: 'att',
        orch_id: 'orc',
        detail: `delegation_attenuation_violation | delegator=${a.agentId} | target=${a.agentId} | requested=[read:data:x read:data:y] | allowed=[read:data:x]`,
        outcome: 'denied',
        deleg_depth: 1,
      },
    ])
    // depth limit, unknown delegate, missing fields: no event
    let tok = d1.accessToken
    for (let i = 0; i < 4; i++)
      tok = (await broker.delegate(tok, { to: a.agentId, scope: ['read:data:x'] })).accessToken
    const quiet = mark(broker)
    const deep = await call(broker.url, 'POST', '/v1/delegate', {
      token: tok,
      body: { delegate_to: a.agentId, scope: ['read:data:x'] },
    })
    expect([deep.status, deep.json.detail]).toEqual([403, 'delegation depth limit exceeded'])
    const nobody = await call(broker.url, 'POST', '/v1/delegate', {
      token: a.accessToken,
      body: { delegate_to: 'spiffe://agentwrit.local/agent/x/y/z', scope: ['read:data:x'] },
    })
    expect(nobody.status).toBe(404)
    const missing = await call(broker.url, 'POST', '/v1/delegate', { token: a.accessToken, body: {} })
    expect(missing.status).toBe(500)
    expect(quiet()).toEqual([])
  })

  it('POST /v1/register (app launch token) → launch_token_issued, agent_registered, token_issued with app_id', async () => {
    const app = broker.sampleApp!
    const take = mark(broker)
    const agent = await broker.createAgent({
      orchId: 'orc',
      taskId: 'reg',
      scope: ['read:data:*'],
      maxTtl: 120,
    })
    const jti = decodeJwt(agent.accessToken).payload.jti
    const who = { agent_id: agent.agentId, task_id: 'reg', orch_id: 'orc', outcome: 'success' }
    expect(bodies(take())).toEqual([
      {
        event_type: 'launch_token_issued',
        detail: `launch token issued for agent=reg scope=[read:data:*] max_ttl=120 created_by=app:${app.appId} app_id=${app.appId}`,
        outcome: 'success',
      },
      {
        event_type: 'agent_registered',
        ...who,
        detail: `Agent registered with scope [read:data:*] app_id=${app.appId}`,
      },
      { event_type: 'token_issued', ...who, detail: `Token issued, jti=${jti}, ttl=120 app_id=${app.appId}` },
    ])
  })

  it('POST /v1/register (admin launch token) → no app_id; ttl is the launch max_ttl before the AA_MAX_TTL clamp', async () => {
    const b = await startDevBroker({ maxTtl: 100, sampleApp: false })
    try {
      await b.adminToken()
      const take = mark(b)
      const agent = await b.createAgent({ orchId: 'o', taskId: 't', scope: ['read:secret:x', 'write:x:y'] })
      expect(agent.expiresIn).toBe(100)
      const jti = decodeJwt(agent.accessToken).payload.jti
      expect(bodies(take())).toEqual([
        {
          event_type: 'launch_token_issued',
          detail:
            'launch token issued for agent=t scope=[read:secret:x write:x:y] max_ttl=300 created_by=admin',
          outcome: 'success',
        },
        {
          event_type: 'agent_registered',
          agent_id: agent.agentId,
          task_id: 't',
          orch_id: 'o',
          detail: 'Agent registered with scope [read:secret:x write:x:y]', // "secret" but no separator: kept
          outcome: 'success',
        },
        {
          event_type: 'token_issued',
          agent_id: agent.agentId,
          task_id: 't',
          orch_id: 'o',
          detail: `Token issued, jti=${jti}, ttl=300`,
          outcome: 'success',
        },
      ])
    } finally {
      await b.close()
    }
  })

  it('sanitising bites real details: a "secret" scope redacts the app_id of agent_registered', async () => {
    const b = await startDevBroker()
    try {
      const appId = b.sampleApp!.appId
      const token = await b.adminToken()
      const take = mark(b)
      const put = await call(b.url, 'PUT', `/v1/admin/apps/${appId}`, {
        token,
        body: { scopes: ['read:secret:*'] },
      })
      expect(put.status).toBe(200)
      const agent = await b.createAgent({ orchId: 'o', taskId: 't', scope: ['read:secret:x'] })
      const evs = take()
      expect(evs.map((e) => [e.event_type, e.detail])).toEqual([
        ['app_updated', `app_id=${appId} scopes=[read:secret:*] updated_by=admin`],
        ['app_authenticated', `client_id=${b.sampleApp!.clientId} app_id=${appId}`],
        [
          'launch_token_issued',
          `launch token issued for agent=t scope=[read:secret:x] max_ttl=300 created_by=app:${appId} app_id=${appId}`,
        ],
        ['agent_registered', 'Agent registered with scope [read:secret:x] app_id=***REDACTED***'],
        [
          'token_issued',
          `Token issued, jti=${decodeJwt(agent.accessToken).payload.jti}, ttl=300 app_id=${appId}`,
        ],
      ])
    } finally {
      await b.close()
    }
  })

  it('register beyond the launch token → registration_policy_violation (task/orch from the request)', async () => {
    const lt = await adminCall('POST', '/v1/admin/launch-tokens', {
      agent_name: 'w',
      allowed_scope: ['read:data:x'],
    })
    const take = mark(broker)
    const res = await call(broker.url, 'POST', '/v1/register', {
      body: {
        launch_token: lt.json.launch_token,
        nonce: 'n',
        public_key: 'k',
        signature: 's',
        orch_id: 'orch-v',
        task_id: 'task-v',
        requested_scope: ['read:data:*'],
      },
    })
    expect([res.status, res.json.detail]).toEqual([403, 'requested scope exceeds allowed scope'])
    expect(bodies(take())).toEqual([
      {
        event_type: 'registration_policy_violation',
        task_id: 'task-v',
        orch_id: 'orch-v',
        detail: 'scope violation: requested [read:data:*] exceeds allowed [read:data:x]',
        outcome: 'denied',
      },
    ])
    // other registration failures record nothing
    const quiet = mark(broker)
    const ch = await call(broker.url, 'GET', '/v1/challenge')
    const k = generateKeyPairSync('ed25519')
    const bad = await call(broker.url, 'POST', '/v1/register', {
      body: {
        launch_token: lt.json.launch_token,
        nonce: ch.json.nonce,
        public_key: Buffer.from(k.publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString(
          'base64',
        ),
        signature: sign(null, Buffer.from('00', 'hex'), k.privateKey).toString('base64'),
        orch_id: 'o',
        task_id: 't',
        requested_scope: ['read:data:x'],
      },
    })
    expect([bad.status, bad.json.detail]).toEqual([401, 'nonce signature verification failed'])
    expect((await call(broker.url, 'POST', '/v1/register', { body: {} })).status).toBe(400)
    expect(quiet()).toEqual([])
  })

  it('POST /v1/admin/auth → admin_auth / admin_auth_failed; 400s record nothing', async () => {
    const ip = { 'X-Forwarded-For': 'admin-auth-test' }
    const take = mark(broker)
    const ok = await call(broker.url, 'POST', '/v1/admin/auth', {
      headers: ip,
      body: { secret: 'dev-secret' },
    })
    const no = await call(broker.url, 'POST', '/v1/admin/auth', { headers: ip, body: { secret: 'wrong' } })
    expect([ok.status, no.status]).toEqual([200, 401])
    await call(broker.url, 'POST', '/v1/admin/auth', { headers: ip, body: {} })
    await call(broker.url, 'POST', '/v1/admin/auth', { headers: ip, body: { client_id: 'x' } })
    await call(broker.url, 'POST', '/v1/admin/auth', { headers: ip, body: '{' })
    expect(bodies(take())).toEqual([
      { event_type: 'admin_auth', detail: 'admin authenticated as admin', outcome: 'success' },
      { event_type: 'admin_auth_failed', detail: 'failed admin authentication attempt', outcome: 'denied' },
    ])
  })

  it('app management → app_registered, app_updated (scopes; token_ttl old->new), app_deregistered', async () => {
    const take = mark(broker)
    const created = await adminCall('POST', '/v1/admin/apps', {
      name: 'audit-app',
      scopes: ['read:data:*'],
      token_ttl: 600,
    })
    expect(created.status).toBe(201)
    const id = created.json.app_id
    const cid = created.json.client_id
    expect(
      (await adminCall('PUT', `/v1/admin/apps/${id}`, { scopes: ['read:data:*', 'write:data:*'] })).status,
    ).toBe(200)
    expect((await adminCall('PUT', `/v1/admin/apps/${id}`, { token_ttl: 900 })).status).toBe(200)
    expect(
      (await adminCall('PUT', `/v1/admin/apps/${id}`, { scopes: ['read:data:*'], token_ttl: 60 })).status,
    ).toBe(200)
    expect((await adminCall('DELETE', `/v1/admin/apps/${id}`)).status).toBe(200)
    const ok = { outcome: 'success' }
    expect(bodies(take())).toEqual([
      {
        event_type: 'app_registered',
        detail: `app=audit-app client_id=${cid} scopes=[read:data:*] token_ttl=600`,
        ...ok,
      },
      {
        event_type: 'app_updated',
        detail: `app_id=${id} scopes=[read:data:* write:data:*] updated_by=admin`,
        ...ok,
      },
      { event_type: 'app_updated', detail: `app_id=${id} token_ttl=600->900 updated_by=admin`, ...ok },
      { event_type: 'app_updated', detail: `app_id=${id} scopes=[read:data:*] updated_by=admin`, ...ok },
      { event_type: 'app_updated', detail: `app_id=${id} token_ttl=900->60 updated_by=admin`, ...ok },
      { event_type: 'app_deregistered', detail: `app_id=${id} name=audit-app deregistered_by=admin`, ...ok },
    ])
    // refusals and reads record nothing
    const quiet = mark(broker)
    expect((await adminCall('POST', '/v1/admin/apps', { name: 'Bad Name', scopes: ['a:b:c'] })).status).toBe(
      400,
    )
    expect(
      (await adminCall('POST', '/v1/admin/apps', { name: 'x-y', scopes: ['a:b:c'], token_ttl: 5 })).status,
    ).toBe(400)
    expect((await adminCall('PUT', '/v1/admin/apps/app-nope', { scopes: ['a:b:c'] })).status).toBe(404)
    expect((await adminCall('PUT', `/v1/admin/apps/${id}`, { token_ttl: 1 })).status).toBe(400)
    expect((await adminCall('DELETE', '/v1/admin/apps/app-nope')).status).toBe(404)
    expect((await adminCall('GET', '/v1/admin/apps')).status).toBe(200)
    expect((await adminCall('GET', `/v1/admin/apps/${id}`)).status).toBe(200)
    expect(quiet()).toEqual([])
  })

  it('POST /v1/app/auth → app_authenticated / app_auth_failed (unknown_client_id, wrong_secret, app_inactive)', async () => {
    const created = await adminCall('POST', '/v1/admin/apps', { name: 'auth-app', scopes: ['read:data:*'] })
    const { app_id: id, client_id: cid, client_secret: secret } = created.json
    const take = mark(broker)
    expect(
      (await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: cid, client_secret: secret } }))
        .status,
    ).toBe(200)
    expect(
      (await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: cid, client_secret: 'bad' } }))
        .status,
    ).toBe(401)
    expect(
      (await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: 'nope', client_secret: 'x' } }))
        .status,
    ).toBe(401)
    await adminCall('DELETE', `/v1/admin/apps/${id}`)
    expect(
      (await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: cid, client_secret: secret } }))
        .status,
    ).toBe(401)
    expect((await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: 'nope2' } })).status).toBe(
      400,
    )
    expect(bodies(take())).toEqual([
      { event_type: 'app_authenticated', detail: `client_id=${cid} app_id=${id}`, outcome: 'success' },
      // "secret" appears only after the first '=': not redacted
      { event_type: 'app_auth_failed', detail: `client_id=${cid} reason=wrong_secret`, outcome: 'denied' },
      { event_type: 'app_auth_failed', detail: 'client_id=nope reason=unknown_client_id', outcome: 'denied' },
      {
        event_type: 'app_deregistered',
        detail: `app_id=${id} name=auth-app deregistered_by=admin`,
        outcome: 'success',
      },
      { event_type: 'app_auth_failed', detail: `client_id=${cid} reason=app_inactive`, outcome: 'denied' },
    ])
  })

  it('launch tokens → launch_token_issued / launch_token_denied (agent_id = caller) / scope_ceiling_exceeded', async () => {
    const created = await adminCall('POST', '/v1/admin/apps', {
      name: 'lt-app',
      scopes: ['read:data:*', 'read:logs:*'],
    })
    const { app_id: id, client_id: cid, client_secret: secret } = created.json
    const appToken = (
      await call(broker.url, 'POST', '/v1/app/auth', { body: { client_id: cid, client_secret: secret } })
    ).json.access_token
    const take = mark(broker)
    const lt = (token: string, path: string, b: unknown) => call(broker.url, 'POST', path, { token, body: b })
    expect(
      (await lt(admin, '/v1/admin/launch-tokens', { agent_name: 'w1', allowed_scope: ['a:b:c', 'd:e:f'] }))
        .status,
    ).toBe(201)
    expect((await lt(admin, '/v1/admin/launch-tokens', { allowed_scope: ['a:b:c'] })).status).toBe(400)
    expect((await lt(admin, '/v1/admin/launch-tokens', { agent_name: 'w2', allowed_scope: [] })).status).toBe(
      400,
    )
    const over = await lt(appToken, '/v1/app/launch-tokens', {
      agent_name: 'w3',
      allowed_scope: ['read:data:*', 'write:data:x'],
    })
    expect([over.status, over.json.detail]).toEqual([
      403,
      'requested scopes exceed app ceiling; allowed: [read:data:* read:logs:*]',
    ])
    expect(
      (
        await lt(appToken, '/v1/app/launch-tokens', {
          agent_name: 'w4',
          allowed_scope: ['read:logs:x'],
          max_ttl: 90,
        })
      ).status,
    ).toBe(201)
    expect((await lt(appToken, '/v1/app/launch-tokens', { allowed_scope: ['read:logs:x'] })).status).toBe(400)
    await lt(admin, '/v1/admin/launch-tokens', '{') // malformed: nothing
    expect(bodies(take())).toEqual([
      {
        event_type: 'launch_token_issued',
        detail: 'launch token issued for agent=w1 scope=[a:b:c d:e:f] max_ttl=300 created_by=admin',
        outcome: 'success',
      },
      {
        event_type: 'launch_token_denied',
        agent_id: 'admin',
        detail: 'launch token denied for agent= by=admin reason=agent_name is required',
        outcome: 'denied',
      },
      {
        event_type: 'launch_token_denied',
        agent_id: 'admin',
        detail: 'launch token denied for agent=w2 by=admin reason=allowed_scope must not be empty',
        outcome: 'denied',
      },
      {
        event_type: 'scope_ceiling_exceeded',
        agent_id: `app:${id}`,
        detail: `app=${id} requested=[read:data:* write:data:x] ceiling=[read:data:* read:logs:*]`,
        outcome: 'denied',
      },
      {
        event_type: 'launch_token_issued',
        detail: `launch token issued for agent=w4 scope=[read:logs:x] max_ttl=90 created_by=app:${id} app_id=${id}`,
        outcome: 'success',
      },
      {
        event_type: 'launch_token_denied',
        agent_id: `app:${id}`,
        detail: `launch token denied for agent= by=app:${id} reason=agent_name is required`,
        outcome: 'denied',
      },
    ])
  })

  it('rate limiting records nothing (app_rate_limited is defined in Go but never written)', async () => {
    const take = mark(broker)
    const ip = { 'X-Forwarded-For': 'rate-limit-test' }
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      statuses.push(
        (await call(broker.url, 'POST', '/v1/admin/auth', { headers: ip, body: { secret: 'x' } })).status,
      )
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429])
    const appStatuses: number[] = []
    for (let i = 0; i < 4; i++) {
      appStatuses.push(
        (
          await call(broker.url, 'POST', '/v1/app/auth', {
            body: { client_id: 'rl-app', client_secret: 'x' },
          })
        ).status,
      )
    }
    expect(appStatuses).toEqual([401, 401, 401, 429])
    const evs = take()
    expect(evs.map((e) => e.event_type)).toEqual([
      ...Array(10).fill('admin_auth_failed'),
      ...Array(3).fill('app_auth_failed'),
    ])
  })

  it('Bearer refusals → token_auth_failed (with the Go verification error) and scope_violation, resource = path', async () => {
    const agent = await broker.createAgent({
      orchId: 'orc',
      taskId: 'bear',
      scope: ['read:data:*', 'write:data:x'],
    })
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: '',
      sub: 'spiffe://agentwrit.local/agent/o/t/1',
      exp: now + 60,
      nbf: now,
      iat: now,
      jti: 'j1',
      scope: ['a:b:c'],
    }
    const withSig = (t: string, sig: string) => `${t.split('.').slice(0, 2).join('.')}.${sig}`
    const revoked = await broker.createAgent({ orchId: 'orc', taskId: 'bear-r', scope: ['read:data:*'] })
    await broker.revoke('token', decodeJwt(revoked.accessToken).payload.jti)
    const cases: Array<[string, string]> = [
      ['abc', 'invalid token format'],
      ['a.b', 'invalid token format'],
      [broker.signToken(claims, { alg: 'none', typ: 'JWT' }), 'invalid token format'],
      [broker.signToken(claims, { alg: 'EdDSA', typ: 'JWT', kid: 'other' }), 'invalid token format'],
      [broker.signToken('{"sub":1}'), 'invalid token format'],
      [withSig(broker.signToken(claims), 'A'.repeat(86)), 'signature verification failed'],
      [withSig(broker.signToken(claims), '!!'), 'signature verification failed'],
      [broker.signToken({ ...claims, sub: '' }), 'missing subject'],
      [broker.signToken({ ...claims, jti: '' }), 'missing jti'],
      [broker.signToken({ ...claims, exp: 0 }), 'token has no expiry'],
      [broker.signToken({ ...claims, exp: now - 10 }), 'token expired'],
      [broker.signToken({ ...claims, nbf: now + 100 }), 'token not yet valid'],
      [revoked.accessToken, 'token has been revoked'],
    ]
    const take = mark(broker)
    for (const [token] of cases) {
      expect((await call(broker.url, 'POST', '/v1/delegate', { token, body: {} })).status).toBe(401)
    }
    await call(broker.url, 'POST', '/v1/revoke', { body: {} })
    await call(broker.url, 'POST', '/v1/token/renew', { headers: { Authorization: 'bearer x' } })
    await call(broker.url, 'GET', '/v1/audit/events', { headers: { Authorization: 'Bearer' } })
    await call(broker.url, 'POST', '/v1/revoke', {
      token: agent.accessToken,
      body: { level: 'token', target: 'x' },
    })
    await call(broker.url, 'GET', '/v1/audit/events', { token: agent.accessToken })
    await call(broker.url, 'POST', '/v1/app/launch-tokens', { token: admin, body: {} })
    const denied = (path: string) => ({ resource: path, outcome: 'denied' })
    const who = { agent_id: agent.agentId, task_id: 'bear', orch_id: 'orc' }
    const evs = take()
    expect(bodies(evs)).toEqual([
      ...cases.map(([, reason]) => ({
        event_type: 'token_auth_failed',
        detail: `token verification failed: ${reason} | path=/v1/delegate`,
        ...denied('/v1/delegate'),
      })),
      {
        event_type: 'token_auth_failed',
        detail: 'missing authorization header | path=/v1/revoke',
        ...denied('/v1/revoke'),
      },
      {
        event_type: 'token_auth_failed',
        detail: 'invalid authorization scheme | path=/v1/token/renew',
        ...denied('/v1/token/renew'),
      },
      {
        event_type: 'token_auth_failed',
        detail: 'invalid authorization scheme | path=/v1/audit/events',
        ...denied('/v1/audit/events'),
      },
      {
        event_type: 'scope_violation',
        ...who,
        detail:
          'scope_violation | required=admin:revoke:* | actual=read:data:*,write:data:x | path=/v1/revoke',
        ...denied('/v1/revoke'),
      },
      {
        event_type: 'scope_violation',
        ...who,
        detail:
          'scope_violation | required=admin:audit:* | actual=read:data:*,write:data:x | path=/v1/audit/events',
        ...denied('/v1/audit/events'),
      },
      {
        event_type: 'scope_violation',
        agent_id: 'admin',
        detail:
          'scope_violation | required=app:launch-tokens:* | actual=admin:launch-tokens:*,admin:revoke:*,admin:audit:* | path=/v1/app/launch-tokens',
        ...denied('/v1/app/launch-tokens'),
      },
    ])
    expect(Object.keys(evs.at(-1) as AuditEvent)).toEqual([
      'id',
      'timestamp',
      'event_type',
      'agent_id',
      'detail',
      'resource',
      'outcome',
      'hash',
      'prev_hash',
    ])
    // revoked tokens fail verification (401) in the production wiring: token_revoked_access never appears
    expect(broker.auditEvents({ event_type: 'token_revoked_access' })).toEqual([])
  })

  it('validate, challenge, health, jwks, audit reads, mux 404/405 and 413 write nothing', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 'quiet', scope: ['read:data:*'] })
    const take = mark(broker)
    expect((await broker.validate(agent.accessToken)).valid).toBe(true)
    expect((await broker.validate('garbage')).valid).toBe(false)
    expect((await call(broker.url, 'POST', '/v1/token/validate', { body: {} })).status).toBe(400)
    expect((await call(broker.url, 'POST', '/v1/token/validate', { body: '{' })).status).toBe(400)
    await call(broker.url, 'GET', '/v1/challenge')
    await call(broker.url, 'GET', '/v1/health')
    await call(broker.url, 'GET', '/v1/jwks')
    expect((await call(broker.url, 'GET', '/v1/audit/events?limit=1', { token: admin })).status).toBe(200)
    expect((await call(broker.url, 'GET', '/v1/nope')).status).toBe(404)
    expect((await call(broker.url, 'DELETE', '/v1/revoke')).status).toBe(405)
    const big = await call(broker.url, 'POST', '/v1/revoke', { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) })
    expect(big.status).toBe(413)
    expect(take()).toEqual([])
  })
})

describe('audit writers that need a special broker', () => {
  it('renewal refused after the middleware passed → token_renewal_failed with the Go error', async () => {
    // The token expires between ValMw's verification and TknSvc.Renew's own: the clock reads `exp` once
    // (still valid: expired only when now > exp), then exp + 1 s.
    const clock = manualClock()
    const queue: number[] = []
    const broker = await startDevBroker({ now: () => queue.shift() ?? clock.now() })
    try {
      const agent = await broker.createAgent({
        orchId: 'orc',
        taskId: 'late',
        scope: ['read:data:*'],
        maxTtl: 60,
      })
      const exp = decodeJwt(agent.accessToken).payload.exp as number
      clock.advance((exp + 1) * 1000 - clock.ms)
      queue.push(exp * 1000)
      const take = mark(broker)
      const res = await call(broker.url, 'POST', '/v1/token/renew', { token: agent.accessToken })
      expect([res.status, res.json.detail]).toEqual([401, 'token renewal failed'])
      expect(bodies(take())).toEqual([
        {
          event_type: 'token_renewal_failed',
          agent_id: agent.agentId,
          task_id: 'late',
          orch_id: 'orc',
          detail: `token renewal failed for agent=${agent.agentId}: token expired`,
          outcome: 'denied',
        },
      ])
    } finally {
      await broker.close()
    }
  })

  it('issuer and audience refusals (AA_ISSUER / AA_AUDIENCE set)', async () => {
    const broker = await startDevBroker({ issuer: 'iss-a', audience: 'aud-a', sampleApp: false })
    try {
      const now = Math.floor(Date.now() / 1000)
      const base = {
        sub: 'spiffe://agentwrit.local/agent/o/t/1',
        exp: now + 60,
        nbf: now,
        iat: now,
        jti: 'j',
        scope: ['a:b:c'],
      }
      const wrongIss = broker.signToken({ iss: 'iss-b', ...base, aud: ['aud-a'] })
      const noAud = broker.signToken({ iss: 'iss-a', ...base, scope: ['a:b:c'], task_id: 't', orch_id: 'o' })
      const take = mark(broker)
      expect((await call(broker.url, 'POST', '/v1/token/renew', { token: wrongIss })).status).toBe(401)
      const res = await call(broker.url, 'POST', '/v1/token/renew', { token: noAud })
      expect([res.status, res.json.detail]).toEqual([401, 'token audience mismatch'])
      expect(bodies(take())).toEqual([
        {
          event_type: 'token_auth_failed',
          detail: 'token verification failed: invalid issuer | path=/v1/token/renew',
          resource: '/v1/token/renew',
          outcome: 'denied',
        },
        {
          event_type: 'token_auth_failed',
          agent_id: base.sub,
          task_id: 't',
          orch_id: 'o',
          detail: 'audience mismatch | expected=aud-a | path=/v1/token/renew',
          resource: '/v1/token/renew',
          outcome: 'denied',
        },
      ])
    } finally {
      await broker.close()
    }
  })
})
