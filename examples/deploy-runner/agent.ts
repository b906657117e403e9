/**
 * Scenario 05 — the agent side: orchestrator → analyst → deployer, two delegation hops through the
 * broker's `POST /v1/delegate`, the second one made WITH THE HOP-1 DELEGATED TOKEN as Bearer (that
 * is what extends a chain; an agent's own token would start a new one). The deployer's delegated
 * token then deploys web-service through the deploy service, and nothing else.
 * Mirrors shared/scenarios/05-deploy-runner.md, with a real downstream service instead of local
 * `scope_is_subset()` checks, plus the broker's refusals (widening, a sixth hop).
 */
import {
  type CreatedAgent,
  type DelegationRecordJson,
  type DelegationResult,
  type DevBroker,
  DevBrokerRequestError,
} from '../../src/testing/index.js'
import { callService, describeRefusal, type Log } from '../shared.js'
import type { WhoAmI } from './service.js'

export const ORCHESTRATOR_SCOPE = Object.freeze(['read:config:*', 'read:deploy:*', 'write:deploy:*'])
/**
 * Hop 1 (orchestrator → analyst). Unlike the scenario document's hop 1, it keeps
 * `write:deploy:web-service`: the analyst must hold it to pass it on at hop 2 (the broker refuses
 * any delegation wider than the delegator's token).
 */
export const HOP1_SCOPE = Object.freeze([
  'read:config:production',
  'read:deploy:web-service',
  'write:deploy:web-service',
])
/** Hop 2 (analyst → deployer). */
export const HOP2_SCOPE = Object.freeze(['write:deploy:web-service'])

export interface DeployRunnerResult {
  readonly orchestratorId: string
  readonly analystId: string
  readonly deployerId: string
  /**
   * Status of each step: broker calls (`hop1`, `hop2`, `widenAtHop2`, `hop3`…`hop5`, `hop6`) and
   * deploy-service calls (`whoami`, `deployWebService`, `deployPaymentSvc`, `deployWithOwnToken`,
   * `deployForeignChain`, `deployAtDepth5`).
   */
  readonly statuses: Readonly<Record<string, number>>
  /** Refusal reason per refused step: the service's `error_code`, or the broker's `detail`. */
  readonly errors: Readonly<Record<string, string>>
  /** The chain as `POST /v1/delegate` returned it at hop 2. */
  readonly hop2Chain: readonly DelegationRecordJson[]
  /** What the deploy service saw for the deployer's delegated token. */
  readonly whoami: WhoAmI | null
}

type Delegation = { ok: true; result: DelegationResult } | { ok: false; status: number; detail: string }

/** `POST /v1/delegate`; a refusal is returned, not thrown. */
async function delegate(
  broker: DevBroker,
  bearer: string,
  to: string,
  scope: readonly string[],
  ttl?: number,
): Promise<Delegation> {
  try {
    return { ok: true, result: await broker.delegate(bearer, { to, scope, ...(ttl ? { ttl } : {}) }) }
  } catch (e) {
    if (!(e instanceof DevBrokerRequestError) || e.status === 0) throw e
    let detail = e.body
    try {
      detail = (JSON.parse(e.body) as { detail?: string }).detail ?? e.body
    } catch {}
    return { ok: false, status: e.status, detail }
  }
}

const short = (token: string) => `${token.slice(0, 30)}...`

function logChain(log: Log, chain: readonly DelegationRecordJson[], indent: string): void {
  chain.forEach((entry, i) => {
    log(`${indent}[${i}] ${entry.agent} → scope: ${JSON.stringify(entry.scope)}`)
  })
}

/** Run the deployment runner against the deploy service at `serviceUrl`. */
export async function runDeployRunner(options: {
  broker: DevBroker
  serviceUrl: string
  log?: Log
}): Promise<DeployRunnerResult> {
  const { broker, serviceUrl } = options
  const log = options.log ?? (() => {})
  const statuses: Record<string, number> = {}
  const errors: Record<string, string> = {}

  // ── The three agents ──
  const created: CreatedAgent[] = []
  const create = async (label: string, taskId: string, scope: readonly string[]) => {
    const agent = await broker.createAgent({ orchId: 'deploy-pipeline', taskId, scope })
    created.push(agent)
    log(`${label} created`)
    log(`  ID:    ${agent.agentId}`)
    log(`  Scope: ${JSON.stringify(agent.scope)}`)
    log('')
    return agent
  }
  const orchestrator = await create('Orchestrator', 'release-v2.4.1', ORCHESTRATOR_SCOPE)
  const analyst = await create('Analyst', 'review-v2.4.1', ['read:config:*', 'read:deploy:*'])
  const deployer = await create('Deployer', 'push-v2.4.1', ['write:deploy:*'])

  let hop2Chain: readonly DelegationRecordJson[] = []
  let whoami: WhoAmI | null = null
  try {
    // ── Hop 1: orchestrator → analyst, with the orchestrator's own token ──
    log('Hop 1: Orchestrator → Analyst (Bearer: the orchestrator’s own token)')
    log(`  Delegating: ${JSON.stringify(HOP1_SCOPE)}`)
    log(
      '  (the scenario document drops write:deploy here; then hop 2 would be a widening the broker refuses)',
    )
    const hop1 = await delegate(broker, orchestrator.accessToken, analyst.agentId, HOP1_SCOPE, 120)
    if (!hop1.ok) throw new Error(`hop 1 refused: ${hop1.status} ${hop1.detail}`)
    statuses.hop1 = 200
    log(`  Success! Chain depth: ${hop1.result.delegationChain.length}`)
    log(`  Delegated token: ${short(hop1.result.accessToken)}`)
    log('')

    // ── Hop 2: analyst → deployer, with the HOP-1 DELEGATED token ──
    log('Hop 2: Analyst → Deployer (Bearer: the delegated token from hop 1)')
    log(`  Delegating: ${JSON.stringify(HOP2_SCOPE)}`)
    const hop2 = await delegate(broker, hop1.result.accessToken, deployer.agentId, HOP2_SCOPE, 60)
    if (!hop2.ok) throw new Error(`hop 2 refused: ${hop2.status} ${hop2.detail}`)
    statuses.hop2 = 200
    hop2Chain = hop2.result.delegationChain
    log(`  Success! Token: ${short(hop2.result.accessToken)}`)
    log(`  Chain depth: ${hop2Chain.length} (each hop: the delegator → the scope it held)`)
    logChain(log, hop2Chain, '    ')
    log('')
    const deployerToken = hop2.result.accessToken

    // ── What the deploy service sees ──
    log('── Deploy service ──')
    log('')
    const me = await callService<WhoAmI>(serviceUrl, deployerToken, 'GET', '/whoami')
    statuses.whoami = me.status
    if (me.status === 200 && me.body) {
      whoami = me.body
      log(`  GET /whoami (deployer's delegated token) → 200`)
      log(`    id:          ${me.body.id}`)
      log(`    scope:       ${JSON.stringify(me.body.scope)}`)
      log(`    depth:       ${me.body.delegationDepth}`)
      log(`    root:        ${me.body.rootAgent}`)
      log(`    delegatedBy: ${me.body.delegatedBy}`)
      log('    chain:')
      for (const [i, hop] of me.body.chain.entries()) {
        log(`      [${i}] ${hop.agent} → ${JSON.stringify(hop.scope)}`)
      }
    } else {
      log(`  GET /whoami → ${describeRefusal(me)}`)
    }

    const deploy = async (step: string, token: string, service: string, who: string) => {
      const r = await callService<{ status?: string }>(serviceUrl, token, 'POST', `/deploy/${service}`)
      statuses[step] = r.status
      if (r.status === 200) {
        log(`  [DEPLOYED] POST /deploy/${service} with ${who} → 200 ${r.body?.status}`)
      } else {
        errors[step] = r.body?.error_code ?? String(r.status)
        log(`  [BLOCKED]  POST /deploy/${service} with ${who} → ${describeRefusal(r)}`)
      }
    }
    await deploy('deployWebService', deployerToken, 'web-service', "the deployer's delegated token")
    await deploy('deployPaymentSvc', deployerToken, 'payment-svc', "the deployer's delegated token")
    await deploy(
      'deployWithOwnToken',
      deployer.accessToken,
      'web-service',
      "the deployer's own token (write:deploy:*)",
    )

    // A chain the orchestrator did not start: the deployer delegates to itself from its own token.
    const foreign = await delegate(broker, deployer.accessToken, deployer.agentId, HOP2_SCOPE, 60)
    if (!foreign.ok) throw new Error(`self-delegation refused: ${foreign.status} ${foreign.detail}`)
    await deploy(
      'deployForeignChain',
      foreign.result.accessToken,
      'web-service',
      'a chain rooted at the deployer',
    )
    log('')

    // ── The broker: no hop can widen ──
    log('── Broker: attenuation and depth ──')
    log('')
    const widen = await delegate(broker, hop1.result.accessToken, deployer.agentId, ['read:config:staging'])
    statuses.widenAtHop2 = widen.ok ? 200 : widen.status
    if (!widen.ok) errors.widenAtHop2 = widen.detail
    log(
      `  Hop 2 asking for read:config:staging (hop 1 holds only read:config:production) → ${
        widen.ok ? '200 (UNEXPECTED)' : `${widen.status} "${widen.detail}"`
      }`,
    )

    // ── The broker: depth limit 5 (contract §11.1) ──
    log('  Extending the deploy chain to depth 5, each hop passing write:deploy:web-service on:')
    let bearer = deployerToken
    let depth = hop2Chain.length
    for (let hop = depth + 1; hop <= 6; hop++) {
      const relay = await broker.createAgent({
        orchId: 'deploy-pipeline',
        taskId: `relay-${hop}`,
        scope: ['write:deploy:*'],
      })
      created.push(relay)
      const next = await delegate(broker, bearer, relay.agentId, HOP2_SCOPE, 60)
      statuses[`hop${hop}`] = next.ok ? 200 : next.status
      if (next.ok) {
        depth = next.result.delegationChain.length
        bearer = next.result.accessToken
        log(`    hop ${hop} → relay-${hop}: 200, chain depth ${depth}`)
      } else {
        errors[`hop${hop}`] = next.detail
        log(`    hop ${hop} → relay-${hop}: ${next.status} "${next.detail}" (the broker allows 5 hops)`)
      }
    }
    await deploy('deployAtDepth5', bearer, 'web-service', `the depth-${depth} token`)
    log('')
  } finally {
    for (const agent of created) await broker.release(agent.accessToken)
    log('All agents released.')
  }

  return {
    orchestratorId: orchestrator.agentId,
    analystId: analyst.agentId,
    deployerId: deployer.agentId,
    statuses,
    errors,
    hop2Chain,
    whoami,
  }
}
