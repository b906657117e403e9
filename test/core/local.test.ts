import { createHmac, generateKeyPairSync, verify as nodeVerify, randomBytes, sign } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AgentAuthError } from '../../src/core/errors.js'
import { createLocalStrategy } from '../../src/core/local.js'
import { type AgentAuthOptions, type ResolvedOptions, resolveOptions } from '../../src/core/options.js'
import type { TokenStrategy } from '../../src/core/strategy.js'
import { createVerifier } from '../../src/core/verifier.js'
import { makeKey, signToken } from '../helpers/ed25519-key.js'

// Count signature verifications (node:crypto's Ed25519 verify) without changing them.
vi.mock('node:crypto', async (importOriginal) => {
  const mod = await importOriginal<typeof import('node:crypto')>()
  return { ...mod, verify: vi.fn(mod.verify) }
})
const verifications = vi.mocked(nodeVerify)

// ---- helpers ---------------------------------------------------------------------------------

const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url')

/** Signed with `key` over a verbatim header text (duplicates, escapes, BOM…). */
function signRaw(k: typeof key, payload: unknown, headerText: string): string {
  const h = b64u(headerText)
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), k.privateKey))}`
}

const T0 = 1_760_000_000 // whole seconds
let nowMs = T0 * 1000
const clock = () => nowMs

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: '',
    sub: 'spiffe://agentwrit.local/agent/orch-1/task-1/7cf9a9d996cdd63d',
    exp: T0 + 300,
    nbf: T0,
    iat: T0,
    jti: randomBytes(16).toString('hex'),
    scope: ['read:data:customer-42'],
    task_id: 'task-1',
    orch_id: 'orch-1',
    ...over,
  }
}

function options(input: AgentAuthOptions, tweak: Partial<ResolvedOptions> = {}): ResolvedOptions {
  return { ...resolveOptions({ mode: 'local', now: clock, ...input }), ...tweak }
}

const strategies: TokenStrategy[] = []
function local(input: AgentAuthOptions, tweak: Partial<ResolvedOptions> = {}): TokenStrategy {
  const s = createLocalStrategy(options(input, tweak))
  strategies.push(s)
  return s
}

async function refusal(p: Promise<unknown>): Promise<AgentAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AgentAuthError)
  return err as AgentAuthError
}

const servers: Server[] = []
async function jwksServer(
  jwks: () => unknown,
): Promise<{ url: URL; requests: () => number; stop: () => Promise<void> }> {
  let requests = 0
  const server = createServer((_req, res) => {
    requests++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks()))
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: new URL(`http://127.0.0.1:${port}/jwks`),
    requests: () => requests,
    stop: async () => {
      const closed = new Promise((r) => server.close(r))
      server.closeAllConnections()
      await closed
    },
  }
}

beforeEach(() => {
  nowMs = T0 * 1000
  verifications.mockClear()
})

afterEach(async () => {
  for (const s of strategies.splice(0)) await s.close()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    if (s.listening) await new Promise((r) => s.close(r))
  }
})

const key = makeKey()
const other = makeKey()

// ---- acceptance ----------------------------------------------------------------------------------

describe('valid tokens', () => {
  const forms: [string, AgentAuthOptions['publicKey']][] = [
    ['JWK', key.jwk],
    ['JWKS object', { keys: [other.jwk, key.jwk] }],
    ['PEM SPKI', key.pem],
    ['raw base64', key.raw.toString('base64')],
    ['raw base64url', key.raw.toString('base64url')],
    ['raw Uint8Array', new Uint8Array(key.raw)],
  ]

  it.each(forms)('accepted with a %s key', async (_, publicKey) => {
    const c = claims()
    const result = await local({ publicKey }).verify(signToken(key, c))
    expect(result.source).toBe('local')
    expect(result.cacheAgeMs).toBe(0)
    expect(result.claims.jti).toBe(c.jti)
    expect(result.claims.scope).toEqual(['read:data:customer-42'])
    expect(Object.isFrozen(result.claims)).toBe(true)
  })

  it('accepted with a JWKS URL', async () => {
    const srv = await jwksServer(() => ({ keys: [{ ...key.jwk, kid: key.kid, alg: 'EdDSA', use: 'sig' }] }))
    const s = local({ jwksUri: srv.url })
    expect((await s.verify(signToken(key, claims()))).source).toBe('local')
    expect((await s.verify(signToken(key, claims()))).source).toBe('local')
    expect(srv.requests()).toBe(1)
  })

  it('accepted when signed by jose SignJWT', async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: key.kid })
      .sign(key.privateKey)
    expect((await local({ publicKey: key.jwk }).verify(token)).source).toBe('local')
  })

  it('an absent kid is refused by default (the broker always writes one), accepted with requireKid: false', async () => {
    const token = signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT' })
    expect((await refusal(local({ publicKey: key.jwk }).verify(token))).reason).toBe('kid_missing')
    expect((await local({ publicKey: key.jwk, requireKid: false }).verify(token)).source).toBe('local')
    // and then every key is tried: another key's signature still fails
    const forged = signToken(other, claims(), { alg: 'EdDSA', typ: 'JWT' })
    const err = await refusal(local({ publicKey: key.jwk, requireKid: false }).verify(forged))
    expect(err.reason).toBe('bad_signature')
  })

  it('header members in any order are accepted', async () => {
    const token = signToken(key, claims(), { kid: key.kid, typ: 'JWT', alg: 'EdDSA' })
    expect((await local({ publicKey: key.jwk }).verify(token)).source).toBe('local')
  })

  it('iss is checked when issuer is configured', async () => {
    const s = local({ publicKey: key.jwk, issuer: 'https://broker.example' })
    await expect(s.verify(signToken(key, claims({ iss: 'https://broker.example' })))).resolves.toBeDefined()
    const err = await refusal(s.verify(signToken(key, claims({ iss: 'https://evil.example' }))))
    expect(err.reason).toBe('issuer_mismatch')
    expect((await refusal(s.verify(signToken(key, claims())))).reason).toBe('issuer_mismatch')
  })

  it('iat is not checked', async () => {
    const token = signToken(key, claims({ iat: T0 + 10_000 }))
    await expect(local({ publicKey: key.jwk }).verify(token)).resolves.toBeDefined()
  })
})

// ---- refusals --------------------------------------------------------------------------------------

function hs256(secret: Buffer | string, payload: unknown): string {
  const h = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.kid }))
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${b64u(createHmac('sha256', secret).update(`${h}.${p}`).digest())}`
}

function es256(payload: unknown): string {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const h = b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: key.kid }))
  const p = b64u(JSON.stringify(payload))
  const sig = sign('sha256', Buffer.from(`${h}.${p}`), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${h}.${p}.${b64u(sig)}`
}

function tamperPayload(token: string): string {
  const [h, , s] = token.split('.')
  return `${h}.${b64u(JSON.stringify(claims({ scope: ['admin:everything:*'] })))}.${s}`
}

function tamperSignature(token: string): string {
  const [h, p, s = ''] = token.split('.')
  const i = 20
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`
}

const refusals: [string, () => string, string][] = [
  [
    'signed by another key (same kid)',
    () => signToken(other, claims(), { alg: 'EdDSA', typ: 'JWT', kid: key.kid }),
    'bad_signature',
  ],
  ['signed by another key (its own kid)', () => signToken(other, claims()), 'unknown_kid'],
  ['no kid', () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT' }), 'kid_missing'],
  ['no typ', () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid }), 'typ_not_allowed'],
  [
    'typ "jwt"',
    () => signToken(key, claims(), { alg: 'EdDSA', typ: 'jwt', kid: key.kid }),
    'typ_not_allowed',
  ],
  [
    'typ "at+jwt"',
    () => signToken(key, claims(), { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid }),
    'typ_not_allowed',
  ],
  ['tampered payload', () => tamperPayload(signToken(key, claims())), 'bad_signature'],
  ['tampered signature', () => tamperSignature(signToken(key, claims())), 'bad_signature'],
  [
    'non-canonical signature encoding',
    () => {
      const t = signToken(key, claims())
      return `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : String.fromCharCode(t.charCodeAt(t.length - 1) + 1)}`
    },
    'bad_signature',
  ],
  ['truncated signature', () => signToken(key, claims()).slice(0, -4), 'bad_signature'],
  [
    'alg none',
    () => `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(claims()))}.`,
    'alg_not_allowed',
  ],
  ['HS256 keyed with the raw public key bytes', () => hs256(key.raw, claims()), 'alg_not_allowed'],
  ['HS256 keyed with the PEM', () => hs256(key.pem, claims()), 'alg_not_allowed'],
  ['ES256', () => es256(claims()), 'alg_not_allowed'],
  [
    'alg "eddsa" (wrong case)',
    () => signToken(key, claims(), { alg: 'eddsa', typ: 'JWT', kid: key.kid }),
    'alg_not_allowed',
  ],
  [
    'alg "Ed25519"',
    () => signToken(key, claims(), { alg: 'Ed25519', typ: 'JWT', kid: key.kid }),
    'alg_not_allowed',
  ],
  ['no alg', () => signToken(key, claims(), { typ: 'JWT', kid: key.kid }), 'alg_not_allowed'],
  [
    'alg duplicated (none, then EdDSA: JSON.parse keeps the last)',
    () => signRaw(key, claims(), `{"alg":"none","typ":"JWT","kid":"${key.kid}","alg":"EdDSA"}`),
    'duplicate_header_member',
  ],
  [
    'kid duplicated with an escaped name',
    () => signRaw(key, claims(), `{"alg":"EdDSA","typ":"JWT","kid":"x","\\u006bid":"${key.kid}"}`),
    'duplicate_header_member',
  ],
  [
    'alg in another case beside it ("ALG")',
    () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT', kid: key.kid, ALG: 'none' }),
    'header_member_refused',
  ],
  [
    'jwk header (embedded key)',
    () => signToken(other, claims(), { alg: 'EdDSA', typ: 'JWT', kid: key.kid, jwk: other.jwk }),
    'header_member_refused',
  ],
  [
    'jku header',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, jku: 'https://evil.example/jwks' }),
    'header_member_refused',
  ],
  [
    'x5u header',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, x5u: 'https://evil.example/cert' }),
    'header_member_refused',
  ],
  [
    'x5c header',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, x5c: ['MIIB'] }),
    'header_member_refused',
  ],
  [
    'crit header',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, crit: ['exp'], exp: T0 + 300 }),
    'header_member_refused',
  ],
  [
    'b64:false with crit',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, b64: false, crit: ['b64'] }),
    'header_member_refused',
  ],
  [
    'b64:false',
    () => signToken(key, claims(), { alg: 'EdDSA', kid: key.kid, b64: false }),
    'header_member_refused',
  ],
  ['wrong kid', () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT', kid: other.kid }), 'unknown_kid'],
  ['empty kid', () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT', kid: '' }), 'malformed_kid'],
  ['numeric kid', () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT', kid: 7 }), 'malformed_kid'],
  ['null kid', () => signToken(key, claims(), { alg: 'EdDSA', typ: 'JWT', kid: null }), 'malformed_kid'],
  ...['zip', 'enc', 'cty', 'b64', 'crit', 'x5t', 'x5t#S256', 'iss', 'nonce', '__proto__'].map(
    (member): [string, () => string, string] => [
      `header member ${member}`,
      () => signRaw(key, claims(), `{"alg":"EdDSA","typ":"JWT","kid":"${key.kid}","${member}":"x"}`),
      'header_member_refused',
    ],
  ),
  [
    'header with a UTF-8 BOM',
    () => signRaw(key, claims(), `\ufeff{"alg":"EdDSA","typ":"JWT","kid":"${key.kid}"}`),
    'malformed_header',
  ],
  [
    'header not an object',
    () => signToken(key, claims(), ['EdDSA'] as unknown as Record<string, unknown>),
    'malformed_header',
  ],
  ['expired (now > exp)', () => signToken(key, claims({ exp: T0 - 1 })), 'expired'],
  ['nbf in the future', () => signToken(key, claims({ nbf: T0 + 1 })), 'not_yet_valid'],
  ['empty sub', () => signToken(key, claims({ sub: '' })), 'malformed_claims'],
  ['missing sub', () => signToken(key, claims({ sub: undefined })), 'malformed_claims'],
  ['empty jti', () => signToken(key, claims({ jti: '' })), 'malformed_claims'],
  ['float exp', () => signToken(key, claims({ exp: T0 + 300.5 })), 'malformed_claims'],
  ['string exp', () => signToken(key, claims({ exp: String(T0 + 300) })), 'malformed_claims'],
  ['zero exp', () => signToken(key, claims({ exp: 0 })), 'malformed_claims'],
  ['missing exp', () => signToken(key, claims({ exp: undefined })), 'malformed_claims'],
  ['string scope', () => signToken(key, claims({ scope: 'read:data:customer-42' })), 'malformed_claims'],
  ['payload not an object', () => signToken(key, ['not', 'claims']), 'malformed_claims'],
  [
    'payload not JSON',
    () => {
      const h = b64u(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: key.kid }))
      const p = b64u('not json')
      return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), key.privateKey))}`
    },
    'malformed_claims',
  ],
  ['two segments', () => signToken(key, claims()).split('.').slice(0, 2).join('.'), 'malformed'],
  ['four segments', () => `${signToken(key, claims())}.x`, 'malformed'],
  ['padded segment', () => signToken(key, claims()).replace('.', '=.'), 'malformed_header'],
  ['not base64url', () => 'a+b.c/d.e', 'malformed_header'],
  ['empty string', () => '', 'malformed'],
]

describe('refusals (401 invalid_token)', () => {
  it('one instance that has accepted tokens refuses each of them alike (remembered header included)', async () => {
    const s = local({ publicKey: key.jwk })
    expect((await s.verify(signToken(key, claims()))).source).toBe('local')
    for (const [name, make, reason] of refusals) {
      const err = await refusal(s.verify(make()))
      expect(`${name}: ${err.reason}`).toBe(`${name}: ${reason}`)
      // and a good token with the usual header still passes after each refusal
      expect((await s.verify(signToken(key, claims()))).source).toBe('local')
    }
  })

  it.each(refusals)('%s', async (_, make, reason) => {
    const token = make()
    const err = await refusal(local({ publicKey: key.jwk }).verify(token))
    expect(err.code).toBe('invalid_token')
    expect(err.status).toBe(401)
    expect(err.reason).toBe(reason)
    expect(err.message).toBe(new AgentAuthError('invalid_token').message) // generic detail
    expect(err.headers['WWW-Authenticate']).toMatch(/^Bearer realm="agentwrit", error="invalid_token"/)
    // the token never leaks into the error
    for (const part of token.split('.').filter((p) => p.length > 8)) {
      expect(`${err.message} ${err.reason} ${JSON.stringify(err.headers)}`).not.toContain(part)
    }
  })

  it('leaves the realm to the verifier, which uses the configured one', async () => {
    const err = await refusal(local({ publicKey: key.jwk, realm: 'api' }).verify('a.b.c'))
    expect(err.headers['WWW-Authenticate']).toMatch(/^Bearer realm="agentwrit"/)
    const verifier = createVerifier({ publicKey: key.jwk, realm: 'api' })
    const stamped = await refusal(verifier.verifyToken('a.b.c'))
    expect(stamped.headers['WWW-Authenticate']).toMatch(/^Bearer realm="api"/)
    await verifier.close()
  })
})

// ---- time ----------------------------------------------------------------------------------------

describe('time checks, as the broker', () => {
  const exp = T0 + 60

  it('valid during the second now == exp, expired from exp + 1', async () => {
    const s = local({ publicKey: key.jwk })
    nowMs = exp * 1000 + 999
    await expect(s.verify(signToken(key, claims({ exp })))).resolves.toBeDefined()
    nowMs = (exp + 1) * 1000
    expect((await refusal(s.verify(signToken(key, claims({ exp }))))).reason).toBe('expired')
  })

  it('nbf: refused before, accepted from that second; nbf 0 is not checked', async () => {
    const s = local({ publicKey: key.jwk })
    const nbf = T0 + 10
    nowMs = nbf * 1000 - 1
    expect((await refusal(s.verify(signToken(key, claims({ nbf }))))).reason).toBe('not_yet_valid')
    nowMs = nbf * 1000
    await expect(s.verify(signToken(key, claims({ nbf })))).resolves.toBeDefined()
    await expect(s.verify(signToken(key, claims({ nbf: 0 })))).resolves.toBeDefined()
    await expect(s.verify(signToken(key, claims({ nbf: undefined })))).resolves.toBeDefined()
  })

  it('clockToleranceSeconds widens exp and nbf', async () => {
    const s = local({ publicKey: key.jwk, clockToleranceSeconds: 10 })
    await expect(s.verify(signToken(key, claims({ exp: T0 - 10 })))).resolves.toBeDefined()
    expect((await refusal(s.verify(signToken(key, claims({ exp: T0 - 11 }))))).reason).toBe('expired')
    await expect(s.verify(signToken(key, claims({ nbf: T0 + 10 })))).resolves.toBeDefined()
    expect((await refusal(s.verify(signToken(key, claims({ nbf: T0 + 11 }))))).reason).toBe('not_yet_valid')
  })
})

// ---- warm path -----------------------------------------------------------------------------------

describe('verification cache', () => {
  it('a repeat is served from the cache without crypto, with its age', async () => {
    const s = local({ publicKey: key.jwk })
    const token = signToken(key, claims())
    expect((await s.verify(token)).source).toBe('local')
    expect(verifications).toHaveBeenCalledTimes(1)
    nowMs += 1_500
    const hit = await s.verify(token)
    expect(hit.source).toBe('cache')
    expect(hit.cacheAgeMs).toBe(1_500)
    expect(verifications).toHaveBeenCalledTimes(1)
  })

  it('concurrent first requests share one verification', async () => {
    const s = local({ publicKey: key.jwk })
    const token = signToken(key, claims())
    const results = await Promise.all(Array.from({ length: 10 }, () => s.verify(token)))
    expect(results.every((r) => r.source === 'local')).toBe(true)
    expect(verifications).toHaveBeenCalledTimes(1)
  })

  it('never outlives exp', async () => {
    const s = local({ publicKey: key.jwk })
    const exp = T0 + 30
    const token = signToken(key, claims({ exp }))
    await s.verify(token)
    nowMs = exp * 1000 + 999
    expect((await s.verify(token)).source).toBe('cache')
    nowMs = (exp + 1) * 1000
    expect((await refusal(s.verify(token))).reason).toBe('expired')
    expect(verifications).toHaveBeenCalledTimes(2) // the expired lookup re-verified: the entry was gone
  })

  it('is bounded by jwksMaxAgeMs', async () => {
    const s = local({ publicKey: key.jwk }, { jwksMaxAgeMs: 10_000 })
    const token = signToken(key, claims())
    await s.verify(token)
    nowMs += 10_000
    expect((await s.verify(token)).source).toBe('cache')
    nowMs += 1
    expect((await s.verify(token)).source).toBe('local')
    expect(verifications).toHaveBeenCalledTimes(2)
  })

  it('a forged signature on a cached token never hits the cached positive', async () => {
    const s = local({ publicKey: key.jwk })
    const c = claims()
    const good = signToken(key, c)
    await s.verify(good)
    const [h, p] = good.split('.')
    const forgedByOtherKey = signToken(other, c, { alg: 'EdDSA', typ: 'JWT', kid: key.kid })
    expect(forgedByOtherKey.startsWith(`${h}.${p}.`)).toBe(true)
    for (const forged of [forgedByOtherKey, tamperSignature(good)]) {
      const before = verifications.mock.calls.length
      expect((await refusal(s.verify(forged))).reason).toBe('bad_signature')
      expect(verifications.mock.calls.length).toBe(before + 1) // crypto ran: no cache shortcut
    }
    expect((await s.verify(good)).source).toBe('cache')
  })

  it('failures are not cached', async () => {
    const s = local({ publicKey: key.jwk })
    const token = signToken(key, claims({ nbf: T0 + 5 }))
    expect((await refusal(s.verify(token))).reason).toBe('not_yet_valid')
    nowMs += 5_000
    expect((await s.verify(token)).source).toBe('local')
  })

  it('is bounded by cacheMaxEntries', async () => {
    const s = local({ publicKey: key.jwk, cacheMaxEntries: 2 })
    const tokens = [signToken(key, claims()), signToken(key, claims()), signToken(key, claims())]
    for (const t of tokens) await s.verify(t)
    expect((await s.verify(tokens[0]!)).source).toBe('local') // evicted
    expect((await s.verify(tokens[2]!)).source).toBe('cache')
  })
})

// ---- key source failures -------------------------------------------------------------------------

describe('key source availability', () => {
  const publish = () => ({ keys: [{ ...key.jwk, kid: key.kid }] })

  it('JWKS down at start → 503 key_source_unavailable with Retry-After', async () => {
    const srv = await jwksServer(publish)
    await srv.stop()
    const s = local({ jwksUri: srv.url, retryAfterSeconds: 7 })
    const err = await refusal(s.verify(signToken(key, claims())))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.status).toBe(503)
    expect(err.headers['Retry-After']).toBe('7')
  })

  it('JWKS down during operation: known kids still verify, an unknown kid is 503', async () => {
    const srv = await jwksServer(publish)
    const s = local({ jwksUri: srv.url }, { jwksMaxAgeMs: 100, jwksCooldownMs: 100 })
    await s.verify(signToken(key, claims()))
    await srv.stop()
    await new Promise((r) => setTimeout(r, 150))
    for (let i = 0; i < 5; i++) expect((await s.verify(signToken(key, claims()))).source).toBe('local')
    const err = await refusal(s.verify(signToken(other, claims())))
    expect(err.code).toBe('key_source_unavailable')
  })

  it('key rotation: a token under a new kid is accepted after the JWKS refetch', async () => {
    let keys = [key]
    const srv = await jwksServer(() => ({ keys: keys.map((k) => ({ ...k.jwk, kid: k.kid })) }))
    const s = local({ jwksUri: srv.url }, { jwksCooldownMs: 100 })
    await s.verify(signToken(key, claims()))
    expect((await refusal(s.verify(signToken(other, claims())))).reason).toBe('unknown_kid')
    keys = [key, other]
    await new Promise((r) => setTimeout(r, 150))
    expect((await s.verify(signToken(other, claims()))).source).toBe('local')
    expect(srv.requests()).toBe(2)
  })

  it('close() refuses further verification with a 503 and drops the cache', async () => {
    const s = local({ publicKey: key.jwk })
    const token = signToken(key, claims())
    await s.verify(token)
    await s.close()
    const err = await refusal(s.verify(token))
    expect(err.code).toBe('key_source_unavailable')
    expect(err.reason).toBe('closed')
  })

  it('an unusable publicKey is a TypeError at creation', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' })
    expect(() => local({ publicKey: key.jwk }, { publicKey: rsa })).toThrow(/"publicKey"/)
  })
})
