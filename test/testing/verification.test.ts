import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { call, decodeJwt, manualClock, PROBLEM_FIELDS } from './support.js'

const INVALID = { valid: false, error: 'token is invalid or expired' }

describe('POST /v1/token/validate and the §7 verification rules', () => {
  const clock = manualClock()
  let broker: DevBroker
  const validate = (token: string) => broker.validate(token)
  const base = () => ({
    iss: '',
    sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
    exp: clock.seconds + 60,
    nbf: clock.seconds,
    iat: clock.seconds,
    jti: '0123456789abcdef0123456789abcdef',
    scope: ['read:data:*'],
    task_id: 't',
    orch_id: 'o',
  })

  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now })
  })
  afterAll(() => broker.close())

  it('valid: 200 {valid:true, claims} with claims re-serialised in emitted order, unknown fields dropped', async () => {
    const token = broker.signToken({ zzz: 1, ...base(), sid: '', extra: { a: 1 } })
    const res = await call(broker.url, 'POST', '/v1/token/validate', { body: { token } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    const b = base()
    expect(res.text).toBe(
      `{"valid":true,"claims":{"iss":"","sub":"${b.sub}","exp":${b.exp},"nbf":${b.nbf},"iat":${b.iat},"jti":"${b.jti}","scope":["read:data:*"],"task_id":"t","orch_id":"o"}}\n`,
    )
  })

  it('a missing scope is re-serialised as null (not omitempty), like the Go struct', async () => {
    const { scope: _omit, ...noScope } = base()
    const res = await validate(broker.signToken(noScope))
    expect(res).toEqual({ valid: true, claims: { ...noScope, scope: null } })
  })

  it('expiry: valid during the second now == exp, invalid once now > exp; no leeway', async () => {
    const token = broker.signToken({ ...base(), exp: clock.seconds + 2 })
    expect((await validate(token)).valid).toBe(true)
    clock.advance(2000)
    expect((await validate(token)).valid).toBe(true)
    clock.advance(999)
    expect((await validate(token)).valid).toBe(true)
    clock.advance(1)
    expect(await validate(token)).toEqual(INVALID)
  })

  it('nbf in the future is invalid, nbf 0 is ignored, iat is not checked', async () => {
    expect(await validate(broker.signToken({ ...base(), nbf: clock.seconds + 1 }))).toEqual(INVALID)
    expect((await validate(broker.signToken({ ...base(), nbf: 0, iat: clock.seconds + 9999 }))).valid).toBe(
      true,
    )
  })

  it('header rules: alg must be EdDSA, kid must match when present, absent kid accepted, typ ignored', async () => {
    const claims = base()
    expect(await validate(broker.signToken(claims, { alg: 'none', typ: 'JWT', kid: broker.kid }))).toEqual(
      INVALID,
    )
    expect(await validate(broker.signToken(claims, { alg: 'Ed25519', typ: 'JWT' }))).toEqual(INVALID)
    expect(await validate(broker.signToken(claims, { alg: 'EdDSA', typ: 'JWT', kid: 'other' }))).toEqual(
      INVALID,
    )
    expect((await validate(broker.signToken(claims, { alg: 'EdDSA' }))).valid).toBe(true)
    expect((await validate(broker.signToken(claims, { alg: 'EdDSA', typ: 'whatever', kid: '' }))).valid).toBe(
      true,
    )
  })

  it('required claims: sub, jti non-empty; exp > 0 and an integer', async () => {
    expect(await validate(broker.signToken({ ...base(), sub: '' }))).toEqual(INVALID)
    expect(await validate(broker.signToken({ ...base(), jti: '' }))).toEqual(INVALID)
    expect(await validate(broker.signToken({ ...base(), exp: 0 }))).toEqual(INVALID)
    expect(await validate(broker.signToken({ ...base(), exp: clock.seconds + 0.5 }))).toEqual(INVALID)
    expect(await validate(broker.signToken({ ...base(), exp: String(clock.seconds + 60) }))).toEqual(INVALID)
    expect(await validate(broker.signToken({ ...base(), aud: 'svc' }))).toEqual(INVALID)
    expect(await validate(broker.signToken(`${JSON.stringify(base())} x`))).toEqual(INVALID)
  })

  it('forgeries: tampered payload, bad signature, other key, too few parts', async () => {
    const good = broker.signToken(base())
    const [h, p, s] = good.split('.') as [string, string, string]
    const forged = Buffer.from(JSON.stringify({ ...base(), scope: ['admin:revoke:*'] })).toString('base64url')
    expect(await validate(`${h}.${forged}.${s}`)).toEqual(INVALID)
    const sig = Buffer.from(s, 'base64url')
    sig[10] = (sig[10] as number) ^ 0x01
    expect(await validate(`${h}.${p}.${sig.toString('base64url')}`)).toEqual(INVALID)
    expect(await validate(`${h}.${p}.${s}=`)).toEqual(INVALID) // padding is not base64url-raw
    expect(await validate(`${h}.${p}`)).toEqual(INVALID)
    expect(await validate(`${h}.${p}.${s}.extra`)).toEqual(INVALID)
    const other = await startDevBroker({ now: clock.now, sampleApp: false })
    try {
      expect(await validate(other.signToken(base(), { alg: 'EdDSA', typ: 'JWT' }))).toEqual(INVALID)
    } finally {
      await other.close()
    }
  })

  it('400s: malformed JSON, wrong type, missing or empty token; null body is "token field is required"', async () => {
    const post = (body: unknown) => call(broker.url, 'POST', '/v1/token/validate', { body })
    for (const [body, detail] of [
      ['{', 'malformed JSON body'],
      ['', 'malformed JSON body'],
      ['[]', 'malformed JSON body'],
      [{ token: 5 }, 'malformed JSON body'],
      [{}, 'token field is required'],
      [{ token: '' }, 'token field is required'],
      ['null', 'token field is required'],
    ] as const) {
      const res = await post(body)
      expect(res.status, String(body)).toBe(400)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(Object.keys(res.json)).toEqual(PROBLEM_FIELDS)
      expect(res.json).toMatchObject({
        type: 'urn:agentwrit:error:invalid_request',
        title: 'Bad Request',
        status: 400,
        detail,
        instance: '/v1/token/validate',
        error_code: 'invalid_request',
      })
      expect(res.json.request_id).toBe(res.headers.get('x-request-id'))
    }
  })

  it('admin and app tokens validate as valid:true', async () => {
    const admin = await validate(await broker.adminToken())
    expect(admin.valid && admin.claims.sub).toBe('admin')
    expect(admin.valid && 'task_id' in admin.claims).toBe(false)
  })
})

describe('issuer and audience checks', () => {
  it('with an issuer configured, a token with another iss is invalid', async () => {
    const broker = await startDevBroker({ issuer: 'https://broker.test' })
    try {
      const c = { sub: 'admin', exp: Math.floor(Date.now() / 1000) + 60, jti: 'j', scope: [] }
      expect((await broker.validate(broker.signToken({ ...c, iss: 'https://broker.test' }))).valid).toBe(true)
      expect((await broker.validate(broker.signToken({ ...c, iss: '' }))).valid).toBe(false)
    } finally {
      await broker.close()
    }
  })

  it('audience: validate ignores aud, Bearer endpoints require it (401 token audience mismatch)', async () => {
    const broker = await startDevBroker({ audience: 'svc' })
    try {
      const noAud = broker.signToken({
        iss: '',
        sub: 'admin',
        exp: Math.floor(Date.now() / 1000) + 60,
        jti: 'k',
        scope: ['admin:revoke:*'],
      })
      expect((await broker.validate(noAud)).valid).toBe(true)
      const res = await call(broker.url, 'POST', '/v1/token/renew', { token: noAud })
      expect(res.status).toBe(401)
      expect(res.json.detail).toBe('token audience mismatch')
      const ok = await call(broker.url, 'POST', '/v1/token/renew', { token: await broker.adminToken() })
      expect(ok.status).toBe(200)
      expect(decodeJwt(ok.json.access_token).payload.aud).toEqual(['svc'])
    } finally {
      await broker.close()
    }
  })
})
