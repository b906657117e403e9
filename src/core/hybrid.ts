/**
 * Hybrid verification: local signature check first (forgeries are refused with no network), then
 * the broker (with its own cache) for what only the broker knows: revocation and release.
 */
import { AgentAuthError } from './errors.js'
import type { VerifiedToken } from './strategy.js'
import type { ShapedStrategy, TokenShape } from './token-shape.js'

/** Options of {@link createHybridStrategy}. */
export interface HybridStrategyOptions {
  /** `Retry-After` of a `claims_mismatch` refusal, in seconds. Default `5`. */
  readonly retryAfterSeconds?: number
}

/**
 * Combine a local strategy and a remote (broker) strategy.
 *
 * `verify` runs `local.verify(token)`; only when that succeeds does it call `remote.verify(token)`,
 * and returns the locally verified claims with the remote result's `source` (`broker` or `cache`)
 * and `cacheAgeMs`. The token's shape (token-shape.ts), when the caller read it, is handed to both
 * parts, so the payload is decoded once. A refusal or a 503 from either side propagates unchanged.
 * The remote strategy itself refuses an answer whose claims differ from the token's in any claim;
 * as a second line, an answer naming a different `jti` or `sub` than the locally verified claims is
 * unusable here too (`broker_unavailable`, 503, reason `claims_mismatch`: a broker problem, not the
 * token's). Revocation is seen within the remote strategy's `cacheTtlMs` (default 5000 ms).
 *
 * `close()` does nothing: the hybrid holds nothing of its own, and whoever created the parts closes
 * them (the verifier does), so they are never closed twice.
 */
export function createHybridStrategy(
  local: ShapedStrategy,
  remote: ShapedStrategy,
  options: HybridStrategyOptions = {},
): ShapedStrategy {
  /**
   * The broker's answer only says "still valid" (revocation, release): the identity comes from the
   * claims whose signature was just checked, never from the broker's unsigned copy.
   */
  function agree(checked: VerifiedToken, answer: VerifiedToken): VerifiedToken {
    if (answer.claims.jti !== checked.claims.jti || answer.claims.sub !== checked.claims.sub) {
      throw new AgentAuthError('broker_unavailable', {
        reason: 'claims_mismatch',
        retryAfterSeconds: options.retryAfterSeconds,
      })
    }
    // Reusable only while both answers are: the signature check and the broker's word.
    const until =
      checked.reusableUntil === undefined || answer.reusableUntil === undefined
        ? undefined
        : Math.min(checked.reusableUntil, answer.reusableUntil)
    return {
      claims: checked.claims,
      source: answer.source,
      cacheAgeMs: answer.cacheAgeMs,
      reusableUntil: until,
    }
  }
  return {
    peek(key: string): VerifiedToken | undefined {
      // Warm only when both parts are: the signature was checked and the broker's answer is fresh.
      const checked = local.peek?.(key)
      if (checked === undefined) return undefined
      const answer = remote.peek?.(key)
      return answer === undefined ? undefined : agree(checked, answer)
    },
    async verify(token: string, key?: string, shape?: TokenShape): Promise<VerifiedToken> {
      const checked = await local.verify(token, key, shape)
      return agree(checked, await remote.verify(token, key, shape))
    },
    evictWhere: (matches) => (local.evictWhere?.(matches) ?? 0) + (remote.evictWhere?.(matches) ?? 0),
    async close(): Promise<void> {},
  }
}
