/**
 * Scenario 02 — the downstream tenant-isolated analytics API (shared/scenarios/02-data-pipeline.md).
 *
 * A Fastify service in front of each tenant's analytics data and report store. The tenant in the
 * URL is the scope's identifier: an agent holding `read:analytics:hospital` can read
 * `/tenants/hospital/analytics` and nothing else. The route guard is route config, so Fastify
 * checks the `:tenant` parameter before any broker call.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import agentwrit, { type AgentAuthOptions, agentOf } from '../../src/fastify.js'

/** The three tenants of the scenario. */
export const TENANTS = Object.freeze({
  hospital: { name: 'Metro Health System', dataType: 'patient analytics' },
  bank: { name: 'First National Bank', dataType: 'financial analytics' },
  retail: { name: 'ShopWave Corp', dataType: 'sales analytics' },
})

export type TenantId = keyof typeof TENANTS

export const TENANT_IDS = Object.freeze(Object.keys(TENANTS) as TenantId[])

/** Mock data stores per tenant (separate databases in a real system). */
export const ANALYTICS: Readonly<Record<TenantId, Readonly<Record<string, string>>>> = {
  hospital: { patient_visits: '12,847', avg_stay: '3.2 days', readmit_rate: '4.1%' },
  bank: { transactions: '2.4M', avg_balance: '$8,420', fraud_rate: '0.02%' },
  retail: { orders: '847K', avg_order: '$67.30', return_rate: '8.4%' },
}

export function isTenant(id: string): id is TenantId {
  return Object.hasOwn(TENANTS, id)
}

interface TenantParams {
  tenant: string
}

/** Build the analytics API. `options` are agentwrit-verify's (broker URL, cache TTL…). */
export async function buildAnalyticsService(options: AgentAuthOptions): Promise<FastifyInstance> {
  const reports = new Map<string, { metrics: unknown; writtenBy: string; at: string }>()
  const app = Fastify()
  await app.register(agentwrit, options)

  app.get('/health', { config: { agentAuth: false } }, async () => ({ ok: true }))

  // read:analytics:<tenant> — the whole identifier is the route parameter.
  app.get<{ Params: TenantParams }>(
    '/tenants/:tenant/analytics',
    { config: { scope: 'read:analytics::tenant' } },
    async (request, reply) => {
      const { tenant } = request.params
      if (!isTenant(tenant)) return reply.code(404).send({ error: 'no such tenant' })
      return { tenant, metrics: ANALYTICS[tenant], readBy: agentOf(request).id }
    },
  )

  // write:reports:<tenant>
  app.post<{ Params: TenantParams; Body: { metrics?: unknown } }>(
    '/tenants/:tenant/reports',
    { config: { scope: 'write:reports::tenant' } },
    async (request, reply) => {
      const { tenant } = request.params
      if (!isTenant(tenant)) return reply.code(404).send({ error: 'no such tenant' })
      const path = `reports/${tenant}/latest.json`
      reports.set(path, {
        metrics: request.body?.metrics ?? null,
        writtenBy: agentOf(request).id,
        at: new Date().toISOString(),
      })
      return reply.code(201).send({ tenant, path, writtenBy: agentOf(request).id })
    },
  )

  return app
}
