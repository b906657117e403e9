/**
 * The broker's revocation model (`internal/revoke/rev_svc.go`, contract §8): four permanent sets of
 * strings, matched as predicates on every verification.
 */
import type { TknClaims } from './jwt.js'

/** Revocation level of `POST /v1/revoke`. */
export type RevocationLevel = 'token' | 'agent' | 'task' | 'chain'

/** The four levels, in the broker's order. */
export const REVOCATION_LEVELS: readonly RevocationLevel[] = ['token', 'agent', 'task', 'chain']

/** Permanent revocation predicates. There is no un-revoke. */
export class Revocations {
  readonly #sets: Record<RevocationLevel, Set<string>> = {
    token: new Set(),
    agent: new Set(),
    task: new Set(),
    chain: new Set(),
  }

  /** Add `target` at `level` (idempotent). */
  revoke(level: RevocationLevel, target: string): void {
    this.#sets[level].add(target)
  }

  /**
   * - `token`: `jti` equals a target;
   * - `agent`: `sub` equals a target (any subject);
   * - `task`: `task_id` is non-empty and equals a target;
   * - `chain`: the token has a non-empty `delegation_chain` whose FIRST record's `agent` equals a target.
   */
  isRevoked(c: TknClaims): boolean {
    if (this.#sets.token.has(c.jti)) return true
    if (this.#sets.agent.has(c.sub)) return true
    if (c.task_id !== '' && this.#sets.task.has(c.task_id)) return true
    const root = c.delegation_chain?.[0]
    if (root !== undefined && this.#sets.chain.has(root.agent)) return true
    return false
  }
}
