/**
 * Scenario 05 end to end, as `npm run demo -- deploy-runner` runs it: the dev broker, the Koa deploy
 * service (remote mode), and the deployment runner.
 */
import { startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, listen, type ScenarioOutcome } from '../shared.js'
import { runDeployRunner } from './agent.js'
import { buildDeployService } from './service.js'

/**
 * The release orchestrator's workload identity: orch `deploy-pipeline`, task `release-v2.4.1`, any
 * instance. (A service that knows the exact SPIFFE id can pin that string instead.)
 */
export const RELEASE_ORCHESTRATOR =
  /^spiffe:\/\/agentwrit\.local\/agent\/deploy-pipeline\/release-v2\.4\.1\/[0-9a-f]{16}$/

/** The status each step of {@link runDeployRunner} must get. */
export const DEPLOY_RUNNER_EXPECTED: Readonly<Record<string, number>> = Object.freeze({
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

/** The refusal reason each refused step must carry. */
export const DEPLOY_RUNNER_EXPECTED_ERRORS: Readonly<Record<string, string>> = Object.freeze({
  deployPaymentSvc: 'insufficient_scope',
  deployWithOwnToken: 'delegation_not_allowed',
  deployForeignChain: 'delegation_not_allowed',
  widenAtHop2: 'delegated scope exceeds delegator scope',
  hop6: 'delegation depth limit exceeded',
})

export async function deployRunnerScenario(options: { log: Log }): Promise<ScenarioOutcome> {
  const { log } = options
  const broker = await startDevBroker()
  const service = buildDeployService({ broker: broker.url }, { orchestrator: RELEASE_ORCHESTRATOR })
  const server = await listen(service.callback())
  try {
    log('CI/CD Deployment Runner — Multi-Hop Delegation')
    log('='.repeat(55))
    log(`Broker (dev):    ${broker.url}`)
    log(`Deploy service:  ${server.url}  (Koa, agentwrit-verify remote mode)`)
    log('  POST /deploy/:service  requires a chain started by the release orchestrator')
    log('                         AND write:deploy:<service>')
    log('  GET  /whoami           the identity and delegation chain the service sees')
    log('')
    const result = await runDeployRunner({ broker, serviceUrl: server.url, log })
    const outcome = compareStatuses(DEPLOY_RUNNER_EXPECTED, result.statuses)
    const wrongReasons = Object.entries(DEPLOY_RUNNER_EXPECTED_ERRORS)
      .filter(([step, reason]) => result.errors[step] !== reason)
      .map(([step, reason]) => `${step}: expected "${reason}", got "${result.errors[step] ?? 'nothing'}"`)
    const mismatches = [...outcome.mismatches, ...wrongReasons]
    return { ok: mismatches.length === 0, mismatches }
  } finally {
    await server.close()
    await service.close()
    await broker.close()
  }
}
