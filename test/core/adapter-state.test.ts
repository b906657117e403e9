import { describe, expect, it } from 'vitest'
import {
  AdapterState,
  accessOf,
  asRefusal,
  authenticateWith,
  identityFor,
} from '../../src/core/adapter-state.js'
import { requestAuthenticator } from '../../src/core/verifier.js'
import { AgentAuthError, type AgentIdentity, createVerifier, type Verifier } from '../../src/index.js'

const FOREIGN = {
  id: 'spiffe://agentwrit.local/agent/o/t/i',
  scope: ['read:data:x'],
} as unknown as AgentIdentity

const NEVER_ASKED = () => {
  throw new Error('must not be asked')
}

/** The settings of a middleware over `verifier` (default: one that must not be asked). */
function stateOf(realm: string, optional: boolean, verifier?: Verifier): AdapterState<null> {
  return new AdapterState(realm, null, optional, verifier ? requestAuthenticator(verifier) : NEVER_ASKED)
}

function handWritten(authenticate: Verifier['authenticate']): Verifier {
  return {
    options: { realm: 'r' } as Verifier['options'],
    authenticate,
    verifyToken: () => Promise.reject(new Error('unused')),
    stats: () => ({ brokerCalls: 0, cacheEntries: 0 }) as ReturnType<Verifier['stats']>,
    ready: async () => ({ ready: true, checks: {} }),
    close: async () => {},
  }
}

describe('asRefusal', () => {
  it.each([null, undefined, 0, false, '', 'text', new Error('x'), { code: 'invalid_token' }])(
    'turns %o into a configuration_error carrying it',
    (value) => {
      const err = asRefusal(value)
      expect(err).toBeInstanceOf(AgentAuthError)
      expect(err.code).toBe('configuration_error')
      expect(err.status).toBe(500)
      expect(err.cause).toBe(value)
    },
  )
  it('keeps an AgentAuthError as it is', () => {
    const e = new AgentAuthError('invalid_token')
    expect(asRefusal(e)).toBe(e)
  })
})

describe('AdapterState', () => {
  it('accepts what looks like an identity and remembers whose it is', () => {
    const state = stateOf('r', false)
    expect(state.accept(FOREIGN)).toBe(FOREIGN)
    expect(state.owns(FOREIGN)).toBe(true)
    expect(stateOf('r', false).owns(FOREIGN)).toBe(false)
    expect(accessOf(FOREIGN, {})).toEqual({ agent: FOREIGN, state })
  })
  it.each([null, undefined, 0, {}, { id: '' }, { id: 'a', scope: 'x' }, { id: 'a', scope: [1] }, 'id'])(
    'refuses %o as an identity (500)',
    (value) => {
      expect(() => stateOf('r', false).accept(value)).toThrow(
        expect.objectContaining({ code: 'configuration_error' }),
      )
    },
  )
  it('lets a request without Authorization pass only when optional, and never with a query token', () => {
    const optional = stateOf('r', true)
    expect(optional.letsPassAnonymously({ headers: {}, url: '/a' })).toBe(true)
    expect(optional.letsPassAnonymously({ headers: { authorization: 'Bearer x' }, url: '/a' })).toBe(false)
    expect(optional.letsPassAnonymously({ headers: {}, url: '/a?access_token=x' })).toBe(false)
    expect(stateOf('r', false).letsPassAnonymously({ headers: {}, url: '/a' })).toBe(false)
  })
})

describe('identityFor', () => {
  it('is the identity when there is one', () => {
    const state = stateOf('r', false)
    expect(identityFor({ agent: FOREIGN, state }, 'g')).toBe(FOREIGN)
  })
  it('is 401 missing_token for an anonymous request, in the middleware realm', () => {
    const state = stateOf('shop', true)
    const req = {}
    state.markAnonymous(req)
    const access = accessOf(undefined, req)
    expect(() => identityFor(access, 'g')).toThrow(
      expect.objectContaining({
        code: 'missing_token',
        headers: expect.objectContaining({ 'WWW-Authenticate': 'Bearer realm="shop"' }),
      }),
    )
  })
  it('is 500 configuration_error with no authentication, or an identity nobody attached', () => {
    expect(() => identityFor(accessOf(undefined, {}), 'g')).toThrow(
      expect.objectContaining({ code: 'configuration_error' }),
    )
    expect(() => identityFor(accessOf({ id: 'x', scope: ['*:*:*'] }, {}), 'g')).toThrow(
      expect.objectContaining({ code: 'configuration_error' }),
    )
    expect(() => identityFor(accessOf(42, {}), 'g')).toThrow(
      expect.objectContaining({ code: 'configuration_error' }),
    )
  })
})

describe('authenticateWith', () => {
  it('checks what a hand-written verifier resolves with, thenables included', async () => {
    const req = { headers: { authorization: 'Bearer a.b.c' } }
    // biome-ignore lint/suspicious/noThenProperty: a foreign thenable is what is tested here
    const thenable = { then: (ok: (v: unknown) => void) => ok(FOREIGN) }
    await expect(
      authenticateWith(
        stateOf(
          'r',
          false,
          handWritten(() => thenable as never),
        ),
        req,
        req,
      ),
    ).resolves.toBe(FOREIGN)
    await expect(
      authenticateWith(
        stateOf(
          'r',
          false,
          handWritten(() => Promise.resolve(null as never)),
        ),
        req,
        req,
      ),
    ).rejects.toMatchObject({
      code: 'configuration_error',
    })
    expect(() =>
      authenticateWith(
        stateOf(
          'r',
          false,
          handWritten(() => ({ id: '' }) as never),
        ),
        req,
        req,
      ),
    ).toThrow(expect.objectContaining({ code: 'configuration_error' }))
  })
  it('asks a copy of our verifier whose authenticate was replaced through that method', async () => {
    const real = createVerifier({ broker: 'http://127.0.0.1:9' })
    let asked = 0
    const copy: Verifier = {
      ...real,
      authenticate: async () => {
        asked++
        return FOREIGN
      },
    }
    const state = stateOf('r', false, copy)
    const req = { headers: { authorization: 'Bearer a.b.c' } }
    await expect(authenticateWith(state, req, req)).resolves.toBe(FOREIGN)
    expect(asked).toBe(1)
    await real.close()
  })
  it('records an anonymous pass on the framework request object', () => {
    const state = stateOf('r', true)
    const frameworkRequest = {}
    expect(authenticateWith(state, { headers: {} }, frameworkRequest)).toBeUndefined()
    expect(accessOf(undefined, frameworkRequest)).toEqual({ agent: undefined, state })
  })
})
