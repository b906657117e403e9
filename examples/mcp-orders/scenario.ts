/**
 * The MCP order service end to end, as `npm run demo -- mcp-orders` runs it: the dev broker, the
 * MCP server (Express, Streamable HTTP, remote mode) and an agent using the SDK's client.
 */
import { compareStatuses, type Log, onDevBroker, type ScenarioOutcome } from '../shared.js'
import { runMcpOrderAgent } from './agent.js'
import { buildMcpOrderService } from './server.js'

/** The status each step of {@link runMcpOrderAgent} must get. */
export const MCP_ORDERS_EXPECTED: Readonly<Record<string, number>> = Object.freeze({
  readOwnCustomer: 200,
  writeOwnOrder: 200,
  readOtherCustomer: 403,
  listOrders: 403,
  afterRelease: 401,
})

export function mcpOrdersScenario(options: { log: Log; cacheTtlMs?: number }): Promise<ScenarioOutcome> {
  const { log } = options
  const cacheTtlMs = options.cacheTtlMs ?? 1_000
  return onDevBroker(
    (broker) => buildMcpOrderService({ broker: broker.url, cacheTtlMs }),
    async (broker, serviceUrl) => {
      log('An agent calls the order database through MCP tools, order ord-4823, customer cust-7291')
      log('='.repeat(55))
      log(`Broker (dev): ${broker.url}`)
      log(`MCP server:   ${serviceUrl}/mcp  (Express, mcpAuth remote mode, cacheTtlMs ${cacheTtlMs})`)
      log('')
      const result = await runMcpOrderAgent({
        broker,
        mcpUrl: `${serviceUrl}/mcp`,
        customerId: 'cust-7291',
        orderId: 'ord-4823',
        waitForCacheMs: cacheTtlMs + 100,
        log,
      })
      return compareStatuses(MCP_ORDERS_EXPECTED, result.statuses)
    },
  )
}
