import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tokenKey as tokenKeyOf } from '../../src/core/cache.js'
import { type BreakerPermit, createCircuitBreaker } from '../../src/core/circuit-breaker.js'
import { AgentAuthError } from '../../src/core/errors.js'
import { DEFAULTS, resolveOptions } from '../../src/core/options.js'
import { createRemoteStrategy, type RemoteStrategy } from '../../src/core/remote.js'
import { json, type StubServer, startStubServer } from '../helpers/stub-server.js'
import { agentClaims } from '../helpers/token-claims.js'

const NOW = 2_000_000_000_000

describe('createCircuitBreaker (fake clock)', () => {
  let t = NOW
  const clock = () => t
  beforeEach(() => {
    t = NOW
  })
  const make = (threshold = 3, cooldownMs = 1_000) =>
    createCircuitBreaker({ threshold, cooldownMs, now: clock })
  function permit(b: ReturnType<typeof make>): BreakerPermit {
    const a = b.admit()
    if (!a.admitted) throw new Error('expected a permit')
    return a
  }
  function fail(b: ReturnType<typeof make>, n: number) {
    for (let i = 0; i < n; i++) b.record(permit(b), false)
  }

  it('starts closed and lets every call through', () => {
    const b = make()
    expect(b.state).toBe('closed')
    for (let i = 0; i < 10; i++) expect(b.admit()).toEqual({ admitted: true, probe: false })
  })

  it('opens after `threshold` consecutive failures, then refuses with the rest of the cooldown', () => {
    const b = make(3, 1_000)
    fail(b, 2)
    expect(b.state).toBe('closed')
    expect(b.consecutiveFailures).toBe(2)
    fail(b, 1)
    expect(b.state).toBe('open')
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 1_000 })
    t += 400
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 600 })
    t += 599
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 1 })
  })

  it('a success resets the consecutive-failure count', () => {
    const b = make(3)
    fail(b, 2)
    b.record(permit(b), true)
    expect(b.consecutiveFailures).toBe(0)
    fail(b, 2)
    expect(b.state).toBe('closed')
    fail(b, 1)
    expect(b.state).toBe('open')
  })

  it('after the cooldown: half-open, exactly one probe; a successful probe closes it', () => {
    const b = make(1, 1_000)
    fail(b, 1)
    t += 1_000
    expect(b.state).toBe('half-open')
    const probe = b.admit()
    expect(probe).toEqual({ admitted: true, probe: true })
    // Concurrent calls while the probe is in flight are refused at once.
    for (let i = 0; i < 5; i++) expect(b.admit()).toEqual({ admitted: false, retryInMs: 0 })
    t += 5_000
    expect(b.admit().admitted).toBe(false)
    b.record(probe as BreakerPermit, true)
    expect(b.state).toBe('closed')
    expect(b.consecutiveFailures).toBe(0)
    expect(b.admit()).toEqual({ admitted: true, probe: false })
  })

  it('a failed probe re-opens it for another full cooldown (no backoff), then probes again', () => {
    const b = make(2, 1_000)
    fail(b, 2)
    for (let round = 0; round < 4; round++) {
      t += 1_000
      const probe = permit(b)
      expect(probe.probe).toBe(true)
      t += 250 // the probe takes a while to fail
      b.record(probe, false)
      expect(b.state).toBe('open')
      expect(b.admit()).toEqual({ admitted: false, retryInMs: 1_000 })
    }
    t += 1_000
    b.record(permit(b), true)
    expect(b.state).toBe('closed')
  })

  it('a straggler (sent while closed) that succeeds closes an open breaker', () => {
    const b = make(2, 1_000)
    const straggler = permit(b)
    fail(b, 2)
    expect(b.state).toBe('open')
    b.record(straggler, true)
    expect(b.state).toBe('closed')
  })

  it('a straggler that fails while open or half-open changes nothing', () => {
    const b = make(2, 1_000)
    const s1 = permit(b)
    const s2 = permit(b)
    fail(b, 2)
    t += 500
    b.record(s1, false)
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 500 })
    t += 500
    const probe = permit(b)
    b.record(s2, false)
    expect(b.state).toBe('half-open')
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 0 })
    b.record(probe, true)
    expect(b.state).toBe('closed')
  })

  it('a probe settled after a straggler closed the breaker counts as an ordinary call', () => {
    const b = make(1, 1_000)
    const straggler = permit(b)
    fail(b, 1)
    t += 1_000
    const probe = permit(b)
    b.record(straggler, true)
    expect(b.state).toBe('closed')
    b.record(probe, false) // threshold 1: an ordinary failure opens it again
    expect(b.state).toBe('open')
  })

  it('threshold 0: never opens', () => {
    const b = make(0)
    for (let i = 0; i < 1_000; i++) b.record(permit(b), false)
    expect(b.state).toBe('closed')
    expect(b.admit()).toEqual({ admitted: true, probe: false })
  })

  it('a clock that steps back while open lets a probe through rather than stretching the cooldown', () => {
    const b = make(1, 1_000)
    fail(b, 1)
    t -= 60_000
    expect(b.admit()).toEqual({ admitted: true, probe: true })
  })
})

describe('breaker options', () => {
  it('defaults: threshold 5, cooldown 2000 ms', () => {
    const o = resolveOptions({ broker: 'http://127.0.0.1:8080' })
    expect(o.breakerThreshold).toBe(5)
    expect(o.breakerCooldownMs).toBe(2_000)
    expect(DEFAULTS).toMatchObject({ breakerThreshold: 5, breakerCooldownMs: 2_000 })
  })

  it('accepts 0 (off) and the range ends', () => {
    const o = resolveOptions({ broker: 'http://127.0.0.1', breakerThreshold: 0, breakerCooldownMs: 100 })
    expect(o).toMatchObject({ breakerThreshold: 0, breakerCooldownMs: 100 })
    expect(resolveOptions({ broker: 'http://127.0.0.1', breakerCooldownMs: 600_000 }).breakerCooldownMs).toBe(
      600_000,
    )
  })

  it.each([
    [{ breakerThreshold: -1 }, 'breakerThreshold'],
    [{ breakerThreshold: 2.5 }, 'breakerThreshold'],
    [{ breakerThreshold: '5' }, 'breakerThreshold'],
    [{ breakerThreshold: Number.NaN }, 'breakerThreshold'],
    [{ breakerCooldownMs: 99 }, 'breakerCooldownMs'],
    [{ breakerCooldownMs: 600_001 }, 'breakerCooldownMs'],
    [{ breakerCooldownMs: 1000.5 }, 'breakerCooldownMs'],
    [{ breakerCooldownMs: null }, 'breakerCooldownMs'],
  ])('rejects %j with a TypeError naming %s', (over, name) => {
    const input = { broker: 'http://127.0.0.1', ...over } as never
    expect(() => resolveOptions(input)).toThrow(TypeError)
    expect(() => resolveOptions(input)).toThrow(`"${name}"`)
  })
})

describe('remote strategy behind the breaker (stub broker)', () => {
  let stub: StubServer
  let t = NOW
  let strategy: RemoteStrategy
  /** What the stub does with a validate call. */
  let answer: 'ok' | 'invalid' | 500 = 'ok'
  let jtiSeq = 0

  function b64(o: unknown): string {
    return Buffer.from(JSON.stringify(o)).toString('base64url')
  }
  /** A new token (new jti) every call. */
  function token(): string {
    const claims = agentClaims(NOW, { jti: `jti-${++jtiSeq}` })
    return `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64(claims)}.c2ln`
  }
  function make(over: Record<string, unknown> = {}) {
    strategy = createRemoteStrategy(
      resolveOptions({
        broker: stub.url,
        now: () => t,
        timeoutMs: 500,
        breakerThreshold: 3,
        breakerCooldownMs: 1_500,
        brokerFailureMemoMs: 0,
        ...over,
      }),
    )
    return strategy
  }
  async function refusal(p: Promise<unknown>): Promise<AgentAuthError> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(AgentAuthError)
    return err as AgentAuthError
  }

  beforeEach(async () => {
    t = NOW
    answer = 'ok'
    stub = await startStubServer((_req, body, res) => {
      if (answer === 500) return json(res, 500, { error: 'boom' })
      if (answer === 'invalid') return json(res, 200, { valid: false, error: 'token is invalid or expired' })
      const { token: tok } = JSON.parse(body) as { token: string }
      json(res, 200, {
        valid: true,
        claims: JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()),
      })
    })
  })
  afterEach(async () => {
    await strategy?.close()
    await stub.close()
  })

  it('opens after threshold failed calls: refusals are 503 circuit_open with Retry-After, no call, not counted', async () => {
    const s = make()
    answer = 500
    for (let i = 0; i < 3; i++) expect((await refusal(s.verify(token()))).reason).toBe('status_500')
    expect(stub.requests).toHaveLength(3)
    for (let i = 0; i < 20; i++) {
      const err = await refusal(s.verify(token()))
      expect(err.code).toBe('broker_unavailable')
      expect(err.status).toBe(503)
      expect(err.reason).toBe('circuit_open')
      expect(err.headers['Retry-After']).toBe('2') // 1500 ms left → 2 s
      expect(err.headers['WWW-Authenticate']).toBeUndefined()
    }
    t += 600 // 900 ms left → 1 s
    expect((await refusal(s.verify(token()))).headers['Retry-After']).toBe('1')
    expect(stub.requests).toHaveLength(3)
    expect(s.brokerCalls).toBe(3)
  })

  it('after the cooldown one probe goes out; when it succeeds the breaker closes', async () => {
    const s = make()
    answer = 500
    for (let i = 0; i < 3; i++) await refusal(s.verify(token()))
    answer = 'ok'
    expect((await refusal(s.verify(token()))).reason).toBe('circuit_open')
    t += 1_500
    const r = await s.verify(token())
    expect(r.source).toBe('broker')
    expect(s.brokerCalls).toBe(4)
    for (let i = 0; i < 5; i++) await s.verify(token())
    expect(s.brokerCalls).toBe(9)
  })

  it('concurrent requests during the probe: one broker call, the others 503 at once', async () => {
    const s = make()
    answer = 500
    for (let i = 0; i < 3; i++) await refusal(s.verify(token()))
    answer = 'ok'
    t += 1_500
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => s.verify(token())))
    const ok = results.filter((r) => r.status === 'fulfilled')
    expect(ok).toHaveLength(1)
    for (const r of results) {
      if (r.status === 'rejected') {
        expect((r.reason as AgentAuthError).reason).toBe('circuit_open')
        expect((r.reason as AgentAuthError).headers['Retry-After']).toBe('1')
      }
    }
    expect(stub.requests).toHaveLength(4)
    expect(s.brokerCalls).toBe(4)
  })

  it('a failed probe re-opens the breaker for another cooldown', async () => {
    const s = make()
    answer = 500
    for (let i = 0; i < 3; i++) await refusal(s.verify(token()))
    t += 1_500
    expect((await refusal(s.verify(token()))).reason).toBe('status_500')
    expect((await refusal(s.verify(token()))).reason).toBe('circuit_open')
    expect(s.brokerCalls).toBe(4)
  })

  it('cached positive answers keep being served while the breaker is open', async () => {
    const s = make({ cacheTtlMs: 60_000 })
    const warm = token()
    await s.verify(warm)
    answer = 500
    for (let i = 0; i < 3; i++) await refusal(s.verify(token()))
    expect((await refusal(s.verify(token()))).reason).toBe('circuit_open')
    const hit = await s.verify(warm)
    expect(hit.source).toBe('cache')
    expect(s.peek?.(tokenKeyOf(warm))?.source).toBe('cache')
    expect(s.brokerCalls).toBe(4)
  })

  it('single-flight still holds: concurrent requests for one token share one call (and one failure)', async () => {
    const s = make()
    answer = 500
    const tok = token()
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => s.verify(tok)))
    for (const r of results) expect((r as PromiseRejectedResult).reason.reason).toBe('status_500')
    expect(stub.requests).toHaveLength(1)
    expect(s.brokerCalls).toBe(1)
    // One shared failure counts once: two more distinct tokens are needed to open.
    await refusal(s.verify(token()))
    expect((await refusal(s.verify(token()))).reason).toBe('status_500')
    expect((await refusal(s.verify(token()))).reason).toBe('circuit_open')
  })

  it('valid:false answers are successes: they never open the breaker', async () => {
    const s = make({ negativeCacheTtlMs: 0 })
    answer = 'invalid'
    for (let i = 0; i < 30; i++) expect((await refusal(s.verify(token()))).code).toBe('invalid_token')
    expect(s.brokerCalls).toBe(30)
    // …and they reset the count of failures in between.
    for (let round = 0; round < 5; round++) {
      answer = 500
      for (let i = 0; i < 2; i++) expect((await refusal(s.verify(token()))).reason).toBe('status_500')
      answer = 'invalid'
      expect((await refusal(s.verify(token()))).code).toBe('invalid_token')
    }
    expect(s.brokerCalls).toBe(45)
  })

  it('circuit_open refusals are not remembered by the per-token failure memo', async () => {
    const s = make({ brokerFailureMemoMs: 1_000 })
    answer = 500
    for (let i = 0; i < 3; i++) await refusal(s.verify(token()))
    const tok = token()
    expect((await refusal(s.verify(tok))).reason).toBe('circuit_open')
    answer = 'ok'
    t += 1_500
    // The breaker now lets a probe through: the token is asked about, not answered from the memo.
    expect((await s.verify(tok)).source).toBe('broker')
  })

  it('breakerThreshold 0: every failure is a broker call', async () => {
    const s = make({ breakerThreshold: 0 })
    answer = 500
    for (let i = 0; i < 20; i++) expect((await refusal(s.verify(token()))).reason).toBe('status_500')
    expect(stub.requests).toHaveLength(20)
    expect(s.brokerCalls).toBe(20)
  })

  it('connection refused counts as a failure', async () => {
    const s = make()
    await stub.close()
    for (let i = 0; i < 3; i++) expect((await refusal(s.verify(token()))).reason).toBe('unreachable')
    expect((await refusal(s.verify(token()))).reason).toBe('circuit_open')
    expect(s.brokerCalls).toBe(3)
    stub = await startStubServer() // afterEach closes it
  })
})
