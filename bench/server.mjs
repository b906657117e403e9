/**
 * One benchmark server per child process: `node server.mjs '<scenario json>'`.
 * Every variant serves `GET /customers/:id` with the same small JSON body; the guarded variants
 * require the scope `read:data:customer-<id>` (agentwrit-verify: the template
 * `read:data:customer-:id`; anchors: an equivalent exact-match check on the verified claims).
 * Reports its port (and, on request, its CPU usage and verifier stats) over IPC.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const scenario = JSON.parse(process.argv[2])
const { framework, kind, options = {}, sub } = scenario

const ROUTE = '/customers/:id'
const scopeFor = (id) => `read:data:customer-${id}`
/** The anchors' scope check: the scope claim (array or space-separated string) holds the exact scope. */
function holds(scopeClaim, id) {
  const wanted = scopeFor(id)
  const list = Array.isArray(scopeClaim)
    ? scopeClaim
    : typeof scopeClaim === 'string'
      ? scopeClaim.split(' ')
      : []
  return list.includes(wanted)
}

/**
 * The no-op layers' work: nothing, or (`options.busyNs`, for bench/amplification.mjs) spin for that
 * many nanoseconds, a stand-in of known cost for a middleware's CPU time.
 */
const busyMs = kind === 'noop' ? (options.busyNs ?? 0) / 1e6 : 0
function busy() {
  if (busyMs === 0) return
  // performance.now() allocates nothing (hrtime.bigint() would, and the GC would add to the cost).
  const until = performance.now() + busyMs
  while (performance.now() < until);
}

let verifier
let close = async () => {}

async function expressApp() {
  const { default: express } = await import('express')
  const app = express()
  const reply = (req, res) => res.json({ customer: req.params.id, by: req.agent?.id ?? sub })
  if (kind === 'bare' || kind === 'bare-client') {
    app.get(ROUTE, reply)
  } else if (kind === 'noop') {
    app.use((_req, _res, next) => {
      busy()
      next()
    })
    app.get(ROUTE, (_req, _res, next) => next(), reply)
  } else if (kind === 'agentwrit') {
    const { agentAuth, requireScope } = await import('../dist/express.js')
    const auth = agentAuth(options)
    verifier = auth.verifier
    app.use(auth)
    app.get(ROUTE, requireScope('read:data:customer-:id'), reply)
  } else if (kind === 'express-oauth2-jwt-bearer') {
    const { auth } = require('express-oauth2-jwt-bearer')
    app.use(auth(options))
    app.get(
      ROUTE,
      (req, res, next) => {
        if (!holds(req.auth.payload.scope, req.params.id)) return res.status(403).end()
        req.agent = { id: req.auth.payload.sub }
        next()
      },
      reply,
    )
  } else if (kind === 'naive') {
    app.use(naiveRemote(options))
    app.get(
      ROUTE,
      (req, res, next) => {
        if (!holds(req.agent.scope, req.params.id)) return res.status(403).end()
        next()
      },
      reply,
    )
  } else {
    throw new Error(`unknown express kind ${kind}`)
  }
  return listenNode(app)
}

/**
 * The "naive" reference: what a hand-written remote check usually looks like. fetch() to the
 * broker's validate endpoint, a plain Map keyed by the raw token with a TTL and FIFO eviction,
 * no single-flight, no claim checks beyond `valid`.
 */
function naiveRemote({ broker, ttlMs = 5000, max = 10000 }) {
  const cache = new Map()
  return async (req, res, next) => {
    const header = req.headers.authorization
    if (!header?.startsWith('Bearer ')) return res.status(401).end()
    const token = header.slice(7)
    const now = Date.now()
    let entry = cache.get(token)
    if (entry === undefined || entry.expires <= now) {
      const answer = await fetch(`${broker}/v1/token/validate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      })
      const body = await answer.json()
      if (!body.valid) return res.status(401).end()
      entry = { agent: { id: body.claims.sub, scope: body.claims.scope }, expires: now + ttlMs }
      if (cache.size >= max) cache.delete(cache.keys().next().value)
      cache.set(token, entry)
    }
    req.agent = entry.agent
    next()
  }
}

async function fastifyApp() {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  const reply = async (request) => ({ customer: request.params.id, by: request.agent?.id ?? sub })
  if (kind === 'bare' || kind === 'bare-client') {
    app.get(ROUTE, reply)
  } else if (kind === 'noop') {
    // agentwrit-verify's shape on Fastify: one callback onRequest hook on the route.
    app.get(
      ROUTE,
      {
        onRequest: (_request, _reply, done) => {
          busy()
          done()
        },
      },
      reply,
    )
  } else if (kind === 'agentwrit') {
    const { default: agentwrit } = await import('../dist/fastify.js')
    await app.register(agentwrit, options)
    app.get(ROUTE, { config: { scope: 'read:data:customer-:id' } }, reply)
    await app.ready()
    verifier = app.agentVerifier
  } else if (kind === 'fastify-jwt') {
    const { default: fastifyJwt } = await import('@fastify/jwt')
    await app.register(fastifyJwt, options)
    app.addHook('onRequest', async (request) => {
      await request.jwtVerify()
    })
    app.get(
      ROUTE,
      {
        preHandler: async (request, rep) => {
          if (!holds(request.user.scope, request.params.id)) return rep.code(403).send()
          request.agent = { id: request.user.sub }
        },
      },
      reply,
    )
  } else {
    throw new Error(`unknown fastify kind ${kind}`)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  close = () => app.close()
  return app.server.address().port
}

async function koaApp() {
  const { default: Koa } = await import('koa')
  const { default: Router } = await import('@koa/router')
  const app = new Koa()
  const router = new Router()
  const reply = (ctx) => {
    ctx.body = { customer: ctx.params.id, by: ctx.state.agent?.id ?? sub }
  }
  if (kind === 'bare' || kind === 'bare-client') {
    router.get(ROUTE, reply)
  } else if (kind === 'noop') {
    app.use((_ctx, next) => {
      busy()
      return next()
    })
    router.get(ROUTE, (_ctx, next) => next(), reply)
  } else if (kind === 'agentwrit') {
    const { agentAuth, requireScope } = await import('../dist/koa.js')
    const auth = agentAuth(options)
    verifier = auth.verifier
    app.use(auth)
    router.get(ROUTE, requireScope('read:data:customer-:id'), reply)
  } else if (kind === 'koa-jwt') {
    const koaJwt = require('koa-jwt')
    const jwksRsa = require('jwks-rsa')
    const { jwksUri, ...rest } = options
    app.use(koaJwt({ ...rest, secret: jwksRsa.koaJwtSecret({ jwksUri, cache: true, rateLimit: true }) }))
    router.get(
      ROUTE,
      async (ctx, next) => {
        if (!holds(ctx.state.user.scope, ctx.params.id)) {
          ctx.status = 403
          return
        }
        ctx.state.agent = { id: ctx.state.user.sub }
        await next()
      },
      reply,
    )
  } else {
    throw new Error(`unknown koa kind ${kind}`)
  }
  app.use(router.routes())
  return listenNode(app)
}

async function listenNode(app) {
  const { createServer } = await import('node:http')
  const server = createServer(typeof app.callback === 'function' ? app.callback() : app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  close = () => new Promise((resolve) => server.close(resolve))
  server.closeIdleConnections?.()
  return server.address().port
}

if (kind === 'bare-client' || options.warmClient === true) {
  // Bare, after the outgoing HTTP calls a verifier makes when it starts (an undici POST to the
  // broker's validate endpoint, a fetch() of the JWKS), so the process has run Node's HTTP client
  // code like every service that calls a database or an API does. It serves exactly like `bare`.
  // The undici agentwrit-verify itself loads (resolved from the package, not from bench/).
  const { request: undiciRequest } = createRequire(new URL('../dist/index.js', import.meta.url))('undici')
  const answer = await undiciRequest(new URL('v1/token/validate', options.broker), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: options.token }),
  })
  await answer.body.dump()
  await (await fetch(options.jwksUri)).arrayBuffer()
}

const port = await { express: expressApp, fastify: fastifyApp, koa: koaApp }[framework]()

process.on('message', async (msg) => {
  if (msg.cmd === 'cpu') process.send({ id: msg.id, result: process.cpuUsage() })
  else if (msg.cmd === 'stats') process.send({ id: msg.id, result: verifier ? verifier.stats() : null })
  else if (msg.cmd === 'exit') {
    await Promise.race([close(), new Promise((r) => setTimeout(r, 500))])
    await verifier?.close().catch(() => {})
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ ready: true, port })
