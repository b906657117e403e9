/**
 * A broker outage seen through real protected services (Express, Koa, Fastify on 127.0.0.1, the
 * development broker over real HTTP): the circuit breaker of the validate endpoint keeps the cost
 * of an outage bounded, whatever the number of distinct tokens, and the service recovers by itself.
 *
 * - 1,000 requests, each with a distinct (broker-signed, otherwise valid) token, while the broker is
 *   down: a bounded number of broker calls (the threshold, the calls already in flight when the
 *   breaker opened, one probe per cooldown), every answer a 503 with `Retry-After` — never a 401
 *   (the tokens are fine) and never a 200 (nothing was verified).
 * - A cached positive answer keeps being served while the breaker is open.
 * - Once the broker is back, the service answers 200 again within about one cooldown, no restart.
 * - `valid: false` answers (forged signatures the broker refuses) are answers: they never open it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AgentAuthOptions } from '../../src/index.js'
import { type CreatedAgent, type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../adapters/apps.js'
import { type RawResponse, send } from '../helpers/http.js'
import { optionsFor } from '../helpers/modes.js'
import { bearer, forgeSignature, jti, payloadOf } from '../helpers/tokens.js'

const THRESHOLD = 5
const COOLDOWN_MS = 500
const REQUESTS = 1_000

let broker: DevBroker
let agent: CreatedAgent
/** The agent's token payload, in the broker's claim order. */
let payload: Record<string, unknown>

beforeAll(async () => {
  broker = await startDevBroker()
  agent = await broker.createAgent({
    orchId: 'order-worker',
    taskId: 'process-ord-1',
    scope: ['read:data:customer-7'],
  })
  payload = payloadOf(agent.accessToken)
})
afterAll(async () => {
  await broker?.close()
})

/** A distinct, broker-signed token of the agent (a fresh jti; everything else as the broker issued it). */
function freshToken(): string {
  return broker.signToken({ ...payload, jti: jti() })
}

function me(app: RunningApp, token: string): Promise<RawResponse> {
  return send(app.url, { path: '/me', headers: bearer(token) })
}

/** Run `tasks` with at most `concurrency` in flight. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++
        out[i] = await task(i)
      }
    }),
  )
  return out
}

/** Cached a minute, the breaker on; hybrid mode is given the broker's key itself (`publicKey`). */
function outageOptions(mode: 'remote' | 'hybrid', over: Partial<AgentAuthOptions> = {}): AgentAuthOptions {
  const settings = {
    timeoutMs: 500,
    cacheTtlMs: 60_000,
    breakerThreshold: THRESHOLD,
    breakerCooldownMs: COOLDOWN_MS,
  }
  return optionsFor(mode, broker, { settings, over, hybridKey: 'publicKey' })
}

/** How the broker is made unavailable, and how it comes back. */
const OUTAGES = {
  /** The broker process is gone: connection refused. */
  stopped: { down: () => broker.stop(), up: () => broker.restart() },
  /** A proxy in front of it answers 502. */
  '502': {
    down: async () => broker.fault({ kind: 'status', status: 502 }),
    up: async () => broker.fault(null),
  },
} as const

const RUNS: {
  adapter: AdapterName
  mode: 'remote' | 'hybrid'
  outage: keyof typeof OUTAGES
  concurrency: number
}[] = [
  ...ADAPTERS.map((adapter) => ({
    adapter,
    mode: 'remote' as const,
    outage: 'stopped' as const,
    concurrency: 1,
  })),
  ...ADAPTERS.map((adapter) => ({
    adapter,
    mode: 'remote' as const,
    outage: '502' as const,
    concurrency: 16,
  })),
  { adapter: 'express', mode: 'hybrid', outage: 'stopped', concurrency: 16 },
]

describe('broker outage: 1,000 distinct tokens cost a bounded number of broker calls', () => {
  let app: RunningApp | undefined
  afterEach(async () => {
    broker.fault(null)
    await broker.restart() // no-op while running
    await app?.close()
    app = undefined
  })

  it.each(RUNS)(
    '$adapter, $mode mode, broker $outage, $concurrency in flight',
    async ({ adapter, mode, outage, concurrency }) => {
      app = await buildApp(adapter, outageOptions(mode))
      const running = app
      // A token verified before the outage: its cached answer must keep working.
      const warm = freshToken()
      expect((await me(running, warm)).status).toBe(200)
      const callsBefore = running.verifier.stats().brokerCalls
      const receivedBefore = broker.stats.validateCalls
      const tokens = Array.from({ length: REQUESTS }, freshToken)

      await OUTAGES[outage].down()
      const started = Date.now()
      const answers = await pool(REQUESTS, concurrency, (i) => me(running, tokens[i]!))
      const elapsed = Date.now() - started
      const calls = running.verifier.stats().brokerCalls - callsBefore

      const statuses: Record<number, number> = {}
      for (const r of answers) statuses[r.status] = (statuses[r.status] ?? 0) + 1
      expect(statuses).toEqual({ 503: REQUESTS })
      for (const r of answers) {
        expect(r.json?.error_code).toBe('broker_unavailable')
        expect(r.headers['retry-after']).toMatch(/^[1-9]\d*$/)
        expect(r.headers['www-authenticate']).toBeUndefined()
      }
      // Circuit-open answers point at the end of the cooldown: at most ceil(500 ms) = 1 s.
      const retryAfter = new Set(answers.map((r) => r.headers['retry-after']))
      expect([...retryAfter].every((v) => v === '1' || v === '5')).toBe(true)

      // The threshold, the calls already in flight when the breaker opened, one probe per cooldown.
      const probes = Math.floor(elapsed / COOLDOWN_MS) + 1
      const bound = THRESHOLD + (concurrency - 1) + probes
      console.log(
        `[broker-outage] ${adapter}/${mode}/${outage}, ${concurrency} in flight: ${REQUESTS} distinct tokens → ` +
          `${calls} broker calls in ${elapsed} ms (bound ${bound})`,
      )
      expect(calls).toBeGreaterThanOrEqual(THRESHOLD)
      expect(calls).toBeLessThanOrEqual(bound)
      if (outage === '502') {
        // Every counted call really reached the broker (and nothing else did).
        expect(broker.stats.validateCalls - receivedBefore).toBe(calls)
      }

      // While the breaker is open the cached answer is served, with no broker call.
      const callsNow = running.verifier.stats().brokerCalls
      const hit = await me(running, warm)
      expect(hit.status).toBe(200)
      expect(hit.json?.source).toBe('cache')
      expect(running.verifier.stats().brokerCalls).toBe(callsNow)

      // The broker comes back: within about one cooldown new tokens are served again.
      await OUTAGES[outage].up()
      const back = Date.now()
      let recovered: number | undefined
      while (Date.now() - back < COOLDOWN_MS + 2_000) {
        const r = await me(running, freshToken())
        expect([200, 503]).toContain(r.status)
        if (r.status === 200) {
          recovered = Date.now() - back
          break
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      console.log(
        `[broker-outage] ${adapter}/${mode}/${outage}: 200 again ${recovered} ms after the broker came back`,
      )
      expect(recovered).toBeDefined()
      expect(recovered!).toBeLessThanOrEqual(COOLDOWN_MS + 1_000)
      // Closed again: every new token is one broker call and a 200.
      const after = running.verifier.stats().brokerCalls
      const more = await pool(20, 4, () => me(running, freshToken()))
      expect(more.map((r) => r.status)).toEqual(new Array(20).fill(200))
      expect(running.verifier.stats().brokerCalls - after).toBe(20)
    },
    30_000,
  )
})

describe('valid:false answers never open the breaker', () => {
  it.each(ADAPTERS)(
    '%s: forged tokens are refused by the broker (401) and the breaker stays closed',
    async (adapter) => {
      const app = await buildApp(adapter, outageOptions('remote', { negativeCacheTtlMs: 0 }))
      try {
        const before = app.verifier.stats().brokerCalls
        // Far more refusals than the threshold, each a broker call answered `valid: false`.
        const refused = await pool(100, 8, () => me(app, forgeSignature(freshToken())))
        expect(refused.map((r) => r.status)).toEqual(new Array(100).fill(401))
        for (const r of refused) expect(r.json?.error_code).toBe('invalid_token')
        expect(app.verifier.stats().brokerCalls - before).toBe(100)
        // Still closed: a good token is asked about and accepted.
        expect((await me(app, freshToken())).status).toBe(200)
        expect(app.verifier.stats().brokerCalls - before).toBe(101)

        // A refusal between failures resets their count: THRESHOLD − 1 failures, a refusal, again…
        for (let round = 0; round < 4; round++) {
          broker.fault({ kind: 'status', status: 503 })
          for (let i = 0; i < THRESHOLD - 1; i++) {
            const r = await me(app, freshToken())
            expect(r.status).toBe(503)
            expect(r.headers['retry-after']).toBe('5') // a real failure: retryAfterSeconds
          }
          broker.fault(null)
          expect((await me(app, forgeSignature(freshToken()))).status).toBe(401)
        }
        // …never opens it: the next good token is a broker call and a 200.
        const calls = app.verifier.stats().brokerCalls
        expect((await me(app, freshToken())).status).toBe(200)
        expect(app.verifier.stats().brokerCalls).toBe(calls + 1)
      } finally {
        broker.fault(null)
        await app.close()
      }
    },
  )
})
