/**
 * Scope templates: `requireScope('read:data:customer-:id')` compiled once at route definition and
 * filled from route params at request time, without ever widening a scope.
 *
 * Syntax:
 * - The first two `:` separate action and resource; both must be non-empty. The rest is the
 *   identifier (non-empty) and may itself contain `:` (broker identifiers may).
 * - In the identifier, `:name` (name = `[A-Za-z_][A-Za-z0-9_]*`, read greedily) is a placeholder
 *   filled from the route param `name`: `read:data:customer-:id` → `customer-<id>`,
 *   `read:analytics::tenant` → the whole identifier is the `tenant` param.
 * - In the identifier, `\:` is a literal colon and `\\` a literal backslash; any other escape is an
 *   error. A `:` not followed by a name-start character is a literal colon (`read:data:a:1`).
 * - The same placeholder may appear more than once; every occurrence gets the same value.
 * - A template without placeholders is a literal scope (escapes removed) and must be valid per
 *   {@link parseScope}; `read:data:*` is allowed and requires a held `read:data:*`.
 * - `*` in a templated identifier is literal text (the broker only wildcards an identifier that
 *   is exactly `*`, which a filled template can never be, since each value adds a non-`*`
 *   character).
 * - Refused with a `TypeError` naming the template: not a string, fewer than three parts, an empty
 *   action, resource or identifier, a backslash in the action or resource, an unknown or dangling
 *   escape, and whitespace or control characters anywhere (a scope travels space-separated in
 *   the `WWW-Authenticate` challenge).
 *
 * Param values are used verbatim (frameworks have already percent-decoded them) unless they are
 * missing, not a string, empty, longer than {@link MAX_SCOPE_PARAMETER_LENGTH} UTF-16 code units,
 * or contain `:`, `*`, whitespace (anything JavaScript's `\s` matches) or a control character
 * (C0, DEL, C1): then {@link ScopeTemplate.fill} throws `AgentAuthError('invalid_scope_parameter')`
 * naming the param, never echoing the value. Only own properties of `params` are read.
 */
import { AgentAuthError } from './errors.js'
import { parseScope } from './scope.js'

/** Longest route param value usable in a scope, in UTF-16 code units. */
export const MAX_SCOPE_PARAMETER_LENGTH = 256

/** Why a param value cannot be used in a scope (the `reason` of the error, for logs). */
export type ScopeParameterProblem =
  | 'missing'
  | 'not_a_string'
  | 'empty'
  | 'too_long'
  | 'contains_colon'
  | 'contains_wildcard'
  | 'contains_whitespace'
  | 'contains_control_character'

/** A compiled scope template. */
export interface ScopeTemplate {
  /** The template as written. */
  readonly source: string
  /** The fixed action part. */
  readonly action: string
  /** The fixed resource part. */
  readonly resource: string
  /** Placeholder names, unique, in order of first appearance. Empty for a literal scope. */
  readonly placeholders: readonly string[]
  /** `true` when the template has no placeholder (it is a plain scope). */
  readonly isLiteral: boolean
  /**
   * The concrete scope for these route params.
   * @param params - route params (`req.params`, `ctx.params`, `request.params`).
   * @param options - `realm` for the challenge of the error, default `agentwrit`.
   * @throws AgentAuthError `invalid_scope_parameter` (400) when a value cannot be used.
   */
  fill(params: Readonly<Record<string, unknown>>, options?: { readonly realm?: string }): string
}

type Segment = string | { readonly param: string }

function isNameStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39)
}

/** JavaScript `\s`: what we call whitespace in scopes and param values. */
function isWhitespace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}

/** C0, DEL and C1 control characters. */
function isControl(c: number): boolean {
  return c <= 0x1f || (c >= 0x7f && c <= 0x9f)
}

/**
 * Why `value` cannot be used verbatim in a scope, or `null` when it can. `undefined` is `missing`.
 * Exported for adapters and tests; {@link ScopeTemplate.fill} uses it.
 */
export function scopeParameterProblem(value: unknown): ScopeParameterProblem | null {
  if (value === undefined) return 'missing'
  if (typeof value !== 'string') return 'not_a_string'
  if (value.length === 0) return 'empty'
  if (value.length > MAX_SCOPE_PARAMETER_LENGTH) return 'too_long'
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x3a) return 'contains_colon'
    if (c === 0x2a) return 'contains_wildcard'
    if (isWhitespace(c)) return 'contains_whitespace'
    if (isControl(c)) return 'contains_control_character'
  }
  return null
}

/** An own property of `params`, read once (never from the prototype: `__proto__`, `constructor`). */
function readParam(params: unknown, name: string): unknown {
  if (params === null || typeof params !== 'object' || !Object.hasOwn(params, name)) return undefined
  return (params as Record<string, unknown>)[name]
}

/**
 * Compile a scope template (see the module documentation for the syntax).
 * @throws TypeError naming the template when it is malformed.
 */
export function compileScopeTemplate(template: string): ScopeTemplate {
  if (typeof template !== 'string') {
    throw new TypeError(`agentwrit-verify: a scope template must be a string (got ${typeof template})`)
  }
  const fail = (why: string) =>
    new TypeError(`agentwrit-verify: invalid scope template ${JSON.stringify(template)}: ${why}`)

  for (let i = 0; i < template.length; i++) {
    const c = template.charCodeAt(i)
    if (isWhitespace(c) || isControl(c)) throw fail('it contains whitespace or a control character')
  }
  const first = template.indexOf(':')
  const second = first < 0 ? -1 : template.indexOf(':', first + 1)
  if (second < 0) throw fail('expected action:resource:identifier')
  const action = template.slice(0, first)
  const resource = template.slice(first + 1, second)
  const idSource = template.slice(second + 1)
  if (action.length === 0) throw fail('the action is empty')
  if (resource.length === 0) throw fail('the resource is empty')
  if (idSource.length === 0) throw fail('the identifier is empty')
  if (action.includes('\\') || resource.includes('\\')) {
    throw fail('a backslash escape is only allowed in the identifier')
  }

  const segments: Segment[] = []
  const placeholders: string[] = []
  let literal = ''
  let i = 0
  while (i < idSource.length) {
    const ch = idSource[i]!
    if (ch === '\\') {
      const next = idSource[i + 1]
      if (next !== ':' && next !== '\\') throw fail('only \\: and \\\\ escapes are allowed')
      literal += next
      i += 2
    } else if (ch === ':' && i + 1 < idSource.length && isNameStart(idSource.charCodeAt(i + 1))) {
      let end = i + 2
      while (end < idSource.length && isNameChar(idSource.charCodeAt(end))) end++
      const name = idSource.slice(i + 1, end)
      if (literal.length > 0) segments.push(literal)
      literal = ''
      segments.push({ param: name })
      if (!placeholders.includes(name)) placeholders.push(name)
      i = end
    } else {
      literal += ch
      i++
    }
  }
  if (literal.length > 0) segments.push(literal)

  const prefix = `${action}:${resource}:`
  const frozenPlaceholders = Object.freeze(placeholders)

  if (placeholders.length === 0) {
    const scope = prefix + literal
    if (parseScope(scope) === null) throw fail('it is not a valid scope')
    return Object.freeze({
      source: template,
      action,
      resource,
      placeholders: frozenPlaceholders,
      isLiteral: true,
      fill: () => scope,
    })
  }

  return Object.freeze({
    source: template,
    action,
    resource,
    placeholders: frozenPlaceholders,
    isLiteral: false,
    fill(params: Readonly<Record<string, unknown>>, options?: { readonly realm?: string }): string {
      let out = prefix
      for (const seg of segments) {
        if (typeof seg === 'string') {
          out += seg
          continue
        }
        const value = readParam(params, seg.param)
        const problem = scopeParameterProblem(value)
        if (problem !== null) {
          throw new AgentAuthError('invalid_scope_parameter', {
            detail: `route parameter "${seg.param}" cannot be used in a scope`,
            reason: problem,
            ...(options?.realm === undefined ? {} : { realm: options.realm }),
          })
        }
        out += value as string
      }
      return out
    },
  })
}
