/**
 * The revocation feed's credential, with a fake audit client and an injected clock: the admin
 * secret (login, again at 75 % of the admin token's lifetime and after a refusal), a token given as
 * text (renewed at 75 % through `POST /v1/token/renew`, the old one kept until expiry when renewal
 * fails), a token function (called every time, junk refused, bounded in time).
 */
import { describe, expect, it } from 'vitest'
import { type AuditClient, FeedCallError, type IssuedToken } from '../../src/core/audit-client.js'
import { createFeedCredential, type FeedTokenSource } from '../../src/core/feed-credential.js'

/** A compact JWS-looking token with these `iat` / `exp` (seconds); the signature is not checked. */
function jwt(iat: number, exp: number, jti = 'x'): string {
  const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${b({ alg: 'EdDSA', typ: 'JWT' })}.${b({ sub: 'admin', iat, exp, jti })}.c2ln`
}

class FakeClient implements AuditClient {
  logins = 0
  renewed: string[] = []
  /** What the next adminAuth / renew answers (a function may throw). */
  login: () => IssuedToken = () => ({ token: `admin-${this.logins}`, expiresInSeconds: 300 })
  renewal: (bearer: string) => IssuedToken = (bearer) => ({
    token: `${bearer}+r`,
    expiresInSeconds: 300,
  })
  gate: Promise<void> | undefined
  async events(): Promise<never> {
    throw new Error('not used')
  }
  async adminAuth(secret: string): Promise<IssuedToken> {
    expect(secret).toBe('s3cret')
    this.logins++
    await this.gate
    return this.login()
  }
  async renew(bearer: string): Promise<IssuedToken> {
    this.renewed.push(bearer)
    await this.gate
    return this.renewal(bearer)
  }
  async close(): Promise<void> {}
}

function setup(source: { token?: FeedTokenSource; adminSecret?: string }, timeoutMs = 1000) {
  let t = 1_700_000_000_000
  const client = new FakeClient()
  const credential = createFeedCredential({ ...source, client, now: () => t, timeoutMs })
  return {
    client,
    credential,
    advance(ms: number) {
      t += ms
    },
    get t() {
      return t
    },
  }
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(FeedCallError)
    return (e as FeedCallError).reason
  }
  throw new Error('expected a rejection')
}

describe('admin secret', () => {
  it('logs in on first use, then reuses the token until 75 % of its lifetime', async () => {
    const s = setup({ adminSecret: 's3cret' })
    expect(await s.credential.bearer()).toBe('admin-1')
    expect(s.client.logins).toBe(1)
    s.advance(224_999)
    expect(await s.credential.bearer()).toBe('admin-1')
    expect(s.client.logins).toBe(1)
    s.advance(1) // 225 s of 300 s
    expect(await s.credential.bearer()).toBe('admin-2')
    expect(s.client.logins).toBe(2)
    expect(s.credential.renewals).toBe(2)
    expect(await s.credential.bearer()).toBe('admin-2')
    expect(s.client.logins).toBe(2)
  })

  it('logs in again after the broker refused the token (401)', async () => {
    const s = setup({ adminSecret: 's3cret' })
    const first = await s.credential.bearer()
    s.credential.refused(first)
    expect(await s.credential.bearer()).toBe('admin-2')
    expect(s.client.logins).toBe(2)
  })

  it('a refusal of a token already replaced does not log in again', async () => {
    const s = setup({ adminSecret: 's3cret' })
    const first = await s.credential.bearer()
    s.advance(230_000)
    expect(await s.credential.bearer()).toBe('admin-2')
    s.credential.refused(first) // a late answer to a read made with the old token
    expect(await s.credential.bearer()).toBe('admin-2')
    expect(s.client.logins).toBe(2)
  })

  it('concurrent first uses share one login', async () => {
    const s = setup({ adminSecret: 's3cret' })
    let open!: () => void
    s.client.gate = new Promise((r) => {
      open = r
    })
    const all = Promise.all([s.credential.bearer(), s.credential.bearer(), s.credential.bearer()])
    open()
    expect(await all).toEqual(['admin-1', 'admin-1', 'admin-1'])
    expect(s.client.logins).toBe(1)
  })

  it('a failed login fails the call, and the next call tries again', async () => {
    const s = setup({ adminSecret: 's3cret' })
    s.client.login = () => {
      throw new FeedCallError('status_401', 401)
    }
    expect(await reason(s.credential.bearer())).toBe('status_401')
    s.client.login = () => ({ token: 'ok', expiresInSeconds: 300 })
    expect(await s.credential.bearer()).toBe('ok')
    expect(s.client.logins).toBe(2)
    expect(s.credential.renewals).toBe(1)
  })

  it('a failed re-login at 75 % keeps the current token until it expires', async () => {
    const s = setup({ adminSecret: 's3cret' })
    expect(await s.credential.bearer()).toBe('admin-1')
    s.client.login = () => {
      throw new FeedCallError('status_429', 429)
    }
    s.advance(240_000)
    expect(await s.credential.bearer()).toBe('admin-1')
    s.advance(59_999)
    expect(await s.credential.bearer()).toBe('admin-1')
    s.advance(1) // expired
    expect(await reason(s.credential.bearer())).toBe('status_429')
  })
})

describe('a token given as text', () => {
  it('is used as is until 75 % of its own lifetime, then renewed through the broker', async () => {
    const s = setup({})
    const now = Math.floor(s.t / 1000)
    const token = jwt(now, now + 100)
    const c = createFeedCredential({ token, client: s.client, now: () => s.t, timeoutMs: 1000 })
    expect(await c.bearer()).toBe(token)
    s.advance(74_999)
    expect(await c.bearer()).toBe(token)
    expect(s.client.renewed).toEqual([])
    s.advance(1)
    expect(await c.bearer()).toBe(`${token}+r`)
    expect(s.client.renewed).toEqual([token])
    expect(c.renewals).toBe(1)
    // the successor's lifetime is the broker's expires_in (300 s): next renewal at 225 s
    s.advance(224_999)
    expect(await c.bearer()).toBe(`${token}+r`)
    s.advance(1)
    expect(await c.bearer()).toBe(`${token}+r+r`)
    expect(s.client.renewed).toEqual([token, `${token}+r`])
  })

  it('the renewal is done before the token is handed out (the broker revokes the old one at once)', async () => {
    const s = setup({})
    const now = Math.floor(s.t / 1000)
    const token = jwt(now, now + 100)
    const c = createFeedCredential({ token, client: s.client, now: () => s.t, timeoutMs: 1000 })
    s.advance(80_000)
    let open!: () => void
    s.client.gate = new Promise((r) => {
      open = r
    })
    let handed: string | undefined
    const p = c.bearer().then((b) => {
      handed = b
    })
    await new Promise((r) => setTimeout(r, 5))
    expect(handed).toBeUndefined() // not the old token while its renewal is under way
    open()
    await p
    expect(handed).toBe(`${token}+r`)
  })

  it('a failed renewal keeps the old token until it expires, trying again each time', async () => {
    const s = setup({})
    const now = Math.floor(s.t / 1000)
    const token = jwt(now, now + 100)
    const c = createFeedCredential({ token, client: s.client, now: () => s.t, timeoutMs: 1000 })
    s.client.renewal = () => {
      throw new FeedCallError('status_503', 503)
    }
    s.advance(80_000)
    expect(await c.bearer()).toBe(token)
    s.advance(10_000)
    expect(await c.bearer()).toBe(token)
    expect(s.client.renewed).toEqual([token, token])
    s.advance(10_001) // past exp
    expect(await reason(c.bearer())).toBe('status_503')
    expect(c.renewals).toBe(0)
  })

  it('refused: the next call renews (and fails when the broker refuses the renewal too)', async () => {
    const s = setup({})
    const now = Math.floor(s.t / 1000)
    const token = jwt(now, now + 100)
    const c = createFeedCredential({ token, client: s.client, now: () => s.t, timeoutMs: 1000 })
    c.refused(token)
    s.client.renewal = () => {
      throw new FeedCallError('status_401', 401)
    }
    expect(await reason(c.bearer())).toBe('status_401')
    expect(s.client.renewed).toEqual([token])
  })

  it('an opaque token (no readable iat/exp) is never renewed', async () => {
    const s = setup({})
    const c = createFeedCredential({
      token: 'opaque-token',
      client: s.client,
      now: () => s.t,
      timeoutMs: 1000,
    })
    s.advance(10 * 86_400_000)
    expect(await c.bearer()).toBe('opaque-token')
    expect(s.client.renewed).toEqual([])
  })
})

describe('a token function', () => {
  it('is called for every use, and may be async', async () => {
    let calls = 0
    const s = setup({
      token: async () => {
        calls++
        return `t${calls}`
      },
    })
    expect(await s.credential.bearer()).toBe('t1')
    expect(await s.credential.bearer()).toBe('t2')
    s.credential.refused('t2') // nothing to do: the function decides
    expect(await s.credential.bearer()).toBe('t3')
    expect(calls).toBe(3)
    expect(s.client.logins).toBe(0)
    expect(s.client.renewed).toEqual([])
    expect(s.credential.renewals).toBe(0)
  })

  it.each([
    ['undefined', () => undefined],
    ['null', () => null],
    ['a number', () => 42],
    ['an object', () => ({ token: 'x' })],
    ['an empty string', () => ''],
    ['a string with a space', () => 'a b'],
    ['a string with CR LF', () => 'a\r\nX-Injected: 1'],
    ['a non-ASCII string', () => 'tökén'],
    ['a promise of a number', async () => 7],
  ])('junk (%s) → token_function_returned_no_token', async (_n, fn) => {
    const s = setup({ token: fn as unknown as () => string })
    expect(await reason(s.credential.bearer())).toBe('token_function_returned_no_token')
  })

  it.each([
    [
      'throws',
      () => {
        throw new Error('boom')
      },
    ],
    ['rejects', () => Promise.reject(new Error('boom'))],
    ['rejects with a non-error', () => Promise.reject('nope')],
  ])('a function that %s → token_function_failed (and the error is not passed on)', async (_n, fn) => {
    const s = setup({ token: fn as unknown as () => string })
    expect(await reason(s.credential.bearer())).toBe('token_function_failed')
  })

  it('a function that never settles → token_function_timeout after the call timeout', async () => {
    const s = setup({ token: () => new Promise<string>(() => {}) }, 30)
    const started = Date.now()
    expect(await reason(s.credential.bearer())).toBe('token_function_timeout')
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('recovers once the function returns a token again', async () => {
    let bad = true
    const s = setup({ token: () => (bad ? '' : 'good') })
    expect(await reason(s.credential.bearer())).toBe('token_function_returned_no_token')
    bad = false
    expect(await s.credential.bearer()).toBe('good')
  })
})
