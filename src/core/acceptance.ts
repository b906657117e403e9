/**
 * What a verified token must also be to be accepted here, beyond what the broker's validate
 * endpoint (or the signature check) decides: an agent token unless admin/app tokens are allowed,
 * of the configured trust domain, issuer and audience, with an attenuating delegation chain no
 * deeper than allowed. Checked once per claim set: cached answers share one frozen claims object,
 * so a warm request reuses the verdict and the claims-only part of its identity.
 */
import { type AgentWritClaims, type IdentityBase, identityBase, tokenKindOf } from './claims.js'
import { chainAttenuates } from './delegation.js'
import { AgentAuthError } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** The identity base of verified claims, once they are accepted; throws the refusal otherwise. */
export type AcceptedBase = (claims: AgentWritClaims) => IdentityBase

/** Create the acceptance check of one verifier (its verdicts are remembered per claim set). */
export function createAcceptance(options: ResolvedOptions): AcceptedBase {
  const accepted = new WeakMap<AgentWritClaims, IdentityBase>()
  return function acceptedBase(claims) {
    let base = accepted.get(claims)
    if (base === undefined) {
      assertAcceptable(claims, options)
      base = identityBase(claims)
      accepted.set(claims, base)
    }
    return base
  }
}

function invalid(reason: string): AgentAuthError {
  return new AgentAuthError('invalid_token', { reason })
}

/** Every 401 reason first, then the 403 for a chain that is authentic but too deep here. */
function assertAcceptable(claims: AgentWritClaims, options: ResolvedOptions): void {
  const kind = tokenKindOf(claims.sub)
  if (kind === null) throw invalid('unknown_subject_kind')
  if (kind.kind === 'admin' && !options.allowAdminTokens) throw invalid('admin_token_refused')
  if (kind.kind === 'app' && !options.allowAppTokens) throw invalid('app_token_refused')
  if (
    kind.kind === 'agent' &&
    options.trustDomain !== undefined &&
    kind.trustDomain !== options.trustDomain
  ) {
    throw invalid('foreign_trust_domain')
  }
  if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalid('issuer_mismatch')
  if (options.audience !== undefined) {
    const aud = claims.aud ?? []
    if (!aud.some((a) => options.audience!.includes(a))) throw invalid('audience_mismatch')
  }
  const depth = claims.delegation_chain?.length ?? 0
  if (depth > 0 && !chainAttenuates(claims)) throw invalid('delegation_not_attenuated')
  if (options.maxDelegationDepth !== undefined && depth > options.maxDelegationDepth) {
    throw new AgentAuthError('delegation_not_allowed', { reason: 'delegation_too_deep' })
  }
}
