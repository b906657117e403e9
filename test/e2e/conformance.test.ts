/**
 * One table of HTTP scenarios (conformance-rows.ts), run unchanged against the Express, Koa and
 * Fastify adapters over real HTTP with the development broker, in remote, local and hybrid modes.
 * The adapters must behave identically; the only allowed differences are marked per row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentAuthOptions } from '../../src/index.js'
import { send } from '../helpers/http.js'
import { ADAPTERS, buildApp, type RunningApp } from './apps.js'
import { type Expectation, type Mode, ROWS } from './conformance-rows.js'
import { type Fixtures, makeFixtures } from './fixtures.js'

const MODES: Mode[] = ['remote', 'local', 'hybrid']

function optionsFor(mode: Mode, f: Fixtures): AgentAuthOptions {
  // No caching here, so "was the broker called" is a property of the row alone; no circuit
  // breaker either, so the fault rows do not open it for the rows after them (it has its own
  // suite, test/e2e/broker-outage.test.ts).
  const base = { cacheTtlMs: 0, negativeCacheTtlMs: 0, timeoutMs: 500, breakerThreshold: 0 }
  if (mode === 'remote') return { ...base, broker: f.broker.url }
  if (mode === 'local') return { ...base, jwksUri: f.broker.jwksUrl }
  return { ...base, broker: f.broker.url, jwksUri: f.broker.jwksUrl }
}

describe.each(MODES)('conformance (%s mode)', (mode) => {
  describe.each(ADAPTERS)('%s', (adapter) => {
    let f: Fixtures & { close(): Promise<void> }
    let app: RunningApp

    beforeAll(async () => {
      f = await makeFixtures()
      app = await buildApp(adapter, optionsFor(mode, f))
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
      let res: Awaited<ReturnType<typeof send>>
      try {
        res = await send(app.url, row.req(f))
      } finally {
        if (row.fault) f.broker.fault(null)
      }
      expect(res.status).toBe(exp.status)
      const challenge = res.headers['www-authenticate']
      if (exp.challenge === null) expect(challenge).toBeUndefined()
      else if (typeof exp.challenge === 'string') expect(challenge).toBe(exp.challenge)
      else if (exp.challenge instanceof RegExp) expect(challenge).toMatch(exp.challenge)
      if (exp.status >= 400) {
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
        expect(res.json).toMatchObject({
          type: `urn:agentwrit:error:${exp.code}`,
          status: exp.status,
          error_code: exp.code,
          instance: row.req(f).path.split('?')[0],
        })
        if (exp.status < 500) expect(challenge).toBeDefined()
        // no cache may replay a refusal
        expect(res.headers['cache-control']).toBe('no-store')
        // a refusal never echoes a token
        for (const t of [f.agent, f.bank, f.forged, f.expired, f.released, f.admin, f.app, f.foreign]) {
          expect(res.text).not.toContain(t.split('.')[2]!)
        }
      }
      const expectedBroker = exp.brokerBy?.[adapter] ?? exp.broker
      if (expectedBroker) expect(f.broker.stats.validateCalls).toBeGreaterThan(0)
      else expect(f.broker.stats.validateCalls).toBe(0)
      exp.check?.(res, f)
    })
  })
})
