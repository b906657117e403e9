/**
 * Route parameters that try to widen a scope, on every adapter in every mode:
 * `/tenants/:tenant/analytics` guarded by `read:analytics::tenant` (the whole identifier is the
 * parameter) and `/customers/:id` guarded by `read:data:customer-:id`.
 *
 * A parameter that could change the meaning of the filled scope (`:`, `*`, whitespace, control
 * characters, empty, too long) is refused with 400 `invalid_scope_parameter`; anything else is
 * used literally, so look-alikes (`：`, `∗`, `＊`), double encoding or path tricks only ever name a
 * scope nobody holds (403). Never a 200 for a tenant or customer the token does not hold.
 *
 * Fastify and Nest know the route parameters before authentication and refuse a bad one without
 * asking the broker; Express, Koa and Hono authenticate first (`route` calls). Framework-level
 * refusals (404 for an empty segment in Express/Koa/Hono and Nest, 414 for Fastify's
 * `maxParamLength`, 400 for undecodable percent-encoding) happen where they happen; they are
 * refusals too.
 */
import { afterAll, beforeAll } from 'vitest'
import type { AdapterName } from '../adapters/apps.js'
import type { Answer } from '../helpers/refusal.js'
import { bearer } from '../helpers/tokens.js'
import { type Case, type HostileEnv, R, runCases, startHostileEnv } from './harness.js'

let env: HostileEnv
let wildcard = ''
beforeAll(async () => {
  env = await startHostileEnv()
  wildcard = env.sign({ scope: ['read:analytics:*', 'read:data:*'] })
})
afterAll(async () => {
  await env?.close()
})

const tenant =
  (param: string, token: (e: HostileEnv) => string = (e) => e.bank.accessToken) =>
  (e: HostileEnv) => ({
    path: `/tenants/${param}/analytics`,
    headers: bearer(token(e)),
  })
const customer =
  (param: string, token: (e: HostileEnv) => string = (e) => e.agent.accessToken) =>
  (e: HostileEnv) => ({
    path: `/customers/${param}`,
    headers: bearer(token(e)),
  })
/** A param refused as unusable in a scope. */
const bad = (name: string, req: Case['req']): Case => ({
  name: `${name} → 400`,
  req,
  expect: R.badParam,
  calls: 'route',
})
/** A param used literally: it names a scope the token does not hold. */
const literal = (name: string, req: Case['req'], scope: string): Case => ({
  name: `${name} → 403 (${scope})`,
  req,
  expect: R.forbidden(scope),
  calls: 'verified',
})
const byAdapter =
  (map: Record<AdapterName, Answer>) =>
  (_mode: unknown, adapter: AdapterName): Answer =>
    map[adapter]
/** Fastify's `maxParamLength` (100 by default), on Fastify and on Nest's Fastify platform alike. */
const TOO_LONG = { status: 414 }
/** A parameter too long for a scope: 400, or 414 where Fastify's router refuses it first. */
const BAD_OR_TOO_LONG = byAdapter({
  express: R.badParam,
  koa: R.badParam,
  fastify: TOO_LONG,
  hono: R.badParam,
  'nest-express': R.badParam,
  'nest-fastify': TOO_LONG,
})

const CASES: Case[] = [
  { name: 'own tenant → 200', req: tenant('bank'), expect: R.ok, calls: 'verified' },
  {
    name: 'own tenant, percent-encoded letters (%62ank) → 200',
    req: tenant('%62ank'),
    expect: R.ok,
    calls: 'verified',
  },
  literal('other tenant', tenant('hospital'), 'read:analytics:hospital'),
  bad('"*"', tenant('*')),
  bad('"%2A"', tenant('%2A')),
  bad('"%2a" (lowercase hex)', tenant('%2a')),
  bad('":"', tenant(':')),
  bad('"%3A"', tenant('%3A')),
  bad('"bank:x" via %3A', tenant('bank%3Ax')),
  bad('"bank:*" via %3A%2A', tenant('bank%3A%2A')),
  bad('"*:*"', tenant('*%3A*')),
  bad('space', tenant('%20')),
  bad('trailing space', tenant('bank%20')),
  bad('leading tab', tenant('%09bank')),
  bad('newline', tenant('bank%0A')),
  bad('CR LF', tenant('bank%0D%0AX-Injected:%201')),
  bad('NUL', tenant('bank%00')),
  bad('DEL', tenant('%7F')),
  bad('C1 control (NEL)', tenant('%C2%85')),
  bad('no-break space', tenant('bank%C2%A0')),
  bad('line separator U+2028', tenant('%E2%80%A8')),
  bad('ideographic space U+3000', tenant('%E3%80%80')),
  bad('BOM U+FEFF', tenant('%EF%BB%BFbank')),
  literal('fullwidth colon "：" (U+FF1A)', tenant('%EF%BC%9A'), 'read:analytics:%EF%BC%9A'),
  literal(
    '"bank：*"-like: fullwidth colon then fullwidth star',
    tenant('bank%EF%BC%9A%EF%BC%8A'),
    'read:analytics:bank%EF%BC%9A%EF%BC%8A',
  ),
  literal('asterisk operator "∗" (U+2217)', tenant('%E2%88%97'), 'read:analytics:%E2%88%97'),
  literal('fullwidth asterisk "＊" (U+FF0A)', tenant('%EF%BC%8A'), 'read:analytics:%EF%BC%8A'),
  literal('small asterisk "﹡" (U+FE61)', tenant('%EF%B9%A1'), 'read:analytics:%EF%B9%A1'),
  literal('other case', tenant('BANK'), 'read:analytics:BANK'),
  literal('Cyrillic look-alike "bаnk"', tenant('b%D0%B0nk'), 'read:analytics:b%D0%B0nk'),
  literal('double-encoded "*" (%252A)', tenant('%252A'), 'read:analytics:%2A'),
  literal('double-encoded ":" (%253A)', tenant('bank%253Ax'), 'read:analytics:bank%3Ax'),
  literal('encoded slash traversal', tenant('..%2Fbank'), 'read:analytics:../bank'),
  literal('"bank/../hospital"', tenant('bank%2F..%2Fhospital'), 'read:analytics:bank/../hospital'),
  literal('semicolon', tenant('bank;x'), 'read:analytics:bank;x'),
  literal('backslash', tenant('bank%5C'), 'read:analytics:bank\\\\'),
  literal('double quote', tenant('bank%22'), 'read:analytics:bank\\"'),
  {
    name: 'empty segment → refused (404 from the router, or 400)',
    req: tenant(''),
    expect: byAdapter({
      express: { status: 404 },
      koa: { status: 404 },
      fastify: R.badParam,
      hono: { status: 404 },
      'nest-express': { status: 404 },
      'nest-fastify': { status: 404 },
    }),
    // Express/Koa authenticate first (route not found afterwards); Fastify refuses the empty param.
    // Nest, on either platform, answers its own 404: no route matched, so no guard ran.
    calls: 'route',
  },
  {
    name: '257-character tenant → refused (400, or 414 from Fastify’s maxParamLength)',
    req: tenant('b'.repeat(257)),
    expect: BAD_OR_TOO_LONG,
    calls: 'route',
  },
  {
    name: 'undecodable percent-encoding → refused (400 from the router, or 403 literal in Koa and Hono)',
    req: tenant('%E0%A4%A'),
    expect: byAdapter({
      express: { status: 400 },
      koa: R.forbidden('read:analytics:%E0%A4%A'),
      fastify: { status: 400 },
      hono: R.forbidden('read:analytics:%E0%A4%A'),
      'nest-express': { status: 400 },
      'nest-fastify': { status: 400 },
    }),
    calls: 'route',
  },
  // ---- /customers/:id (placeholder inside the identifier) ---------------------------------------
  { name: 'own customer → 200', req: customer('7'), expect: R.ok, calls: 'verified' },
  { name: 'own customer percent-encoded (%37) → 200', req: customer('%37'), expect: R.ok, calls: 'verified' },
  literal('other customer', customer('9'), 'read:data:customer-9'),
  literal('leading zero', customer('07'), 'read:data:customer-07'),
  literal('fullwidth digit "７"', customer('%EF%BC%97'), 'read:data:customer-%EF%BC%97'),
  literal('"7." (suffix)', customer('7.'), 'read:data:customer-7.'),
  literal('"7-1" (suffix)', customer('7-1'), 'read:data:customer-7-1'),
  bad('"*"', customer('*')),
  bad('"7*"', customer('7*')),
  bad('"7:*"', customer('7%3A*')),
  bad('"7:x"', customer('7:x')),
  bad('trailing space', customer('7%20')),
  bad('NUL', customer('7%00')),
  {
    name: '256-character customer id (at the cap) → 403, or 414 from Fastify’s maxParamLength',
    req: customer('1'.repeat(256)),
    expect: byAdapter({
      express: R.forbidden(`read:data:customer-${'1'.repeat(256)}`),
      koa: R.forbidden(`read:data:customer-${'1'.repeat(256)}`),
      fastify: TOO_LONG,
      hono: R.forbidden(`read:data:customer-${'1'.repeat(256)}`),
      'nest-express': R.forbidden(`read:data:customer-${'1'.repeat(256)}`),
      'nest-fastify': TOO_LONG,
    }),
    calls: 'route',
    // A usable parameter: Nest on Express fills it and authenticates (the 403 needs the identity).
    callsBy: { 'nest-express': 'verified' },
  },
  {
    name: '257-character customer id → 400, or 414 from Fastify',
    req: customer('1'.repeat(257)),
    expect: BAD_OR_TOO_LONG,
    calls: 'route',
  },
  // ---- a token that holds the wildcard: the param still cannot be "*" -----------------------------
  {
    name: 'wildcard holder, any tenant → 200',
    req: tenant('hospital', () => wildcard),
    expect: R.ok,
    calls: 'verified',
  },
  bad(
    'wildcard holder, tenant "*"',
    tenant('*', () => wildcard),
  ),
  bad(
    'wildcard holder, customer "*"',
    customer('*', () => wildcard),
  ),
  // ---- computed scopes (the function form builds the scope itself, unsanitised) -------------------
  literal(
    'computed: "*" is literal after a prefix',
    (e) => ({ path: '/computed/*', headers: bearer(e.agent.accessToken) }),
    'read:data:customer-*',
  ),
  literal(
    'computed: "7:x" is literal',
    (e) => ({ path: '/computed/7%3Ax', headers: bearer(e.agent.accessToken) }),
    'read:data:customer-7:x',
  ),
  // ---- HEAD and other methods go through the same guard ------------------------------------------
  {
    name: 'HEAD other customer → 403',
    req: (e) => ({ method: 'HEAD', ...customer('9')(e) }),
    expect: { status: 403 },
    calls: 'verified',
  },
  {
    name: 'HEAD tenant "*" → 400',
    req: (e) => ({ method: 'HEAD', ...tenant('*')(e) }),
    expect: { status: 400 },
    calls: 'route',
  },
  {
    name: 'HEAD own customer → 200',
    req: (e) => ({ method: 'HEAD', ...customer('7')(e) }),
    expect: { status: 200 },
    calls: 'verified',
  },
  literal(
    'PUT another order',
    (e) => ({ method: 'PUT', path: '/orders/2', headers: bearer(e.agent.accessToken) }),
    'write:data:order-2',
  ),
  {
    // Fastify's preHandler guard (app.requireScope) runs after authentication, unlike route config.
    name: 'PUT order "*" (a preHandler guard in Fastify) → 400',
    req: (e) => ({ method: 'PUT', path: '/orders/*', headers: bearer(e.agent.accessToken) }),
    expect: R.badParam,
    calls: 'verified',
    // Nest's @RequireScope is part of the route plan, filled before authenticating.
    callsBy: { 'nest-express': 'route', 'nest-fastify': 'route' },
  },
]

runCases('route parameters', () => env, CASES)
