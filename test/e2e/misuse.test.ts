/**
 * The misuse table: every way a developer can wire the package wrongly, run on every adapter over
 * real HTTP against the development broker. Each row says what the request must get; in every
 * row that is not a 200, the handler must not have run. Each adapter's app for a row is its
 * `misuse` builder (test/adapters/, wired as the row's {@link Setup} says): a new adapter adds one
 * there and meets the same rows.
 */
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import agentwrit from '../../src/fastify.js'
import { type AgentIdentity, createVerifier, type Verifier } from '../../src/index.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildMisuseApp } from '../adapters/apps.js'
import { listenFastify } from '../adapters/fastify-apps.js'
import type { Setup } from '../adapters/kit.js'
import { createStandardAgents } from '../helpers/agents.js'
import { send } from '../helpers/http.js'

type TokenKind = 'valid' | 'garbage' | 'none'

interface Row {
  readonly name: string
  readonly only?: readonly AdapterName[]
  readonly setup: Setup
  readonly token: TokenKind
  readonly path: string
  /** Expected status, per adapter where they differ. */
  readonly status: number | Readonly<Partial<Record<AdapterName, number>> & { default: number }>
}

const READ_7 = { template: 'read:data:customer-:id' } as const
/** Adapters whose route requirements are checked before any later middleware can replace the identity. */
const GUARDED_BEFORE_TAMPERING = { fastify: 403, 'nest-express': 403, 'nest-fastify': 403 } as const

function rejecting(value: unknown): (real: Verifier) => Verifier {
  return (real) => ({ ...real, options: real.options, authenticate: () => Promise.reject(value) })
}
function throwing(value: unknown): (real: Verifier) => Verifier {
  return (real) => ({
    ...real,
    options: real.options,
    authenticate: () => {
      throw value
    },
  })
}
function resolving(value: unknown): (real: Verifier) => Verifier {
  return (real) => ({
    ...real,
    options: real.options,
    authenticate: () => Promise.resolve(value as AgentIdentity),
  })
}

const JUNK: readonly [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['0', 0],
  ['false', false],
  ['an empty string', ''],
  ['a string', 'nope'],
  ['an Error', new Error('boom')],
]

const ROWS: readonly Row[] = [
  {
    name: 'baseline: a valid token in scope',
    setup: { guard: READ_7 },
    token: 'valid',
    path: '/things/7',
    status: 200,
  },
  {
    name: 'baseline: a valid token out of scope',
    setup: { guard: READ_7 },
    token: 'valid',
    path: '/things/8',
    status: 403,
  },
  { name: 'baseline: no token', setup: { guard: READ_7 }, token: 'none', path: '/things/7', status: 401 },
  // Declaration order
  ...(['none', 'garbage', 'valid'] as const).map(
    (token): Row => ({
      name: `guarded route declared before authentication, ${token} token`,
      setup: { order: 'route-first', guard: READ_7 },
      token,
      path: '/things/7',
      // Express and Koa run the route before agentAuth: its guard finds no identity (500).
      // Fastify authenticates every route of the context, whenever it was declared. Nest has no
      // declaration order (dependency injection): the routes' module imported before
      // AgentWritModule is guarded all the same.
      status: {
        default: 500,
        fastify: token === 'valid' ? 200 : 401,
        'nest-express': token === 'valid' ? 200 : 401,
        'nest-fastify': token === 'valid' ? 200 : 401,
      },
    }),
  ),
  ...(['none', 'garbage'] as const).map(
    (token): Row => ({
      name: `un-awaited registration, ${token} token`,
      only: ['fastify'],
      setup: { order: 'unawaited', guard: READ_7 },
      token,
      path: '/things/7',
      status: 401,
    }),
  ),
  {
    name: 'un-awaited registration: config.scope is enforced',
    only: ['fastify'],
    setup: { order: 'unawaited', guard: READ_7 },
    token: 'valid',
    path: '/things/8',
    status: 403,
  },
  {
    name: 'un-awaited registration: a valid token in scope passes',
    only: ['fastify'],
    setup: { order: 'unawaited', guard: READ_7 },
    token: 'valid',
    path: '/things/7',
    status: 200,
  },
  {
    name: 'un-awaited registration: an unguarded route is authenticated',
    only: ['fastify'],
    setup: { order: 'unawaited' },
    token: 'garbage',
    path: '/things/7',
    status: 401,
  },
  ...(['none', 'valid'] as const).map(
    (token): Row => ({
      name: `guard without agentAuth, ${token} token`,
      only: ['express', 'koa'],
      setup: { order: 'no-auth', guard: READ_7 },
      token,
      path: '/things/7',
      status: 500,
    }),
  ),
  {
    name: 'delegation guard without agentAuth',
    only: ['express', 'koa'],
    setup: { order: 'no-auth', guard: { delegatedFrom: 'spiffe://agentwrit.local/agent/a/b/c' } },
    token: 'valid',
    path: '/things/7',
    status: 500,
  },
  // A hand-written verifier that fails in ways a framework may read as "carry on".
  ...JUNK.flatMap(([label, value]): Row[] => [
    {
      name: `verifier rejects with ${label}`,
      setup: { verifier: rejecting(value), guard: READ_7 },
      token: 'valid',
      path: '/things/7',
      status: 500,
    },
    {
      name: `verifier throws ${label} synchronously`,
      setup: { verifier: throwing(value) },
      token: 'valid',
      path: '/things/7',
      status: 500,
    },
  ]),
  ...(
    [
      ['null', null],
      ['undefined', undefined],
      ['an empty object', {}],
      ['an identity with an empty id', { id: '', scope: [] }],
      ['an identity whose scope is not a string array', { id: 'a', scope: [1] }],
      ['a number', 42],
    ] as const
  ).map(
    ([label, value]): Row => ({
      name: `verifier resolves with ${label}`,
      setup: { verifier: resolving(value) },
      token: 'valid',
      path: '/things/7',
      status: 500,
    }),
  ),
  // Computed scopes that throw or return junk.
  ...(
    [
      [
        'throws null',
        () => {
          throw null
        },
      ],
      [
        'throws an Error',
        () => {
          throw new Error('no')
        },
      ],
      ['returns an empty string', () => ''],
      ['returns an empty array', () => []],
      ['returns a number', () => 42],
      ['returns null', () => null],
      ['returns an array with a non-string', () => ['read:data:customer-7', 7]],
    ] as const
  ).map(
    ([label, fn]): Row => ({
      name: `computed scope ${label}`,
      setup: { guard: { computed: fn } },
      token: 'valid',
      path: '/things/7',
      status: 500,
    }),
  ),
  {
    name: 'identity replaced by later middleware, guarded route',
    setup: { tamper: true, guard: READ_7 },
    token: 'valid',
    path: '/things/8',
    // Express and Koa: the guard meets an identity agentAuth never attached (500). Fastify: the
    // config guard ran on the verified identity in onRequest, before the tampering hook (403).
    // Nest: the guard checked the verified identity before the tampering interceptor ran (403).
    status: { default: 500, ...GUARDED_BEFORE_TAMPERING },
  },
  {
    name: 'identity replaced by later middleware, computed guard',
    setup: { tamper: true, guard: { computed: (id) => `read:data:customer-${id}` } },
    token: 'valid',
    path: '/things/8',
    // Fastify's computed guard is a preHandler, after the tampering hook. Nest's guard computes
    // the scope on the verified identity, before interceptors run (403).
    status: { default: 500, 'nest-express': 403, 'nest-fastify': 403 },
  },
  {
    name: 'identity replaced by later middleware, delegation guard',
    setup: { tamper: true, guard: { delegatedFrom: 'spiffe://agentwrit.local/agent/x/y/z' } },
    token: 'valid',
    path: '/things/7',
    status: { default: 500, ...GUARDED_BEFORE_TAMPERING },
  },
  // A refusal renderer that throws (Nest has no onError: an exception filter for refusals that throws).
  ...JUNK.slice(0, 2).map(
    ([label, value]): Row => ({
      name: `onError throws ${label}`,
      setup: { onErrorThrows: { value } },
      token: 'garbage',
      path: '/things/7',
      status: 500,
    }),
  ),
  // optional: true
  {
    name: 'optional: no token on an unguarded route passes anonymously',
    setup: { optional: true },
    token: 'none',
    path: '/open',
    status: 200,
  },
  {
    name: 'optional: a garbage token is still refused',
    setup: { optional: true },
    token: 'garbage',
    path: '/open',
    status: 401,
  },
  {
    name: 'optional: a valid token passes with its identity',
    setup: { optional: true },
    token: 'valid',
    path: '/open',
    status: 200,
  },
  {
    name: 'optional: a guarded route refuses an anonymous request',
    setup: { optional: true, guard: READ_7 },
    token: 'none',
    path: '/things/7',
    status: 401,
  },
  {
    name: 'optional: a computed guard refuses an anonymous request',
    setup: { optional: true, guard: { computed: (id) => `read:data:customer-${id}` } },
    token: 'none',
    path: '/things/7',
    status: 401,
  },
  {
    name: 'optional: a delegation guard refuses an anonymous request',
    setup: { optional: true, guard: { delegatedFrom: 'spiffe://agentwrit.local/agent/x/y/z' } },
    token: 'none',
    path: '/things/7',
    status: 401,
  },
  {
    name: 'optional: access_token in the query is still refused',
    setup: { optional: true },
    token: 'none',
    path: '/open?access_token=abc',
    status: 400,
  },
]

describe.each(ADAPTERS)('misuse table (%s)', (adapter) => {
  let broker: DevBroker
  let real: Verifier
  let token: string

  beforeAll(async () => {
    broker = await startDevBroker()
    const { agent } = await createStandardAgents(broker)
    token = agent.accessToken
    real = createVerifier({ broker: broker.url })
  })
  afterAll(async () => {
    await real?.close()
    await broker?.close()
  })

  const rows = ROWS.filter((r) => r.only === undefined || r.only.includes(adapter))
  it.each(rows)('$name', async (row) => {
    const built = await buildMisuseApp(adapter, row.setup, broker, real)
    try {
      const headers: Record<string, string> =
        row.token === 'none'
          ? {}
          : { Authorization: `Bearer ${row.token === 'valid' ? token : 'garbage.garbage.garbage'}` }
      const res = await send(built.url, { path: row.path, headers })
      const expected =
        typeof row.status === 'number' ? row.status : (row.status[adapter] ?? row.status.default)
      expect(res.status).toBe(expected)
      if (expected === 200) {
        expect(built.reached()).toBe(1)
        if (row.token === 'none') expect(res.json.agent).toBeNull()
        else expect(res.json.agent).toMatch(/^spiffe:\/\//)
      } else {
        expect(built.reached()).toBe(0)
      }
      if (expected === 401 || expected === 403) expect(res.headers['cache-control']).toBe('no-store')
      expect(res.text).not.toContain(token.split('.')[2]!)
    } finally {
      await built.close()
    }
  })
})

describe('misuse found at startup (fastify)', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(async () => broker?.close())

  const cases: [string, (app: ReturnType<typeof Fastify>) => void, RegExp][] = [
    [
      'a requireScope preHandler on an agentAuth: false route',
      (app) => {
        app.get(
          '/x/:id',
          { config: { agentAuth: false }, preHandler: app.requireScope('read:data:customer-:id') },
          async () => ({}),
        )
      },
      /GET \/x\/:id: .*needs agentAuth/,
    ],
    [
      'a requireDelegatedFrom preHandler on an agentAuth: false route',
      (app) => {
        app.get(
          '/x',
          { config: { agentAuth: false }, preHandler: app.requireDelegatedFrom('spiffe://a/agent/b/c/d') },
          async () => ({}),
        )
      },
      /GET \/x: .*needs agentAuth/,
    ],
    [
      'config.scope on an agentAuth: false route',
      (app) => {
        app.get('/x', { config: { agentAuth: false, scope: 'read:data:x' } }, async () => ({}))
      },
      /route \/x: .*need agentAuth/,
    ],
    [
      'a config.scope placeholder that is not a route parameter',
      (app) => {
        app.get('/x/:id', { config: { scope: 'read:data:customer-:cid' } }, async () => ({}))
      },
      /GET \/x\/:id: scope placeholder ":cid"/,
    ],
    [
      'config.agentAuth that is not a boolean',
      (app) => {
        app.get('/x', { config: { agentAuth: 'no' as unknown as boolean } }, async () => ({}))
      },
      /route \/x: config.agentAuth must be true or false/,
    ],
  ]
  it.each(cases)('%s: the route declaration throws, naming the route', async (_name, declare, message) => {
    const app = Fastify()
    await app.register(agentwrit, { broker: broker.url })
    expect(() => declare(app)).toThrow(message)
    await app.close()
  })

  it('un-awaited registration: a bad route config answers 500 and never reaches the handler', async () => {
    const app = Fastify()
    void app.register(agentwrit, { broker: broker.url })
    let reached = 0
    app.get('/x/:id', { config: { scope: 'read:data:customer-:cid' } }, async () => {
      reached++
      return {}
    })
    const url = await listenFastify(app)
    try {
      const res = await send(url, { path: '/x/7' })
      expect(res.status).toBe(500)
      expect(reached).toBe(0)
    } finally {
      await app.close()
    }
  })
})
