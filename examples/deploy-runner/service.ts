/**
 * Scenario 05 — the downstream deploy service (shared/scenarios/05-deploy-runner.md).
 *
 * A Koa service that deploys a service only for a token that (1) was delegated along a chain the
 * release orchestrator started, and (2) holds `write:deploy:<service>` for that exact service.
 * The orchestrator's own token, or any agent's registration token, is not enough: deploys must
 * come through the attenuated delegation chain. `GET /whoami` shows what the service sees.
 */
import Router from '@koa/router'
import Koa from 'koa'
import {
  type AgentAuthOptions,
  agentAuth,
  agentOf,
  type DelegationRootMatcher,
  requireDelegatedFrom,
  requireScope,
} from '../../src/koa.js'

/** What `GET /whoami` answers. */
export interface WhoAmI {
  id: string
  scope: string[]
  taskId: string | null
  delegated: boolean
  delegationDepth: number
  rootAgent: string | null
  delegatedBy: string | null
  /** Each hop: the delegator and the scope it held when it delegated. */
  chain: { agent: string; scope: string[]; delegatedAt: string }[]
}

/**
 * Build the deploy service.
 * @param options - agentwrit-verify's options (broker URL, cache TTL…)
 * @param trust.orchestrator - who may start a deploy chain: the orchestrator's exact SPIFFE id, a
 *   RegExp over it (e.g. its `deploy-pipeline/release-v2.4.1/` path, any instance), or a predicate
 */
export function buildDeployService(
  options: AgentAuthOptions,
  trust: { orchestrator: DelegationRootMatcher },
): Koa & { close(): Promise<void> } {
  const auth = agentAuth(options)
  const deployments: { service: string; by: string; onBehalfOf: string | undefined; at: string }[] = []
  const app = new Koa()
  app.silent = true
  const router = new Router()

  router.get('/whoami', (ctx) => {
    const agent = agentOf(ctx)
    const body: WhoAmI = {
      id: agent.id,
      scope: [...agent.scope],
      taskId: agent.taskId ?? null,
      delegated: agent.delegated,
      delegationDepth: agent.delegationDepth,
      rootAgent: agent.rootAgent ?? null,
      delegatedBy: agent.delegatedBy ?? null,
      chain: agent.delegationChain.map((r) => ({
        agent: r.agent,
        scope: [...r.scope],
        delegatedAt: r.delegated_at,
      })),
    }
    ctx.body = body
  })

  // Delegated from the orchestrator, AND write:deploy:<service> for this service.
  router.post(
    '/deploy/:service',
    requireDelegatedFrom(trust.orchestrator),
    requireScope('write:deploy::service'),
    (ctx) => {
      const agent = agentOf(ctx)
      const deployment = {
        service: ctx.params.service as string,
        by: agent.id,
        onBehalfOf: agent.rootAgent,
        at: new Date().toISOString(),
      }
      deployments.push(deployment)
      ctx.body = { ...deployment, status: 'deployed', delegationDepth: agent.delegationDepth }
    },
  )

  app.use(auth).use(router.routes()).use(router.allowedMethods())
  return Object.assign(app, { close: () => auth.close() })
}
