/**
 * agentwrit-verify benchmarks, side by side with bare frameworks and anchor libraries.
 *
 * One run: start the dev broker and every server in its own child process (all on 127.0.0.1),
 * then measure in rounds with autocannon (in this process): in each round, framework after
 * framework, the bare server, that framework's other scenarios, the bare server again. A ratio is
 * the median over rounds of (scenario ÷ mean of the two bare runs around it). Then the broker-call
 * and memory checks. Prints a table and writes results/latest.json and results/latest.md (a subset
 * run, with BENCH_ONLY or BENCH_SKIP_EXTRAS, writes results/partial.* instead).
 *
 * Environment: BENCH_ROUNDS (5), BENCH_DURATION (3 s per measurement), BENCH_WARMUP (1 s before
 * each), BENCH_CONNECTIONS (50), BENCH_PIPELINING (1), BENCH_POOL (20000 tokens for the cold
 * runs), BENCH_ONLY (regexp on scenario names), BENCH_MEMORY_TOKENS (1000000), BENCH_SKIP_EXTRAS=1,
 * BENCH_CPU_PROF=<regexp> (run matching servers with --cpu-prof into results/profiles),
 * BENCH_QUIET_CORES (0.25), BENCH_QUIET_WAIT (15 s), BENCH_RETRIES (2): see "foreign load" below.
 *
 * Foreign load: on Linux the user CPU time of the whole machine (/proc/stat, plus steal) minus
 * the user time of this process and its children (/proc/<pid>/stat) is what other processes (and
 * the hypervisor) took during a measurement; kernel time is left out because the loopback traffic
 * we generate is mostly accounted there. Before each measurement we wait (up to BENCH_QUIET_WAIT) for it to drop
 * under BENCH_QUIET_CORES; a measurement taken under more is retried (BENCH_RETRIES) and the
 * quietest attempt kept. It is reported per scenario.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { childPids, children, spawnChild as spawnChildOf, stopChild } from './child-commands.mjs'
import { HAS_PROC, loadProbe as startLoadProbe } from './foreign-load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const env = process.env
const num = (name, dflt) => (env[name] === undefined || env[name] === '' ? dflt : Number(env[name]))
const CONFIG = {
  rounds: num('BENCH_ROUNDS', 5),
  durationS: num('BENCH_DURATION', 3),
  warmupS: num('BENCH_WARMUP', 1),
  connections: num('BENCH_CONNECTIONS', 50),
  pipelining: num('BENCH_PIPELINING', 1),
  pool: num('BENCH_POOL', 20000),
  memoryTokens: num('BENCH_MEMORY_TOKENS', 1_000_000),
  only: env.BENCH_ONLY ? new RegExp(env.BENCH_ONLY) : null,
  skipExtras: env.BENCH_SKIP_EXTRAS === '1',
  cpuProf: env.BENCH_CPU_PROF ? new RegExp(env.BENCH_CPU_PROF) : null,
  /** Foreign CPU load (cores) tolerated: above it we wait before, and retry after, a measurement. */
  quietCores: num('BENCH_QUIET_CORES', 0.25),
  quietWaitS: num('BENCH_QUIET_WAIT', 15),
  retries: num('BENCH_RETRIES', 2),
  /** `BENCH_FRESH=1`: new server processes every round (default: one process per scenario for the run). */
  freshProcesses: env.BENCH_FRESH === '1',
}
const TARGETS = { express: 0.95, fastify: 0.85, koa: 0.9 }
const COLD_TARGET = 1.5
const PATH = '/customers/42'
const resultsDir = join(here, 'results')
mkdirSync(resultsDir, { recursive: true })

const log = (...a) => console.error(...a)
const t0 = performance.now()
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)}s`

// ---------------------------------------------------------------------------------------------
// Child processes with a tiny request/response protocol over IPC (bench/child-commands.mjs).

const spawnChild = (file, args, execArgv = []) =>
  spawnChildOf(join(here, file), args, { execArgv, name: file })

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
}
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

// ---------------------------------------------------------------------------------------------
// HTTP helpers (sanity checks and the single-flight test).

function get(port, path, token, agent) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, agent, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

function cpuOf(usage) {
  return (usage.user + usage.system) / 1000
}

// ---------------------------------------------------------------------------------------------
// Foreign load (Linux): machine CPU time minus ours, in cores (bench/foreign-load.mjs).

const loadProbe = () => startLoadProbe(childPids)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
/** Wait until other processes use less than `quietCores` (sampled over 1 s), at most `quietWaitS`. */
async function waitQuiet() {
  if (!HAS_PROC) return 0
  const until = performance.now() + CONFIG.quietWaitS * 1000
  let foreign = 0
  do {
    const probe = loadProbe()
    await sleep(1000)
    foreign = probe()
    if (foreign < CONFIG.quietCores) break
  } while (performance.now() < until)
  return foreign
}

// ---------------------------------------------------------------------------------------------

log(`agentwrit-verify bench: ${JSON.stringify({ ...CONFIG, only: env.BENCH_ONLY ?? null })}`)
const broker = spawnChild('broker.mjs', [])
await broker.ready
const info = await broker.call('info')
log(`[${elapsed()}] dev broker at ${info.url}; pooling ${CONFIG.pool} distinct EdDSA tokens`)
const pool = await broker.call('pool', { n: CONFIG.pool, alg: 'EdDSA' })
const template = JSON.parse(Buffer.from(info.warmToken.split('.')[1], 'base64url').toString('utf8'))

const { issuer, audience } = info
const checks = { issuer, audience }
const remote = { broker: info.url, ...checks }
const local = { jwksUri: info.jwksUrl, ...checks }
const hybrid = { broker: info.url, jwksUri: info.jwksUrl, ...checks }
const fastifyJwt = {
  secret: { public: info.publicKeyPem },
  verify: { algorithms: ['EdDSA'], allowedIss: issuer, allowedAud: audience },
}

/** Every measured scenario. `load`: warm = one token on every request; cold = a new token per request. */
const SCENARIOS = []
for (const fw of ['express', 'fastify', 'koa']) {
  SCENARIOS.push({ name: `${fw} bare`, framework: fw, kind: 'bare', load: 'warm', group: 'bare' })
  // The same layers as agentwrit-verify (one app-wide middleware or hook, one route guard), doing
  // nothing: what any middleware in that place costs, the floor for the ratios below.
  SCENARIOS.push({ name: `${fw} no-op layers`, framework: fw, kind: 'noop', group: 'reference' })
  // Bare after one outgoing undici request and one fetch() (what a verifier does at start): the
  // baseline of a process that has used Node's HTTP client, as every real service has.
  SCENARIOS.push({
    name: `${fw} bare after HTTP client use`,
    framework: fw,
    kind: 'bare-client',
    group: 'reference',
    options: { broker: info.url, jwksUri: info.jwksUrl, token: info.warmToken },
  })
  SCENARIOS.push({ name: `${fw} agentwrit remote warm`, framework: fw, kind: 'agentwrit', options: remote })
  SCENARIOS.push({ name: `${fw} agentwrit local warm`, framework: fw, kind: 'agentwrit', options: local })
  SCENARIOS.push({ name: `${fw} agentwrit hybrid warm`, framework: fw, kind: 'agentwrit', options: hybrid })
  SCENARIOS.push({
    name: `${fw} agentwrit local cold`,
    framework: fw,
    kind: 'agentwrit',
    options: local,
    load: 'cold',
  })
}
SCENARIOS.push(
  {
    name: 'express express-oauth2-jwt-bearer',
    framework: 'express',
    kind: 'express-oauth2-jwt-bearer',
    group: 'anchor',
    options: { issuer, audience, jwksUri: info.jwksUrl, tokenSigningAlg: 'EdDSA' },
  },
  {
    name: 'fastify @fastify/jwt',
    framework: 'fastify',
    kind: 'fastify-jwt',
    group: 'anchor',
    options: fastifyJwt,
  },
  {
    name: 'fastify @fastify/jwt cold',
    framework: 'fastify',
    kind: 'fastify-jwt',
    group: 'anchor',
    options: fastifyJwt,
    load: 'cold',
  },
  {
    name: 'koa koa-jwt+jwks-rsa (RS256)',
    framework: 'koa',
    kind: 'koa-jwt',
    group: 'anchor',
    token: info.rsaWarmToken,
    options: { jwksUri: info.rsaJwksUrl, algorithms: ['RS256'], issuer, audience },
  },
  {
    name: 'express naive remote+Map',
    framework: 'express',
    kind: 'naive',
    group: 'anchor',
    options: { broker: info.url },
  },
)
for (const s of SCENARIOS) {
  s.load ??= 'warm'
  s.group ??= 'agentwrit'
  s.token ??= info.warmToken
  s.sub = info.sub
}
const chosen = SCENARIOS.filter((s) => CONFIG.only === null || CONFIG.only.test(s.name))
// A framework's bare server is measured whenever one of its scenarios is.
const selected = SCENARIOS.filter(
  (s) => chosen.includes(s) || (s.kind === 'bare' && chosen.some((c) => c.framework === s.framework)),
)

log(`[${elapsed()}] starting ${selected.length} servers`)
const profileDir = join(resultsDir, 'profiles')
/** Start (or, with a running one, replace) a scenario's server process. */
async function startServer(s) {
  if (s.proc !== undefined) await stopChild(s.proc)
  const execArgv = []
  if (CONFIG.cpuProf?.test(s.name)) {
    mkdirSync(profileDir, { recursive: true })
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
      `--cpu-prof-name=${s.name.replace(/\W+/g, '_')}.cpuprofile`,
    )
  }
  const { token, name, load, group, proc, port, runs, ...config } = s
  s.proc = spawnChild('server.mjs', [JSON.stringify(config)], execArgv)
  s.port = (await s.proc.ready).port
}
for (const s of selected) await startServer(s)

// Sanity: each guarded server accepts the token, refuses no token (401) and another id (403).
for (const s of selected) {
  const ok = await get(s.port, PATH, s.token)
  if (ok.status !== 200 || JSON.parse(ok.body).customer !== '42') {
    throw new Error(`${s.name}: expected 200, got ${ok.status} ${ok.body.slice(0, 200)}`)
  }
  if (s.kind === 'bare' || s.kind === 'noop' || s.kind === 'bare-client') continue
  const none = await get(s.port, PATH)
  const other = await get(s.port, '/customers/43', s.token)
  if (none.status !== 401 || other.status !== 403) {
    throw new Error(
      `${s.name}: expected 401 without a token and 403 for another id, got ${none.status}/${other.status}`,
    )
  }
}
log(`[${elapsed()}] sanity checks passed (200 / 401 without token / 403 on another id)`)

// ---------------------------------------------------------------------------------------------
// Throughput: round-robin rounds.

const coldCursor = { i: 0 }
function cannon(s, durationS) {
  const opts = {
    url: `http://127.0.0.1:${s.port}${PATH}`,
    connections: CONFIG.connections,
    pipelining: CONFIG.pipelining,
    duration: durationS,
  }
  if (s.load === 'cold') {
    // A different token on every request; the pool is larger than the cache bound and is walked
    // in order, so a token comes back only after more distinct tokens than the cache holds.
    opts.requests = [
      {
        method: 'GET',
        path: PATH,
        setupRequest: (req) => {
          req.headers.authorization = `Bearer ${pool[coldCursor.i++ % pool.length]}`
          return req
        },
      },
    ]
  } else {
    opts.headers = { authorization: `Bearer ${s.token}` }
  }
  return new Promise((resolve, reject) => {
    const seconds = []
    const instance = autocannon(opts, (err, res) => (err ? reject(err) : resolve({ ...res, seconds })))
    // Requests completed in each second of the run (the basis of the quiet-machine estimate).
    instance.on('tick', (counter) => seconds.push(counter.counter))
    autocannon.track(instance, {
      renderProgressBar: false,
      renderResultsTable: false,
      renderLatencyTable: false,
    })
  })
}

for (const s of selected) s.runs = []
const perRound =
  CONFIG.rounds *
  (selected.length + new Set(selected.map((s) => s.framework)).size) *
  (CONFIG.durationS + CONFIG.warmupS)
log(
  `[${elapsed()}] ${CONFIG.rounds} rounds × ${selected.length} scenarios, ~${Math.round(perRound / 60)} min`,
)
async function measure(s, round) {
  if (CONFIG.warmupS > 0) await cannon(s, CONFIG.warmupS)
  const serverBefore = await s.proc.call('cpu')
  const selfBefore = process.cpuUsage()
  const probe = loadProbe()
  const started = performance.now()
  const res = await cannon(s, CONFIG.durationS)
  const wallMs = performance.now() - started
  const foreignCores = probe()
  const serverAfter = await s.proc.call('cpu')
  const self = process.cpuUsage(selfBefore)
  const serverCpuMs = cpuOf(serverAfter) - cpuOf(serverBefore)
  return {
    round,
    rps: res.requests.average,
    total: res.requests.total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    p50: res.latency.p50,
    p99: res.latency.p99,
    serverCpu: serverCpuMs / wallMs,
    /** Server CPU time (all its threads) per request, µs: insensitive to who else uses the cores. */
    serverUsPerReq: res.requests.total > 0 ? (serverCpuMs * 1000) / res.requests.total : Number.NaN,
    loadGenCpu: cpuOf(self) / wallMs,
    foreignCores,
    seconds: res.seconds,
  }
}

/** Measure, waiting for the machine to be quiet and measuring again (keeping the quietest) if it was not. */
async function measureQuiet(s, round) {
  let run
  for (let attempt = 0; attempt <= CONFIG.retries; attempt++) {
    await waitQuiet()
    const r = await measure(s, round)
    if (run === undefined || r.foreignCores < run.foreignCores) run = { ...r, attempts: attempt + 1 }
    if (r.foreignCores < CONFIG.quietCores) break
    log(
      `[${elapsed()}]    ${s.name}: ${r.foreignCores.toFixed(2)} cores used by other processes, measuring again`,
    )
  }
  const bad = run.non2xx + run.errors + run.timeouts > 0 ? '  !! NON-2XX/ERRORS' : ''
  log(
    `[${elapsed()}] r${round + 1} ${s.name.padEnd(36)} ${String(Math.round(run.rps)).padStart(6)} req/s` +
      `  p99 ${run.p99} ms  server ${run.serverCpu.toFixed(2)} cores, ${run.serverUsPerReq.toFixed(0)} µs/req` +
      `  autocannon ${run.loadGenCpu.toFixed(2)}  foreign ${run.foreignCores.toFixed(2)}${bad}`,
  )
  return run
}

/** The bare server's two measurements of a round (before and after its framework's block) as one. */
function combine(a, b) {
  const mean = (k) => (a[k] + b[k]) / 2
  return {
    round: a.round,
    rps: mean('rps'),
    total: a.total + b.total,
    non2xx: a.non2xx + b.non2xx,
    errors: a.errors + b.errors,
    timeouts: a.timeouts + b.timeouts,
    p50: mean('p50'),
    p99: mean('p99'),
    serverCpu: mean('serverCpu'),
    serverUsPerReq: mean('serverUsPerReq'),
    loadGenCpu: mean('loadGenCpu'),
    foreignCores: Math.max(a.foreignCores, b.foreignCores),
    seconds: [...a.seconds, ...b.seconds],
    attempts: a.attempts + b.attempts,
    pair: [Math.round(a.rps), Math.round(b.rps)],
  }
}

// Each round measures the frameworks one after the other (their order rotating); a framework's
// block starts and ends with its bare server, and its ratios use the mean of those two bare runs,
// taken around them within about half a minute: slow drifts of the machine's speed cancel.
const frameworks = [...new Set(selected.map((s) => s.framework))]
for (let round = 0; round < CONFIG.rounds; round++) {
  for (const fw of frameworks.map((_, i) => frameworks[(i + round) % frameworks.length])) {
    const base = selected.find((s) => s.framework === fw && s.kind === 'bare')
    const others = selected.filter((s) => s.framework === fw && s !== base)
    // BENCH_FRESH=1: new processes for every round. Two processes of the same server can differ by
    // up to 30 % here for their whole life (BENCHMARKS.md, Method); this samples that afresh.
    if (CONFIG.freshProcesses) {
      for (const s of [base, ...others]) {
        if (round > 0) await startServer(s)
        // A new process runs slower for its first seconds (JIT, heap sizing): more warm-up.
        await cannon(s, 2)
      }
    }
    const first = await measureQuiet(base, round)
    for (const s of others.map((_, i) => others[(i + round) % others.length])) {
      s.runs.push(await measureQuiet(s, round))
    }
    base.runs.push(combine(first, await measureQuiet(base, round)))
  }
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  const m = a.length >> 1
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2
}
/** The 90th percentile of a scenario's per-second request counts over all rounds. */
const quietRps = (s) => {
  const a = s.runs.flatMap((r) => r.seconds).sort((x, y) => x - y)
  return a.length === 0 ? Number.NaN : a[Math.min(a.length - 1, Math.floor(0.9 * a.length))]
}
const bare = Object.fromEntries(selected.filter((s) => s.kind === 'bare').map((s) => [s.framework, s]))
const clientBare = Object.fromEntries(
  selected.filter((s) => s.kind === 'bare-client').map((s) => [s.framework, s]),
)
const rows = selected.map((s) => {
  const base = bare[s.framework]
  const ratios = s.runs.map((r, i) => r.rps / base.runs[i].rps)
  const client = clientBare[s.framework]
  return {
    /** Like `ratio`, against the bare server after HTTP client use (when measured). */
    ratioVsClientBare: client ? median(s.runs.map((r, i) => r.rps / client.runs[i].rps)) : null,
    /**
     * The quiet-machine view: p90 of this scenario's per-second req/s over the whole run ÷ the
     * same for bare. Interference from other tenants of the host only ever slows a second down,
     * so the fast seconds are the least disturbed ones.
     */
    quietRatio: quietRps(s) / quietRps(base),
    quietRps: quietRps(s),
    name: s.name,
    framework: s.framework,
    group: s.group,
    kind: s.kind,
    load: s.load,
    rps: Math.round(median(s.runs.map((r) => r.rps))),
    ratio: median(ratios),
    ratios: ratios.map((r) => +r.toFixed(3)),
    p99: median(s.runs.map((r) => r.p99)),
    serverCpu: +median(s.runs.map((r) => r.serverCpu)).toFixed(2),
    serverUsPerReq: Math.round(median(s.runs.map((r) => r.serverUsPerReq))),
    /** Bare server's CPU per request ÷ this one's (same round), median: the CPU-cost view of the ratio. */
    cpuRatio: median(s.runs.map((r, i) => base.runs[i].serverUsPerReq / r.serverUsPerReq)),
    foreignCores: +median(s.runs.map((r) => r.foreignCores)).toFixed(2),
    loadGenCpu: +median(s.runs.map((r) => r.loadGenCpu)).toFixed(2),
    failedRequests: s.runs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0),
    runs: s.runs,
  }
})
const byName = Object.fromEntries(rows.map((r) => [r.name, r]))

const targets = []
for (const r of rows) {
  if (r.kind !== 'agentwrit' || r.load !== 'warm') continue
  const min = TARGETS[r.framework]
  targets.push({
    target: `${r.name} ≥ ${min} × bare ${r.framework}`,
    value: +r.ratio.toFixed(3),
    pass: r.ratio >= min && r.failedRequests === 0,
    quiet: +r.quietRatio.toFixed(3),
    vsClientBare: r.ratioVsClientBare === null ? null : +r.ratioVsClientBare.toFixed(3),
  })
}
const coldOurs = byName['fastify agentwrit local cold']
const coldAnchor = byName['fastify @fastify/jwt cold']
if (coldOurs && coldAnchor) {
  const medianRatio = median(coldOurs.runs.map((r, i) => r.rps / coldAnchor.runs[i].rps))
  targets.push({
    target: `fastify agentwrit local cold ≥ ${COLD_TARGET} × @fastify/jwt (cold) on Fastify`,
    value: +medianRatio.toFixed(3),
    pass: medianRatio >= COLD_TARGET,
  })
}
for (const fw of ['express', 'koa']) {
  const ours = byName[`${fw} agentwrit local cold`]
  if (ours && coldAnchor) {
    // Informational: the other frameworks' cold path against the Fastify anchor's absolute rate.
    ours.vsFastifyJwtCold = +(ours.rps / coldAnchor.rps).toFixed(3)
  }
}
if (coldOurs && coldAnchor) coldOurs.vsFastifyJwtCold = +(coldOurs.rps / coldAnchor.rps).toFixed(3)

// ---------------------------------------------------------------------------------------------
// Extras: broker calls and memory.

const extras = {}
if (!CONFIG.skipExtras) {
  // 1. N concurrent requests carrying one new token: broker calls (broker slowed to 200 ms so all
  //    requests are surely in flight together).
  const N = 200
  extras.singleFlight = { concurrentRequests: N, brokerDelayMs: 200, results: [] }
  const flightServers = selected.filter((s) => /remote warm|hybrid warm|naive/.test(s.name))
  await broker.call('fault', { mode: { kind: 'slow', delayMs: 200 } })
  for (const s of flightServers) {
    const agent = new Agent({ keepAlive: true, maxSockets: N })
    // Open N sockets first (an unauthenticated request is answered 401 on a kept-alive socket).
    await Promise.all(Array.from({ length: N }, () => get(s.port, PATH, undefined, agent)))
    const token = await broker.call('token')
    const before = await broker.call('validateCalls')
    const answers = await Promise.all(Array.from({ length: N }, () => get(s.port, PATH, token, agent)))
    const calls = (await broker.call('validateCalls')) - before
    agent.destroy()
    const ok = answers.filter((a) => a.status === 200).length
    extras.singleFlight.results.push({ server: s.name, ok, brokerCalls: calls })
    log(`[${elapsed()}] single-flight ${s.name}: ${ok}/${N} OK, ${calls} broker call(s)`)
    if (s.kind === 'agentwrit') {
      targets.push({
        target: `${s.name.replace(' warm', '')}: ${N} concurrent requests, one new token → 1 broker call`,
        value: calls,
        pass: calls === 1 && ok === N,
      })
    }
  }
  await broker.call('fault', { mode: null })

  // 2. K distinct tokens for D seconds with cache TTL T: broker calls ≈ K × ceil(D / T).
  const K = 50
  const T = 2000
  const D = 5
  const ttlServer = spawnChild('server.mjs', [
    JSON.stringify({
      framework: 'express',
      kind: 'agentwrit',
      sub: info.sub,
      options: { ...remote, cacheTtlMs: T },
    }),
  ])
  const ttlPort = (await ttlServer.ready).port
  const ttlTokens = await broker.call('pool', { n: K, alg: 'EdDSA' })
  const before = await broker.call('validateCalls')
  let cursor = 0
  const res = await new Promise((resolve, reject) =>
    autocannon(
      {
        url: `http://127.0.0.1:${ttlPort}${PATH}`,
        connections: 10,
        duration: D,
        requests: [
          {
            method: 'GET',
            path: PATH,
            setupRequest: (req) => {
              req.headers.authorization = `Bearer ${ttlTokens[cursor++ % K]}`
              return req
            },
          },
        ],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    ),
  )
  const calls = (await broker.call('validateCalls')) - before
  const expected = K * Math.ceil(D / (T / 1000))
  await stopChild(ttlServer)
  extras.ttl = {
    distinctTokens: K,
    cacheTtlMs: T,
    durationS: D,
    requests: res.requests.total,
    non2xx: res.non2xx,
    brokerCalls: calls,
    expected,
  }
  log(
    `[${elapsed()}] TTL: ${res.requests.total} requests, ${K} tokens, TTL ${T} ms, ${D} s → ${calls} broker calls (expected ≈ ${expected})`,
  )
  targets.push({
    target: `${K} tokens × ${D} s with cacheTtlMs ${T} → ≈ ${expected} broker calls`,
    value: calls,
    pass:
      calls >= K * Math.floor(D / (T / 1000)) &&
      calls <= K * (Math.ceil(D / (T / 1000)) + 1) &&
      res.non2xx === 0,
  })

  // 3. Heap after verifying many distinct tokens in local mode with the default cache bound.
  log(`[${elapsed()}] memory: verifying ${CONFIG.memoryTokens} distinct tokens in local mode`)
  const mem = spawnChild(
    'memory.mjs',
    [
      JSON.stringify({
        n: CONFIG.memoryTokens,
        sampleEvery: Math.max(10000, Math.round(CONFIG.memoryTokens / 10)),
        signingKeyPem: info.signingKeyPem,
        publicJwk: info.publicJwk,
        issuer,
        audience,
        template,
      }),
    ],
    ['--expose-gc'],
  )
  const memory = await new Promise((resolve, reject) => {
    mem.child.once('message', resolve)
    mem.child.once('exit', (code) => code && reject(new Error(`memory.mjs exited with ${code}`)))
  })
  extras.memory = memory
  const heaps = memory.samples.map((x) => x.heapUsedMB)
  const growthAfterFirstSample = memory.after.heapUsedMB - (heaps[0] ?? memory.after.heapUsedMB)
  log(
    `[${elapsed()}] memory: heap ${memory.before.heapUsedMB} MB → ${memory.after.heapUsedMB} MB after ${memory.tokens} tokens, cache ${memory.cacheEntries}/${memory.cacheMaxEntries}`,
  )
  targets.push({
    target: `${memory.tokens} distinct tokens (local): cache ≤ ${memory.cacheMaxEntries}, heap flat after the cache fills`,
    value: `${memory.cacheEntries} entries, ${memory.before.heapUsedMB} → ${memory.after.heapUsedMB} MB`,
    pass: memory.cacheEntries <= memory.cacheMaxEntries && growthAfterFirstSample < 16,
  })
}

for (const s of selected) await stopChild(s.proc)
await broker.call('close').catch(() => {})

// ---------------------------------------------------------------------------------------------
// Report.

const machine = {
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model,
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadavgAtEnd: loadavg().map((x) => +x.toFixed(2)),
  note: 'autocannon, the servers and the dev broker share these cores (all on 127.0.0.1)',
}
const fmt = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : String(x))
const tableLines = [
  '| scenario | load | req/s (median) | × bare (req/s) | per-round × bare | × bare, quiet seconds (p90) | × bare after HTTP client use | server µs CPU/req | × bare (CPU/req) | server cores | autocannon cores | foreign cores | p99 ms |',
  '|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.load} | ${r.rps} | ${fmt(r.ratio)} | ${r.ratios.map((x) => x.toFixed(2)).join(' ')} | ${fmt(r.quietRatio)} | ${r.ratioVsClientBare === null ? '' : fmt(r.ratioVsClientBare)} | ${r.serverUsPerReq} | ${fmt(r.cpuRatio)} | ${fmt(r.serverCpu)} | ${fmt(r.loadGenCpu)} | ${fmt(r.foreignCores)} | ${r.p99} |${r.failedRequests ? ' **FAILED REQUESTS**' : ''}`,
  ),
]
const targetLines = [
  '| target | value | result | quiet seconds (p90) | × bare after HTTP client use |',
  '|---|---|---|---:|---:|',
  ...targets.map(
    (t) =>
      `| ${t.target} | ${typeof t.value === 'number' ? fmt(t.value, 3) : t.value} | ${t.pass ? 'PASS' : 'FAIL'} | ${t.quiet === undefined ? '' : fmt(t.quiet, 3)} | ${t.vsClientBare == null ? '' : fmt(t.vsClientBare, 3)} |`,
  ),
]
const md = [
  `# Benchmark results (${new Date().toISOString()})`,
  '',
  `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}, ${machine.platform}; ${machine.note}.`,
  `Method: ${CONFIG.rounds} rounds${CONFIG.freshProcesses ? ' with new server processes each round' : ''}; in each, per framework, bare first, its other scenarios (rotating order), bare again; per measurement ${CONFIG.warmupS} s warm-up + ${CONFIG.durationS} s autocannon, ${CONFIG.connections} connections, pipelining ${CONFIG.pipelining}; × bare = median over rounds of (scenario ÷ mean of the same framework's two bare runs in that round); quiet seconds = p90 of per-second req/s over the run ÷ the same for bare; CPU/req = server process CPU time (all threads) per request; foreign cores = CPU used by other processes on the machine during the measurement (median).`,
  '',
  ...tableLines,
  '',
  ...targetLines,
  '',
]
if (extras.singleFlight) {
  md.push(
    `Single flight (${extras.singleFlight.concurrentRequests} concurrent requests, one new token, broker slowed to ${extras.singleFlight.brokerDelayMs} ms):`,
    '',
    '| server | 200 OK | broker calls |',
    '|---|---:|---:|',
    ...extras.singleFlight.results.map((r) => `| ${r.server} | ${r.ok} | ${r.brokerCalls} |`),
    '',
  )
}
if (extras.memory) {
  md.push(
    `Memory (local mode, ${extras.memory.tokens} distinct tokens, ${extras.memory.seconds} s): heap before ${extras.memory.before.heapUsedMB} MB, after ${extras.memory.after.heapUsedMB} MB (rss ${extras.memory.after.rssMB} MB), cache ${extras.memory.cacheEntries} / ${extras.memory.cacheMaxEntries}.`,
    '',
    '| tokens | cache entries | heap used MB | rss MB |',
    '|---:|---:|---:|---:|',
    ...extras.memory.samples.map((x) => `| ${x.tokens} | ${x.cacheEntries} | ${x.heapUsedMB} | ${x.rssMB} |`),
    '',
  )
}
// Only a complete run replaces latest.*; a subset (BENCH_ONLY, BENCH_SKIP_EXTRAS) goes to partial.*.
const outName = CONFIG.only === null && !CONFIG.skipExtras ? 'latest' : 'partial'
writeFileSync(join(resultsDir, `${outName}.md`), `${md.join('\n')}\n`)
writeFileSync(
  join(resultsDir, `${outName}.json`),
  `${JSON.stringify({ date: new Date().toISOString(), machine, config: { ...CONFIG, only: env.BENCH_ONLY ?? null, cpuProf: env.BENCH_CPU_PROF ?? null }, rows, targets, extras }, null, 2)}\n`,
)
console.log(`\n${md.join('\n')}`)
log(`[${elapsed()}] wrote ${join(resultsDir, `${outName}.md`)} and ${outName}.json`)
process.exit(0)
