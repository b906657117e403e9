/**
 * The SDK's `AuthInfo` for an AgentWrit identity, and the only way back from one to the identity:
 * every `AuthInfo` made here is frozen and remembered in a module `WeakSet`, so a tool guard
 * trusts `extra.authInfo` only when `mcpAuth()` or `agentwritTokenVerifier()` made it, never an
 * object that merely looks like one (another verifier's, or one forged by other middleware).
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { AgentIdentity } from '../core/claims.js'
import { AgentAuthError } from '../core/errors.js'

/** The `AuthInfo` of an AgentWrit token, as `mcpAuth()` and `agentwritTokenVerifier()` make it. */
export interface AgentWritAuthInfo extends AuthInfo {
  /** The agent id (SPIFFE id). */
  readonly clientId: string
  /** The token's expiry, in seconds since the epoch. */
  readonly expiresAt: number
  /** `agent`: the full verified identity, frozen. */
  readonly extra: { readonly agent: AgentIdentity }
}

/** Every `AuthInfo` made by {@link authInfoFor}. */
const issued = new WeakSet<object>()

/** The frozen `AuthInfo` of a verified identity and its token. */
export function authInfoFor(agent: AgentIdentity, token: string): AgentWritAuthInfo {
  const info: AgentWritAuthInfo = Object.freeze({
    token,
    clientId: agent.id,
    scopes: Object.freeze([...agent.scope]) as string[],
    expiresAt: Math.floor(agent.expiresAt.getTime() / 1000),
    extra: Object.freeze({ agent }),
  })
  issued.add(info)
  return info
}

/** The identity of an `AuthInfo` made by {@link authInfoFor}, `undefined` for anything else. */
export function agentOfAuthInfo(authInfo: unknown): AgentIdentity | undefined {
  return typeof authInfo === 'object' && authInfo !== null && issued.has(authInfo)
    ? (authInfo as AgentWritAuthInfo).extra.agent
    : undefined
}

/**
 * The verified identity of a tool call (`extra` is the tool callback's second argument), or the
 * refusal: `configuration_error` when `extra.authInfo` is absent (an MCP endpoint without
 * `mcpAuth()`, or an anonymous request an `optional: true` middleware let through) or was not made
 * by agentwrit-verify.
 */
export function toolAgentOf(extra: unknown): AgentIdentity {
  const authInfo =
    typeof extra === 'object' && extra !== null ? (extra as AuthInfoCarrier).authInfo : undefined
  const agent = agentOfAuthInfo(authInfo)
  if (agent !== undefined) return agent
  throw new AgentAuthError('configuration_error', {
    detail:
      authInfo === undefined
        ? 'no verified AgentWrit identity on this tool call (an MCP endpoint without mcpAuth(), or an anonymous request)'
        : 'the tool call carries authInfo that agentwrit-verify did not make',
    reason: authInfo === undefined ? 'no_auth_info' : 'foreign_auth_info',
  })
}

interface AuthInfoCarrier {
  readonly authInfo?: unknown
}
