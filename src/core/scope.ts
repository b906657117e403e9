/**
 * Scope parsing and coverage, exactly as the AgentWrit broker implements them
 * (`internal/authz/scope.go`; shared contract §10.1).
 *
 * - A scope is split on `:` into **at most three** parts (Go `strings.SplitN(s, ":", 3)`),
 *   so `read:data:x:y` is valid with identifier `x:y`.
 * - It is valid iff there are exactly three parts and none is empty. No trimming, case-sensitive.
 * - A held scope covers a required one iff both are valid, actions are equal, resources are equal,
 *   and the identifiers are equal or the held identifier is exactly `*`.
 *   `*` in the action or resource position is a literal, never a wildcard.
 * - Malformed scopes never cover and are never covered.
 */

/** A scope split into its three parts. */
export interface ParsedScope {
  readonly action: string
  readonly resource: string
  readonly identifier: string
}

/**
 * Parse `action:resource:identifier` the way the broker does.
 * @returns the three parts, or `null` when the scope is malformed (fewer than three parts or an
 * empty part). Never throws for any input, including non-strings.
 */
export function parseScope(scope: string): ParsedScope | null {
  if (typeof scope !== 'string') return null
  const first = scope.indexOf(':')
  if (first <= 0) return null
  const second = scope.indexOf(':', first + 1)
  if (second < 0 || second === first + 1 || second === scope.length - 1) return null
  return {
    action: scope.slice(0, first),
    resource: scope.slice(first + 1, second),
    identifier: scope.slice(second + 1),
  }
}

/**
 * Whether one held scope covers one required scope (broker rule, see module doc).
 * @param required - the scope a route needs
 * @param held - a scope the token carries
 */
export function scopeCovers(required: string, held: string): boolean {
  // Allocation-free (guards call this on every request): compare by positions, as parseScope splits.
  if (typeof required !== 'string' || typeof held !== 'string') return false
  const r1 = required.indexOf(':')
  const h1 = held.indexOf(':')
  if (r1 <= 0 || h1 <= 0) return false
  const r2 = required.indexOf(':', r1 + 1)
  const h2 = held.indexOf(':', h1 + 1)
  if (r2 < 0 || r2 === r1 + 1 || r2 === required.length - 1) return false
  if (h2 < 0 || h2 === h1 + 1 || h2 === held.length - 1) return false
  // action and resource equal: the prefixes up to and including the second colon are equal
  if (r2 !== h2) return false
  for (let i = 0; i < h2; i++) if (required.charCodeAt(i) !== held.charCodeAt(i)) return false
  // held identifier is exactly `*`, or the identifiers are equal
  return (
    (h2 === held.length - 2 && held.charCodeAt(h2 + 1) === 0x2a) ||
    (required.length === held.length && required === held)
  )
}

/**
 * Broker `ScopeIsSubset(requested, allowed)`: every requested scope is covered by at least one
 * allowed scope. An empty `requested` list is a subset of anything (as in the broker).
 * Non-array inputs are treated as holding nothing.
 */
export function scopeIsSubset(requested: readonly string[], allowed: readonly string[]): boolean {
  if (!Array.isArray(requested) || !Array.isArray(allowed)) return false
  for (const r of requested) {
    let covered = false
    for (const a of allowed) {
      if (scopeCovers(r, a)) {
        covered = true
        break
      }
    }
    if (!covered) return false
  }
  return true
}
