/**
 * What a cold local verification (a new token every time) costs in CPU, without a framework, a
 * socket or a load generator: `node bench/cold-path.mjs` (after `npm run build` at the root).
 *
 * Four measurements over the same kind of token (the bench broker's agent claims with a fresh
 * `jti`, `iat`, `nbf` and `exp`, signed by the dev broker), each in µs of CPU per token:
 *
 * - `node:crypto verify, sync`: `crypto.verify(null, data, key, sig)` on the event loop, as
 *   fast-jwt (and so @fastify/jwt) does;
 * - `node:crypto verify, callback`: the same call with a callback, which runs it on libuv's
 *   thread pool, as agentwrit-verify does; its main-thread share is reported separately (read
 *   from `/proc/self/task/<pid>/stat`, Linux only);
 * - `agentwrit-verify authenticate`: `verifier.authenticate(request)` in local mode (JWKS from the
 *   dev broker), every token new: extraction, hash, cache miss, header, Ed25519 check, payload
 *   reader, claim checks, cache insert, identity;
 * - the difference of the last two, per round (same tokens, alternating order): the package's
 *   own cost on top of the signature check.
 *
 * Four requests are kept in flight (so the thread pool works as under load). Process CPU time
 * counts every thread.
 *
 * Environment: COLD_ROUNDS (8), COLD_TOKENS (8000 per round).
 */
import { createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createVerifier } from '../dist/index.js'
import { AUDIENCE, freshClaims, ISSUER, startBenchBroker } from './bench-broker.mjs'

const ROUNDS = Number(process.env.COLD_ROUNDS ?? 8)
const N = Number(process.env.COLD_TOKENS ?? 8000)
const IN_FLIGHT = 4

const { broker, agent } = await startBenchBroker()
const template = JSON.parse(Buffer.from(agent.accessToken.split('.')[1], 'base64url').toString('utf8'))
const tokens = Array.from({ length: N * ROUNDS }, () => broker.signToken(freshClaims(template)))
const verifier = createVerifier({ jwksUri: broker.jwksUrl, issuer: ISSUER, audience: AUDIENCE })
await verifier.verifyToken(broker.signToken(freshClaims(template))) // JWKS fetched, key imported
const key = createPublicKey({ key: broker.publicJwk, format: 'jwk' })
const sockets = Array.from({ length: IN_FLIGHT }, () => ({}))

const parts = (token) => {
  const dot = token.lastIndexOf('.')
  return [Buffer.from(token.slice(0, dot), 'latin1'), Buffer.from(token.slice(dot + 1), 'base64url')]
}

/** Run `one(token, lane)` over the list with IN_FLIGHT lanes. */
async function lanes(list, one) {
  let i = 0
  const lane = async (l) => {
    while (i < list.length) await one(list[i++], l)
  }
  await Promise.all(sockets.map((_, l) => lane(l)))
}

const raw = {
  sync: async (list) => {
    for (const t of list) {
      const [data, sig] = parts(t)
      if (!verify(null, data, key, sig)) throw new Error('signature refused')
    }
  },
  callback: (list) =>
    lanes(
      list,
      (t) =>
        new Promise((resolve, reject) => {
          const [data, sig] = parts(t)
          verify(null, data, key, sig, (err, ok) =>
            err || !ok ? reject(err ?? new Error('refused')) : resolve(),
          )
        }),
    ),
  ours: (list) =>
    lanes(list, async (t, l) => {
      const authorization = `Bearer ${t}`
      await verifier.authenticate({
        headers: { authorization },
        rawHeaders: ['Authorization', authorization],
        url: '/customers/42',
        socket: sockets[l],
      })
    }),
}

const TICK_US = 1e6 / 100 // USER_HZ
function mainThreadUs() {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * TICK_US
  } catch {
    return Number.NaN
  }
}

async function measure(name, list) {
  const main0 = mainThreadUs()
  const cpu0 = process.cpuUsage()
  await raw[name](list)
  const cpu = process.cpuUsage(cpu0)
  return { all: (cpu.user + cpu.system) / list.length, main: (mainThreadUs() - main0) / list.length }
}

const rows = { sync: [], callback: [], callbackMain: [], ours: [], oursMain: [], diff: [] }
for (let r = 0; r < ROUNDS; r++) {
  const list = tokens.slice(r * N, (r + 1) * N)
  // Alternate the order so that a slow phase of the machine does not always hit the same one.
  const order = r % 2 === 0 ? ['sync', 'callback', 'ours'] : ['ours', 'callback', 'sync']
  const got = {}
  for (const name of order) got[name] = await measure(name, list)
  rows.sync.push(got.sync.all)
  rows.callback.push(got.callback.all)
  rows.callbackMain.push(got.callback.main)
  rows.ours.push(got.ours.all)
  rows.oursMain.push(got.ours.main)
  rows.diff.push(got.ours.all - got.callback.all)
}
await verifier.close()
await broker.close()

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const fmt = (xs) => median(xs).toFixed(1)
const all = (xs) => xs.map((x) => x.toFixed(0)).join(' ')
console.log(
  `Cold path, µs of CPU per token (median of ${ROUNDS} rounds × ${N} tokens, ${IN_FLIGHT} in flight)\n`,
)
console.log('| what | all threads | main thread | rounds (all threads) |')
console.log('|---|---:|---:|---|')
console.log(`| node:crypto verify, sync | ${fmt(rows.sync)} | (all) | ${all(rows.sync)} |`)
console.log(
  `| node:crypto verify, callback (thread pool) | ${fmt(rows.callback)} | ${fmt(rows.callbackMain)} | ${all(rows.callback)} |`,
)
console.log(
  `| agentwrit-verify authenticate, local, new token | ${fmt(rows.ours)} | ${fmt(rows.oursMain)} | ${all(rows.ours)} |`,
)
console.log(`| agentwrit-verify − callback verify (same round) | ${fmt(rows.diff)} | | ${all(rows.diff)} |`)
console.log('\n(main thread: /proc clock ticks of 10 ms, so ±0.1 µs per token at these counts)')
