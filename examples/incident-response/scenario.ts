/**
 * Scenario 07 end to end, as `npm run demo -- incident-response` runs it: the dev broker, the
 * Express partition service (remote mode, short `cacheTtlMs`), and the incident responder.
 */
import { startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, listen, type ScenarioOutcome } from '../shared.js'
import { incidentExpected, LEVELS, runIncidentResponse } from './agent.js'
import { buildPartitionService } from './service.js'

export async function incidentResponseScenario(options: {
  log: Log
  cacheTtlMs?: number
}): Promise<ScenarioOutcome> {
  const { log } = options
  const cacheTtlMs = options.cacheTtlMs ?? 500
  const broker = await startDevBroker()
  const service = buildPartitionService({ broker: broker.url, cacheTtlMs })
  const server = await listen(service)
  try {
    log('Incident Response — Revocation Demo')
    log('='.repeat(55))
    log(`Broker (dev):       ${broker.url}`)
    log(
      `Partition service:  ${server.url}  (Express, agentwrit-verify remote mode, cacheTtlMs ${cacheTtlMs})`,
    )
    log('  GET /data/:partition  requires read:data:<partition>')
    log('  PUT /data/:partition  requires write:data:<partition>')
    log('')
    const result = await runIncidentResponse({ broker, serviceUrl: server.url, cacheTtlMs, log })
    const outcome = compareStatuses(incidentExpected(), result.statuses)
    // A token revoked a moment ago is still served, and from the cache: the documented bound.
    const notCached = LEVELS.flatMap(({ level, affected }) =>
      affected
        .filter((h) => result.sources[`${level}.immediate.${h}`] !== 'cache')
        .map(
          (h) =>
            `${level}.immediate.${h}: expected source cache, got ${result.sources[`${level}.immediate.${h}`]}`,
        ),
    )
    const badCounts = Object.entries(result.counts)
      .filter(([, count]) => count !== 1)
      .map(([level, count]) => `${level}: count ${count}, expected 1`)
    const mismatches = [...outcome.mismatches, ...notCached, ...badCounts]
    return { ok: mismatches.length === 0, mismatches }
  } finally {
    await server.close()
    await service.close()
    await broker.close()
  }
}
