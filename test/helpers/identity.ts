/** A request identity built from claims, as the verifier builds one (no adapter owns it). */
import {
  type AgentIdentity,
  type AgentWritClaims,
  identityBase,
  identityFrom,
} from '../../src/core/claims.js'

export function identityOf(
  claims: AgentWritClaims,
  verification: AgentIdentity['verification'] = { source: 'broker', cacheAgeMs: 0 },
): AgentIdentity {
  return identityFrom(identityBase(claims), verification)
}
