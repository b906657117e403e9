import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertBearerSyntax, hasQueryToken, looksLikeJws, readBearer } from '../../src/core/bearer.js'
import { AgentAuthError } from '../../src/core/errors.js'
import { countRawHeader, getHeaderValues } from '../../src/core/headers.js'

const OPTS = { maxTokenLength: 64 }
const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'

function refusal(fn: () => unknown): AgentAuthError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AgentAuthError)
    return err as AgentAuthError
  }
  throw new Error('expected an AgentAuthError')
}

function auth(value: string | string[] | undefined, raw?: string[]) {
  const headers: IncomingHttpHeaders = value === undefined ? {} : { authorization: value as string }
  return readBearer(headers, raw, OPTS)
}

/** The verifier's order: the credential out of the header, then its `b64token` check. */
function authAndSyntax(value: string) {
  const token = auth(value)
  assertBearerSyntax(token)
  return token
}

describe('readBearer + assertBearerSyntax: accepted', () => {
  const ok: [string, string, string][] = [
    ['canonical', `Bearer ${JWT}`, JWT],
    ['lower-case scheme (RFC 7235: case-insensitive)', `bearer ${JWT}`, JWT],
    ['upper-case scheme', `BEARER ${JWT}`, JWT],
    ['mixed-case scheme', `BeArEr ${JWT}`, JWT],
    ['several spaces (1*SP)', `Bearer    ${JWT}`, JWT],
    ['trailing spaces trimmed (RFC 9110 §5.5, as Node does)', `Bearer ${JWT}   `, JWT],
    ['trailing tab trimmed', `Bearer ${JWT}\t`, JWT],
    ['leading OWS trimmed', ` \tBearer ${JWT}`, JWT],
    ['b64token charset', 'Bearer AZaz09-._~+/', 'AZaz09-._~+/'],
    ['b64token padding', 'Bearer abc==', 'abc=='],
    ['opaque (not a JWS) is still extracted', 'Bearer opaque', 'opaque'],
    ['exactly maxTokenLength', `Bearer ${'a'.repeat(64)}`, 'a'.repeat(64)],
  ]
  it.each(ok)('%s', (_name, header, token) => {
    expect(authAndSyntax(header)).toBe(token)
  })

  it('finds the header under any key case in a hand-built object', () => {
    expect(readBearer({ Authorization: `Bearer ${JWT}` }, undefined, OPTS)).toBe(JWT)
    expect(readBearer({ AUTHORIZATION: `Bearer ${JWT}` }, undefined, OPTS)).toBe(JWT)
  })

  it('accepts a single-element array value', () => {
    expect(readBearer({ authorization: [`Bearer ${JWT}`] }, undefined, OPTS)).toBe(JWT)
  })

  it('accepts a WHATWG Headers object', () => {
    expect(readBearer(new Headers({ Authorization: `Bearer ${JWT}` }), undefined, OPTS)).toBe(JWT)
  })

  it('accepts rawHeaders with a single Authorization', () => {
    expect(auth(`Bearer ${JWT}`, ['Host', 'x', 'Authorization', `Bearer ${JWT}`])).toBe(JWT)
  })
})

describe('readBearer: no bearer credentials → 401 missing_token, bare challenge', () => {
  const cases: [string, IncomingHttpHeaders, string][] = [
    ['no header', {}, 'no_authorization_header'],
    ['undefined value', { authorization: undefined }, 'no_authorization_header'],
    ['other headers only', { host: 'x', cookie: 'a=b' }, 'no_authorization_header'],
    ['Basic', { authorization: 'Basic dXNlcjpwYXNz' }, 'unsupported_authorization_scheme'],
    ['DPoP', { authorization: `DPoP ${JWT}` }, 'unsupported_authorization_scheme'],
    ['scheme only, not Bearer', { authorization: 'Negotiate' }, 'unsupported_authorization_scheme'],
    ['Bearer-prefixed other scheme', { authorization: `Bearerx ${JWT}` }, 'unsupported_authorization_scheme'],
    ['token68 without scheme', { authorization: JWT }, 'unsupported_authorization_scheme'],
  ]
  it.each(cases)('%s', (_name, headers, reason) => {
    const err = refusal(() => readBearer(headers, undefined, OPTS))
    expect(err.code).toBe('missing_token')
    expect(err.status).toBe(401)
    expect(err.reason).toBe(reason)
    // No realm of its own: the verifier or the middleware it leaves through stamps theirs.
    expect(err.inRealm('test-realm').headers['WWW-Authenticate']).toBe('Bearer realm="test-realm"')
  })

  it('ignores a prototype-inherited authorization', () => {
    const headers = Object.create({ authorization: `Bearer ${JWT}` }) as IncomingHttpHeaders
    expect(refusal(() => readBearer(headers, undefined, OPTS)).code).toBe('missing_token')
  })

  it('ignores a non-string value', () => {
    const headers = { authorization: 42 } as unknown as IncomingHttpHeaders
    expect(refusal(() => readBearer(headers, undefined, OPTS)).code).toBe('missing_token')
  })
})

const SECRET = 'SeCrEtToKeN'

function expectInvalidRequest(err: AgentAuthError, reason: string): void {
  expect(err.code).toBe('invalid_request')
  expect(err.status).toBe(400)
  expect(err.reason).toBe(reason)
  expect(err.inRealm('test-realm').headers['WWW-Authenticate']).toMatch(
    /^Bearer realm="test-realm", error="invalid_request"/,
  )
  const everything = `${err.message} ${err.reason} ${JSON.stringify(err.headers)} ${JSON.stringify(err.toProblem('/'))}`
  expect(everything).not.toContain(SECRET)
  expect(everything).not.toContain('aaaaaaaa')
}

describe('readBearer: malformed header → 400 invalid_request', () => {
  const cases: [string, string, string][] = [
    ['empty', '', 'empty_authorization_header'],
    ['spaces only', '   ', 'empty_authorization_header'],
    ['tab only', '\t', 'empty_authorization_header'],
    ['Bearer without token', 'Bearer', 'empty_bearer_token'],
    ['bearer without token, trailing spaces', 'bearer   ', 'empty_bearer_token'],
    ['tab separator', `Bearer\t${SECRET}`, 'malformed_authorization_header'],
    ['colon after scheme', `Bearer:${SECRET}`, 'malformed_authorization_header'],
    ['equals after scheme', `Bearer=${SECRET}`, 'malformed_authorization_header'],
    ['comma after scheme', `Bearer,${SECRET}`, 'malformed_authorization_header'],
    ['no scheme token', `"${SECRET}"`, 'malformed_authorization_header'],
    ['starts with non-token char', `@Bearer ${SECRET}`, 'malformed_authorization_header'],
    ['too long', `Bearer ${SECRET}${'a'.repeat(64)}`, 'token_too_long'],
    ['too long and malformed (length checked first)', `Bearer ${SECRET} ${'a'.repeat(64)}`, 'token_too_long'],
  ]
  it.each(cases)('%s', (_name, header, reason) => {
    expectInvalidRequest(
      refusal(() => auth(header)),
      reason,
    )
  })

  it('oversized token detail never contains the token', () => {
    const token = 'Z'.repeat(65)
    const err = refusal(() => auth(`Bearer ${token}`))
    expect(err.message).toBe('bearer token is too long')
    expect(err.message).not.toContain('ZZZZ')
  })
})

describe('assertBearerSyntax: not a b64token, or something after it → 400 invalid_request', () => {
  const cases: [string, string][] = [
    ['two tokens', `Bearer ${SECRET} ${SECRET}`],
    ['token then tab then junk', `Bearer ${SECRET}\tx`],
    ['two credentials joined', `Bearer ${SECRET}, Basic abc`],
    ['auth-param form', `Bearer token=${SECRET}x`],
    ['padding in the middle', `Bearer ab=${SECRET}`],
    ['quoted token', `Bearer "${SECRET}"`],
    ['non-ASCII', `Bearer ${SECRET}é`],
    ['control char', `Bearer ${SECRET}\u0000`],
    ['CRLF injection', `Bearer ${SECRET}\r\nX: y`],
    ['only padding', 'Bearer =='],
  ]
  it.each(cases)(
    '%s: readBearer passes the rest on verbatim, assertBearerSyntax refuses it',
    (_name, header) => {
      const token = auth(header)
      expect(`${header.slice(0, 7)}${token}`).toBe(header)
      expectInvalidRequest(
        refusal(() => assertBearerSyntax(token)),
        'malformed_bearer_token',
      )
    },
  )
})

describe('readBearer: duplicated Authorization → 400 invalid_request', () => {
  it('duplicate Authorization in rawHeaders (Node keeps only the first in req.headers)', () => {
    const err = refusal(() =>
      auth(`Bearer ${JWT}`, ['Authorization', `Bearer ${JWT}`, 'authorization', 'Bearer other']),
    )
    expect(err.code).toBe('invalid_request')
    expect(err.reason).toBe('duplicate_authorization_header')
    expect(err.message).not.toContain(JWT)
  })

  it('duplicate even when the second one is another scheme', () => {
    const err = refusal(() =>
      auth(`Bearer ${JWT}`, ['authorization', `Bearer ${JWT}`, 'AUTHORIZATION', 'Basic x']),
    )
    expect(err.reason).toBe('duplicate_authorization_header')
  })

  it('duplicate as an array value', () => {
    const err = refusal(() =>
      readBearer({ authorization: [`Bearer ${JWT}`, `Bearer ${JWT}`] }, undefined, OPTS),
    )
    expect(err.reason).toBe('duplicate_authorization_header')
  })

  it('duplicate as two keys differing in case', () => {
    const err = refusal(() =>
      readBearer({ authorization: `Bearer ${JWT}`, Authorization: `Bearer ${JWT}` }, undefined, OPTS),
    )
    expect(err.reason).toBe('duplicate_authorization_header')
  })

  it('WHATWG Headers joins duplicates with ", ": read as one credential, then not a b64token', () => {
    const h = new Headers()
    h.append('Authorization', 'Bearer a.b.c')
    h.append('Authorization', 'Bearer a.b.c')
    const token = readBearer(h, undefined, OPTS)
    expect(token).toBe('a.b.c, Bearer a.b.c')
    expect(refusal(() => assertBearerSyntax(token)).reason).toBe('malformed_bearer_token')
  })
})

describe('readBearer against a real node:http server', () => {
  let port = 0
  const server = createServer((req: IncomingMessage, res) => {
    let body: unknown
    try {
      body = { token: readBearer(req.headers, req.rawHeaders, OPTS) }
    } catch (err) {
      const e = err as AgentAuthError
      body = { code: e.code, reason: e.reason, first: req.headers.authorization }
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  })
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  function send(headerLines: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET / HTTP/1.1\r\nHost: x\r\n${headerLines}Connection: close\r\n\r\n`)
      })
      let buf = ''
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => {
        buf += d
      })
      socket.on('error', reject)
      socket.on('end', () =>
        resolve(JSON.parse(buf.slice(buf.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>),
      )
    })
  }

  it('Node keeps only the first duplicate in req.headers; rawHeaders reveals it', async () => {
    const r = await send(`Authorization: Bearer ${JWT}\r\nAuthorization: Bearer other\r\n`)
    expect(r).toEqual({
      code: 'invalid_request',
      reason: 'duplicate_authorization_header',
      first: `Bearer ${JWT}`,
    })
  })

  it('a single header with padding spaces works (Node strips OWS)', async () => {
    expect(await send(`Authorization:    Bearer   ${JWT}   \r\n`)).toEqual({ token: JWT })
  })

  it('an empty header is invalid_request', async () => {
    expect(await send('Authorization:\r\n')).toMatchObject({ code: 'invalid_request' })
  })

  it('no header is missing_token', async () => {
    expect(await send('')).toMatchObject({ code: 'missing_token' })
  })
})

describe('headers helpers', () => {
  it('getHeaderValues collects across keys and arrays, own properties only', () => {
    expect(getHeaderValues({ a: 'x', A: ['y', 'z'] }, 'a')).toEqual(['x', 'y', 'z'])
    expect(getHeaderValues({}, 'a')).toEqual([])
    expect(getHeaderValues(null, 'a')).toEqual([])
    expect(getHeaderValues(new Headers({ A: '1' }), 'a')).toEqual(['1'])
    expect(getHeaderValues(new Headers(), 'a')).toEqual([])
  })
  it('countRawHeader counts names only (even indexes), case-insensitively', () => {
    expect(countRawHeader(['Authorization', 'authorization', 'AUTHORIZATION', 'x'], 'authorization')).toBe(2)
    expect(countRawHeader(undefined, 'authorization')).toBe(0)
    expect(countRawHeader('nope' as unknown as string[], 'authorization')).toBe(0)
  })
})

describe('looksLikeJws', () => {
  const yes = [JWT, 'a.b.c', 'A-_.0-9.z_']
  const no = [
    '',
    'a.b',
    'a.b.c.d',
    '.b.c',
    'a..c',
    'a.b.',
    'a.b.c=',
    'a.b+.c',
    'a.b/.c',
    'a.b.c ',
    ' a.b.c',
    'a.b.c\n',
    'a.b~.c',
    'opaque',
    '...',
    'eyJ.eyJ.',
  ]
  it.each(yes)('%j → true', (t) => {
    expect(looksLikeJws(t)).toBe(true)
  })
  it.each(yes)('%j is a b64token too (the verifier skips assertBearerSyntax for it)', (t) => {
    expect(() => assertBearerSyntax(t)).not.toThrow()
  })
  it.each(no)('%j → false', (t) => {
    expect(looksLikeJws(t)).toBe(false)
  })
  it.each([undefined, null, 1, {}])('non-string %j → false', (t) => {
    expect(looksLikeJws(t as unknown as string)).toBe(false)
  })
})

describe('hasQueryToken', () => {
  const cases: [string, boolean][] = [
    ['/x', false],
    ['/x?', false],
    ['/x?a=1', false],
    ['/x?access_token=abc', true],
    ['/x?a=1&access_token=abc', true],
    ['/x?access_token=', true],
    ['/x?access_token', true],
    ['/x?access%5Ftoken=abc', true],
    ['/x?%61ccess_token=abc', true],
    ['https://api.example/x?access_token=abc#frag', true],
    ['/x#?access_token=abc', false],
    ['/x?a=1#access_token=abc', false],
    ['/x?ACCESS_TOKEN=abc', false],
    ['/x?my_access_token=abc', false],
    ['/x?access_tokens=abc', false],
    ['/x?q=access_token', false],
    ['/access_token?x=1', false],
    ['/x?a=%ZZ&access_token=1', true],
  ]
  it.each(cases)('%j → %s', (url, expected) => {
    expect(hasQueryToken(url)).toBe(expected)
  })
  it('non-string → false', () => {
    expect(hasQueryToken(undefined as unknown as string)).toBe(false)
  })
})
