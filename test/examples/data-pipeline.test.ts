import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDataPipeline } from '../../examples/data-pipeline/agent.js'
import { startNestAnalyticsService } from '../../examples/data-pipeline/nest-service.js'
import { dataPipelineExpected } from '../../examples/data-pipeline/scenario.js'
import { buildAnalyticsService, TENANT_IDS } from '../../examples/data-pipeline/service.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

describe('example: data pipeline (scenario 02)', () => {
  let broker: DevBroker
  let service: FastifyInstance
  let url: string

  beforeAll(async () => {
    broker = await startDevBroker()
    service = await buildAnalyticsService({ broker: broker.url })
    url = await service.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(async () => {
    await service?.close()
    await broker?.close()
  })

  it('each tenant agent extracts and loads its own tenant, and every cross-tenant call is 403 naming the scope', async () => {
    const lines: string[] = []
    const result = await runDataPipeline({ broker, serviceUrl: url, log: (l) => lines.push(l) })

    // The full matrix: 3 tenants × (extract, load) and 3 × 2 other tenants × (read, write).
    const expected: Record<string, number> = {}
    const expectedScopes: Record<string, string> = {}
    for (const t of ['hospital', 'bank', 'retail']) {
      expected[`${t}.extract`] = 200
      expected[`${t}.load`] = 201
      for (const o of ['hospital', 'bank', 'retail']) {
        if (o === t) continue
        expected[`${t}->${o}.read`] = 403
        expected[`${t}->${o}.write`] = 403
        expectedScopes[`${t}->${o}.read`] = `read:analytics:${o}`
        expectedScopes[`${t}->${o}.write`] = `write:reports:${o}`
      }
    }
    expect(result.statuses).toEqual(expected)
    expect(result.refusedScopes).toEqual(expectedScopes)
    expect(dataPipelineExpected()).toEqual(expected)

    for (const t of TENANT_IDS) {
      expect(result.agents[t]).toMatch(
        new RegExp(`^spiffe://agentwrit\\.local/agent/nightly-pipeline/etl-${t}-\\d+/[0-9a-f]{16}$`),
      )
    }
    expect(new Set(Object.values(result.agents)).size).toBe(3)
    const trace = lines.join('\n')
    expect(trace).toContain(
      '[LOAD]      POST /tenants/bank/reports → 201: report written to reports/bank/latest.json',
    )
    expect(trace).toContain('Cross-tenant isolation: 12 of 12 cross-tenant calls refused with 403')
  })

  it('released tenant agents are refused (cache bound 0 here: the default is 5 s)', async () => {
    const agent = await broker.createAgent({
      orchId: 'nightly-pipeline',
      taskId: 'etl-bank-x',
      scope: ['read:analytics:bank', 'write:reports:bank'],
    })
    const strict = await buildAnalyticsService({ broker: broker.url, cacheTtlMs: 0 })
    try {
      const h = { authorization: `Bearer ${agent.accessToken}` }
      expect((await strict.inject({ url: '/tenants/bank/analytics', headers: h })).statusCode).toBe(200)
      await broker.release(agent.accessToken)
      const res = await strict.inject({ url: '/tenants/bank/analytics', headers: h })
      expect(res.statusCode).toBe(401)
    } finally {
      await strict.close()
    }
  })

  it('a tenant parameter that could widen the scope is refused before any broker call', async () => {
    const agent = await broker.createAgent({
      orchId: 'nightly-pipeline',
      taskId: 'etl-retail-x',
      scope: ['read:analytics:retail'],
    })
    broker.resetStats()
    const res = await fetch(`${url}/tenants/*/analytics`, {
      headers: { authorization: `Bearer ${agent.accessToken}` },
    })
    expect(res.status).toBe(400)
    expect(broker.stats.validateCalls).toBe(0)
    const health = await fetch(`${url}/health`)
    expect(health.status).toBe(200)
    await broker.release(agent.accessToken)
  })

  it.each(['express', 'fastify'] as const)(
    'the same pipeline against the NestJS analytics API (%s platform): same statuses, same challenged scopes',
    async (platform) => {
      const nest = await startNestAnalyticsService({ broker: broker.url }, platform)
      try {
        const result = await runDataPipeline({ broker, serviceUrl: nest.url })
        expect(result.statuses).toEqual(dataPipelineExpected())
        for (const [step, scope] of Object.entries(result.refusedScopes)) {
          const [pair, kind] = step.split('.') as [string, string]
          const other = pair.split('->')[1]
          expect(scope, step).toBe(kind === 'read' ? `read:analytics:${other}` : `write:reports:${other}`)
        }
        // A public route, and a widening tenant refused (400) as on every adapter.
        expect((await fetch(`${nest.url}/health`)).status).toBe(200)
        const agent = await broker.createAgent({
          orchId: 'nightly-pipeline',
          taskId: `etl-nest-${platform}`,
          scope: ['read:analytics:retail'],
        })
        const wide = await fetch(`${nest.url}/tenants/*/analytics`, {
          headers: { authorization: `Bearer ${agent.accessToken}` },
        })
        expect(wide.status).toBe(400)
        expect(await wide.json()).toMatchObject({ error_code: 'invalid_scope_parameter' })
        expect((await fetch(`${nest.url}/tenants/retail/analytics`)).status).toBe(401)
        await broker.release(agent.accessToken)
      } finally {
        await nest.close()
      }
    },
  )
})
