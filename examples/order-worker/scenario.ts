/**
 * Scenario 01 end to end, as `npm run demo -- order-worker` runs it: the dev broker, the Hono
 * order service (remote mode), and the order worker.
 */
import { startDevBroker } from '../../src/testing/index.js'
import { compareStatuses, type Log, listen, type ScenarioOutcome } from '../shared.js'
import { runOrderWorker } from './agent.js'
import { buildOrderService } from './service.js'

/** The status each step of {@link runOrderWorker} must get. */
export const ORDER_WORKER_EXPECTED: Readonly<Record<string, number>> = Object.freeze({
  readOwnCustomer: 200,
  writeOwnOrder: 200,
  readOtherCustomer: 403,
  writeOtherOrder: 403,
  afterRelease: 401,
})

export async function orderWorkerScenario(options: {
  log: Log
  cacheTtlMs?: number
}): Promise<ScenarioOutcome> {
  const { log } = options
  const cacheTtlMs = options.cacheTtlMs ?? 1_000
  const broker = await startDevBroker()
  const service = buildOrderService({ broker: broker.url, cacheTtlMs })
  const server = await listen(service.listener)
  try {
    log('Processing order ord-4823 for customer cust-7291')
    log('='.repeat(55))
    log(`Broker (dev):  ${broker.url}`)
    log(`Order service: ${server.url}  (Hono, agentwrit-verify remote mode, cacheTtlMs ${cacheTtlMs})`)
    log('')
    const result = await runOrderWorker({
      broker,
      serviceUrl: server.url,
      customerId: 'cust-7291',
      orderId: 'ord-4823',
      waitForCacheMs: cacheTtlMs + 100,
      log,
    })
    return compareStatuses(ORDER_WORKER_EXPECTED, result.statuses)
  } finally {
    await server.close()
    await service.close()
    await broker.close()
  }
}
