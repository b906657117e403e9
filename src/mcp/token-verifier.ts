/**
 * `agentwritTokenVerifier()`: the SDK's `OAuthTokenVerifier` backed by an agentwrit-verify
 * verifier, for the SDK's own `requireBearerAuth()` (or any code that takes a token verifier).
 *
 * Refusals become the SDK's OAuth errors, which `requireBearerAuth()` answers by class:
 * 401 → `InvalidTokenError` (401), 400 → `InvalidRequestError` (400), 403 →
 * `InsufficientScopeError` (403), 500 and 503 → `ServerError` (500). The SDK has no error it
 * answers with 503: a broker outage is a 500 `server_error` there, without `Retry-After`.
 * `mcpAuth()` keeps the 503.
 */
import {
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  type OAuthError,
  ServerError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js'
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import { setupAdapter } from '../core/adapter-setup.js'
import { asRefusal } from '../core/adapter-state.js'
import type { AgentAuthError } from '../core/errors.js'
import type { AgentAuthOptions } from '../core/options.js'
import { tokenVerifierOf, type Verifier } from '../core/verifier.js'
import { type AgentWritAuthInfo, authInfoFor } from './auth-info.js'

/** The token verifier returned by {@link agentwritTokenVerifier}. */
export interface AgentWritTokenVerifier extends OAuthTokenVerifier {
  /**
   * Verify a token: its {@link AgentWritAuthInfo}, or the SDK's OAuth error for the refusal (the
   * `AgentAuthError` is its `cause`).
   */
  verifyAccessToken(token: string): Promise<AgentWritAuthInfo>
  /** The verifier behind it (stats, `verifyToken`). */
  readonly verifier: Verifier
  /** Close the verifier, when this function created it (a verifier you passed stays open). */
  close(): Promise<void>
}

/**
 * An `OAuthTokenVerifier` for the SDK's `requireBearerAuth({ verifier })`: `clientId` is the agent
 * id, `scopes` the token's scopes, `expiresAt` its `exp` in seconds, `extra.agent` the verified
 * identity (what the tool guards read). Every mode works, revocation feed included.
 * @param options - verifier options (or `{ verifier }`), or an existing verifier.
 */
export function agentwritTokenVerifier(
  options: (AgentAuthOptions & { verifier?: Verifier }) | Verifier,
): AgentWritTokenVerifier {
  const { verifier, owned, state } = setupAdapter(options, {
    adapter: 'mcp',
    escalateKeyword: 'throw',
    render: undefined,
  })
  const verifyToken = tokenVerifierOf(verifier, 'mcp')
  return Object.freeze({
    verifier,
    async verifyAccessToken(token: string): Promise<AgentWritAuthInfo> {
      let agent: unknown
      try {
        agent = await verifyToken(token)
        return authInfoFor(state.accept(agent), token)
      } catch (err) {
        throw asOAuthError(asRefusal(err).inRealm(state.realm))
      }
    },
    close: () => (owned ? verifier.close() : Promise.resolve()),
  })
}

/** The SDK error `requireBearerAuth()` answers closest to `err`'s status. */
function asOAuthError(err: AgentAuthError): OAuthError {
  const oauth =
    err.status === 401
      ? new InvalidTokenError(err.message)
      : err.status === 400
        ? new InvalidRequestError(err.message)
        : err.status === 403
          ? new InsufficientScopeError(err.message)
          : new ServerError(err.status === 503 ? err.message : 'authorization failed')
  Object.defineProperty(oauth, 'cause', { value: err, configurable: true, writable: true })
  return oauth
}
