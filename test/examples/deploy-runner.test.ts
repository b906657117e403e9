import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HOP1_SCOPE, ORCHESTRATOR_SCOPE, runDeployRunner } from '../../examples/deploy-runner/agent.js'
import {
  DEPLOY_RUNNER_EXPECTED,
  DEPLOY_RUNNER_EXPECTED_ERRORS,
  RELEASE_ORCHESTRATOR,
} from '../../examples/deploy-runner/scenario.js'
import { buildDeployService } from '../../examples/deploy-runner/service.js'
import { type Listening, listen } from '../../examples/shared.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

describe('example: deploy runner (scenario 05)', () => {
  let broker: DevBroker
  let service: ReturnType<typeof buildDeployService>
  let server: Listening

  beforeAll(async () => {
    broker = await startDevBroker()
    service = buildDeployService({ broker: broker.url }, { orchestrator: RELEASE_ORCHESTRATOR })
    server = await listen(service.callback())
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
    await broker?.close()
  })

  it('the deployer’s two-hop delegated token deploys web-service only; the broker refuses widening and a sixth hop', async () => {
    const lines: string[] = []
    const result = await runDeployRunner({ broker, serviceUrl: server.url, log: (l) => lines.push(l) })

    expect(result.statuses).toEqual({
      hop1: 200,
      hop2: 200,
      whoami: 200,
      deployWebService: 200,
      deployPaymentSvc: 403,
      deployWithOwnToken: 403,
      deployForeignChain: 403,
      widenAtHop2: 403,
      hop3: 200,
      hop4: 200,
      hop5: 200,
      hop6: 403,
      deployAtDepth5: 200,
    })
    expect(result.statuses).toEqual(DEPLOY_RUNNER_EXPECTED)
    expect(result.errors).toEqual({
      deployPaymentSvc: 'insufficient_scope',
      deployWithOwnToken: 'delegation_not_allowed',
      deployForeignChain: 'delegation_not_allowed',
      widenAtHop2: 'delegated scope exceeds delegator scope',
      hop6: 'delegation depth limit exceeded',
    })
    expect(result.errors).toEqual(DEPLOY_RUNNER_EXPECTED_ERRORS)

    // The chain: each hop records the delegator and the scope it held (contract §11.2).
    expect(result.hop2Chain.map((e) => [e.agent, e.scope])).toEqual([
      [result.orchestratorId, ORCHESTRATOR_SCOPE],
      [result.analystId, HOP1_SCOPE],
    ])
    expect(result.whoami).toMatchObject({
      id: result.deployerId,
      scope: ['write:deploy:web-service'],
      taskId: 'release-v2.4.1', // delegated tokens carry the delegator's task_id
      delegated: true,
      delegationDepth: 2,
      rootAgent: result.orchestratorId,
      delegatedBy: result.analystId,
    })
    expect(result.whoami?.chain.map((h) => h.agent)).toEqual([result.orchestratorId, result.analystId])
    expect(result.orchestratorId).toMatch(RELEASE_ORCHESTRATOR)

    const trace = lines.join('\n')
    expect(trace).toContain('scope="write:deploy:payment-svc"')
    expect(trace).toContain(
      `[0] ${result.orchestratorId} → scope: ["read:config:*","read:deploy:*","write:deploy:*"]`,
    )
    expect(trace).toContain('hop 6 → relay-6: 403 "delegation depth limit exceeded"')
  })

  it('pinned to one exact orchestrator id, a chain rooted at another orchestrator instance is refused', async () => {
    const pinned = buildDeployService(
      { broker: broker.url },
      { orchestrator: 'spiffe://agentwrit.local/agent/deploy-pipeline/release-v2.4.1/0000000000000000' },
    )
    const pinnedServer = await listen(pinned.callback())
    try {
      const orchestrator = await broker.createAgent({
        orchId: 'deploy-pipeline',
        taskId: 'release-v2.4.1',
        scope: ['write:deploy:*'],
      })
      const deployer = await broker.createAgent({
        orchId: 'deploy-pipeline',
        taskId: 'push-v2.4.1',
        scope: ['write:deploy:*'],
      })
      const d = await broker.delegate(orchestrator.accessToken, {
        to: deployer.agentId,
        scope: ['write:deploy:web-service'],
      })
      const res = await fetch(`${pinnedServer.url}/deploy/web-service`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.accessToken}` },
      })
      expect(res.status).toBe(403)
      expect(((await res.json()) as { error_code: string }).error_code).toBe('delegation_not_allowed')
    } finally {
      await pinnedServer.close()
      await pinned.close()
    }
  })
})
