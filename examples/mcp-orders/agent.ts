/**
 * The agent side of the MCP order service: an ephemeral agent scoped to one customer and one
 * order, calling the service's tools with the SDK's own client over Streamable HTTP, its AgentWrit
 * token in the `Authorization` header, then releasing the token.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { DevBroker } from '../../src/testing/index.js'
import type { Log } from '../shared.js'

/** What a tool call got: `200` for a result, the refusal's status for a tool error, or the HTTP status. */
export interface McpOrderAgentResult {
  readonly agentId: string
  /** Status of each step, by step name. */
  readonly statuses: Readonly<Record<string, number>>
}

/** An MCP client for `mcpUrl` that sends `token` as `Authorization: Bearer`. */
export async function connectAgent(mcpUrl: string, token: string): Promise<Client> {
  const client = new Client({ name: 'order-agent', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  )
  return client
}

/** The status of a tool result: 200, or the `status` a refused call carries. */
function statusOf(result: CallToolResult): number {
  if (!result.isError) return 200
  const status = (result.structuredContent as { status?: unknown } | undefined)?.status
  return typeof status === 'number' ? status : 500
}

/** The HTTP status of a transport error (`StreamableHTTPError.code`), or 0. */
function httpStatusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' && code >= 400 ? code : 0
}

function firstText(result: CallToolResult): string {
  const first = result.content[0]
  return first?.type === 'text' ? first.text : ''
}

/**
 * Run the agent against `mcpUrl`.
 * @param waitForCacheMs - how long to wait after release before the last call: the service's
 *   revocation-staleness bound (its `cacheTtlMs`).
 */
export async function runMcpOrderAgent(options: {
  broker: DevBroker
  mcpUrl: string
  customerId: string
  orderId: string
  waitForCacheMs: number
  log?: Log
}): Promise<McpOrderAgentResult> {
  const { broker, mcpUrl, customerId, orderId } = options
  const log = options.log ?? (() => {})
  const statuses: Record<string, number> = {}

  const agent = await broker.createAgent({
    orchId: 'mcp-order-agent',
    taskId: `process-${orderId}`,
    scope: [`read:data:customer-${customerId}`, `write:data:order-${orderId}`],
  })
  log(`Agent created: ${agent.agentId}`)
  log(`  Scope: ${JSON.stringify(agent.scope)}`)
  log('')

  const client = await connectAgent(mcpUrl, agent.accessToken)
  const call = async (step: string, name: string, args: Record<string, unknown>) => {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult
    statuses[step] = statusOf(result)
    log(
      `${result.isError ? '[REFUSED]' : '[OK]     '} ${name}(${JSON.stringify(args)}) → ${firstText(result)}`,
    )
  }
  try {
    await call('readOwnCustomer', 'read_customer', { customer_id: customerId })
    await call('writeOwnOrder', 'write_order', { order_id: orderId, customer_id: customerId })
    await call('readOtherCustomer', 'read_customer', { customer_id: 'cust-9999' })
    await call('listOrders', 'list_orders', {})
    log('')
  } finally {
    await client.close()
    await broker.release(agent.accessToken)
    log('Agent released. Token is now dead at the broker.')
  }

  if (options.waitForCacheMs > 0) {
    log(`(waiting ${options.waitForCacheMs} ms: the service's revocation-staleness bound, its cacheTtlMs)`)
    await new Promise((r) => setTimeout(r, options.waitForCacheMs))
  }
  try {
    const late = await connectAgent(mcpUrl, agent.accessToken)
    await late.close()
    statuses.afterRelease = 200
    log('Unexpected: the released token still connects')
  } catch (err) {
    statuses.afterRelease = httpStatusOf(err)
    log(`Confirmed: connecting with the released token → HTTP ${statuses.afterRelease}`)
  }
  return { agentId: agent.agentId, statuses }
}
