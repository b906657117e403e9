/**
 * What the `node:diagnostics_channel` channels (issue 18, src/core/diagnostics.ts) cost on a warm
 * request, with and without subscribers: `node bench/diagnostics.mjs [--json]` (after
 * `npm run build` at the root). About 35 s on a quiet machine.
 *
 * One verifier in remote mode with an hour of cache: every answer comes from a cached answer (the
 * dev broker, in this process, is asked once per token before the rounds and never during them).
 * Entry points, called directly on request objects shaped like Node's, as bench/hot-path.mjs does:
 *
 * - `verifier.authenticate(req)`; the Express adapter's `agentAuth()` middleware (`dist/express.js`,
 *   with fake `res` and `next`); that middleware then `requireScope('read:data:customer-:id')`; the
 *   guard alone (on requests already authenticated);
 * - "same connection": 50 keep-alive "sockets", each repeating one token, so the connection memo
 *   answers (no hash, no cache lookup); "new connection": 999 sockets and two tokens alternating
 *   on each, so every request misses the memo, hashes its token and finds the answer in the cache
 *   (what a new connection does, without allocating sockets);
 * - one row with an `X-Request-ID` header (a traced verification reads it and remembers it for the
 *   guard's message).
 *
 * Subscriber configurations:
 * (a) none; (b) a no-op subscriber on the `agentwrit-verify:verify` tracing channel; (c) no-op
 * subscribers on every channel (verify, guard, broker, cache, keys, feed); (d) what a metrics
 * bridge keeps, at its cheapest: a `Map` of counts keyed by outcome + source (verify channel) and
 * by guard + outcome (guard channel); (e) a no-op subscriber on the guard channel only. Two more
 * with no subscriber: (a) again in a second process (the control: process-to-process noise), and
 * (a′) a process that subscribed and unsubscribed every channel 10 times first, running the
 * workloads in each state, then measures with nobody subscribed.
 *
 * Each configuration lives in a child process of its own for the whole run, subscribed once at its
 * start, as in a service. Subscribing changes a channel object's prototype (Node's Channel →
 * ActiveChannel and back), and each subscribe/unsubscribe cycle gives it a new hidden class, so
 * configurations toggled in one process would make the `hasSubscribers` checks polymorphic and
 * then megamorphic; (a′) measures exactly that. Rounds interleave the processes: in each round,
 * each workload (order rotating) is measured by every process in turn (order rotating; one
 * measures at a time), so the measurements compared are under a second apart; the first round is
 * warm-up. A row's ns/op is the median over rounds; its ratio is the median over rounds of (its
 * ns/op ÷ (a)'s in the same round). The "floor" rows are a loop doing only a no-subscriber check:
 * `channel.hasSubscribers`, and a tracing channel's (which reads its five channels).
 *
 * Foreign load (CPU used by other processes on the machine, as bench/run.mjs measures it) is
 * reported per round: it widens the per-round ratios, so read a run with much of it as noisy.
 *
 * Environment: DIAG_ROUNDS (7 counted), DIAG_CELL_MS (60 ms per measurement, sized on (a)).
 */
import { fork } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import { fileURLToPath } from 'node:url'
import { loadProbe } from './foreign-load.mjs'

const CONFIGS = [
  { key: 'a', name: '(a) no subscriber' },
  { key: 'a-control', name: '(a) no subscriber, second process (control)' },
  { key: 'a-toggled', name: '(a′) no subscriber, after 10 subscribe/unsubscribe cycles' },
  { key: 'b', name: '(b) no-op on verify' },
  { key: 'c', name: '(c) no-op on every channel' },
  { key: 'd', name: '(d) counter map (verify + guard)' },
  { key: 'e', name: '(e) no-op on guard only' },
]

// ---------------------------------------------------------------- child: one configuration

async function child(key, setup) {
  const { agentAuth, requireScope } = await import('../dist/express.js')
  const { createVerifier, DIAGNOSTICS_CHANNELS } = await import('../dist/index.js')
  const { authorizations, broker, issuer, audience } = setup
  const verifier = createVerifier({ broker, issuer, audience, cacheTtlMs: 3_600_000 })
  const auth = agentAuth(verifier)
  const guard = requireScope('read:data:customer-:id')

  const request = (authorization, socket, requestId) => ({
    headers: {
      host: '127.0.0.1',
      authorization,
      'user-agent': 'bench',
      ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
    },
    rawHeaders: [
      'Host',
      '127.0.0.1',
      'Authorization',
      authorization,
      'User-Agent',
      'bench',
      ...(requestId === undefined ? [] : ['X-Request-ID', requestId]),
    ],
    url: '/customers/42',
    socket,
    params: { id: '42' },
    route: { path: '/customers/:id' },
  })
  /** Same connection: 50 sockets, one token each, 1000 request objects. */
  const sameConnection = (withRequestId) => {
    const sockets = Array.from({ length: 50 }, () => ({}))
    return Array.from({ length: 1000 }, (_, i) =>
      request(authorizations[0], sockets[i % 50], withRequestId ? `req-${i}` : undefined),
    )
  }
  /** New connection: request j carries token j % 2 on socket j % 999, so each visit to a socket brings the other token. */
  const newConnection = () => {
    const sockets = Array.from({ length: 999 }, () => ({}))
    return Array.from({ length: 1998 }, (_, j) => request(authorizations[j % 2], sockets[j % 999]))
  }

  const res = {}
  let passed = 0
  const next = (err) => {
    if (err) throw err
    passed++
  }
  /** Verifications and guard decisions made, for the check of (d)'s counts. */
  const made = { verifications: 0, guards: 0 }

  // Each loop: run(n) → ns per op, checking that every op passed synchronously. `at` carries on
  // where the last measurement stopped, so every socket always sees its next request.
  function authenticateLoop(requests) {
    const len = requests.length
    let at = 0
    return (n) => {
      const before = verifier.stats().verifications.accepted
      let last
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) last = verifier.authenticate(requests[(at + i) % len])
      const ns = Number(process.hrtime.bigint() - t0) / n
      at = (at + n) % len
      last.catch(() => {})
      const accepted = verifier.stats().verifications.accepted - before
      if (accepted !== n) throw new Error(`authenticate: ${accepted} of ${n} accepted synchronously`)
      made.verifications += n
      return ns
    }
  }
  function middlewareLoop(requests, withGuard) {
    const len = requests.length
    let at = 0
    const layers = withGuard ? 2 : 1
    return (n) => {
      passed = 0
      const t0 = process.hrtime.bigint()
      if (withGuard) {
        for (let i = 0; i < n; i++) {
          const req = requests[(at + i) % len]
          auth(req, res, next)
          guard(req, res, next)
        }
      } else {
        for (let i = 0; i < n; i++) auth(requests[(at + i) % len], res, next)
      }
      const ns = Number(process.hrtime.bigint() - t0) / n
      at = (at + n) % len
      if (passed !== layers * n) throw new Error(`middleware: ${passed} of ${layers * n} layers passed`)
      made.verifications += n
      if (withGuard) made.guards += n
      return ns
    }
  }
  function guardLoop(requests) {
    const len = requests.length
    return (n) => {
      passed = 0
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) guard(requests[i % len], res, next)
      const ns = Number(process.hrtime.bigint() - t0) / n
      if (passed !== n) throw new Error(`guard: ${passed} of ${n} passed`)
      made.guards += n
      return ns
    }
  }

  const guarded = sameConnection(false)
  const workloads = [
    ['authenticate, same connection', authenticateLoop(sameConnection(false))],
    ['authenticate, new connection', authenticateLoop(newConnection())],
    ['express agentAuth, same connection', middlewareLoop(sameConnection(false), false)],
    ['express agentAuth, new connection', middlewareLoop(newConnection(), false)],
    ['express agentAuth, same connection, X-Request-ID', middlewareLoop(sameConnection(true), false)],
    ['express agentAuth + requireScope, same connection', middlewareLoop(guarded, true)],
    ['express requireScope alone', guardLoop(guarded)],
  ]

  // The floor: only the check a publisher makes while nobody subscribes, in a loop.
  const bareChannel = diagnostics.channel('agentwrit-verify-bench:floor')
  const bareTrace = diagnostics.tracingChannel('agentwrit-verify-bench:floor-trace')
  let sink = 0
  const floors = [
    [
      'floor: `channel.hasSubscribers` check',
      (n) => {
        const t0 = process.hrtime.bigint()
        for (let i = 0; i < n; i++) if (bareChannel.hasSubscribers) sink++
        return Number(process.hrtime.bigint() - t0) / n
      },
    ],
    [
      'floor: `tracingChannel.hasSubscribers` check',
      (n) => {
        const t0 = process.hrtime.bigint()
        for (let i = 0; i < n; i++) if (bareTrace.hasSubscribers) sink++
        return Number(process.hrtime.bigint() - t0) / n
      },
    ],
  ]

  // The cache holds both tokens' answers (one broker call each).
  for (const authorization of authorizations) {
    await new Promise((resolve, reject) =>
      auth(request(authorization, {}), res, (e) => (e ? reject(e) : resolve())),
    )
  }
  const brokerCalls = verifier.stats().brokerCalls

  // The configuration, for the whole life of the process.
  const noopTrace = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
  const noop = () => {}
  const verifyTrace = diagnostics.tracingChannel(DIAGNOSTICS_CHANNELS.verify)
  const plain = ['guard', 'broker', 'cache', 'keys', 'feed'].map((k) => DIAGNOSTICS_CHANNELS[k])
  /** (d): prom-client's `counter.inc({ outcome, source })`, reduced to a Map. */
  const counts = new Map()
  const countVerification = (m) => {
    const k = `${m.outcome}|${m.source ?? m.code}`
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const countGuard = (m) => {
    const k = `${m.guard}|${m.outcome}`
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const subscribeAll = () => {
    verifyTrace.subscribe(noopTrace)
    for (const name of plain) diagnostics.subscribe(name, noop)
    bareChannel.subscribe(noop)
    bareTrace.subscribe(noopTrace)
  }
  const unsubscribeAll = () => {
    verifyTrace.unsubscribe(noopTrace)
    for (const name of plain) diagnostics.unsubscribe(name, noop)
    bareChannel.unsubscribe(noop)
    bareTrace.unsubscribe(noopTrace)
  }
  const runAll = (n) => {
    for (const [, run] of workloads) run(n)
    for (const [, run] of floors) run(n)
  }
  if (key === 'a-toggled') {
    for (let i = 0; i < 10; i++) {
      subscribeAll()
      runAll(5000)
      unsubscribeAll()
      runAll(5000)
    }
    sink = 0
  } else if (key === 'b') verifyTrace.subscribe(noopTrace)
  else if (key === 'c') {
    verifyTrace.subscribe(noopTrace)
    for (const name of plain) diagnostics.subscribe(name, noop)
  } else if (key === 'd') {
    verifyTrace.subscribe({
      // A cached answer completes synchronously: the outcome is set at `end`; otherwise at `asyncEnd`.
      end: (m) => m.outcome !== undefined && countVerification(m),
      asyncEnd: countVerification,
    })
    diagnostics.subscribe(DIAGNOSTICS_CHANNELS.guard, countGuard)
  } else if (key === 'e') diagnostics.subscribe(DIAGNOSTICS_CHANNELS.guard, noop)
  runAll(20_000)

  const handlers = {
    /** ns per op of each workload now, to size the measurements. */
    size: () => ({ ns: [...workloads, ...floors].map(([, run]) => run(100_000)) }),
    /** One measurement: workload `w` (the floors after the workloads), `n` ops. */
    measure: ({ w, n }) => (w < workloads.length ? workloads[w][1](n) : floors[w - workloads.length][1](n)),
    async finish() {
      // The workloads took the paths they are named after: a cache subscriber sees each hit's path.
      const via = new Map()
      const seeVia = (m) => m.event === 'hit' && via.set(m.via, (via.get(m.via) ?? 0) + 1)
      const expect = { 0: 'connection', 1: 'cache', 2: 'connection', 3: 'cache', 4: 'connection' }
      if (key === 'd') {
        const want = { 'accepted|cache': made.verifications, 'requireScope|granted': made.guards }
        if (counts.size !== 2 || Object.entries(want).some(([k, v]) => counts.get(k) !== v))
          throw new Error(`counter saw ${JSON.stringify([...counts])}, expected ${JSON.stringify(want)}`)
      }
      diagnostics.subscribe(DIAGNOSTICS_CHANNELS.cache, seeVia)
      for (const [i, path] of Object.entries(expect)) {
        via.clear()
        workloads[i][1](10_000)
        if (via.size !== 1 || via.get(path) !== 10_000)
          throw new Error(`${workloads[i][0]}: hits ${JSON.stringify([...via])}, expected all via ${path}`)
      }
      if (verifier.stats().brokerCalls !== brokerCalls) throw new Error('a broker call during the rounds')
      if (sink !== 0) throw new Error('a floor channel had subscribers')
      await auth.close()
      return { ok: true }
    },
  }
  process.on('message', async ({ type, ...args }) => {
    try {
      process.send({ result: await handlers[type](args) }, () => type === 'finish' && process.exit(0))
    } catch (err) {
      process.send({ err: String(err?.stack ?? err) }, () => process.exit(1))
    }
  })
  process.send({ ready: true, workloads: workloads.map(([name]) => name), floors: floors.map(([n]) => n) })
}

// ---------------------------------------------------------------- parent: the run

async function main() {
  const ROUNDS = Number(process.env.DIAG_ROUNDS ?? 7)
  const CELL_MS = Number(process.env.DIAG_CELL_MS ?? 60)
  const JSON_OUT = process.argv.includes('--json')
  const started = performance.now()
  const log = (line) => console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`)

  const { AUDIENCE, ISSUER, startBenchBroker } = await import('./bench-broker.mjs')
  const { broker, agent } = await startBenchBroker()
  const other = await broker.createAgent({
    orchId: 'bench',
    taskId: 'customers-2',
    scope: ['read:data:customer-42'],
    maxTtl: 3600,
  })
  const setup = JSON.stringify({
    broker: broker.url,
    issuer: ISSUER,
    audience: AUDIENCE,
    authorizations: [`Bearer ${agent.accessToken}`, `Bearer ${other.accessToken}`],
  })

  /** A configuration's process: `ask(type, args)` → its answer. */
  function start(config) {
    return new Promise((resolve, reject) => {
      const proc = fork(fileURLToPath(import.meta.url), ['--child', config.key, setup])
      let pending
      proc.on('exit', (code) => code !== 0 && reject(new Error(`${config.key}: exit ${code}`)))
      proc.on('message', (m) => {
        if (m.ready) {
          resolve({
            ...config,
            pid: proc.pid,
            workloads: m.workloads,
            floors: m.floors,
            ask: (type, args = {}) =>
              new Promise((res, rej) => {
                pending = { res, rej }
                proc.send({ type, ...args })
              }),
          })
        } else if (m.err) (pending?.rej ?? reject)(new Error(`${config.key}: ${m.err}`))
        else pending.res(m.result)
      })
    })
  }
  const procs = await Promise.all(CONFIGS.map(start))
  log(`${procs.length} processes ready`)
  const { workloads, floors } = procs[0]

  // Size every measurement to ~CELL_MS on (a); all processes then do the same work.
  const sized = await procs[0].ask('size')
  // (Floors at most 4 million checks: (a′)'s are a hundred times slower than (a)'s.)
  const n = sized.ns.map((ns, i) =>
    Math.min(
      i < workloads.length ? Infinity : 4e6,
      Math.max(10_000, Math.round((CELL_MS * 1e6) / ns / 1000) * 1000),
    ),
  )
  log(`ops per measurement: ${n.join(' ')}`)

  // results[process][workload or floor] = ns per op, one per round. Within a round, each workload
  // is measured by every process back to back (process order rotating), so that the ratios
  // compare measurements less than a second apart.
  const all = workloads.length + floors.length
  const results = procs.map(() => Array.from({ length: all }, () => []))
  const foreign = []
  for (let r = 0; r <= ROUNDS; r++) {
    const probe = loadProbe(() => procs.map((p) => p.pid))
    for (let j = 0; j < all; j++) {
      const w = (r + j) % all
      for (let k = 0; k < procs.length; k++) {
        const p = (r + j + k) % procs.length
        const ns = await procs[p].ask('measure', { w, n: n[w] })
        if (r > 0) results[p][w].push(ns)
      }
    }
    const cores = probe()
    if (r > 0) foreign.push(cores)
    log(`${r === 0 ? 'warm-up round' : `round ${r} of ${ROUNDS}`}, foreign load ${cores.toFixed(2)} cores`)
  }
  for (const p of procs) await p.ask('finish')
  await broker.close()

  const median = (a) => {
    const s = [...a].sort((x, y) => x - y)
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const rows = []
  workloads.forEach((workload, w) => {
    const base = results[0][w]
    procs.forEach((p, i) => {
      const ns = results[i][w]
      const ratios = ns.map((x, r) => x / base[r])
      rows.push({
        workload,
        config: p.name,
        medianNs: median(ns),
        deltaNs: median(ns) - median(base),
        ratio: median(ratios),
        ratioRange: [Math.min(...ratios), Math.max(...ratios)],
        rounds: ns,
      })
    })
  })
  floors.forEach((workload, f) => {
    for (const i of [0, 2]) {
      const ns = results[i][workloads.length + f]
      rows.push({ workload, config: procs[i].name, medianNs: median(ns), rounds: ns })
    }
  })

  if (JSON_OUT) {
    const out = {
      node: process.version,
      date: new Date().toISOString(),
      rounds: ROUNDS,
      opsPerMeasurement: n,
      foreignCoresPerRound: foreign,
    }
    console.log(JSON.stringify({ ...out, rows }, null, 2))
  } else {
    const f1 = (x) => (x === undefined ? '—' : x.toFixed(1))
    const f2 = (x) => (x === undefined ? '—' : x.toFixed(2))
    console.log(
      `\nDiagnostics channels, warm path, ns per op (median of ${ROUNDS} rounds), ${process.version}, ${new Date().toISOString()}; foreign load per round: ${median(foreign).toFixed(2)} cores (median), ${Math.max(...foreign).toFixed(2)} (max)\n`,
    )
    console.log('| entry point | subscribers | ns/op | × (a) | per-round × (a) | Δ ns vs (a) |')
    console.log('|---|---|---:|---:|---|---:|')
    for (const r of rows) {
      const range = r.ratioRange === undefined ? '—' : `${f2(r.ratioRange[0])}–${f2(r.ratioRange[1])}`
      console.log(
        `| ${r.workload} | ${r.config} | ${f1(r.medianNs)} | ${f2(r.ratio)} | ${range} | ${f1(r.deltaNs)} |`,
      )
    }
  }
  log('done')
  process.exit(0)
}

if (process.argv[2] === '--child') {
  child(process.argv[3], JSON.parse(process.argv[4])).catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  await main()
}
