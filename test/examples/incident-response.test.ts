import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  HOLDERS,
  incidentExpected,
  LEVELS,
  runIncidentResponse,
} from '../../examples/incident-response/agent.js'
import { FEED_REFUSAL_BOUND_MS } from '../../examples/incident-response/scenario.js'
import { buildPartitionService } from '../../examples/incident-response/service.js'
import { type Listening, listen } from '../../examples/shared.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

// The service's revocation-staleness bound. Large enough that the "immediately after revoke" probe
// (a few requests later) always lands inside it, even on a loaded CI machine.
const CACHE_TTL_MS = 500

describe('example: incident response (scenario 07)', () => {
  let broker: DevBroker
  let service: ReturnType<typeof buildPartitionService>
  let server: Listening

  beforeAll(async () => {
    broker = await startDevBroker()
    service = buildPartitionService({ broker: broker.url, cacheTtlMs: CACHE_TTL_MS })
    server = await listen(service)
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
    await broker?.close()
  })

  it('after each revocation level the service refuses exactly the revoked tokens once the cache bound has passed', async () => {
    const lines: string[] = []
    const result = await runIncidentResponse({
      broker,
      serviceUrl: server.url,
      cacheTtlMs: CACHE_TTL_MS,
      log: (l) => lines.push(l),
    })

    // Spelled out for the "after the bound" probes: who is dead after each level.
    const deadAfter: Record<string, string[]> = {
      token: ['reader'],
      agent: ['reader', 'writer'],
      task: ['reader', 'writer', 'analyzer'],
      // The broker's chain revocation: only the delegated token; chain-root's own token lives (§15.3).
      chain: ['reader', 'writer', 'analyzer', 'delegated'],
    }
    for (const [level, dead] of Object.entries(deadAfter)) {
      for (const h of HOLDERS) {
        expect(result.statuses[`${level}.after.${h}`], `${level}.after.${h}`).toBe(
          dead.includes(h) ? 401 : 200,
        )
      }
    }
    expect(result.statuses['chain.after.chain-root']).toBe(200)
    expect(result.statuses['chain.after.archiver']).toBe(200)
    expect(result.statuses).toEqual(incidentExpected())

    // Immediately after each revocation the newly revoked token is still served — from the cache.
    for (const { level, affected } of LEVELS) {
      for (const h of affected) {
        expect(result.statuses[`${level}.immediate.${h}`]).toBe(200)
        expect(result.sources[`${level}.immediate.${h}`]).toBe('cache')
      }
    }
    // After the bound, survivors were re-validated at the broker.
    expect(result.sources['chain.after.archiver']).toBe('broker')

    // The broker's count is always 1 (the scenario document shows 2 for the task level).
    expect(result.counts).toEqual({ token: 1, agent: 1, task: 1, chain: 1 })

    const trace = lines.join('\n')
    expect(trace).toMatch(
      /reader {6}GET \/data\/partition-1 {2}→ 200 still served from cache \(source cache, age \d+ ms\)/,
    )
    expect(trace).toContain('reader      GET /data/partition-1  → 401 invalid_token   ← revoked')
    expect(trace).toContain('the scenario document shows count: 2')
    expect(trace).toContain("chain-root's own")
  })

  it('with the revocation feed, a service caching for a minute refuses each revoked token within about a second', async () => {
    const feedBroker = await startDevBroker()
    const feedService = buildPartitionService({
      broker: feedBroker.url,
      cacheTtlMs: 60_000,
      revocationFeed: { token: () => feedBroker.adminToken() },
    })
    const feedServer = await listen(feedService)
    try {
      const lines: string[] = []
      const result = await runIncidentResponse({
        broker: feedBroker,
        serviceUrl: feedServer.url,
        cacheTtlMs: 60_000,
        feed: { giveUpMs: 2 * FEED_REFUSAL_BOUND_MS },
        log: (l) => lines.push(l),
      })
      expect(result.statuses).toEqual(incidentExpected(true))
      for (const { level } of LEVELS) {
        expect(result.refusedAfterMs[level], level).toBeLessThanOrEqual(FEED_REFUSAL_BOUND_MS)
      }
      // The tokens no revocation touched are still served from the one-minute cache.
      for (const h of ['archiver', 'chain-root', 'chain-child'] as const) {
        expect(result.statuses[`chain.after.${h}`]).toBe(200)
        expect(result.sources[`chain.after.${h}`]).toBe('cache')
      }
      expect(lines.join('\n')).toMatch(/Refused by the service \d+ ms after the revoke/)
    } finally {
      await feedServer.close()
      await feedService.close()
      await feedBroker.close()
    }
  })
})
