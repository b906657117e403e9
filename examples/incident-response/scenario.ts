/**
 * Scenario 07 end to end, as `npm run demo -- incident-response` runs it, twice: first the Express
 * partition service in remote mode with a short `cacheTtlMs` (a revoked token is served until the
 * cache bound has passed), then the same service keeping answers for a minute with the revocation
 * feed on (each revocation level takes effect about a second after the revoke).
 */
import { startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, listen, type ScenarioOutcome } from '../shared.js'
import { HOLDERS, incidentExpected, LEVELS, runIncidentResponse } from './agent.js'
import { buildPartitionService } from './service.js'

/** With the feed, a revocation must reach the service within this (poll 1000 ms + slack). */
export const FEED_REFUSAL_BOUND_MS = 2_500
const FEED_CACHE_TTL_MS = 60_000

export async function incidentResponseScenario(options: {
  log: Log
  cacheTtlMs?: number
}): Promise<ScenarioOutcome> {
  const withoutFeed = await cacheBoundPart(options.log, options.cacheTtlMs ?? 500)
  options.log('')
  const withFeed = await feedPart(options.log)
  const mismatches = [...withoutFeed, ...withFeed]
  return { ok: mismatches.length === 0, mismatches }
}

/** Part 1: remote mode, short cache; a revoked token is still served until `cacheTtlMs` passed. */
async function cacheBoundPart(log: Log, cacheTtlMs: number): Promise<string[]> {
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
    return [...outcome.mismatches, ...notCached, ...badCounts]
  } finally {
    await server.close()
    await service.close()
    await broker.close()
  }
}

/** Part 2: answers cached for a minute, revocation feed on: each level is refused within about a second. */
async function feedPart(log: Log): Promise<string[]> {
  const broker = await startDevBroker()
  const service = buildPartitionService({
    broker: broker.url,
    cacheTtlMs: FEED_CACHE_TTL_MS,
    revocationFeed: { token: () => broker.adminToken() },
  })
  const server = await listen(service)
  try {
    log('Incident Response — with the revocation feed')
    log('='.repeat(55))
    log(
      `Partition service:  ${server.url}  (cacheTtlMs ${FEED_CACHE_TTL_MS}, revocationFeed polling GET /v1/audit/events every 1000 ms)`,
    )
    log('')
    const result = await runIncidentResponse({
      broker,
      serviceUrl: server.url,
      cacheTtlMs: FEED_CACHE_TTL_MS,
      feed: { giveUpMs: 2 * FEED_REFUSAL_BOUND_MS },
      log,
    })
    const outcome = compareStatuses(incidentExpected(true), result.statuses)
    const late = Object.entries(result.refusedAfterMs)
      .filter(([, ms]) => ms > FEED_REFUSAL_BOUND_MS)
      .map(([level, ms]) => `${level}: refused after ${ms} ms, expected within ${FEED_REFUSAL_BOUND_MS} ms`)
    // Survivors keep being served from the service's cache: no broker call for them.
    const survivors = HOLDERS.filter((h) => result.statuses[`chain.after.${h}`] === 200)
    const notCached = survivors
      .filter((h) => result.sources[`chain.after.${h}`] !== 'cache')
      .map((h) => `chain.after.${h}: expected source cache, got ${result.sources[`chain.after.${h}`]}`)
    const times = LEVELS.map(({ level }) => `${level} ${result.refusedAfterMs[level]} ms`).join(', ')
    log(`Revocation → refusal with the feed: ${times}`)
    return [...outcome.mismatches, ...late, ...notCached]
  } finally {
    await server.close()
    await service.close()
    await broker.close()
  }
}
