import { createPublicKey, verify } from 'node:crypto'
import { calculateJwkThumbprint, createLocalJWKSet, importSPKI, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chainHash, type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt, RFC8037_KID, RFC8037_PEM } from './support.js'

const AGENT_CLAIMS = ['iss', 'sub', 'exp', 'nbf', 'iat', 'jti', 'scope', 'task_id', 'orch_id']

describe('token format (contract §6)', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(() => broker.close())

  it('agent token: exact header bytes, claim order, values', async () => {
    const agent = await broker.createAgent({ orchId: 'orch-1', taskId: 'task.1_x', scope: ['read:data:*'] })
    const parts = agent.accessToken.split('.')
    expect(parts).toHaveLength(3)
    for (const p of parts) expect(p).toMatch(/^[A-Za-z0-9_-]+$/)
    const { headerText, payloadText, payload } = decodeJwt(agent.accessToken)
    expect(headerText).toBe(`{"alg":"EdDSA","typ":"JWT","kid":"${broker.kid}"}`)
    expect(Object.keys(payload)).toEqual(AGENT_CLAIMS)
    expect(payloadText.startsWith('{"iss":"","sub":"spiffe://agentwrit.local/agent/orch-1/task.1_x/')).toBe(
      true,
    )
    expect(payload.sub).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch-1\/task\.1_x\/[0-9a-f]{16}$/)
    expect(payload.sub).toBe(agent.agentId)
    expect(payload.jti).toMatch(/^[0-9a-f]{32}$/)
    expect(payload.nbf).toBe(payload.iat)
    expect(payload.exp - payload.iat).toBe(300)
    expect(agent.expiresIn).toBe(300)
    expect(payload).toMatchObject({ scope: ['read:data:*'], task_id: 'task.1_x', orch_id: 'orch-1' })
    expect(Math.abs(payload.iat - Date.now() / 1000)).toBeLessThan(5)
  })

  it('kid is the RFC 7638 thumbprint and the signature verifies with jose (JWKS, SPKI)', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:x'] })
    const { x } = broker.publicJwk
    expect(broker.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }))
    expect(broker.publicJwk.kid).toBe(broker.kid)
    const viaJwks = await jwtVerify(agent.accessToken, createLocalJWKSet(broker.jwks as never), {
      algorithms: ['EdDSA'],
    })
    expect(viaJwks.protectedHeader).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: broker.kid })
    const viaPem = await jwtVerify(agent.accessToken, await importSPKI(broker.publicKeyPem, 'EdDSA'))
    expect(viaPem.payload.sub).toBe(agent.agentId)
  })

  it('GET /v1/jwks (extension) serves the key set', async () => {
    const res = await call(broker.url, 'GET', '/v1/jwks')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.text).toBe(
      `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"${broker.publicJwk.x}","kid":"${broker.kid}","alg":"EdDSA","use":"sig"}]}\n`,
    )
    expect(broker.jwksUrl).toBe(`${broker.url}/v1/jwks`)
  })

  it('admin and app tokens: no task_id/orch_id, fixed scopes', async () => {
    const { payload: admin } = decodeJwt(await broker.adminToken())
    expect(Object.keys(admin)).toEqual(['iss', 'sub', 'exp', 'nbf', 'iat', 'jti', 'scope'])
    expect(admin).toMatchObject({
      sub: 'admin',
      scope: ['admin:launch-tokens:*', 'admin:revoke:*', 'admin:audit:*'],
    })
    expect(admin.exp - admin.iat).toBe(300)
    const app = broker.sampleApp!
    const res = await call(broker.url, 'POST', '/v1/app/auth', {
      body: { client_id: app.clientId, client_secret: app.clientSecret },
    })
    const { payload } = decodeJwt(res.json.access_token)
    expect(payload).toMatchObject({
      sub: `app:${app.appId}`,
      scope: ['app:launch-tokens:*', 'app:agents:*', 'app:audit:read'],
    })
    expect(payload.exp - payload.iat).toBe(1800)
  })

  it('delegated token: chain, chain_hash and record signature by the broker key', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 'ta', scope: ['read:data:*', 'write:data:*'] })
    const b = await broker.createAgent({ orchId: 'o2', taskId: 'tb', scope: ['read:config:*'] })
    const d = await broker.delegate(a.accessToken, { to: b.agentId, scope: ['read:data:x'] })
    const { payload, payloadText } = decodeJwt(d.accessToken)
    expect(Object.keys(payload)).toEqual([...AGENT_CLAIMS, 'delegation_chain', 'chain_hash'])
    expect(payload).toMatchObject({ sub: b.agentId, scope: ['read:data:x'], task_id: 'ta', orch_id: 'o' })
    expect(payload.exp - payload.iat).toBe(60)
    const [rec] = payload.delegation_chain
    expect(Object.keys(rec)).toEqual(['agent', 'scope', 'delegated_at', 'signature'])
    expect(rec).toMatchObject({ agent: a.agentId, scope: ['read:data:*', 'write:data:*'] })
    expect(rec.delegated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/)
    expect(rec.signature).toMatch(/^[0-9a-f]{128}$/)
    const msg = Buffer.from(`${rec.agent}|${rec.scope.join(',')}|${rec.delegated_at}`)
    expect(verify(null, msg, createPublicKey(broker.publicKeyPem), Buffer.from(rec.signature, 'hex'))).toBe(
      true,
    )
    expect(payload.chain_hash).toBe(chainHash(payload.delegation_chain))
    expect(d.delegationChain).toEqual(payload.delegation_chain)
    expect(payloadText).toContain('"chain_hash":"')
  })
})

describe('token options', () => {
  it('signingKeyPem fixes the kid (RFC 8037 key → RFC 8037 A.3 thumbprint)', async () => {
    const broker = await startDevBroker({ signingKeyPem: RFC8037_PEM, sampleApp: false })
    try {
      expect(broker.kid).toBe(RFC8037_KID)
      expect(broker.sampleApp).toBeNull()
      expect(decodeJwt(await broker.adminToken()).headerText).toContain(RFC8037_KID)
      expect(broker.signingKeyPem).toBe(RFC8037_PEM)
    } finally {
      await broker.close()
    }
  })

  it('issuer and audience: iss set, aud array right after sub; delegated tokens copy aud', async () => {
    const broker = await startDevBroker({ issuer: 'https://broker.test', audience: 'orders-api' })
    try {
      const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
      const b = await broker.createAgent({ orchId: 'o', taskId: 't2', scope: ['read:data:*'] })
      const { payload, payloadText } = decodeJwt(a.accessToken)
      expect(Object.keys(payload)).toEqual(['iss', 'sub', 'aud', ...AGENT_CLAIMS.slice(2)])
      expect(payloadText).toMatch(
        /^\{"iss":"https:\/\/broker\.test","sub":"[^"]+","aud":\["orders-api"\],"exp"/,
      )
      const d = await broker.delegate(a.accessToken, { to: b.agentId, scope: ['read:data:1'] })
      expect(decodeJwt(d.accessToken).payload.aud).toEqual(['orders-api'])
      expect(decodeJwt(await broker.adminToken()).payload.aud).toEqual(['orders-api'])
    } finally {
      await broker.close()
    }
  })

  it('maxTtl clamps agent and delegated TTLs', async () => {
    const broker = await startDevBroker({ maxTtl: 100 })
    try {
      const a = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'], maxTtl: 3600 })
      expect(a.expiresIn).toBe(100)
      const d = await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:*'], ttl: 5000 })
      expect(d.expiresIn).toBe(100)
    } finally {
      await broker.close()
    }
  })

  it('rejects invalid options with a TypeError naming the option', async () => {
    await expect(startDevBroker({ port: -1 })).rejects.toThrow(/^port:/)
    await expect(startDevBroker({ trustDomain: 'Not Valid' })).rejects.toThrow(/^trustDomain:/)
    await expect(startDevBroker({ maxTtl: 1.5 })).rejects.toThrow(/^maxTtl:/)
    await expect(startDevBroker({ adminSecret: '' })).rejects.toThrow(/^adminSecret:/)
    await expect(startDevBroker({ signingKeyPem: 'nope' })).rejects.toThrow(/^signingKeyPem:/)
  })
})
