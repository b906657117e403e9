/**
 * Scenario 02 — the agent side: the nightly pipeline creates one agent per tenant, runs
 * extract → transform → load through the analytics API with that agent's token, proves the agent
 * is refused for every other tenant (read and write), and releases it.
 * Mirrors shared/scenarios/02-data-pipeline.md, with a real downstream service instead of local
 * `scope_is_subset()` checks.
 */
import type { DevBroker } from '../../src/testing/index.js'
import { callService, challengedScope, describeRefusal, type Log } from '../shared.js'
import { TENANT_IDS, TENANTS, type TenantId } from './service.js'

export interface DataPipelineResult {
  /** SPIFFE id of each tenant's agent. */
  readonly agents: Readonly<Record<TenantId, string>>
  /**
   * HTTP status of each call, by step: `hospital.extract`, `hospital.load`, and for every
   * cross-tenant pair `hospital->bank.read`, `hospital->bank.write`.
   */
  readonly statuses: Readonly<Record<string, number>>
  /** The scope named by each refusal's `WWW-Authenticate` challenge, by step. */
  readonly refusedScopes: Readonly<Record<string, string | null>>
}

interface Analytics {
  metrics: Record<string, string>
}

interface Report {
  path: string
}

/** Run the pipeline for every tenant against the analytics API at `serviceUrl`. */
export async function runDataPipeline(options: {
  broker: DevBroker
  serviceUrl: string
  log?: Log
}): Promise<DataPipelineResult> {
  const { broker, serviceUrl } = options
  const log = options.log ?? (() => {})
  const statuses: Record<string, number> = {}
  const refusedScopes: Record<string, string | null> = {}
  const agents = {} as Record<TenantId, string>
  const run = Math.floor(Date.now() / 1000)

  for (const tenantId of TENANT_IDS) {
    const tenant = TENANTS[tenantId]
    log(`── ${tenant.name} (${tenantId}) ──`)
    log(`   Data type: ${tenant.dataType}`)

    // An agent scoped to THIS tenant only.
    const agent = await broker.createAgent({
      orchId: 'nightly-pipeline',
      taskId: `etl-${tenantId}-${run}`,
      scope: [`read:analytics:${tenantId}`, `write:reports:${tenantId}`],
    })
    agents[tenantId] = agent.agentId
    log(`   Agent:    ${agent.agentId}`)
    log(`   Scope:    ${JSON.stringify(agent.scope)}`)
    log(`   Expires:  ${agent.expiresIn}s`)

    try {
      // ── Extract ──
      const extract = await callService<Analytics>(
        serviceUrl,
        agent.accessToken,
        'GET',
        `/tenants/${tenantId}/analytics`,
      )
      statuses[`${tenantId}.extract`] = extract.status
      if (extract.status !== 200 || !extract.body) {
        log(`   [DENIED]    GET /tenants/${tenantId}/analytics → ${describeRefusal(extract)}`)
        continue
      }
      log(
        `   [EXTRACT]   GET /tenants/${tenantId}/analytics → 200: ${tenant.dataType} ${JSON.stringify(extract.body.metrics)}`,
      )

      // ── Transform (local: the data is already in hand) ──
      const report = Object.fromEntries(
        Object.entries(extract.body.metrics).map(([k, v]) => [k, v.toUpperCase()]),
      )
      log('   [TRANSFORM] Processed data for report (local, no call)')

      // ── Load ──
      const load = await callService<Report>(
        serviceUrl,
        agent.accessToken,
        'POST',
        `/tenants/${tenantId}/reports`,
        {
          metrics: report,
        },
      )
      statuses[`${tenantId}.load`] = load.status
      log(
        load.status === 201
          ? `   [LOAD]      POST /tenants/${tenantId}/reports → 201: report written to ${load.body?.path}`
          : `   [DENIED]    POST /tenants/${tenantId}/reports → ${describeRefusal(load)}`,
      )

      // ── Isolation: this agent against every other tenant, read and write ──
      for (const other of TENANT_IDS) {
        if (other === tenantId) continue
        const read = await callService(serviceUrl, agent.accessToken, 'GET', `/tenants/${other}/analytics`)
        statuses[`${tenantId}->${other}.read`] = read.status
        refusedScopes[`${tenantId}->${other}.read`] = challengedScope(read.challenge)
        log(`   [BLOCKED]   GET  /tenants/${other}/analytics → ${describeRefusal(read)}`)
        const write = await callService(serviceUrl, agent.accessToken, 'POST', `/tenants/${other}/reports`, {
          metrics: report,
        })
        statuses[`${tenantId}->${other}.write`] = write.status
        refusedScopes[`${tenantId}->${other}.write`] = challengedScope(write.challenge)
        log(`   [BLOCKED]   POST /tenants/${other}/reports → ${describeRefusal(write)}`)
      }
    } finally {
      await broker.release(agent.accessToken)
      log(`   [RELEASE]   Agent released for ${tenantId}`)
    }
    log('')
  }

  const pairs = Object.keys(statuses).filter((k) => k.includes('->'))
  const refused = pairs.filter((k) => statuses[k] === 403).length
  log(
    `Cross-tenant isolation: ${refused} of ${pairs.length} cross-tenant calls refused with 403` +
      ' (each naming the exact scope it lacked).',
  )
  return { agents, statuses, refusedScopes }
}
