import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runOrderWorker } from '../../examples/order-worker/agent.js'
import { buildOrderService } from '../../examples/order-worker/service.js'
import { type Listening, listen } from '../../examples/shared.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

describe('example: order worker (scenario 01)', () => {
  let broker: DevBroker
  let server: Listening
  let service: ReturnType<typeof buildOrderService>
  let url: string

  beforeAll(async () => {
    broker = await startDevBroker()
    service = buildOrderService({ broker: broker.url, cacheTtlMs: 200 })
    server = await listen(service.listener)
    url = server.url
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
    await broker?.close()
  })

  it('reads its customer, writes its order, is refused elsewhere, and is refused after release', async () => {
    const lines: string[] = []
    const result = await runOrderWorker({
      broker,
      serviceUrl: url,
      customerId: 'cust-7291',
      orderId: 'ord-4823',
      waitForCacheMs: 250,
      log: (l) => lines.push(l),
    })
    expect(result.statuses).toEqual({
      readOwnCustomer: 200,
      writeOwnOrder: 200,
      readOtherCustomer: 403,
      writeOtherOrder: 403,
      afterRelease: 401,
    })
    expect(lines.join('\n')).toContain('scope="read:data:customer-cust-9999"')
    expect(result.agentId).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/order-worker\/process-ord-4823\//)
  })

  it('within the cache bound a released token is still served (the documented staleness)', async () => {
    const agent = await broker.createAgent({
      orchId: 'order-worker',
      taskId: 'process-x',
      scope: ['read:data:customer-cust-7291'],
    })
    const h = { authorization: `Bearer ${agent.accessToken}` }
    expect((await fetch(`${url}/customers/cust-7291`, { headers: h })).status).toBe(200)
    await broker.release(agent.accessToken)
    expect((await fetch(`${url}/customers/cust-7291`, { headers: h })).status).toBe(200)
    await new Promise((r) => setTimeout(r, 250))
    expect((await fetch(`${url}/customers/cust-7291`, { headers: h })).status).toBe(401)
  })
})
