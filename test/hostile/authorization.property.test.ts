/**
 * Property: random bytes and random strings as the `Authorization` header — and every mutation of a
 * genuine token — never make `createVerifier(...).authenticate` succeed or fail with a 5xx. The only
 * outcomes are `AgentAuthError` 400 or 401. Local mode with a pinned key: no network at all.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentAuthError, createVerifier, type Verifier } from '../../src/index.js'
import { startDevBroker } from '../../src/testing/index.js'
import { b64u, jti } from '../helpers/tokens.js'

let verifier: Verifier
let genuine = ''
let signedOdd: (header: Record<string, unknown>, claims: Record<string, unknown> | string) => string

beforeAll(async () => {
  const broker = await startDevBroker({ sampleApp: false })
  verifier = createVerifier({ publicKey: broker.publicJwk, cacheTtlMs: 0 })
  const now = Math.floor(Date.now() / 1000)
  genuine = broker.signToken({
    iss: '',
    sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
    exp: now + 3600,
    nbf: now,
    iat: now,
    jti: jti(),
    scope: ['read:data:customer-7'],
  })
  signedOdd = (h, c) => broker.signToken(c, h)
  // the key lives in the verifier now; the broker (and its port) is not needed any more
  await broker.close()
})
afterAll(async () => {
  await verifier?.close()
})

/** Authenticate with this header value (and, optionally, a duplicate); return the status. */
async function statusOf(value: string, duplicate?: string): Promise<number> {
  const raw =
    duplicate === undefined ? ['Authorization', value] : ['Authorization', value, 'authorization', duplicate]
  try {
    await verifier.authenticate({ headers: { authorization: value }, rawHeaders: raw, url: '/x' })
    return 200
  } catch (err) {
    if (!(err instanceof AgentAuthError)) throw err
    return err.status
  }
}

const REFUSED = [400, 401]
const seg = fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/)
const b64json = fc.jsonValue({ maxDepth: 3 }).map((j) => b64u(JSON.stringify(j) ?? 'null'))
const header = fc
  .record(
    {
      alg: fc.oneof(
        fc.constant('EdDSA'),
        fc.constantFrom('none', 'HS256', 'eddsa', 'Ed25519', 'ES256'),
        fc.string(),
      ),
      kid: fc.oneof(fc.string(), fc.jsonValue()),
      typ: fc.string(),
      b64: fc.jsonValue(),
      crit: fc.jsonValue(),
      jku: fc.webUrl(),
      jwk: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((h) => b64u(JSON.stringify(h)))
const signature = fc.oneof(seg, fc.stringMatching(/^[A-Za-z0-9_-]{85}[AQgw]$/))
const jwsLike = fc
  .tuple(fc.oneof(seg, b64json, header), fc.oneof(seg, b64json), signature)
  .map((parts) => parts.join('.'))
const schemes = fc.constantFrom(
  'Bearer ',
  'bearer ',
  'BEARER  ',
  'Bearer\t',
  'Basic ',
  'Bearer',
  '',
  ' Bearer ',
)

describe('random Authorization headers → only 400/401', () => {
  it('arbitrary strings (any code points)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (s) => {
        expect(REFUSED).toContain(await statusOf(s))
      }),
      { numRuns: 2000 },
    )
  })

  it('random bytes read as latin-1 (what Node hands over)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        expect(REFUSED).toContain(await statusOf(Buffer.from(bytes).toString('latin1')))
      }),
      { numRuns: 2000 },
    )
  })

  it('a scheme followed by JWS-shaped junk (random headers, payloads, signatures)', async () => {
    await fc.assert(
      fc.asyncProperty(schemes, jwsLike, async (scheme, token) => {
        expect(REFUSED).toContain(await statusOf(`${scheme}${token}`))
      }),
      { numRuns: 3000 },
    )
  })

  it('oversized values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8_000, max: 70_000 }),
        fc.constantFrom('a', '.', 'A.', '='),
        async (n, c) => {
          expect(REFUSED).toContain(await statusOf(`Bearer ${c.repeat(Math.ceil(n / c.length))}`))
        },
      ),
      { numRuns: 50 },
    )
  })

  it('duplicates, whatever they hold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), async (other) => {
        expect(await statusOf(`Bearer ${genuine}`, other)).toBe(400)
      }),
      { numRuns: 300 },
    )
  })
})

describe('every mutation of a genuine token is refused (400/401), never accepted', () => {
  it('the genuine token itself is accepted (control)', async () => {
    expect(await statusOf(`Bearer ${genuine}`)).toBe(200)
  })

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ~'
  const mutation = fc.oneof(
    // replace one character
    fc.tuple(fc.constant('replace' as const), fc.nat(), fc.constantFrom(...ALPHABET)),
    // insert one character
    fc.tuple(fc.constant('insert' as const), fc.nat(), fc.constantFrom(...ALPHABET)),
    // delete one character
    fc.tuple(fc.constant('delete' as const), fc.nat(), fc.constant('')),
    // truncate
    fc.tuple(fc.constant('truncate' as const), fc.nat(), fc.constant('')),
  )

  it('single and double character edits anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 2 }), async (edits) => {
        let t = genuine
        for (const [kind, at, c] of edits) {
          const i = at % (t.length + (kind === 'insert' ? 1 : 0))
          if (kind === 'replace') t = `${t.slice(0, i)}${c}${t.slice(i + 1)}`
          else if (kind === 'insert') t = `${t.slice(0, i)}${c}${t.slice(i)}`
          else if (kind === 'delete') t = `${t.slice(0, i)}${t.slice(i + 1)}`
          else t = t.slice(0, i)
        }
        // Spaces added before or after the token are separator / optional whitespace (RFC 7235
        // `1*SP`, RFC 9110 OWS): `Bearer  <genuine>` is the genuine credential, not an edit of it.
        fc.pre(t.replace(/^ +| +$/g, '') !== genuine)
        expect(REFUSED).toContain(await statusOf(`Bearer ${t}`))
      }),
      { numRuns: 3000 },
    )
  })

  it('segments swapped, duplicated or re-encoded', async () => {
    const [h, p, s] = genuine.split('.') as [string, string, string]
    const padded = (x: string) => x + '='.repeat((4 - (x.length % 4)) % 4)
    const std = (x: string) => Buffer.from(x, 'base64url').toString('base64')
    const variants = [
      `${p}.${h}.${s}`,
      `${h}.${h}.${s}`,
      `${h}.${p}.${p}`,
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${padded(h)}.${p}.${s}`,
      `${h}.${padded(p)}.${s}`,
      `${h}.${p}.${padded(s)}`,
      `${std(h)}.${std(p)}.${std(s)}`,
      `${h.toLowerCase()}.${p}.${s}`,
      `${h}.${p}.${s.toUpperCase()}`,
      ` ${genuine}`.trim().replace('.', '..'),
    ]
    for (const v of variants) {
      if (v === genuine) continue
      expect(REFUSED, v.slice(0, 20)).toContain(await statusOf(`Bearer ${v}`))
    }
  })

  it('broker-signed tokens with random header members and random claim sets never crash (200 only for well-formed claims)', async () => {
    const now = Math.floor(Date.now() / 1000)
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          { kid: fc.oneof(fc.string(), fc.jsonValue()), typ: fc.jsonValue(), x: fc.jsonValue() },
          { requiredKeys: [] },
        ),
        fc.record(
          {
            sub: fc.oneof(fc.constant('spiffe://agentwrit.local/agent/o/t/0123456789abcdef'), fc.jsonValue()),
            jti: fc.oneof(fc.constant('j'), fc.jsonValue()),
            exp: fc.oneof(fc.constant(now + 60), fc.jsonValue(), fc.double()),
            nbf: fc.oneof(fc.constant(now), fc.jsonValue()),
            scope: fc.oneof(fc.constant(['read:data:x']), fc.jsonValue()),
            delegation_chain: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        async (h, c) => {
          const status = await statusOf(`Bearer ${signedOdd({ alg: 'EdDSA', ...h }, JSON.stringify(c))}`)
          expect([200, 400, 401]).toContain(status)
          if (status === 200) {
            expect(typeof c.sub).toBe('string')
            expect(Number.isSafeInteger(c.exp) && (c.exp as number) >= now).toBe(true)
          }
        },
      ),
      { numRuns: 1500 },
    )
  })
})
