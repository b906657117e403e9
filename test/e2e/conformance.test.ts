/**
 * One table of HTTP scenarios (conformance-rows.ts), run unchanged against every adapter of
 * test/adapters/apps.ts (Express, Koa, Fastify, Hono, Nest on Express and on Fastify) over real
 * HTTP with the development broker, in remote, local and hybrid modes.
 * The adapters must behave identically; the only allowed differences are marked per row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADAPTERS, buildApp, type RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { MODES, optionsFor } from '../helpers/modes.js'
import { expectAnswer } from '../helpers/refusal.js'
import { segments } from '../helpers/tokens.js'
import { type Expectation, ROWS } from './conformance-rows.js'
import { type Fixtures, makeFixtures } from './fixtures.js'

// No caching here, so "was the broker called" is a property of the row alone; no circuit breaker
// either, so the fault rows do not open it for the rows after them (it has its own suite,
// test/e2e/broker-outage.test.ts).
const SETTINGS = { cacheTtlMs: 0, negativeCacheTtlMs: 0, timeoutMs: 500, breakerThreshold: 0 }

describe.each(MODES)('conformance (%s mode)', (mode) => {
  describe.each(ADAPTERS)('%s', (adapter) => {
    let f: Fixtures & { close(): Promise<void> }
    let app: RunningApp

    beforeAll(async () => {
      f = await makeFixtures()
      app = await buildApp(adapter, optionsFor(mode, f.broker, { settings: SETTINGS }))
    })
    afterAll(async () => {
      await app?.close()
      await f?.close()
    })

    it.each(ROWS)('$name', async (row) => {
      const override = mode === 'remote' ? undefined : row[mode]
      const exp: Expectation = { ...row, ...override }
      f.broker.resetStats()
      if (row.fault) f.broker.fault(row.fault)
      const req = row.req(f)
      let res: Awaited<ReturnType<typeof send>>
      try {
        res = await send(app.url, req)
      } finally {
        if (row.fault) f.broker.fault(null)
      }
      // A refusal is an RFC 9457 problem no cache may replay, and never echoes a token.
      const tokens = [f.agent, f.bank, f.forged, f.expired, f.released, f.admin, f.app, f.foreign]
      expectAnswer(req, res, exp, {
        instance: true,
        noStore: true,
        secrets: tokens.map((t) => segments(t)[2]),
      })
      const expectedBroker = exp.brokerBy?.[adapter] ?? exp.broker
      if (expectedBroker) expect(f.broker.stats.validateCalls).toBeGreaterThan(0)
      else expect(f.broker.stats.validateCalls).toBe(0)
      exp.check?.(res, f)
    })
  })
})
