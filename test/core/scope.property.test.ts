import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AgentAuthError } from '../../src/core/errors.js'
import { parseScope, scopeCovers, scopeIsSubset } from '../../src/core/scope.js'
import { compileScopeTemplate, MAX_SCOPE_PARAMETER_LENGTH } from '../../src/core/scope-template.js'

// ---------------------------------------------------------------------------------------------
// An independent model of the broker rule (Go SplitN(s, ":", 3) + non-empty parts), by regex.
// ---------------------------------------------------------------------------------------------
const SCOPE_RE = /^([^:]+):([^:]+):([\s\S]+)$/

function modelParse(s: string): { action: string; resource: string; identifier: string } | null {
  const m = SCOPE_RE.exec(s)
  return m ? { action: m[1]!, resource: m[2]!, identifier: m[3]! } : null
}

function modelCovers(required: string, held: string): boolean {
  const r = modelParse(required)
  const h = modelParse(held)
  if (!r || !h) return false
  return (
    r.action === h.action &&
    r.resource === h.resource &&
    (h.identifier === '*' || h.identifier === r.identifier)
  )
}

const scopeChar = fc.constantFrom('a', 'b', 'A', ':', ':', ':', '*', '*', ' ', '-', '\n', 'é')
const scopeish = fc.string({ unit: scopeChar, maxLength: 9 })
/** Well-formed scopes drawn from a tiny alphabet, so that equal parts are frequent. */
const part = fc.string({ unit: fc.constantFrom('a', 'b', '*'), minLength: 1, maxLength: 2 })
const wellFormed = fc
  .tuple(part, part, fc.string({ unit: fc.constantFrom('a', 'b', '*', ':'), minLength: 1, maxLength: 3 }))
  .map(([a, r, i]) => `${a}:${r}:${i}`)
const anyScope = fc.oneof(scopeish, wellFormed, fc.string({ maxLength: 8 }))

/** A pair, often related: identical, or the held identifier widened to `*`. */
const scopePair = fc.oneof(
  fc.tuple(anyScope, anyScope),
  anyScope.map((s) => [s, s] as [string, string]),
  anyScope.map((s) => {
    const p = modelParse(s)
    return [s, p ? `${p.action}:${p.resource}:*` : s] as [string, string]
  }),
)

const RUNS = { numRuns: 2000 }

describe('scope rule vs an independent regex model', () => {
  it('parseScope agrees with the model on any string', () => {
    fc.assert(
      fc.property(anyScope, (s) => {
        expect(parseScope(s)).toEqual(modelParse(s))
      }),
      RUNS,
    )
  })

  it('scopeCovers agrees with the model', () => {
    fc.assert(
      fc.property(scopePair, ([required, held]) => {
        expect(scopeCovers(required, held)).toBe(modelCovers(required, held))
      }),
      RUNS,
    )
  })

  it('scopeIsSubset agrees with every/some over the model', () => {
    fc.assert(
      fc.property(
        fc.array(anyScope, { maxLength: 4 }),
        fc.array(anyScope, { maxLength: 4 }),
        (req, allowed) => {
          const expected = req.every((r) => allowed.some((a) => modelCovers(r, a)))
          expect(scopeIsSubset(req, allowed)).toBe(expected)
        },
      ),
      RUNS,
    )
  })

  it('coverage is reflexive exactly on well-formed scopes, and `*` widens only the identifier', () => {
    fc.assert(
      fc.property(anyScope, (s) => {
        const p = modelParse(s)
        expect(scopeCovers(s, s)).toBe(p !== null)
        if (p) {
          expect(scopeCovers(s, `${p.action}:${p.resource}:*`)).toBe(true)
          expect(scopeCovers(s, `${p.action}x:${p.resource}:*`)).toBe(false)
          expect(scopeCovers(s, `${p.action}:${p.resource}x:*`)).toBe(false)
          expect(scopeCovers(s, '*:*:*')).toBe(p.action === '*' && p.resource === '*')
        }
      }),
      RUNS,
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Templates: generated from tokens, with an independent model of the identifier they denote.
// ---------------------------------------------------------------------------------------------
type Tok =
  | { readonly kind: 'lit'; readonly text: string }
  | { readonly kind: 'colon'; readonly escaped: boolean }
  | { readonly kind: 'backslash' }
  | { readonly kind: 'param'; readonly name: string }

type Part = string | { readonly param: string }

const NAMES = ['id', 'tenant', 'x_1', 'a'] as const
const isNameStart = (c: string | undefined) => c !== undefined && /^[A-Za-z_]$/.test(c)
const isNameChar = (c: string | undefined) => c !== undefined && /^[A-Za-z0-9_]$/.test(c)

const tok: fc.Arbitrary<Tok> = fc.oneof(
  fc
    .string({
      unit: fc.constantFrom('a', 'Z', '0', '9', '-', '.', '*', '_', '~', '%', 'é', '\uff1a'),
      minLength: 1,
      maxLength: 4,
    })
    .map((text) => ({ kind: 'lit', text }) as const),
  fc.boolean().map((escaped) => ({ kind: 'colon', escaped }) as const),
  fc.constant({ kind: 'backslash' } as const),
  fc.constantFrom(...NAMES).map((name) => ({ kind: 'param', name }) as const),
)

function render(toks: readonly Tok[]): { source: string; parts: Part[] } {
  let source = ''
  const parts: Part[] = []
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!
    const prev = toks[i - 1]
    switch (t.kind) {
      case 'lit': {
        // After a placeholder, a name character would extend the name: separate it.
        const text = prev?.kind === 'param' && isNameChar(t.text[0]) ? `-${t.text}` : t.text
        source += text
        parts.push(text)
        break
      }
      case 'colon': {
        const next = toks[i + 1]
        const bareIsLiteral = next === undefined || next.kind !== 'lit' || !isNameStart(next.text[0])
        source += t.escaped || !bareIsLiteral ? '\\:' : ':'
        parts.push(':')
        break
      }
      case 'backslash':
        source += '\\\\'
        parts.push('\\')
        break
      case 'param':
        source += `:${t.name}`
        parts.push({ param: t.name })
        break
    }
  }
  return { source, parts }
}

const actionOrResource = fc.string({
  unit: fc.constantFrom('r', 'e', 'a', 'd', '*', '-', '.', '_', 'X', '\u2217'),
  minLength: 1,
  maxLength: 4,
})

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '*',
    ':',
    '\uff1a', // FULLWIDTH COLON
    '\u2217', // ASTERISK OPERATOR
    '\ufe61', // SMALL ASTERISK
    ' ',
    '\u00a0',
    '\u2028',
    '\u3000',
    '\ufeff',
    '\u0000',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u009f',
    '\u200b',
    '',
    '%3A',
    '%2A',
    'ok',
    'a:b',
    '*:*',
    '..',
    'customer-42',
  ),
  fc.string({
    unit: fc.constantFrom(
      'a',
      'Z',
      '0',
      '-',
      '*',
      ':',
      '\uff1a',
      '\u2217',
      ' ',
      '\t',
      '\n',
      '\r',
      '\u0000',
      '\u001f',
      '\u007f',
      '\u0080',
      '\u00a0',
      '\u2000',
      '\u3000',
      '%',
      '\\',
      'é',
    ),
    maxLength: 6,
  }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({
    unit: fc.constantFrom('a', 'b'),
    minLength: MAX_SCOPE_PARAMETER_LENGTH - 2,
    maxLength: MAX_SCOPE_PARAMETER_LENGTH + 2,
  }),
  fc.constantFrom(undefined, null, 42, true, ['x'], { toString: () => 'x' }),
)

const params = fc.record(
  { id: hostileValue, tenant: hostileValue, x_1: hostileValue, a: hostileValue },
  { requiredKeys: [] },
)

/** Independent statement of a usable value. */
const UNSAFE = /[:*\s\p{Cc}]/u
function usable(v: unknown): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= MAX_SCOPE_PARAMETER_LENGTH && !UNSAFE.test(v)
}

describe('scope templates never widen', () => {
  it('fill either refuses (invalid_scope_parameter) or yields exactly the literal reading', () => {
    fc.assert(
      fc.property(
        actionOrResource,
        actionOrResource,
        fc.array(tok, { minLength: 1, maxLength: 6 }),
        params,
        (action, resource, toks, values) => {
          const { source, parts } = render(toks)
          const template = compileScopeTemplate(`${action}:${resource}:${source}`)
          const names = [...new Set(parts.flatMap((p) => (typeof p === 'string' ? [] : [p.param])))]
          expect(template.placeholders).toEqual(names)
          expect(template.isLiteral).toBe(names.length === 0)
          expect(template.action).toBe(action)
          expect(template.resource).toBe(resource)

          const get = (n: string): unknown =>
            Object.hasOwn(values, n) ? (values as Record<string, unknown>)[n] : undefined
          const allUsable = names.every((n) => usable(get(n)))

          let filled: string
          try {
            filled = template.fill(values)
          } catch (err) {
            expect(err).toBeInstanceOf(AgentAuthError)
            const e = err as AgentAuthError
            expect(e.code).toBe('invalid_scope_parameter')
            expect(e.status).toBe(400)
            expect(e.message).toMatch(/^route parameter "(id|tenant|x_1|a)" cannot be used in a scope$/)
            const named = /"([^"]+)"/.exec(e.message)![1]!
            expect(usable(get(named))).toBe(false)
            expect(allUsable).toBe(false)
            return
          }
          expect(allUsable).toBe(true)
          const identifier = parts.map((p) => (typeof p === 'string' ? p : (get(p.param) as string))).join('')
          expect(parseScope(filled)).toEqual({ action, resource, identifier })
          expect(modelParse(filled)).toEqual({ action, resource, identifier })
          if (!template.isLiteral) expect(identifier).not.toBe('*')
          // What the filled scope needs is exactly what a holder of the literal reading has.
          expect(scopeCovers(filled, `${action}:${resource}:${identifier}`)).toBe(true)
          expect(scopeCovers(filled, `${action}:${resource}:*`)).toBe(true)
        },
      ),
      RUNS,
    )
  })

  it('a single-placeholder identifier with a hostile value never produces a wildcard or a new colon', () => {
    const whole = compileScopeTemplate('read:data::id')
    fc.assert(
      fc.property(hostileValue, (v) => {
        try {
          const out = whole.fill({ id: v })
          expect(out).toBe(`read:data:${v as string}`)
          expect(out.slice('read:data:'.length)).not.toMatch(/[:*]/)
        } catch (err) {
          expect((err as AgentAuthError).code).toBe('invalid_scope_parameter')
          expect(usable(v)).toBe(false)
        }
      }),
      RUNS,
    )
  })

  it('compiling arbitrary strings throws only TypeError; anything compiled fills to a valid scope', () => {
    const templateish = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', ':', '\\', '*', '_', '1', ' ', '-'), maxLength: 12 }),
      fc.string({ maxLength: 12 }),
    )
    fc.assert(
      fc.property(templateish, (s) => {
        let t: ReturnType<typeof compileScopeTemplate>
        try {
          t = compileScopeTemplate(s)
        } catch (err) {
          expect(err).toBeInstanceOf(TypeError)
          expect((err as TypeError).message).toContain(JSON.stringify(s))
          return
        }
        const filled = t.fill(Object.fromEntries(t.placeholders.map((n) => [n, 'v'])))
        const p = parseScope(filled)
        expect(p).not.toBeNull()
        expect(p!.action).toBe(t.action)
        expect(p!.resource).toBe(t.resource)
        expect(`${t.action}:${t.resource}:`).toBe(s.slice(0, t.action.length + t.resource.length + 2))
      }),
      RUNS,
    )
  })
})
