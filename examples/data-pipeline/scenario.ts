/**
 * Scenario 02 end to end, as `npm run demo -- data-pipeline` runs it: the dev broker, the Fastify
 * analytics API (remote mode), and the nightly pipeline.
 */
import { startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, type ScenarioOutcome } from '../shared.js'
import { runDataPipeline } from './agent.js'
import { buildAnalyticsService, TENANT_IDS } from './service.js'

/** Every step's expected status: the tenant's own ETL succeeds, every cross-tenant call is 403. */
export function dataPipelineExpected(): Record<string, number> {
  const expected: Record<string, number> = {}
  for (const tenant of TENANT_IDS) {
    expected[`${tenant}.extract`] = 200
    expected[`${tenant}.load`] = 201
    for (const other of TENANT_IDS) {
      if (other === tenant) continue
      expected[`${tenant}->${other}.read`] = 403
      expected[`${tenant}->${other}.write`] = 403
    }
  }
  return expected
}

export async function dataPipelineScenario(options: { log: Log }): Promise<ScenarioOutcome> {
  const { log } = options
  const broker = await startDevBroker()
  const service = await buildAnalyticsService({ broker: broker.url })
  try {
    const serviceUrl = await service.listen({ port: 0, host: '127.0.0.1' })
    log('Nightly Analytics Pipeline')
    log('='.repeat(55))
    log(`Broker (dev):   ${broker.url}`)
    log(`Analytics API:  ${serviceUrl}  (Fastify, agentwrit-verify remote mode)`)
    log('  GET  /tenants/:tenant/analytics   requires read:analytics:<tenant>')
    log('  POST /tenants/:tenant/reports     requires write:reports:<tenant>')
    log('')
    const result = await runDataPipeline({ broker, serviceUrl, log })
    log('')
    const outcome = compareStatuses(dataPipelineExpected(), result.statuses)
    // Each refusal must name the concrete scope: read:analytics:<other> / write:reports:<other>.
    const wrongScopes = Object.entries(result.refusedScopes)
      .filter(([step, scope]) => {
        const [pair, kind] = step.split('.') as [string, string]
        const other = pair.split('->')[1]
        return scope !== (kind === 'read' ? `read:analytics:${other}` : `write:reports:${other}`)
      })
      .map(([step, scope]) => `${step}: challenge named ${scope ?? 'no scope'}`)
    const mismatches = [...outcome.mismatches, ...wrongScopes]
    if (mismatches.length === 0) log('Pipeline complete. All tenants processed with isolated scopes.')
    return { ok: mismatches.length === 0, mismatches }
  } finally {
    await service.close()
    await broker.close()
  }
}
