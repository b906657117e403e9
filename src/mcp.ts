/**
 * MCP (Model Context Protocol) servers on the official TypeScript SDK
 * (`@modelcontextprotocol/sdk` 1.x, Streamable HTTP on Express): authenticate the MCP endpoint
 * with an AgentWrit token and guard each tool by the token's scopes.
 *
 * @example
 * ```ts
 * import { mcpAuth, registerGuardedTool } from 'agentwrit-verify/mcp'
 * app.post('/mcp', express.json(), mcpAuth({ broker: 'http://127.0.0.1:8080' }), async (req, res) => {
 *   const server = new McpServer({ name: 'orders', version: '1.0.0' })
 *   registerGuardedTool(server, 'read_customer', { inputSchema: { customer_id: z.string() } },
 *     { scope: 'read:data:customer-:customer_id' },
 *     async ({ customer_id }) => ({ content: [{ type: 'text', text: lookup(customer_id) }] }))
 *   const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
 *   res.on('close', () => { void transport.close(); void server.close() })
 *   await server.connect(transport)
 *   await transport.handleRequest(req, res, req.body)
 * })
 * ```
 * @module
 */
import type { AdapterOptions } from './core/adapter-setup.js'
import type { AgentIdentity } from './core/claims.js'
import type { DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError } from './core/errors.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'

export { type AgentWritAuthInfo, agentOfAuthInfo, toolAgentOf } from './mcp/auth-info.js'
export { type McpAuthInput, type McpAuthMiddleware, type McpAuthOptions, mcpAuth } from './mcp/middleware.js'
export { type AgentWritTokenVerifier, agentwritTokenVerifier } from './mcp/token-verifier.js'
export {
  type GuardableToolCallback,
  type GuardedToolConfig,
  type McpToolExtra,
  registerGuardedTool,
  requireAnyToolScope,
  requireToolDelegatedFrom,
  requireToolScope,
  type ToolArguments,
  type ToolGuard,
  type ToolRequirements,
  type ToolScopeRequirement,
  toolRefusal,
} from './mcp/tool-guard.js'
export type { AdapterOptions, AgentAuthOptions, AgentIdentity, DelegationRootMatcher, Verifier }
export { AgentAuthError }
