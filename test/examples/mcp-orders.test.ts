import { describe, expect, it } from 'vitest'
import { connectAgent, runMcpOrderAgent } from '../../examples/mcp-orders/agent.js'
import { MCP_ORDERS_EXPECTED, mcpOrdersScenario } from '../../examples/mcp-orders/scenario.js'
import { buildMcpOrderService } from '../../examples/mcp-orders/server.js'
import { serveExampleOnDevBroker } from '../helpers/example-service.js'

describe('example: MCP order service', () => {
  const served = serveExampleOnDevBroker((broker) =>
    buildMcpOrderService({ broker: broker.url, cacheTtlMs: 200 }),
  )
  const mcpUrl = () => `${served.url}/mcp`

  it('reads its customer, writes its order, is refused elsewhere, and is refused after release', async () => {
    const lines: string[] = []
    const result = await runMcpOrderAgent({
      broker: served.broker,
      mcpUrl: mcpUrl(),
      customerId: 'cust-7291',
      orderId: 'ord-4823',
      waitForCacheMs: 250,
      log: (l) => lines.push(l),
    })
    expect(result.statuses).toEqual(MCP_ORDERS_EXPECTED)
    const trace = lines.join('\n')
    expect(trace).toContain('"name":"John Doe"')
    expect(trace).toContain(
      '403 insufficient_scope: token lacks required scope: read:data:customer-cust-9999',
    )
    expect(trace).toContain('read:data:orders')
    expect(result.agentId).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/mcp-order-agent\/process-ord-4823\//)
  })

  it('lists the guarded tools to any authenticated agent', async () => {
    const agent = await served.broker.createAgent({
      orchId: 'o',
      taskId: 'list',
      scope: ['read:data:customer-cust-7291'],
    })
    const client = await connectAgent(mcpUrl(), agent.accessToken)
    try {
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name).sort()).toEqual(['list_orders', 'read_customer', 'write_order'])
    } finally {
      await client.close()
    }
  })

  it('the scenario the demo runs reports success', async () => {
    expect(await mcpOrdersScenario({ log: () => {}, cacheTtlMs: 200 })).toEqual({ ok: true, mismatches: [] })
  })
})
