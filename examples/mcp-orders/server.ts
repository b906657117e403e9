/**
 * The order "database" as an MCP server (Model Context Protocol, the official TypeScript SDK):
 * an Express app whose `/mcp` endpoint is protected by `mcpAuth()` and whose tools are guarded by
 * the caller's AgentWrit scopes, filled from the tool's arguments exactly as the broker matches
 * them:
 *
 *   read_customer({ customer_id })       read:data:customer-<customer_id>
 *   write_order({ order_id, customer_id }) write:data:order-<order_id>
 *   list_orders()                          read:data:orders
 *
 * Stateless Streamable HTTP: a fresh McpServer and transport per request, as the SDK documents for
 * a simple server (no session to keep, any replica can answer).
 */
import type { RequestListener } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import express from 'express'
import { z } from 'zod'
import { type AgentAuthOptions, mcpAuth, registerGuardedTool, toolAgentOf } from '../../src/mcp.js'
import type { ExampleService } from '../shared.js'

/** Mock data: in a real service these are database rows. */
const CUSTOMERS: Record<string, { name: string; tier: string }> = {
  'cust-7291': { name: 'John Doe', tier: 'Premium' },
  'cust-9999': { name: 'Jane Roe', tier: 'Standard' },
}

/** The MCP order service: its Node request listener and `close()` for its verifier. */
export interface McpOrderService extends ExampleService {
  /** Serve it with `http.createServer(listener)`; the MCP endpoint is `POST /mcp`. */
  readonly listener: RequestListener
}

const json = (value: unknown): CallToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value as Record<string, unknown>,
})

/** Build the MCP order service. `options` are agentwrit-verify's (broker URL, cache TTL…). */
export function buildMcpOrderService(options: AgentAuthOptions): McpOrderService {
  const orders = new Map<string, { customer: string; status: string; by: string }>()

  function orderServer(): McpServer {
    const server = new McpServer({ name: 'orders', version: '1.0.0' })
    registerGuardedTool(
      server,
      'read_customer',
      { description: 'Read one customer', inputSchema: { customer_id: z.string() } },
      { scope: 'read:data:customer-:customer_id' },
      async ({ customer_id }, extra) => {
        const customer = CUSTOMERS[customer_id]
        if (!customer) return { isError: true, content: [{ type: 'text', text: 'no such customer' }] }
        return json({ id: customer_id, ...customer, readBy: toolAgentOf(extra).id })
      },
    )
    registerGuardedTool(
      server,
      'write_order',
      { description: 'Confirm an order', inputSchema: { order_id: z.string(), customer_id: z.string() } },
      { scope: 'write:data:order-:order_id' },
      async ({ order_id, customer_id }, extra) => {
        const order = { customer: customer_id, status: 'confirmed', by: toolAgentOf(extra).id }
        orders.set(order_id, order)
        return json({ id: order_id, ...order })
      },
    )
    registerGuardedTool(
      server,
      'list_orders',
      { description: 'List every order', inputSchema: {} },
      { scope: 'read:data:orders' },
      async () => json({ orders: [...orders.keys()] }),
    )
    return server
  }

  const auth = mcpAuth(options)
  const app = express()
  app.post('/mcp', express.json(), auth, async (req, res) => {
    const server = orderServer()
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  return { listener: app, close: () => auth.close() }
}
