/**
 * Delegation: attenuation checks on a token's `delegation_chain` and the
 * `requireDelegatedFrom(...)` guard ("only tokens whose chain starts at agent X").
 *
 * The broker records, per hop, the delegator's subject and its full scope at the time
 * (contract §11.2), and only issues a delegated scope covered by the delegator's scope. So in a
 * genuine chain each hop's recorded scope covers the next hop's, and the token's own scope is
 * covered by the last hop's. A chain that breaks this did not come from a conforming broker.
 */
import { type GuardAccess, identityFor, reportGuardDecision } from './adapter-state.js'
import type { AgentIdentity, AgentWritClaims } from './claims.js'
import { AgentAuthError } from './errors.js'
import { scopeIsSubset } from './scope.js'

/** The broker refuses a sixth hop: a chain holds at most this many records (contract §11.1). */
export const BROKER_MAX_DELEGATION_DEPTH = 5

/**
 * Whether the chain attenuates: every hop's recorded scope is covered by the previous hop's, and
 * the token's scope is covered by the last hop's. A token without a chain passes.
 */
export function chainAttenuates(claims: AgentWritClaims): boolean {
  const chain = claims.delegation_chain
  if (chain === undefined || chain.length === 0) return true
  for (let i = 1; i < chain.length; i++) {
    if (!scopeIsSubset(chain[i]!.scope, chain[i - 1]!.scope)) return false
  }
  return scopeIsSubset(claims.scope, chain[chain.length - 1]!.scope)
}

/** Who may have started a delegation chain: an exact agent id, a pattern, or a predicate. */
export type DelegationRootMatcher = string | RegExp | ((rootAgent: string, agent: AgentIdentity) => boolean)

/** A compiled `requireDelegatedFrom` guard. */
export interface DelegationGuard {
  /**
   * Throw `delegation_not_allowed` (403) unless the token is delegated and its chain's first
   * delegator matches one of the matchers.
   */
  check(agent: AgentIdentity): void
  /**
   * {@link DelegationGuard.check} for what the adapter found on the request: `missing_token` (401)
   * for an anonymous request, `configuration_error` (500) when no identity is present.
   */
  enforce(access: GuardAccess<unknown>): void
}

/** Compile `requireDelegatedFrom(...)`. Throws a `TypeError` for an empty list or a bad matcher. */
export function compileDelegationGuard(matchers: readonly DelegationRootMatcher[]): DelegationGuard {
  if (matchers.length === 0)
    throw new TypeError('agentwrit-verify: requireDelegatedFrom() needs at least one agent')
  for (const m of matchers) {
    const ok = (typeof m === 'string' && m.length > 0) || m instanceof RegExp || typeof m === 'function'
    if (!ok) {
      throw new TypeError(
        'agentwrit-verify: requireDelegatedFrom() takes agent ids, regular expressions or predicates',
      )
    }
  }
  // A /g or /y RegExp keeps state between test() calls: use a stateless copy.
  const list = matchers.map((m) =>
    m instanceof RegExp ? new RegExp(m.source, m.flags.replace(/[gy]/g, '')) : m,
  )
  function check(agent: AgentIdentity): void {
    const root = agent.rootAgent
    const ok =
      root !== undefined &&
      list.some((m) =>
        typeof m === 'string' ? m === root : m instanceof RegExp ? m.test(root) : m(root, agent),
      )
    if (!ok) {
      const refusal = new AgentAuthError('delegation_not_allowed', {
        reason: agent.delegated ? 'foreign_delegation_root' : 'not_delegated',
      })
      reportGuardDecision(agent, 'requireDelegatedFrom', refusal)
      throw refusal
    }
    reportGuardDecision(agent, 'requireDelegatedFrom', undefined)
  }
  return Object.freeze({
    check,
    enforce(access: GuardAccess<unknown>): void {
      check(identityFor(access, 'requireDelegatedFrom()'))
    },
  })
}
