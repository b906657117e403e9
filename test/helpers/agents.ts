/**
 * The two agents the e2e and hostile suites test with, registered through the development
 * broker's real flow (app auth → launch token → challenge → register).
 */
import { type CreatedAgent, type DevBroker, startDevBroker } from '../../src/testing/index.js'

export interface StandardAgents {
  /** `read:data:customer-7`, `write:data:order-1` (orch `order-worker`, task `process-ord-1`). */
  readonly agent: CreatedAgent
  /** `read:analytics:bank`, `write:reports:bank` (orch `nightly-pipeline`, task `etl-bank`). */
  readonly bank: CreatedAgent
}

export async function createStandardAgents(broker: DevBroker): Promise<StandardAgents> {
  const agent = await broker.createAgent({
    orchId: 'order-worker',
    taskId: 'process-ord-1',
    scope: ['read:data:customer-7', 'write:data:order-1'],
  })
  const bank = await broker.createAgent({
    orchId: 'nightly-pipeline',
    taskId: 'etl-bank',
    scope: ['read:analytics:bank', 'write:reports:bank'],
  })
  return { agent, bank }
}

/**
 * A development broker and the token of one agent (orch `o`, task `t`) holding `scope`, for the
 * adapter tests: `beforeAll(async () => ({ broker, token } = await startBrokerWithAgent()))`.
 */
export async function startBrokerWithAgent(
  scope: readonly string[] = ['read:data:customer-7'],
): Promise<{ broker: DevBroker; token: string }> {
  const broker = await startDevBroker()
  const { accessToken } = await broker.createAgent({ orchId: 'o', taskId: 't', scope: [...scope] })
  return { broker, token: accessToken }
}
