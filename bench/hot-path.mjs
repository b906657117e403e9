/**
 * What agentwrit-verify's own code costs on a warm request, without a framework, a socket or a
 * load generator: `node bench/hot-path.mjs` (after `npm run build` at the root).
 *
 * Calls the Express adapter's `agentAuth()` middleware and a `requireScope('read:data:customer-:id')`
 * guard directly, with request objects shaped like Node's (headers, rawHeaders, url, socket,
 * params), one million times per round, for each verification mode with the answer cached. The
 * result is nanoseconds per request: the bearer extraction, the cache lookup (the token hash is
 * remembered per connection, as on keep-alive traffic), the identity and the scope check.
 *
 * Environment: HOT_ROUNDS (5), HOT_REQUESTS (1000000 per round).
 */
import { agentAuth, requireScope } from '../dist/express.js'
import { AUDIENCE, ISSUER, startBenchBroker } from './bench-broker.mjs'

const ROUNDS = Number(process.env.HOT_ROUNDS ?? 5)
const N = Number(process.env.HOT_REQUESTS ?? 1_000_000)
const { broker, agent } = await startBenchBroker()
const authorization = `Bearer ${agent.accessToken}`
const MODES = {
  remote: { broker: broker.url },
  local: { jwksUri: broker.jwksUrl },
  hybrid: { broker: broker.url, jwksUri: broker.jwksUrl },
}

const results = []
for (const [mode, options] of Object.entries(MODES)) {
  // An hour of cache: the run measures the warm path only (no broker call inside a round).
  const auth = agentAuth({
    ...options,
    issuer: ISSUER,
    audience: AUDIENCE,
    cacheTtlMs: 3_600_000,
    onError: 'next',
  })
  const guard = requireScope('read:data:customer-:id')
  // 50 keep-alive connections, 20 requests each per cycle.
  const sockets = Array.from({ length: 50 }, () => ({}))
  const makeRequest = (i) => ({
    headers: { host: '127.0.0.1', authorization, 'user-agent': 'bench' },
    rawHeaders: ['Host', '127.0.0.1', 'Authorization', authorization, 'User-Agent', 'bench'],
    url: '/customers/42',
    socket: sockets[i % sockets.length],
    params: { id: '42' },
    route: { path: '/customers/:id' },
  })
  const res = {}
  let passed = 0
  const next = (err) => {
    if (err) throw err
    passed++
  }
  await new Promise((resolve, reject) => auth(makeRequest(0), res, (e) => (e ? reject(e) : resolve())))
  const requests = Array.from({ length: 1000 }, (_, i) => makeRequest(i))
  const perRound = []
  for (let r = 0; r < ROUNDS; r++) {
    passed = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) {
      const req = requests[i % requests.length]
      auth(req, res, next)
      guard(req, res, next)
    }
    const ns = Number(process.hrtime.bigint() - t0) / N
    // Both layers must have let every request through synchronously.
    if (passed !== 2 * N) throw new Error(`${mode}: ${passed} of ${2 * N} layers passed`)
    perRound.push(ns)
  }
  await auth.close()
  const sorted = [...perRound].sort((a, b) => a - b)
  results.push({ mode, medianNs: Math.round(sorted[sorted.length >> 1]), rounds: perRound.map(Math.round) })
}
await broker.close()

console.log('| mode (warm) | ns per request, median | rounds |')
console.log('|---|---:|---|')
for (const r of results) console.log(`| ${r.mode} | ${r.medianNs} | ${r.rounds.join(' ')} |`)
