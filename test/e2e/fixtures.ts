/**
 * Tokens for e2e tests, all minted through the development broker's real HTTP API
 * (app auth → launch token → challenge → register), plus a few signed directly for edge cases.
 */
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { createStandardAgents } from '../helpers/agents.js'
import { forgeSignature } from '../helpers/tokens.js'

export interface Fixtures {
  broker: DevBroker
  /** read:data:customer-7, write:data:order-1 */
  agent: string
  agentId: string
  /** read:analytics:bank, write:reports:bank */
  bank: string
  /** A token of `agent`'s with its signature altered. */
  forged: string
  /** Signed by the broker's key, expired 10 s ago. */
  expired: string
  /** Released at the broker. */
  released: string
  /** Broker admin token. */
  admin: string
  /** App token of the sample app. */
  app: string
  /** Signed by another broker's key. */
  foreign: string
  /** Delegated release-orchestrator → deployer, scope write:deploy:web-service. */
  delegated: string
  orchestratorId: string
  /** The deployer's own (not delegated) token, scope write:deploy:web-service. */
  deployerOwn: string
  /** Distinct valid agent tokens (read:data:customer-7), one per broker-fault row: a failed broker
   * check is remembered per token for a moment (no retry storm), so each fault needs its own. */
  spare: string[]
  /** A fresh agent token every call (for tests that must start with a cold cache). */
  fresh(scope?: string[]): Promise<string>
}

export async function makeFixtures(): Promise<Fixtures & { close(): Promise<void> }> {
  const broker = await startDevBroker()
  const other = await startDevBroker({ sampleApp: false })
  const { agent: a, bank } = await createStandardAgents(broker)
  const rel = await broker.createAgent({ orchId: 'o', taskId: 'released', scope: ['read:data:customer-7'] })
  await broker.release(rel.accessToken)
  const now = Math.floor(Date.now() / 1000)
  const expired = broker.signToken({
    iss: '',
    sub: a.agentId,
    exp: now - 10,
    nbf: now - 310,
    iat: now - 310,
    jti: 'e'.repeat(32),
    scope: ['read:data:customer-7'],
    task_id: 'process-ord-1',
    orch_id: 'order-worker',
  })
  const foreign = other.signToken({
    iss: '',
    sub: a.agentId,
    exp: now + 300,
    nbf: now,
    iat: now,
    jti: 'f'.repeat(32),
    scope: ['read:data:customer-7'],
    task_id: 'process-ord-1',
    orch_id: 'order-worker',
  })
  await other.close()
  const appAuth = await fetch(`${broker.url}/v1/app/auth`, {
    method: 'POST',
    body: JSON.stringify({
      client_id: broker.sampleApp!.clientId,
      client_secret: broker.sampleApp!.clientSecret,
    }),
  })
  const app = ((await appAuth.json()) as { access_token: string }).access_token
  const orch = await broker.createAgent({
    orchId: 'release-orchestrator',
    taskId: 'release-v2',
    scope: ['read:config:*', 'write:deploy:*'],
  })
  const deployer = await broker.createAgent({
    orchId: 'deploy-runner',
    taskId: 'deploy-v2',
    scope: ['write:deploy:web-service'],
  })
  const delegated = await broker.delegate(orch.accessToken, {
    to: deployer.agentId,
    scope: ['write:deploy:web-service'],
  })
  const spare: string[] = []
  for (let i = 0; i < 6; i++) {
    spare.push(
      (
        await broker.createAgent({
          orchId: 'order-worker',
          taskId: `spare-${i}`,
          scope: ['read:data:customer-7'],
        })
      ).accessToken,
    )
  }
  let n = 0
  return {
    broker,
    agent: a.accessToken,
    agentId: a.agentId,
    bank: bank.accessToken,
    forged: forgeSignature(a.accessToken),
    expired,
    released: rel.accessToken,
    admin: await broker.adminToken(),
    app,
    foreign,
    delegated: delegated.accessToken,
    orchestratorId: orch.agentId,
    deployerOwn: deployer.accessToken,
    spare,
    async fresh(scope = ['read:data:customer-7', 'write:data:order-1']) {
      n++
      return (await broker.createAgent({ orchId: 'order-worker', taskId: `fresh-${n}`, scope })).accessToken
    },
    close: () => broker.close(),
  }
}
