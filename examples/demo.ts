/**
 * `npm run demo`: the order-worker scenario end to end on the embedded development broker.
 *
 *   1. start the dev broker (127.0.0.1, random port) with its pre-registered sample app;
 *   2. start the Express "order database" protected by agentwrit-verify (remote mode);
 *   3. run the order worker: read its customer, write its order, get refused for another
 *      customer and order, release its token, get refused afterwards.
 *
 * Exit code 0 when every step got the expected status.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startDevBroker } from '../src/testing/index.js'
import { runOrderWorker } from './order-worker/agent.js'
import { buildOrderService } from './order-worker/service.js'

const CACHE_TTL_MS = 1_000

async function main(): Promise<number> {
  const broker = await startDevBroker()
  const service = buildOrderService({ broker: broker.url, cacheTtlMs: CACHE_TTL_MS })
  const server: Server = await new Promise((resolve) => {
    const s = service.listen(0, '127.0.0.1', () => resolve(s))
  })
  const serviceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    console.log('Processing order ord-4823 for customer cust-7291')
    console.log('='.repeat(55))
    console.log(`Broker (dev):  ${broker.url}`)
    console.log(`Order service: ${serviceUrl}  (agentwrit-verify, remote mode, cacheTtlMs ${CACHE_TTL_MS})`)
    console.log('')
    const result = await runOrderWorker({
      broker,
      serviceUrl,
      customerId: 'cust-7291',
      orderId: 'ord-4823',
      waitForCacheMs: CACHE_TTL_MS + 100,
      log: (line) => console.log(line),
    })
    const expected = {
      readOwnCustomer: 200,
      writeOwnOrder: 200,
      readOtherCustomer: 403,
      writeOtherOrder: 403,
      afterRelease: 401,
    }
    const ok = Object.entries(expected).every(([k, v]) => result.statuses[k] === v)
    console.log('')
    console.log(ok ? 'All steps behaved as expected.' : `UNEXPECTED: ${JSON.stringify(result.statuses)}`)
    return ok ? 0 : 1
  } finally {
    await new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
    await service.close()
    await broker.close()
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
