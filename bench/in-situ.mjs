/**
 * What agentwrit-verify costs inside a real, loaded server: `node bench/in-situ.mjs [express koa
 * fastify hono]` (after `npm run build` at the root and `npm --prefix bench ci`).
 *
 * `bench/hot-path.mjs` times our code in a tight loop, where everything it touches stays in the
 * CPU caches. Here each framework serves `GET /customers/:id` to autocannon (50 connections, in a
 * child process) and probes read `performance.now()` around our layers on every request: before
 * and after the auth middleware (Fastify: around its route `onRequest` hook, which also runs the
 * scope guard), and before and after the route guard (Express, Koa). The same probes around no-op
 * layers give the floor (the probes themselves and the framework's dispatch between them). The
 * table gives the median and p90 per request of each span, for no-op layers and for each
 * verification mode, warm (one token, answer cached).
 *
 * Each framework is measured in a process of its own (one adapter per process, as in a service).
 * Hono is served by `@hono/node-server` (`getRequestListener`), its layers being app-wide and route
 * middleware as on Express and Koa.
 *
 * Environment: SITU_DURATION (3 s measured, after 2 s of warm-up); SITU_BREAKDOWN=1 adds two
 * rows per framework: a middleware that only reads `Authorization`, and one that also stores an
 * identity where the framework keeps it (the least any authentication layer does there).
 */
import { fork } from 'node:child_process'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { AUDIENCE, ISSUER, startBenchBroker } from './bench-broker.mjs'

const DURATION = Number(process.env.SITU_DURATION ?? 3)
const frameworks =
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['express', 'koa', 'fastify', 'hono']
const ROUTE = '/customers/:id'
const SCOPE = 'read:data:customer-:id'

/**
 * Breakdown layers (SITU_BREAKDOWN=1): what any authentication middleware must do at least, in
 * the same place as ours: read the `Authorization` header, and also store an identity where the
 * framework keeps it (`req.agent`, `ctx.state.agent`, `request.agent`, `c.set('agent')`).
 */
const READ_HEADER = Symbol('reads Authorization')
const READ_AND_STORE = Symbol('reads Authorization, stores an identity')
const STORED = Object.freeze({ id: 'spiffe://agentwrit.local/agent/bench/customers/x' })
/** Where the breakdown layers put what they read, so that no read is optimised away. */
let sink = 0
const read = (authorization) => {
  sink += authorization?.length ?? 0
}

/** Per-request spans between probes. */
function spans() {
  const N = 1_000_000
  const s = { auth: new Float64Array(N), guard: new Float64Array(N), na: 0, ng: 0, t0: 0, t1: 0 }
  s.reset = () => {
    s.na = 0
    s.ng = 0
  }
  s.startAuth = () => {
    s.t0 = performance.now()
  }
  s.endAuth = () => {
    if (s.na < N) s.auth[s.na++] = performance.now() - s.t0
  }
  s.startGuard = () => {
    s.t1 = performance.now()
  }
  s.endGuard = () => {
    if (s.ng < N) s.guard[s.ng++] = performance.now() - s.t1
  }
  return s
}

async function expressServer(s, layer) {
  const { default: express } = await import('express')
  const noop = (_req, _res, next) => next()
  const app = express()
  const probe = (fn) => (_req, _res, next) => {
    fn()
    next()
  }
  let auth = noop
  let guard = noop
  if (layer === READ_HEADER)
    auth = (req, _res, next) => next(req.headers.authorization === '' ? 1 : undefined)
  else if (layer === READ_AND_STORE) {
    auth = (req, _res, next) => {
      if (req.headers.authorization !== '') req.agent = STORED
      next()
    }
  } else if (layer !== undefined) {
    const { agentAuth, requireScope } = await import('../dist/express.js')
    auth = agentAuth(layer)
    guard = requireScope(SCOPE)
  }
  app.use(probe(s.startAuth), auth, probe(s.endAuth))
  app.get(ROUTE, probe(s.startGuard), guard, probe(s.endGuard), (req, res) =>
    res.json({ customer: req.params.id, by: req.agent?.id }),
  )
  const server = createServer(app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: server.address().port, close: () => close(server, auth) }
}

async function koaServer(s, layer) {
  const { default: Koa } = await import('koa')
  const { default: Router } = await import('@koa/router')
  const noop = (_ctx, next) => next()
  const probe = (fn) => (_ctx, next) => {
    fn()
    return next()
  }
  let auth = noop
  let guard = noop
  if (layer === READ_HEADER) {
    auth = (ctx, next) => {
      read(ctx.req.headers.authorization)
      return next()
    }
  } else if (layer === READ_AND_STORE) {
    auth = (ctx, next) => {
      read(ctx.req.headers.authorization)
      ctx.state.agent = STORED
      return next()
    }
  } else if (layer !== undefined) {
    const { agentAuth, requireScope } = await import('../dist/koa.js')
    auth = agentAuth(layer)
    guard = requireScope(SCOPE)
  }
  const app = new Koa()
  const router = new Router()
  app.use(probe(s.startAuth))
  app.use(auth)
  app.use(probe(s.endAuth))
  router.get(ROUTE, probe(s.startGuard), guard, probe(s.endGuard), (ctx) => {
    ctx.body = { customer: ctx.params.id, by: ctx.state.agent?.id }
  })
  app.use(router.routes())
  const server = createServer(app.callback())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: server.address().port, close: () => close(server, auth) }
}

async function fastifyServer(s, layer) {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  // App-level hooks run before route-level ones: onRequest (probe) → the route's onRequest
  // (agentwrit-verify: authentication and the scope guard) → preParsing (probe).
  app.addHook('onRequest', (_request, _reply, done) => {
    s.startAuth()
    done()
  })
  app.addHook('preParsing', (_request, _reply, _payload, done) => {
    s.endAuth()
    done()
  })
  const reply = async (request) => ({ customer: request.params.id, by: request.agent?.id })
  if (layer === undefined) {
    app.get(ROUTE, { onRequest: (_request, _reply, done) => done() }, reply)
  } else if (layer === READ_HEADER || layer === READ_AND_STORE) {
    app.decorateRequest('agent', null)
    const store = layer === READ_AND_STORE
    const onRequest = (request, _reply, done) => {
      read(request.raw.headers.authorization)
      if (store) request.agent = STORED
      done()
    }
    app.get(ROUTE, { onRequest }, reply)
  } else {
    const { default: agentwrit } = await import('../dist/fastify.js')
    await app.register(agentwrit, layer)
    app.get(ROUTE, { config: { scope: SCOPE } }, reply)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { port: app.server.address().port, close: () => app.close() }
}

async function honoServer(s, layer) {
  const { Hono } = await import('hono')
  const { getRequestListener } = await import('@hono/node-server')
  const noop = (_c, next) => next()
  const probe = (fn) => (_c, next) => {
    fn()
    return next()
  }
  let auth = noop
  let guard = noop
  if (layer === READ_HEADER)
    auth = (c, next) => (c.env.incoming.headers.authorization === '' ? undefined : next())
  else if (layer === READ_AND_STORE) {
    auth = (c, next) => {
      if (c.env.incoming.headers.authorization !== '') c.set('agent', STORED)
      return next()
    }
  } else if (layer !== undefined) {
    const { agentAuth, requireScope } = await import('../dist/hono.js')
    auth = agentAuth(layer)
    guard = requireScope(SCOPE)
  }
  const app = new Hono()
  app.use(probe(s.startAuth), auth, probe(s.endAuth))
  app.get(ROUTE, probe(s.startGuard), guard, probe(s.endGuard), (c) =>
    c.json({ customer: c.req.param('id'), by: c.get('agent')?.id }),
  )
  const server = createServer(getRequestListener(app.fetch))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: server.address().port, close: () => close(server, auth) }
}

async function close(server, auth) {
  server.closeAllConnections?.()
  await new Promise((resolve) => server.close(resolve))
  await auth.close?.()
}

function load(port, token, seconds) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--load', String(port), token, String(seconds)])
    child.on('message', (m) => (m.err ? reject(new Error(m.err)) : resolve(m)))
  })
}

const quantile = (a, n, q) => {
  const sorted = a.slice(0, n).sort()
  return sorted[Math.floor(q * (sorted.length - 1))] * 1000
}

/** Measure one framework's rows in this process (its broker included). */
async function measure(fw) {
  const { broker, agent } = await startBenchBroker()
  const common = { issuer: ISSUER, audience: AUDIENCE }
  const layers = {
    'no-op layers': undefined,
    ...(process.env.SITU_BREAKDOWN === '1'
      ? { 'reads Authorization': READ_HEADER, 'reads + stores identity': READ_AND_STORE }
      : {}),
    'remote warm': { broker: broker.url, ...common },
    'local warm': { jwksUri: broker.jwksUrl, ...common },
    'hybrid warm': { broker: broker.url, jwksUri: broker.jwksUrl, ...common },
  }
  const make = { express: expressServer, koa: koaServer, fastify: fastifyServer, hono: honoServer }
  const rows = []
  for (const [name, layer] of Object.entries(layers)) {
    const s = spans()
    const server = await make[fw](s, layer)
    await load(server.port, agent.accessToken, 2)
    s.reset()
    const res = await load(server.port, agent.accessToken, DURATION)
    await server.close()
    if (res.bad > 0) throw new Error(`${fw} ${name}: ${res.bad} non-2xx answers`)
    const row = {
      fw,
      name,
      rps: res.total / DURATION,
      auth50: quantile(s.auth, s.na, 0.5),
      auth90: quantile(s.auth, s.na, 0.9),
      guard50: s.ng > 0 ? quantile(s.guard, s.ng, 0.5) : null,
      guard90: s.ng > 0 ? quantile(s.guard, s.ng, 0.9) : null,
    }
    rows.push(row)
    console.error(`${fw} ${name}: ${Math.round(row.rps)} req/s`)
  }
  await broker.close()
  if (sink < 0) console.log(sink)
  return rows
}

/**
 * One framework per process, as in a real service: the adapter kit's shared code then sees one
 * framework's binding only (several in one process would make its call sites polymorphic).
 */
function measureInChild(fw) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--measure', fw])
    child.on('message', (m) => (m.err ? reject(new Error(m.err)) : resolve(m.rows)))
    child.on('exit', (code) => code !== 0 && reject(new Error(`${fw}: exit ${code}`)))
  })
}

async function main() {
  const rows = []
  for (const fw of frameworks) rows.push(...(await measureInChild(fw)))
  const f = (x) => (x === null ? '—' : x.toFixed(2))
  console.log(
    `\nIn-situ cost, µs per request (median / p90), ${DURATION} s per row, ${new Date().toISOString()}\n`,
  )
  console.log(
    '| framework | layers | req/s | auth span | guard span | auth − no-op (median) | guard − no-op (median) |',
  )
  console.log('|---|---|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const floor = rows.find((x) => x.fw === r.fw && x.name === 'no-op layers')
    const guardDelta = r.guard50 === null ? null : r.guard50 - floor.guard50
    console.log(
      `| ${r.fw} | ${r.name} | ${Math.round(r.rps)} | ${f(r.auth50)} / ${f(r.auth90)} | ${f(r.guard50)} / ${f(r.guard90)} | ${f(r.auth50 - floor.auth50)} | ${f(guardDelta)} |`,
    )
  }
  console.log(
    `\n(Fastify: agentwrit-verify's one route onRequest hook authenticates and checks the scope; its "auth span" holds both, and there is no guard span.)`,
  )
  process.exit(0)
}

if (process.argv[2] === '--measure') {
  // Child: one framework's rows.
  measure(process.argv[3]).then(
    (rows) => process.send({ rows }, () => process.exit(0)),
    (err) => process.send({ err: String(err?.stack ?? err) }, () => process.exit(1)),
  )
} else if (process.argv[2] === '--load') {
  // Child: the load generator.
  const [, , , port, token, seconds] = process.argv
  autocannon(
    {
      url: `http://127.0.0.1:${port}/customers/42`,
      connections: 50,
      duration: Number(seconds),
      headers: { authorization: `Bearer ${token}` },
    },
    (err, res) => process.send({ err: err?.message, total: res?.requests.total, bad: res ? res.non2xx : 0 }),
  )
} else {
  await main()
}
