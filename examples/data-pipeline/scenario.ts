/**
 * Scenario 02 end to end, as `npm run demo -- data-pipeline` runs it: the dev broker, the Fastify
 * analytics API (remote mode) and the nightly pipeline; then the same pipeline against the same
 * API written as a NestJS app (`agentwrit-verify/nest`).
 */
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, type ScenarioOutcome } from '../shared.js'
import { runDataPipeline } from './agent.js'
import { startNestAnalyticsService } from './nest-service.js'
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
  const fastify = await buildAnalyticsService({ broker: broker.url })
  try {
    const fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' })
    const first = await runAgainst(broker, fastifyUrl, 'Fastify', log)
    const nest = await startNestAnalyticsService({ broker: broker.url })
    try {
      log('')
      const second = await runAgainst(broker, nest.url, 'NestJS', log)
      return { ok: first.ok && second.ok, mismatches: [...first.mismatches, ...second.mismatches] }
    } finally {
      await nest.close()
    }
  } finally {
    await fastify.close()
    await broker.close()
  }
}

/** Run the pipeline against one analytics API and check every status and challenged scope. */
async function runAgainst(
  broker: DevBroker,
  serviceUrl: string,
  framework: string,
  log: Log,
): Promise<ScenarioOutcome> {
  log(`Nightly Analytics Pipeline (${framework})`)
  log('='.repeat(55))
  log(`Broker (dev):   ${broker.url}`)
  log(`Analytics API:  ${serviceUrl}  (${framework}, agentwrit-verify remote mode)`)
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
    .map(([step, scope]) => `${framework} ${step}: challenge named ${scope ?? 'no scope'}`)
  const mismatches = [...outcome.mismatches.map((m) => `${framework}: ${m}`), ...wrongScopes]
  if (mismatches.length === 0)
    log(`Pipeline complete on ${framework}. All tenants processed with isolated scopes.`)
  return { ok: mismatches.length === 0, mismatches }
}
