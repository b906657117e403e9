/**
 * Property: for any held scopes, any scope template and any route parameter values, the guard's
 * decision equals an independent model of the broker rule (contract §10.1) applied to the literal
 * filled scope — or the request is refused 400 because a parameter is unusable. Never an allow
 * that the model refuses.
 *
 * (1) core: `compileScopeGuard` + `toIdentity`, random templates; (2) over HTTP on all three
 * adapters (local mode, pinned key: no broker traffic), random tenant values and held scopes.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileScopeGuard } from '../../src/core/guard.js'
import { AgentAuthError } from '../../src/index.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { identityOf } from '../helpers/identity.js'
import { bearer, jti } from '../helpers/tokens.js'

// ---------------------------------------------------------------------------------------------
// The model, written from the contract, sharing no code with src/

type Decision = 'allow' | 'deny' | 'bad_param'

/** Go `strings.SplitN(s, ":", 3)`, then "exactly three non-empty parts". */
function modelParse(s: string): [string, string, string] | null {
  const all = s.split(':')
  if (all.length < 3) return null
  const parts: [string, string, string] = [all[0]!, all[1]!, all.slice(2).join(':')]
  return parts.every((p) => p.length > 0) ? parts : null
}

function modelCovers(required: string, held: string): boolean {
  const r = modelParse(required)
  const h = modelParse(held)
  if (!r || !h) return false
  return r[0] === h[0] && r[1] === h[1] && (h[2] === '*' || h[2] === r[2])
}

/** A route value usable verbatim in a scope (README "Scope guards"). */
function modelUsable(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    v.length > 0 &&
    v.length <= 256 &&
    !v.includes(':') &&
    !v.includes('*') &&
    !/\s/.test(v) &&
    ![...v].some((c) => {
      const code = c.codePointAt(0)!
      return code <= 0x1f || (code >= 0x7f && code <= 0x9f)
    })
  )
}

type Piece = { lit: string } | { param: string }
interface Template {
  action: string
  resource: string
  pieces: Piece[]
}

function render(t: Template): string {
  let id = ''
  for (const p of t.pieces) {
    id += 'lit' in p ? p.lit.replace(/\\/g, '\\\\').replace(/:/g, '\\:') : `:${p.param}`
  }
  return `${t.action}:${t.resource}:${id}`
}

/** The filled scope, or null when a used parameter is unusable. */
function modelFill(t: Template, params: Record<string, unknown>): string | null {
  let id = ''
  for (const p of t.pieces) {
    if ('lit' in p) id += p.lit
    else {
      const v = Object.hasOwn(params, p.param) ? params[p.param] : undefined
      if (!modelUsable(v)) return null
      id += v
    }
  }
  return `${t.action}:${t.resource}:${id}`
}

function modelDecide(mode: 'all' | 'any', ts: Template[], params: Record<string, unknown>, held: string[]) {
  const filled = ts.map((t) => modelFill(t, params))
  if (filled.some((f) => f === null)) return { decision: 'bad_param' as Decision, filled: [] as string[] }
  const f = filled as string[]
  const has = (r: string) => held.some((h) => modelCovers(r, h))
  const ok = mode === 'all' ? f.every(has) : f.some(has)
  return { decision: (ok ? 'allow' : 'deny') as Decision, filled: f }
}

// ---------------------------------------------------------------------------------------------
// Generators

const NAMES = ['id', 'tenant', 'p', 'q_2']
/** Characters that matter: separators, wildcards, look-alikes, whitespace, controls, plain text. */
const HOSTILE_CHARS = [
  'a',
  'b',
  'z',
  'A',
  '7',
  '0',
  '-',
  '.',
  '_',
  '~',
  '/',
  '\\',
  '"',
  '%',
  '3',
  '+',
  '=',
  ',',
  ';',
  '@',
  ':',
  '*',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u000b',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u200a',
  '\u200b',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
  '：',
  '∗',
  '＊',
  '﹡',
  '⁎',
  '٭',
  'é',
  'а',
  '\u{1F600}',
]
const hostileChar = fc.constantFrom(...HOSTILE_CHARS)
const safeValue = fc.stringMatching(/^[a-z0-9._~%-]{1,8}$/)
const paramValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: safeValue },
  { weight: 6, arbitrary: fc.string({ unit: hostileChar, maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', '1'), minLength: 250, maxLength: 262 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 7, ['a'], { toString: () => 'x' }) },
)
const literalText = fc.string({
  unit: fc.constantFrom('a', 'b', '1', '-', '.', '_', '*', ':', '\\', '%'),
  minLength: 1,
  maxLength: 5,
})
const part = fc.string({
  unit: fc.constantFrom('r', 'e', 'a', 'd', 'x', '*', '-', '_'),
  minLength: 1,
  maxLength: 5,
})

const template: fc.Arbitrary<Template> = fc
  .record({
    action: part,
    resource: part,
    pieces: fc.array(
      fc.oneof(
        literalText.map((lit): Piece => ({ lit })),
        fc.constantFrom(...NAMES).map((param): Piece => ({ param })),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map((t) => {
    // A literal right after a placeholder must not extend the placeholder's name.
    const pieces: Piece[] = []
    for (const p of t.pieces) {
      const prev = pieces.at(-1)
      if ('lit' in p && prev && 'param' in prev && /^[A-Za-z0-9_]/.test(p.lit))
        pieces.push({ lit: `-${p.lit}` })
      else pieces.push(p)
    }
    return { ...t, pieces }
  })

const params: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ id: paramValue, tenant: paramValue, p: paramValue, q_2: paramValue }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.constantFrom(...NAMES, 'other', '__proto__'), paramValue, { maxKeys: 5 }),
  },
)

/** Held scopes: random ones plus mutations of what the templates would need. */
function heldFor(ts: Template[], p: Record<string, unknown>): fc.Arbitrary<string[]> {
  const needed = ts.map((t) => modelFill(t, p)).filter((f): f is string => f !== null)
  const near = needed.flatMap((f) => {
    const [a, r, id] = modelParse(f) ?? [f, f, f]
    return [
      f,
      `${a}:${r}:*`,
      `${a}:${r}:${id}x`,
      `${a}:${r}:${id.slice(0, -1)}`,
      `*:${r}:${id}`,
      `${a}:*:*`,
      `${a}:${r}`,
      `${f} `,
      f.toUpperCase(),
    ]
  })
  const pick = near.length > 0 ? fc.constantFrom(...near) : fc.constant('read:data:x')
  return fc.array(
    fc.oneof(
      { weight: 4, arbitrary: pick },
      { weight: 1, arbitrary: fc.string({ unit: hostileChar, maxLength: 10 }) },
      { weight: 1, arbitrary: fc.constant('*:*:*') },
    ),
    { maxLength: 5 },
  )
}

function identity(scope: string[]) {
  const now = Math.floor(Date.now() / 1000)
  return identityOf(
    {
      iss: '',
      sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
      exp: now + 300,
      nbf: now,
      iat: now,
      jti: 'j',
      scope,
    },
    { source: 'local', cacheAgeMs: 0 },
  )
}

function guardDecision(mode: 'all' | 'any', ts: Template[], p: Record<string, unknown>, held: string[]) {
  const guard = compileScopeGuard<unknown>(mode, ts.map(render))
  try {
    guard.check(identity(held), p, {})
    return { decision: 'allow' as Decision, required: [] as readonly string[] }
  } catch (err) {
    if (!(err instanceof AgentAuthError)) throw err
    if (err.code === 'invalid_scope_parameter') return { decision: 'bad_param' as Decision, required: [] }
    if (err.code === 'insufficient_scope')
      return { decision: 'deny' as Decision, required: err.requiredScope ?? [] }
    throw err
  }
}

describe('scope guard = model of the broker rule on the literal filled scope', () => {
  it.each(['all', 'any'] as const)(
    'requireScope / requireAnyScope (%s), random templates, params and held scopes',
    (mode) => {
      fc.assert(
        fc.property(
          fc
            .tuple(fc.array(template, { minLength: 1, maxLength: mode === 'all' ? 2 : 3 }), params)
            .chain(([ts, p]) => fc.tuple(fc.constant(ts), fc.constant(p), heldFor(ts, p))),
          ([ts, p, held]) => {
            const model = modelDecide(mode, ts, p, held)
            const got = guardDecision(mode, ts, p, held)
            expect(got.decision).toBe(model.decision)
            if (got.decision === 'deny') expect([...got.required]).toEqual(model.filled)
          },
        ),
        { numRuns: 3000 },
      )
    },
  )

  it('the two templates of the e2e service: read:analytics::tenant and read:data:customer-:id', () => {
    const ts: Template[] = [
      { action: 'read', resource: 'analytics', pieces: [{ param: 'tenant' }] },
      { action: 'read', resource: 'data', pieces: [{ lit: 'customer-' }, { param: 'id' }] },
    ]
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        paramValue,
        fc.array(
          fc.oneof(
            fc.constantFrom(
              'read:analytics:*',
              'read:analytics:bank',
              'read:data:customer-7',
              'read:data:*',
              'read:data:customer-*',
              '*:*:*',
            ),
            fc.string({ unit: hostileChar, maxLength: 8 }).map((s) => `read:analytics:${s}`),
            fc.string({ unit: hostileChar, maxLength: 8 }).map((s) => `read:data:customer-${s}`),
          ),
          { maxLength: 4 },
        ),
        (which, value, held) => {
          const t = ts[which]!
          const p = { [which === 0 ? 'tenant' : 'id']: value }
          expect(guardDecision('all', [t], p, held).decision).toBe(modelDecide('all', [t], p, held).decision)
        },
      ),
      { numRuns: 3000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Over HTTP

describe('over HTTP: /tenants/:tenant/analytics never answers 200 where the model refuses', () => {
  let broker: DevBroker
  const apps = {} as Record<AdapterName, RunningApp>
  beforeAll(async () => {
    broker = await startDevBroker({ sampleApp: false })
    for (const a of ADAPTERS) apps[a] = await buildApp(a, { publicKey: broker.publicJwk, cacheTtlMs: 0 })
  })
  afterAll(async () => {
    for (const a of ADAPTERS) await apps[a]?.close()
    await broker?.close()
  })

  const tenantValue = fc
    .oneof(
      fc.constantFrom('bank', 'hospital'),
      safeValue,
      fc.string({
        unit: fc.constantFrom(...HOSTILE_CHARS.filter((c) => c !== '\u{1F600}'), 'bank'),
        maxLength: 6,
      }),
    )
    .filter((v) => v !== '.' && v !== '..')

  it.each(ADAPTERS)('%s', async (adapter) => {
    await fc.assert(
      fc.asyncProperty(
        tenantValue,
        fc.array(
          fc.oneof(
            fc.constantFrom(
              'read:analytics:*',
              'read:analytics:bank',
              'read:analytics:hospital',
              '*:*:*',
              'read:analytics',
            ),
            fc.string({ unit: hostileChar, maxLength: 6 }).map((s) => `read:analytics:${s}`),
          ),
          { maxLength: 3 },
        ),
        async (tenant, held) => {
          const now = Math.floor(Date.now() / 1000)
          const token = broker.signToken({
            iss: '',
            sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: jti(),
            scope: held,
          })
          const res = await send(apps[adapter].url, {
            path: `/tenants/${encodeURIComponent(tenant)}/analytics`,
            headers: bearer(token),
          })
          const t: Template = { action: 'read', resource: 'analytics', pieces: [{ param: 'tenant' }] }
          const model = modelDecide('all', [t], { tenant }, held).decision
          if (model === 'allow') expect(res.status).toBe(200)
          else if (model === 'deny') expect(res.status).toBe(403)
          // an unusable value: 400 from the guard, or a router-level refusal of an empty segment
          else expect([400, 404]).toContain(res.status)
        },
      ),
      { numRuns: 250 },
    )
  })
})
