/**
 * Scenario 07 — the protected service (shared/scenarios/07-incident-response.md).
 *
 * An Express API over data partitions: `GET /data/:partition` needs `read:data:<partition>`,
 * `PUT /data/:partition` needs `write:data:<partition>`. Every answer says how the token was
 * verified (`broker`, or `cache` and how old the cached answer was), which is what makes the
 * revocation-staleness bound visible: a revoked token can still be served from the cache for up to
 * `cacheTtlMs`.
 */
import express, { type Express } from 'express'
import { type AgentAuthOptions, agentAuth, agentOf, requireScope } from '../../src/express.js'

/** What the service answers on success. */
export interface PartitionAnswer {
  partition: string
  by: string
  verification: { source: 'broker' | 'local' | 'cache'; cacheAgeMs: number }
}

/** Build the partition service. `options` are agentwrit-verify's (broker URL, cache TTL…). */
export function buildPartitionService(options: AgentAuthOptions): Express & { close(): Promise<void> } {
  const auth = agentAuth(options)
  const writes = new Map<string, { by: string; at: string }>()
  const app = express()
  app.use(express.json())
  app.use(auth)

  app.get('/data/:partition', requireScope('read:data::partition'), (req, res) => {
    const answer: PartitionAnswer = {
      partition: req.params.partition as string,
      by: agentOf(req).id,
      verification: { ...agentOf(req).verification },
    }
    res.json(answer)
  })

  app.put('/data/:partition', requireScope('write:data::partition'), (req, res) => {
    writes.set(req.params.partition as string, { by: agentOf(req).id, at: new Date().toISOString() })
    const answer: PartitionAnswer = {
      partition: req.params.partition as string,
      by: agentOf(req).id,
      verification: { ...agentOf(req).verification },
    }
    res.json(answer)
  })

  return Object.assign(app, { close: () => auth.close() })
}
