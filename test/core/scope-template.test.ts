import { describe, expect, it } from 'vitest'
import { AgentAuthError } from '../../src/core/errors.js'
import { compileScopeGuard } from '../../src/core/guard.js'
import { parseScope } from '../../src/core/scope.js'
import {
  compileScopeTemplate,
  MAX_SCOPE_PARAMETER_LENGTH,
  scopeParameterProblem,
} from '../../src/core/scope-template.js'

function refusal(fn: () => unknown): AgentAuthError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AgentAuthError)
    return err as AgentAuthError
  }
  throw new Error('expected an AgentAuthError')
}

describe('compileScopeTemplate: parsing', () => {
  const cases: [string, Record<string, string>, string, string[]][] = [
    // template, params, filled scope, placeholders
    ['read:data:customer-:id', { id: '42' }, 'read:data:customer-42', ['id']],
    ['read:analytics::tenant', { tenant: 'acme' }, 'read:analytics:acme', ['tenant']],
    ['read:data::a-:b', { a: 'x', b: 'y' }, 'read:data:x-y', ['a', 'b']],
    ['read:data::a:b', { a: 'x', b: 'y' }, 'read:data:xy', ['a', 'b']],
    ['read:data::a\\::b', { a: 'x', b: 'y' }, 'read:data:x:y', ['a', 'b']],
    ['read:data::id-suffix', { id: '7' }, 'read:data:7-suffix', ['id']],
    ['read:data::id.json', { id: '7' }, 'read:data:7.json', ['id']],
    // names are greedy [A-Za-z0-9_]*
    ['read:data::id_2x', { id_2x: 'q' }, 'read:data:q', ['id_2x']],
    ['read:data::_', { _: 'u' }, 'read:data:u', ['_']],
    // a `:` not followed by a name start is a literal colon
    ['read:data:x:1', {}, 'read:data:x:1', []],
    ['read:data:a::b', { b: 'v' }, 'read:data:a:v', ['b']],
    ['read:data:ns:-:id', { id: '9' }, 'read:data:ns:-9', ['id']],
    ['read:data::id:', { id: '9' }, 'read:data:9:', ['id']],
    ['read:data:::id', { id: '9' }, 'read:data::9', ['id']],
    // escapes
    ['read:data:ns\\:x', {}, 'read:data:ns:x', []],
    ['read:data:\\:id', {}, 'read:data::id', []],
    ['read:data:ns\\::id', { id: '1' }, 'read:data:ns:1', ['id']],
    ['read:data:a\\\\b', {}, 'read:data:a\\b', []],
    // duplicate placeholder: same value everywhere
    ['read:data::id-:id', { id: 'z' }, 'read:data:z-z', ['id']],
    // literal templates, including wildcards
    ['read:data:*', {}, 'read:data:*', []],
    ['*:*:*', {}, '*:*:*', []],
    // `:y` is a placeholder: a literal identifier `x:y` needs the escape
    ['read:data:x:y', { y: 'q' }, 'read:data:xq', ['y']],
    ['read:data:x\\:y', {}, 'read:data:x:y', []],
    // `*` is literal text next to a placeholder
    ['read:data:*-:id', { id: '1' }, 'read:data:*-1', ['id']],
    // action and resource may be anything but empty
    ['*:*::id', { id: 'k' }, '*:*:k', ['id']],
    ['a-b.c:r_s:t', {}, 'a-b.c:r_s:t', []],
  ]
  it.each(cases)('%j with %j → %j', (template, params, expected, placeholders) => {
    const t = compileScopeTemplate(template)
    expect(t.fill(params)).toBe(expected)
    expect(t.placeholders).toEqual(placeholders)
    expect(t.isLiteral).toBe(placeholders.length === 0)
    expect(t.source).toBe(template)
    const parsed = parseScope(expected)
    expect(parsed).not.toBeNull()
    expect(t.action).toBe(parsed!.action)
    expect(t.resource).toBe(parsed!.resource)
  })

  it('exposes frozen, ordered, unique placeholders', () => {
    const t = compileScopeTemplate('read:data::b-:a-:b')
    expect(t.placeholders).toEqual(['b', 'a'])
    expect(Object.isFrozen(t)).toBe(true)
    expect(Object.isFrozen(t.placeholders)).toBe(true)
  })

  it('a literal template ignores params entirely', () => {
    const t = compileScopeTemplate('read:data:*')
    expect(t.fill({})).toBe('read:data:*')
    expect(t.fill({ id: '*', x: ':' })).toBe('read:data:*')
    expect(t.fill(undefined as unknown as Record<string, unknown>)).toBe('read:data:*')
  })

  const malformed: [string, string][] = [
    ['empty', ''],
    ['one part', 'read'],
    ['two parts', 'read:data'],
    ['two parts, trailing colon', 'read:'],
    ['empty action', ':data:x'],
    ['empty resource', 'read::x'],
    ['empty resource with placeholder', 'read::tenant'],
    ['empty identifier', 'read:data:'],
    ['all empty', '::'],
    ['only colons', ':::'],
    ['backslash in action', 're\\ad:data:x'],
    ['escaped colon in action', 'read\\:x:data:y'],
    ['backslash in resource', 'read:da\\ta:x'],
    ['unknown escape', 'read:data:a\\b'],
    ['escaped placeholder start', 'read:data:\\id'],
    ['dangling backslash', 'read:data:x\\'],
    ['lone backslash identifier', 'read:data:\\'],
    ['space', 'read:data:customer :id'],
    ['leading space', ' read:data:x'],
    ['tab', 'read:data:\t'],
    ['newline', 'read:data:x\n'],
    ['NUL', 'read:data:x\u0000'],
    ['DEL', 'read:data:x\u007f'],
    ['C1 NEL', 'read:data:x\u0085'],
    ['NBSP', 'read:data:x\u00a0'],
    ['ideographic space', 'read:data:x\u3000'],
  ]
  it.each(malformed)('%s (%j) throws a TypeError naming the template', (_name, template) => {
    let caught: unknown
    try {
      compileScopeTemplate(template)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(TypeError)
    expect((caught as TypeError).message).toContain(JSON.stringify(template))
  })

  it.each([undefined, null, 42, {}, ['read:data:x']])('non-string %j throws a TypeError', (v) => {
    expect(() => compileScopeTemplate(v as unknown as string)).toThrow(TypeError)
  })
})

describe('ScopeTemplate.fill: refusals', () => {
  const t = compileScopeTemplate('read:data:customer-:id')

  const bad: [string, unknown, string][] = [
    ['missing', undefined, 'missing'],
    ['number', 42, 'not_a_string'],
    ['null', null, 'not_a_string'],
    ['zqrray', ['1'], 'not_a_string'],
    ['object', { toString: () => '1' }, 'not_a_string'],
    ['empty', '', 'empty'],
    ['too long', 'q'.repeat(MAX_SCOPE_PARAMETER_LENGTH + 1), 'too_long'],
    ['colon', 'zq:b', 'contains_colon'],
    ['only colon', ':', 'contains_colon'],
    ['decoded %3A', decodeURIComponent('zq%3Ab'), 'contains_colon'],
    ['star', '*', 'contains_wildcard'],
    ['star inside', 'zq*', 'contains_wildcard'],
    ['space', 'zq b', 'contains_whitespace'],
    ['leading space', ' zq', 'contains_whitespace'],
    ['tab', 'zq\tb', 'contains_whitespace'],
    ['CR', 'zq\r', 'contains_whitespace'],
    ['LF', '\n', 'contains_whitespace'],
    ['VT', 'zq\u000b', 'contains_whitespace'],
    ['FF', 'zq\u000c', 'contains_whitespace'],
    ['NBSP', 'zq\u00a0', 'contains_whitespace'],
    ['ogham space', 'zq\u1680', 'contains_whitespace'],
    ['en quad', 'zq\u2000', 'contains_whitespace'],
    ['hair space', 'zq\u200a', 'contains_whitespace'],
    ['line separator', 'zq\u2028', 'contains_whitespace'],
    ['paragraph separator', 'zq\u2029', 'contains_whitespace'],
    ['narrow NBSP', 'zq\u202f', 'contains_whitespace'],
    ['medium math space', 'zq\u205f', 'contains_whitespace'],
    ['ideographic space', 'zq\u3000', 'contains_whitespace'],
    ['BOM', '\ufeffzq', 'contains_whitespace'],
    ['NUL', 'zq\u0000', 'contains_control_character'],
    ['ESC', 'zq\u001b', 'contains_control_character'],
    ['US', 'zq\u001f', 'contains_control_character'],
    ['DEL', 'zq\u007f', 'contains_control_character'],
    ['C1 start', 'zq\u0080', 'contains_control_character'],
    ['C1 end', 'zq\u009f', 'contains_control_character'],
    ['NEL (C1, not \\s in JS)', 'zq\u0085', 'contains_control_character'],
  ]
  it.each(bad)('%s → 400 invalid_scope_parameter naming the param, not the value', (_name, value, reason) => {
    const err = refusal(() => t.fill({ id: value }))
    expect(err.code).toBe('invalid_scope_parameter')
    expect(err.status).toBe(400)
    expect(err.reason).toBe(reason)
    expect(err.message).toBe('route parameter "id" cannot be used in a scope')
    expect(err.headers['WWW-Authenticate']).toContain('error="invalid_request"')
    if (typeof value === 'string' && value.length > 1) {
      expect(err.message).not.toContain(value)
      expect(err.reason).not.toContain(value)
      expect(err.headers['WWW-Authenticate']).not.toContain(value)
    }
  })

  it('never echoes a hostile value', () => {
    const hostile = '"><img src=x onerror=alert(1)>: *'
    const err = refusal(() => t.fill({ id: hostile }))
    expect(JSON.stringify(err.toProblem('/x'))).not.toContain('onerror')
    expect(err.headers['WWW-Authenticate']).not.toContain('onerror')
    expect(err.reason).not.toContain('onerror')
  })

  it('accepts exactly the maximum length', () => {
    const v = 'a'.repeat(MAX_SCOPE_PARAMETER_LENGTH)
    expect(t.fill({ id: v })).toBe(`read:data:customer-${v}`)
  })

  it('uses values verbatim: undecoded %3A is literal text, look-alikes are literal text', () => {
    expect(t.fill({ id: 'a%3Ab' })).toBe('read:data:customer-a%3Ab')
    expect(t.fill({ id: 'a%2A' })).toBe('read:data:customer-a%2A')
    expect(t.fill({ id: '\uff1a' })).toBe('read:data:customer-\uff1a') // FULLWIDTH COLON
    expect(t.fill({ id: '\u2217' })).toBe('read:data:customer-\u2217') // ASTERISK OPERATOR
    expect(t.fill({ id: 'Ünïcødé-ß' })).toBe('read:data:customer-Ünïcødé-ß')
    expect(t.fill({ id: '../..' })).toBe('read:data:customer-../..')
    expect(t.fill({ id: '\u200b' })).toBe('read:data:customer-\u200b') // zero width space is not \s
  })

  it('reads only own properties (no prototype lookups)', () => {
    const proto = compileScopeTemplate('read:data::constructor')
    expect(refusal(() => proto.fill({})).reason).toBe('missing')
    const p2 = compileScopeTemplate('read:data::toString')
    expect(refusal(() => p2.fill({})).reason).toBe('missing')
    const inherited = Object.create({ id: '1' }) as Record<string, unknown>
    expect(refusal(() => t.fill(inherited)).reason).toBe('missing')
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { id: '5' })
    expect(t.fill(nullProto)).toBe('read:data:customer-5')
  })

  it('refuses when params itself is missing', () => {
    expect(refusal(() => t.fill(undefined as unknown as Record<string, unknown>)).reason).toBe('missing')
    expect(refusal(() => t.fill(null as unknown as Record<string, unknown>)).reason).toBe('missing')
  })

  it('reads a param once (a getter cannot change it between check and use)', () => {
    let n = 0
    const params = {
      get id() {
        n++
        return n === 1 ? 'ok' : '*'
      },
    }
    expect(t.fill(params)).toBe('read:data:customer-ok')
    expect(n).toBe(1)
  })

  it('names the first bad param among several', () => {
    const t2 = compileScopeTemplate('read:data::org-:team')
    const err = refusal(() => t2.fill({ org: 'a', team: '*' }))
    expect(err.message).toBe('route parameter "team" cannot be used in a scope')
  })

  it('ignores unrelated params', () => {
    expect(t.fill({ id: '1', other: '*', evil: ':' })).toBe('read:data:customer-1')
  })

  it('uses the realm given for the challenge', () => {
    const err = refusal(() => t.fill({ id: '' }, { realm: 'shop' }))
    expect(err.headers['WWW-Authenticate']).toMatch(/^Bearer realm="shop", error="invalid_request"/)
    const dflt = refusal(() => t.fill({ id: '' }))
    expect(dflt.headers['WWW-Authenticate']).toMatch(/^Bearer realm="agentwrit"/)
  })

  it('a filled template never yields a wildcard identifier', () => {
    const whole = compileScopeTemplate('read:data::id')
    expect(refusal(() => whole.fill({ id: '*' })).code).toBe('invalid_scope_parameter')
    expect(parseScope(whole.fill({ id: 'x' }))).toEqual({ action: 'read', resource: 'data', identifier: 'x' })
  })
})

describe('scopeParameterProblem', () => {
  it('returns null for usable values', () => {
    expect(scopeParameterProblem('abc')).toBeNull()
    expect(scopeParameterProblem('a-b_c.d~e')).toBeNull()
  })
  it('returns the problem otherwise', () => {
    expect(scopeParameterProblem(undefined)).toBe('missing')
    expect(scopeParameterProblem('')).toBe('empty')
    expect(scopeParameterProblem('a:*')).toBe('contains_colon')
  })
})

describe('placeholders of a guard built from several templates', () => {
  it('are collected in order, unique', () => {
    const guard = compileScopeGuard('all', ['read:data::id', 'write:logs:system', 'read:org::org-:id'])
    expect(guard.templates).toEqual(['read:data::id', 'write:logs:system', 'read:org::org-:id'])
    expect(guard.placeholders).toEqual(['id', 'org'])
  })
  it('a malformed entry throws a TypeError naming it', () => {
    expect(() => compileScopeGuard('all', ['read:data:x', 'read:data'])).toThrow(/"read:data"/)
  })
})
