/**
 * The broker's revocation predicates (contract §8), as a revocation feed learns them from the audit
 * log, plus the jtis released by their agents (§9). Revocations are permanent at the broker, so the
 * sets only grow: they hold exactly what the broker revoked, one string per revocation.
 */
import type { AgentWritClaims } from './claims.js'

/** A revocation level, as `POST /v1/revoke` takes it. */
export type RevocationLevel = 'token' | 'agent' | 'task' | 'chain'

/** Sizes of the predicate sets. */
export interface PredicateCounts {
  /** Revoked (`token` level) or released jtis. */
  readonly jtis: number
  /** Revoked subjects (`agent` level). */
  readonly subjects: number
  /** Revoked task ids (`task` level). */
  readonly tasks: number
  /** Revoked chain roots (`chain` level). */
  readonly chainRoots: number
}

export class RevocationPredicates {
  readonly #jtis = new Set<string>()
  readonly #subjects = new Set<string>()
  readonly #tasks = new Set<string>()
  readonly #chainRoots = new Set<string>()

  /**
   * Record a revocation. `level` `undefined` (an event whose level could not be read) records the
   * target at every level: a feed that cannot tell what was revoked refuses more, never less.
   * @returns whether anything new was recorded.
   */
  add(level: RevocationLevel | undefined, target: string): boolean {
    if (target === '') return false
    if (level === undefined) {
      let added = false
      for (const l of LEVELS) added = this.add(l, target) || added
      return added
    }
    const set = this.#setOf(level)
    if (set.has(target)) return false
    set.add(target)
    return true
  }

  /** Whether the broker would refuse a token with these claims as revoked or released. */
  revokes(claims: AgentWritClaims): boolean {
    if (this.#jtis.has(claims.jti) || this.#subjects.has(claims.sub)) return true
    if (claims.task_id !== undefined && claims.task_id !== '' && this.#tasks.has(claims.task_id)) return true
    const root = claims.delegation_chain?.[0]?.agent
    return root !== undefined && this.#chainRoots.has(root)
  }

  get counts(): PredicateCounts {
    return {
      jtis: this.#jtis.size,
      subjects: this.#subjects.size,
      tasks: this.#tasks.size,
      chainRoots: this.#chainRoots.size,
    }
  }

  #setOf(level: RevocationLevel): Set<string> {
    switch (level) {
      case 'token':
        return this.#jtis
      case 'agent':
        return this.#subjects
      case 'task':
        return this.#tasks
      case 'chain':
        return this.#chainRoots
    }
  }
}

const LEVELS: readonly RevocationLevel[] = ['token', 'agent', 'task', 'chain']

/** Whether a string is a revocation level. */
export function isRevocationLevel(value: string): value is RevocationLevel {
  return (LEVELS as readonly string[]).includes(value)
}
