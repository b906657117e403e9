/**
 * Many replicas on one Redis (issue 19, `agentwrit-verify/redis`), measured in one run:
 * `npm run bench:redis` (builds dist/ first), or `node bench/redis.mjs [--json]`. About 1 minute.
 *
 * A `redis-server` of its own (REDIS_BENCH_SERVER, default /usr/bin/redis-server) on a free port of
 * 127.0.0.1, nothing persisted, stopped at the end. Dev brokers (bench/bench-broker.mjs: issuer,
 * audience, the bench agent's claims) in child processes; the replicas are verifiers from dist/ in
 * this process (remote mode, `cacheTtlMs` 60000), each with its own Redis connection and its own
 * `redisStore({ client, secret })` (default options: `timeoutMs` 100, `flightTimeoutMs` 2500,
 * `followIntervalMs` 100, `leaseMs` 5000), each scenario under a key prefix of its own.
 *
 * 1. Broker validate calls for REDIS_BENCH_TOKENS (500) distinct new tokens, each verified once by
 *    every replica (`verifyToken`), REDIS_BENCH_IN_FLIGHT (4) tokens at a time: 1 replica without
 *    the shared level (the baseline), 4 without it, 4 with it (node-redis, and ioredis). Two
 *    arrivals: (a) concurrent, the 4 replicas start on a token in the same tick (the single-flight
 *    race); (b) staggered, replica i starts on it i × REDIS_BENCH_STAGGER_MS (5) ms after replica 0.
 *    Calls are the broker's own counter; the shared level's counters are summed over the replicas.
 * 2. Revocation → refusal on every replica: 4 replicas with `revocationFeed: { adminSecret }`
 *    (poll every 1000 ms, the default) and the shared level (one replica polls the audit log and
 *    fans out over a Redis stream), next to 4 replicas each with its own feed and no shared level,
 *    each fleet with a broker of its own, both at once; in each fleet the replicas are started
 *    263 ms apart (feeds of their own then poll at spread phases, as replicas started at different
 *    moments do). REDIS_BENCH_REVOCATIONS (40) tokens per
 *    fleet, verified and cached on all 4 replicas first; then, at random gaps around
 *    1 / REDIS_BENCH_REVOKE_RATE (4 per s), one is revoked (`POST /v1/revoke`, level token, from
 *    this process) and, once that call returns, every replica calls `verifyToken` every 10 ms until
 *    it is refused (401). Latency per replica = its refusal − the revoke's return; per revocation
 *    also the last replica's latency and last − first (how long the fleet disagrees). The brokers'
 *    per-path counters give the audit-log requests per second over the phase (a poll is 3
 *    requests, one per event type, while the feed is current).
 * 3. One replica, sequential: a cold `verifyToken` (a new token: process-cache miss, broker call)
 *    without the shared level and with it (node-redis, ioredis), µs per verification; and the warm
 *    path (the same token again, answered from the process cache) with and without `sharedCache`
 *    configured, ns per call, for `verifyToken` and `authenticate` on one connection (the memo),
 *    with a second verifier without the shared level as the control. Next to the cold rows, one
 *    Redis round trip (PING) per client, back to back and after 1 ms idle (what a round trip costs
 *    once Redis and this process have gone to sleep, as between two cold verifications). Rounds
 *    interleave the configurations (order rotating); the first round is warm-up.
 *
 * Foreign load (CPU used by other processes than this one, its children and redis-server, in
 * cores, from /proc) is reported per phase: a run with much of it is noisy.
 *
 * Environment: REDIS_BENCH_TOKENS (500), REDIS_BENCH_IN_FLIGHT (4), REDIS_BENCH_STAGGER_MS (5),
 * REDIS_BENCH_REVOCATIONS (40), REDIS_BENCH_REVOKE_RATE (4), REDIS_BENCH_WATCH_MS (10),
 * REDIS_BENCH_COLD_ROUNDS (8), REDIS_BENCH_COLD_TOKENS (200 per round and configuration),
 * REDIS_BENCH_WARM_ROUNDS (11), REDIS_BENCH_WARM_CALLS (100000 per round and configuration),
 * REDIS_BENCH_SKIP (comma list of calls, revocation, cold, warm), REDIS_BENCH_SERVER.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { childPids, children, serveCommands, spawnChild, stopBroker } from './child-commands.mjs'
import { loadProbe as startLoadProbe } from './foreign-load.mjs'

const self = fileURLToPath(import.meta.url)
const env = process.env
const num = (name, dflt) => (env[name] === undefined || env[name] === '' ? dflt : Number(env[name]))
const CONFIG = {
  tokens: num('REDIS_BENCH_TOKENS', 500),
  inFlight: num('REDIS_BENCH_IN_FLIGHT', 4),
  staggerMs: num('REDIS_BENCH_STAGGER_MS', 5),
  replicas: 4,
  revocations: num('REDIS_BENCH_REVOCATIONS', 40),
  revokeRate: num('REDIS_BENCH_REVOKE_RATE', 4),
  watchMs: num('REDIS_BENCH_WATCH_MS', 10),
  coldRounds: num('REDIS_BENCH_COLD_ROUNDS', 8),
  coldTokens: num('REDIS_BENCH_COLD_TOKENS', 200),
  warmRounds: num('REDIS_BENCH_WARM_ROUNDS', 11),
  warmCalls: num('REDIS_BENCH_WARM_CALLS', 100_000),
  skip: new Set((env.REDIS_BENCH_SKIP ?? '').split(',').filter(Boolean)),
  server: env.REDIS_BENCH_SERVER || '/usr/bin/redis-server',
  cacheTtlMs: 60_000,
}
const SECRET = 'bench-redis-shared-secret-of-at-least-32-bytes'
const AUDIT_PATH = '/v1/audit/events'
/** The feed's default poll interval, which phase 2 uses. */
const POLL_INTERVAL_MS = 1000
const now = () => performance.now()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.error(...a)
const t0 = now()
const elapsed = () => `${((now() - t0) / 1000).toFixed(0)}s`

/** Nearest-rank percentile (p in 0..100). */
function percentile(values, p) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]
}
const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  const m = a.length >> 1
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2
}

// =============================================================================================
// Broker child: `node redis.mjs --broker`, driven over IPC ({ id, cmd, args }).

async function brokerChild() {
  const { AUDIENCE, ISSUER, freshClaims, startBenchBroker } = await import('./bench-broker.mjs')
  const { broker, agent } = await startBenchBroker()
  const template = JSON.parse(Buffer.from(agent.accessToken.split('.')[1], 'base64url').toString('utf8'))
  serveCommands({
    info: () => ({ url: broker.url, adminSecret: broker.adminSecret, issuer: ISSUER, audience: AUDIENCE }),
    /** `n` new valid tokens and their jti. */
    tokens: ({ n }) =>
      Array.from({ length: n }, () => {
        const claims = freshClaims(template)
        return { token: broker.signToken(claims), jti: claims.jti }
      }),
    adminToken: () => broker.adminToken(),
    stats: () => broker.stats,
    resetStats: () => {
      broker.resetStats()
      return true
    },
    close: async () => {
      await broker.close()
      setImmediate(() => process.exit(0))
      return true
    },
  })
}

// =============================================================================================
// Orchestrator: children, Redis, replicas.

async function startBroker() {
  const b = spawnChild(self, ['--broker'], { name: 'broker' })
  await b.ready
  b.info = await b.call('info')
  return b
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

let redisProcess
async function startRedis() {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  redisProcess = spawn(CONFIG.server, [...args, '--daemonize', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  redisProcess.once('error', (err) => log(`redis-server: ${err.message}`))
  const url = `redis://127.0.0.1:${port}`
  const { createClient } = await import('redis')
  const until = now() + 10_000
  for (;;) {
    const c = createClient({ url, socket: { reconnectStrategy: false } })
    c.on('error', () => {})
    try {
      await c.connect()
      const info = await c.sendCommand(['INFO', 'server'])
      await c.quit()
      const version = /redis_version:(\S+)/.exec(String(info))?.[1] ?? '?'
      return { url, port, version }
    } catch {
      if (now() > until || redisProcess.exitCode !== null) throw new Error('redis-server did not start')
      await sleep(50)
    }
  }
}
function stopRedis() {
  if (redisProcess?.exitCode === null) redisProcess.kill('SIGTERM')
}
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  stopRedis()
})
process.on('SIGINT', () => process.exit(130))

const { createVerifier } = await import('../dist/index.js').catch(() => ({}))
const { redisStore } = await import('../dist/redis.js').catch(() => ({}))

let redisUrl
async function connect(kind) {
  if (kind === 'ioredis') {
    const { Redis } = await import('ioredis')
    const c = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    c.on('error', () => {})
    await c.connect()
    return { client: c, close: () => c.quit().catch(() => c.disconnect()) }
  }
  const { createClient } = await import('redis')
  const c = createClient({ url: redisUrl })
  c.on('error', () => {})
  await c.connect()
  return { client: c, close: () => c.quit().catch(() => c.destroy()) }
}

let prefixSeq = 0
/**
 * `n` replicas: `{ verifier, store?, stats() }`. `shared`: `'node-redis'`, `'ioredis'` or
 * `undefined` (no shared level); `feed`: the revocation feed's options, or `undefined`.
 */
async function replicas(n, info, { shared, feed, spacingMs = 0 } = {}) {
  const prefix = `bench:${++prefixSeq}:`
  const out = []
  for (let i = 0; i < n; i++) {
    if (i > 0 && spacingMs > 0) await sleep(spacingMs)
    const conn = shared === undefined ? undefined : await connect(shared)
    const store = conn === undefined ? undefined : redisStore({ client: conn.client, secret: SECRET, prefix })
    const verifier = createVerifier({
      broker: info.url,
      issuer: info.issuer,
      audience: info.audience,
      cacheTtlMs: CONFIG.cacheTtlMs,
      ...(store === undefined ? {} : { sharedCache: store }),
      ...(feed === undefined ? {} : { revocationFeed: feed }),
    })
    out.push({
      verifier,
      store,
      async close() {
        await verifier.close()
        await store?.close()
        await conn?.close()
      },
    })
  }
  return out
}
const closeAll = (reps) => Promise.all(reps.map((r) => r.close()))

/** The shared level's counters summed over replicas (redis link counters flattened). */
function sharedTotals(reps) {
  const sum = {}
  for (const r of reps) {
    const s = r.verifier.stats().sharedCache
    if (s === undefined) continue
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v
    for (const k of ['commands', 'failures', 'timeouts', 'skipped'])
      sum[`redis.${k}`] = (sum[`redis.${k}`] ?? 0) + s.redis[k]
  }
  return sum
}

/** Run `one(item)` over `list` with `lanes` at a time. */
async function lanes(list, width, one) {
  let i = 0
  const lane = async () => {
    while (i < list.length) await one(list[i++])
  }
  await Promise.all(Array.from({ length: width }, lane))
}

// Foreign load (Linux): the machine's user + nice + steal CPU time minus this process's, its
// children's and redis-server's, in cores (bench/foreign-load.mjs, as bench/revocation-feed.mjs
// measures it).
const loadProbe = () => startLoadProbe(() => [...childPids(), redisProcess?.pid], Number.NaN)
const foreign = {}

// =============================================================================================
// 1. Broker calls with and without the shared level.

async function callsPhase(broker) {
  const scenarios = [
    { key: 'one', label: '1 replica, no shared level (baseline)', n: 1 },
    { key: 'none', label: '4 replicas, no shared level', n: CONFIG.replicas },
    {
      key: 'node-redis',
      label: '4 replicas, shared level (node-redis)',
      n: CONFIG.replicas,
      shared: 'node-redis',
    },
    { key: 'ioredis', label: '4 replicas, shared level (ioredis)', n: CONFIG.replicas, shared: 'ioredis' },
  ]
  const rows = []
  for (const mode of ['concurrent', 'staggered']) {
    let baseline
    for (const s of scenarios) {
      const tokens = (await broker.call('tokens', { n: CONFIG.tokens })).map((t) => t.token)
      const reps = await replicas(s.n, broker.info, { shared: s.shared })
      await broker.call('resetStats')
      let refused = 0
      const started = now()
      await lanes(tokens, CONFIG.inFlight, (token) =>
        Promise.all(
          reps.map(async (r, i) => {
            if (mode === 'staggered' && i > 0) await sleep(i * CONFIG.staggerMs)
            await r.verifier.verifyToken(token).catch(() => refused++)
          }),
        ),
      )
      const wallMs = now() - started
      const calls = (await broker.call('stats')).validateCalls
      baseline ??= calls
      const shared = sharedTotals(reps)
      await closeAll(reps)
      rows.push({
        mode,
        ...s,
        calls,
        perToken: calls / tokens.length,
        ratio: calls / baseline,
        refused,
        wallMs,
        shared,
      })
      log(`[${elapsed()}] calls ${mode} ${s.key}: ${calls} validate calls, ${refused} refused`)
    }
  }
  return rows
}

// =============================================================================================
// 2. Cross-replica revocation latency: fan-out over Redis vs one feed per replica.

async function waitFleet(reps, shared, label) {
  const until = now() + 15_000
  for (;;) {
    const st = reps.map((r) => r.verifier.stats())
    const synced = st.every((s) => s.revocationFeed?.synced)
    const roles = st.map((s) => s.sharedCache?.revocations?.role)
    const settled =
      !shared ||
      (roles.filter((r) => r === 'leader').length === 1 &&
        roles.filter((r) => r === 'follower').length === reps.length - 1)
    if (synced && settled) return roles
    if (now() > until) throw new Error(`${label}: fleet not settled (synced ${synced}, roles ${roles})`)
    await sleep(50)
  }
}

async function revocationFleet(broker, shared) {
  const label = shared ? 'fan-out' : 'own feeds'
  const feed = { adminSecret: broker.info.adminSecret }
  // Replicas started about a quarter of a poll interval apart, as replicas started at different
  // moments: feeds of their own poll at spread phases (started together, they would poll together),
  // and so do the fan-out's 100 ms follow ticks (263 ms apart, not 250, or two would line up).
  const reps = await replicas(CONFIG.replicas, broker.info, {
    shared: shared ? 'node-redis' : undefined,
    feed,
    spacingMs: Math.round(POLL_INTERVAL_MS / CONFIG.replicas) + 13,
  })
  const roles = await waitFleet(reps, shared, label)
  const victims = await broker.call('tokens', { n: CONFIG.revocations })
  await lanes(victims, CONFIG.inFlight, (v) => Promise.all(reps.map((r) => r.verifier.verifyToken(v.token))))
  // A moment for the fleet's polling to be in its steady state, then count from zero.
  await sleep(1500)
  const before = reps.map((r) => r.verifier.stats())
  await broker.call('resetStats')
  const started = now()
  const latencies = []
  const perReplica = reps.map(() => [])
  /** Per revocation, every replica's latency. */
  const lastAndSpread = []
  let unexpected = 0
  const watches = []
  for (const v of victims) {
    await sleep((0.5 + Math.random()) * (1000 / CONFIG.revokeRate))
    const admin = await broker.call('adminToken')
    const res = await fetch(`${broker.info.url}/v1/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ level: 'token', target: v.jti }),
    })
    const revokedAt = now()
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`revoke: HTTP ${res.status}`)
    const these = []
    lastAndSpread.push(these)
    watches.push(
      ...reps.map(async (r, i) => {
        for (;;) {
          try {
            await r.verifier.verifyToken(v.token)
          } catch (err) {
            if (err?.status === 401) {
              const ms = now() - revokedAt
              latencies.push(ms)
              perReplica[i].push(ms)
              these.push(ms)
              return
            }
            unexpected++
          }
          await sleep(CONFIG.watchMs)
        }
      }),
    )
  }
  await Promise.all(watches)
  const windowS = (now() - started) / 1000
  const brokerStats = await broker.call('stats')
  const after = reps.map((r) => r.verifier.stats())
  const polls = after.map((s, i) => s.revocationFeed.polls - before[i].revocationFeed.polls)
  const finalRoles = after.map((s) => s.sharedCache?.revocations?.role ?? 'own feed')
  const fanout = after.map((s) => s.sharedCache?.revocations)
  await closeAll(reps)
  const audit = brokerStats.requests[AUDIT_PATH] ?? 0
  log(
    `[${elapsed()}] revocation ${label}: ${latencies.length} refusals, ${audit} audit requests in ${windowS.toFixed(1)} s`,
  )
  return {
    label,
    latencies,
    perReplica,
    last: lastAndSpread.map((l) => Math.max(...l)),
    spread: lastAndSpread.map((l) => Math.max(...l) - Math.min(...l)),
    roles,
    finalRoles,
    polls,
    fanout,
    windowS,
    auditRequests: audit,
    auditPerS: audit / windowS,
    validateCalls: brokerStats.validateCalls,
    otherRequests: Object.fromEntries(
      Object.entries(brokerStats.requests).filter(([p]) => p !== AUDIT_PATH && p !== '/v1/token/validate'),
    ),
    unexpected,
  }
}

// =============================================================================================
// 3. Cold and warm request cost on one replica.

async function coldPhase(broker) {
  const configs = ['none', 'node-redis', 'ioredis']
  const verifiers = {}
  for (const c of configs)
    verifiers[c] = (await replicas(1, broker.info, { shared: c === 'none' ? undefined : c }))[0]
  // What one round trip to this Redis costs each client, measured in the same rounds: the shared
  // level adds two in a row to a cold verification (GET, then SET NX); the answer's SET and the
  // flight's release are sent without waiting.
  const pingers = {}
  for (const kind of ['node-redis', 'ioredis']) {
    const conn = await connect(kind)
    const ping = kind === 'ioredis' ? () => conn.client.call('PING') : () => conn.client.sendCommand(['PING'])
    pingers[`PING ${kind}, back to back`] = { conn, ping, idleMs: 0 }
    // Redis and this process asleep in between, as between a cold verification's broker call and
    // the next Redis command: on this VM, waking up costs more than Redis's work.
    pingers[`PING ${kind}, after 1 ms idle`] = { conn, ping, idleMs: 1 }
  }
  const all = [...configs, ...Object.keys(pingers)]
  const samples = Object.fromEntries(all.map((c) => [c, []]))
  const roundMedians = Object.fromEntries(all.map((c) => [c, []]))
  for (let r = 0; r <= CONFIG.coldRounds; r++) {
    const order = all.map((_, i) => all[(i + r) % all.length])
    for (const c of order) {
      const us = []
      if (c in pingers) {
        const { ping, idleMs } = pingers[c]
        for (let i = 0; i < CONFIG.coldTokens; i++) {
          if (idleMs > 0) await sleep(idleMs)
          const s = now()
          await ping()
          us.push((now() - s) * 1000)
        }
      } else {
        const tokens = (await broker.call('tokens', { n: CONFIG.coldTokens })).map((t) => t.token)
        const v = verifiers[c].verifier
        for (const token of tokens) {
          const s = now()
          await v.verifyToken(token)
          us.push((now() - s) * 1000)
        }
      }
      if (r === 0) continue // warm-up
      samples[c].push(...us)
      roundMedians[c].push(median(us))
    }
  }
  const shared = Object.fromEntries(configs.slice(1).map((c) => [c, sharedTotals([verifiers[c]])]))
  await closeAll(Object.values(verifiers))
  for (const { conn, idleMs } of Object.values(pingers)) if (idleMs === 0) await conn.close()
  const rows = all.map((c) => ({
    config: c,
    n: samples[c].length,
    p50: percentile(samples[c], 50),
    p90: percentile(samples[c], 90),
    p99: percentile(samples[c], 99),
    rounds: roundMedians[c],
    extraP50: percentile(samples[c], 50) - percentile(samples.none, 50),
    extraP99: percentile(samples[c], 99) - percentile(samples.none, 99),
    roundExtra: roundMedians[c].map((m, i) => m - roundMedians.none[i]),
  }))
  return { rows, shared }
}

async function warmPhase(broker) {
  const configs = ['off', 'off-control', 'on']
  const reps = {}
  const [{ token }] = await broker.call('tokens', { n: 1 })
  const authorization = `Bearer ${token}`
  const socket = {}
  const request = {
    headers: { host: '127.0.0.1', authorization },
    rawHeaders: ['Host', '127.0.0.1', 'Authorization', authorization],
    url: '/customers/42',
    socket,
  }
  for (const c of configs) {
    reps[c] = (await replicas(1, broker.info, { shared: c === 'on' ? 'node-redis' : undefined }))[0]
    await reps[c].verifier.verifyToken(token) // cached: no broker call, no Redis in the rounds
  }
  const workloads = {
    verifyToken: (v) => v.verifyToken(token),
    'authenticate, same connection': (v) => v.authenticate(request),
  }
  const N = CONFIG.warmCalls
  const ns = {}
  for (const w of Object.keys(workloads)) ns[w] = Object.fromEntries(configs.map((c) => [c, []]))
  for (let r = 0; r <= CONFIG.warmRounds; r++) {
    for (const [w, call] of Object.entries(workloads)) {
      const order = configs.map((_, i) => configs[(i + r) % configs.length])
      for (const c of order) {
        const v = reps[c].verifier
        const s = process.hrtime.bigint()
        for (let i = 0; i < N; i++) await call(v)
        const per = Number(process.hrtime.bigint() - s) / N
        if (r > 0) ns[w][c].push(per)
      }
    }
  }
  const brokerCalls = Object.fromEntries(configs.map((c) => [c, reps[c].verifier.stats().brokerCalls]))
  const redisCommands = reps.on.verifier.stats().sharedCache.redis.commands
  await closeAll(Object.values(reps))
  const rows = []
  for (const w of Object.keys(workloads)) {
    for (const c of configs) {
      const ratios = ns[w][c].map((x, i) => x / ns[w].off[i])
      rows.push({
        workload: w,
        config: c,
        ns: median(ns[w][c]),
        ratio: median(ratios),
        ratios,
        rounds: ns[w][c],
      })
    }
  }
  return { rows, brokerCalls, redisCommands }
}

// =============================================================================================
// Main.

async function main() {
  if (createVerifier === undefined || redisStore === undefined)
    throw new Error('dist/ missing: npm run build first')
  const redis = await startRedis()
  redisUrl = redis.url
  log(`[${elapsed()}] redis-server ${redis.version} on port ${redis.port}`)
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, redis: redis.version },
    config: { ...CONFIG, skip: [...CONFIG.skip] },
    foreign,
  }
  const broker = await startBroker()
  try {
    if (!CONFIG.skip.has('calls')) {
      const probe = loadProbe()
      result.calls = await callsPhase(broker)
      foreign.calls = probe()
    }
    if (!CONFIG.skip.has('revocation')) {
      const probe = loadProbe()
      const second = await startBroker()
      try {
        const [fanout, own] = await Promise.all([
          revocationFleet(broker, true),
          revocationFleet(second, false),
        ])
        result.revocation = { fanout, own }
      } finally {
        await stopBroker(second)
      }
      foreign.revocation = probe()
    }
    if (!CONFIG.skip.has('cold')) {
      const probe = loadProbe()
      result.cold = await coldPhase(broker)
      foreign.cold = probe()
    }
    if (!CONFIG.skip.has('warm')) {
      const probe = loadProbe()
      result.warm = await warmPhase(broker)
      foreign.warm = probe()
    }
  } finally {
    await stopBroker(broker)
    stopRedis()
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2))
  else report(result)
  log(`[${elapsed()}] done`)
}

function report(r) {
  const out = []
  const p = (s = '') => out.push(s)
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–')
  const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '–')
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–')
  const load = (k) => (r.foreign[k] === undefined ? '' : ` Foreign load ${f2(r.foreign[k])} cores.`)
  p(
    `Machine: ${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}, Redis ${r.machine.redis} on the same machine.`,
  )
  p()
  if (r.calls) {
    p(
      `**Broker validate calls**, ${r.config.tokens} new tokens, each verified once by every replica ` +
        `(${r.config.inFlight} tokens at a time; staggered: replica i ${r.config.staggerMs}·i ms after replica 0).${load('calls')}`,
    )
    p()
    p(
      '| arrival | replicas | validate calls | per token | ÷ 1 replica | flights led / joined / answered / timed out | bypassed | shared hits | wall s |',
    )
    p('|---|---|---:|---:|---:|---|---:|---:|---:|')
    for (const row of r.calls) {
      const s = row.shared
      const flights =
        s.flightsLed === undefined
          ? ''
          : `${s.flightsLed} / ${s.flightsJoined} / ${s.flightAnswers} / ${s.flightTimeouts}`
      p(
        `| ${row.mode} | ${row.label} | ${row.calls} | ${f2(row.perToken)} | ${f2(row.ratio)} | ${flights} | ${s.bypassed ?? ''} | ${s.hits ?? ''} | ${f1(row.wallMs / 1000)} |`,
      )
    }
    const odd = r.calls.filter((row) => row.refused > 0 || (row.shared['redis.failures'] ?? 0) > 0)
    for (const row of odd)
      p(
        `\n${row.mode} / ${row.label}: ${row.refused} refused, Redis failures ${row.shared['redis.failures'] ?? 0} (timeouts ${row.shared['redis.timeouts'] ?? 0}, skipped ${row.shared['redis.skipped'] ?? 0})`,
      )
    p()
  }
  if (r.revocation) {
    const { fanout, own } = r.revocation
    p(
      `**Revocation → refusal on each of 4 replicas**, ms (${r.config.revocations} revocations per fleet × 4 replicas, ` +
        `feed polling every 1000 ms, replicas checking every ${r.config.watchMs} ms; both fleets at once, a broker each).${load('revocation')}`,
    )
    p()
    p(
      '| fleet | latency of | n | p50 | p90 | p99 | max | audit-log requests/s | polls/s (÷ 3) | validate calls per revocation |',
    )
    p('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    const pct = (xs) =>
      `${xs.length} | ${f0(percentile(xs, 50))} | ${f0(percentile(xs, 90))} | ${f0(percentile(xs, 99))} | ${f0(Math.max(...xs))}`
    for (const x of [fanout, own]) {
      const name =
        x.label === 'fan-out' ? 'fan-out over Redis (1 leader polls)' : 'own feed on each replica, no Redis'
      p(
        `| ${name} | each replica | ${pct(x.latencies)} | ${f2(x.auditPerS)} | ${f2(x.auditPerS / 3)} | ${f2(x.validateCalls / r.config.revocations)} |`,
      )
      p(`| | the last of the 4 | ${pct(x.last)} | | | |`)
      p(`| | last − first replica | ${pct(x.spread)} | | | |`)
    }
    p()
    p('Per replica (p50 / max ms; own polls during the phase; role):')
    p()
    for (const x of [fanout, own])
      p(
        `- ${x.label}: ${x.perReplica.map((l, i) => `${f0(percentile(l, 50))} / ${f0(Math.max(...l))} (${x.polls[i]} polls, ${x.finalRoles[i]})`).join('; ')}; window ${f1(x.windowS)} s${x.unexpected ? `; ${x.unexpected} non-401 errors` : ''}`,
      )
    const gaps = fanout.fanout.map((s) => s?.gaps ?? 0).reduce((a, b) => a + b, 0)
    const catchUps = fanout.fanout.map((s) => s?.catchUps ?? 0).reduce((a, b) => a + b, 0)
    p(
      `- fan-out stream: gaps ${gaps}, catch-up polls ${catchUps} (since start, all replicas); other broker requests: fan-out ${JSON.stringify(fanout.otherRequests)}, own ${JSON.stringify(own.otherRequests)}`,
    )
    p()
  }
  if (r.cold) {
    p(
      `**Cold verifyToken** (new token, one replica, sequential; broker in another process on 127.0.0.1), µs, ` +
        `${r.config.coldRounds} rounds × ${r.config.coldTokens} tokens per configuration, interleaved.${load('cold')}`,
    )
    p()
    p(
      '| shared level (or: one Redis round trip) | p50 | p90 | p99 | extra p50 | extra p99 | per-round medians | per-round extra (median) |',
    )
    p('|---|---:|---:|---:|---:|---:|---|---|')
    for (const row of r.cold.rows) {
      const extra = row.config === 'none' || row.config.startsWith('PING')
      p(
        `| ${row.config} | ${f0(row.p50)} | ${f0(row.p90)} | ${f0(row.p99)} | ${extra ? '' : f0(row.extraP50)} | ${extra ? '' : f0(row.extraP99)} | ${row.rounds.map(f0).join(' ')} | ${extra ? '' : row.roundExtra.map(f0).join(' ')} |`,
      )
    }
    for (const [c, s] of Object.entries(r.cold.shared))
      p(
        `\n${c}: flights led ${s.flightsLed}, shared hits ${s.hits}, bypassed ${s.bypassed}, Redis commands ${s['redis.commands']} (failures ${s['redis.failures']})`,
      )
    p()
  }
  if (r.warm) {
    p(
      `**Warm path** (the same token again, answered from the process cache), ns per call (median of ${r.config.warmRounds} rounds × ${r.config.warmCalls} calls); ratio = median over rounds of ÷ "off" in the same round.${load('warm')}`,
    )
    p()
    p('| entry point | sharedCache | ns/call | ratio | per-round ratios |')
    p('|---|---|---:|---:|---|')
    for (const row of r.warm.rows)
      p(
        `| ${row.workload} | ${row.config === 'on' ? 'configured (node-redis)' : row.config === 'off' ? 'none' : 'none (control)'} | ${f0(row.ns)} | ${row.config === 'off' ? '1' : f2(row.ratio)} | ${row.ratios.map(f2).join(' ')} |`,
      )
    p(
      `\nBroker calls during the warm rounds: none beyond the first (${JSON.stringify(r.warm.brokerCalls)} in total); Redis commands of the "on" replica: ${r.warm.redisCommands} in total.`,
    )
  }
  console.log(out.join('\n'))
}

if (process.argv[2] === '--broker') await brokerChild()
else
  await main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
