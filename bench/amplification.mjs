/**
 * How much throughput a known amount of middleware CPU costs on this machine:
 * `node bench/amplification.mjs [framework=fastify]` (after `npm run build` at the root and
 * `npm --prefix bench ci`).
 *
 * Servers (each in its own process, all after one outgoing HTTP request so that Node's HTTP client
 * code has run in them, as in every agentwrit-verify server): the bare route; the same route behind
 * no-op layers shaped like agentwrit-verify's (one app-wide layer and a route guard, on Fastify one
 * route `onRequest` hook) that spin for 0, 500, 1000 and 2000 ns per request; and agentwrit-verify
 * in remote mode, warm. They are measured in rounds, one after the other (rotating order), with
 * autocannon as in `run.mjs`; the table gives req/s and server CPU per request against the bare
 * server: the median over rounds, and the p90 of per-second req/s over the whole run ("quiet
 * seconds": interference from other tenants of the host only ever slows a second down).
 *
 * Environment: AMP_ROUNDS (5), AMP_DURATION (3 s), AMP_WARMUP (1 s), AMP_BUSY_NS ("0,500,1000,2000").
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { AUDIENCE, ISSUER, startBenchBroker } from './bench-broker.mjs'
import { spawnChild } from './child-commands.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const framework = process.argv[2] ?? 'fastify'
const env = process.env
const ROUNDS = Number(env.AMP_ROUNDS ?? 5)
const DURATION = Number(env.AMP_DURATION ?? 3)
const WARMUP = Number(env.AMP_WARMUP ?? 1)
const BUSY = (env.AMP_BUSY_NS ?? '0,500,1000,2000').split(',').map(Number)

const { broker, agent } = await startBenchBroker()
const client = { broker: broker.url, jwksUri: broker.jwksUrl, token: agent.accessToken }

const servers = [
  { name: 'bare after HTTP client use', kind: 'bare-client', options: client },
  ...BUSY.map((ns) => ({
    name: `no-op layers spinning ${ns} ns`,
    kind: 'noop',
    options: { busyNs: ns, warmClient: true, ...client },
  })),
  {
    name: 'agentwrit remote warm',
    kind: 'agentwrit',
    options: { broker: broker.url, issuer: ISSUER, audience: AUDIENCE },
  },
]

for (const s of servers) {
  const config = { framework, kind: s.kind, options: s.options, sub: agent.agentId }
  const c = spawnChild(join(here, 'server.mjs'), [JSON.stringify(config)])
  s.child = c.child
  s.call = c.call
  s.port = (await c.ready).port
  s.runs = []
}

function cannon(s, duration) {
  return new Promise((resolve, reject) => {
    const seconds = []
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${s.port}/customers/42`,
        connections: 50,
        duration,
        headers: { authorization: `Bearer ${agent.accessToken}` },
      },
      (err, res) => (err ? reject(err) : resolve({ ...res, seconds })),
    )
    instance.on('tick', (c) => seconds.push(c.counter))
  })
}

for (let round = 0; round < ROUNDS; round++) {
  for (const s of servers.map((_, i) => servers[(i + round) % servers.length])) {
    await cannon(s, WARMUP)
    const c0 = await s.call('cpu')
    const res = await cannon(s, DURATION)
    const c1 = await s.call('cpu')
    if (res.non2xx + res.errors > 0) throw new Error(`${s.name}: failed requests`)
    const cpuUs = c1.user + c1.system - c0.user - c0.system
    s.runs.push({ rps: res.requests.average, usPerReq: cpuUs / res.requests.total, seconds: res.seconds })
    console.error(`r${round + 1} ${s.name.padEnd(34)} ${Math.round(res.requests.average)} req/s`)
  }
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  const m = a.length >> 1
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2
}
const p90 = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  return a[Math.min(a.length - 1, Math.floor(0.9 * a.length))]
}
const base = servers[0]
console.log(`\n${framework}, ${ROUNDS} rounds × ${DURATION} s\n`)
console.log(
  '| server | req/s (median) | × bare (median of rounds) | × bare (quiet seconds, p90) | server µs CPU/req | + µs CPU/req vs bare |',
)
console.log('|---|---:|---:|---:|---:|---:|')
for (const s of servers) {
  const ratio = median(s.runs.map((r, i) => r.rps / base.runs[i].rps))
  const quiet = p90(s.runs.flatMap((r) => r.seconds)) / p90(base.runs.flatMap((r) => r.seconds))
  const us = median(s.runs.map((r) => r.usPerReq))
  const extra = median(s.runs.map((r, i) => r.usPerReq - base.runs[i].usPerReq))
  console.log(
    `| ${s.name} | ${Math.round(median(s.runs.map((r) => r.rps)))} | ${ratio.toFixed(2)} | ${quiet.toFixed(2)} | ${us.toFixed(1)} | ${extra.toFixed(1)} |`,
  )
}
for (const s of servers) s.child.send({ cmd: 'exit' })
await new Promise((r) => setTimeout(r, 1000))
await broker.close()
process.exit(0)
