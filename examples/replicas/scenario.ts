/**
 * Several replicas of one service, as `npm run example:replicas` runs it: three replicas of the
 * Hono order service (examples/order-worker/), each with its own verifier and Redis client, share
 * one Redis through `redisStore()` behind a round-robin proxy. Twelve requests cost the broker one
 * validate call for the whole fleet; after a revoke at the broker, one replica (the lease holder)
 * reads it from the audit log and the others apply it from the Redis stream, so every replica
 * refuses the token about a second later although each caches answers for a minute.
 */
import { randomBytes } from 'node:crypto'
import { createClient } from 'redis'
import { startDevBroker } from '../../src/testing/index.js'
import { type Log, type ScenarioOutcome, sleep } from '../shared.js'
import { roundRobinProxy } from './proxy.js'
import { exampleRedis } from './redis.js'
import { type Replica, startReplica } from './replica.js'

/** What the run measured, besides whether every expectation held. */
export interface ReplicasOutcome extends ScenarioOutcome {
  /** Requests each replica answered (200) before the revoke. */
  readonly served: Readonly<Record<string, number>>
  /** Broker validate calls those requests cost the fleet. */
  readonly validateCalls: number
  /** Broker validate calls at the end: the refusals cost none. */
  readonly validateCallsAtEnd: number
  /** Each replica's first refusal of the revoked token, ms after the broker answered the revoke. */
  readonly refusedAfterMs: Readonly<Record<string, number>>
  /** The last replica's, or `undefined` if one never refused. */
  readonly lastRefusedAfterMs: number | undefined
  /** `stats().sharedCache.revocations.role` of each replica at the end. */
  readonly roles: Readonly<Record<string, string>>
}

const CUSTOMER = 'cust-7291'
const SETTLE_TIMEOUT_MS = 10_000

export async function replicasScenario(options: {
  log: Log
  /** Default 3. */
  replicas?: number
  /** Requests before the revoke. Default 12. */
  requests?: number
  /** Every replica must refuse the revoked token within this, ms. Default 3000. */
  refuseWithinMs?: number
  /** Where `REDIS_URL` is read. Default `process.env`. */
  env?: NodeJS.ProcessEnv
}): Promise<ReplicasOutcome> {
  const { log } = options
  const count = options.replicas ?? 3
  const requests = options.requests ?? 12
  const refuseWithinMs = options.refuseWithinMs ?? 3_000
  const mismatches: string[] = []
  // In production: one secret for the fleet, from your secret store. Never stored in Redis.
  const secret = randomBytes(32).toString('base64url')
  const prefix = `agentwrit-verify-example:${randomBytes(4).toString('hex')}:`

  const broker = await startDevBroker()
  const redis = await exampleRedis(options.env).catch(async (err: unknown) => {
    await broker.close()
    throw err
  })
  const replicas: Replica[] = []
  let proxy: Awaited<ReturnType<typeof roundRobinProxy>> | undefined
  try {
    for (let i = 1; i <= count; i++) {
      replicas.push(await startReplica({ name: `replica-${i}`, broker, redisUrl: redis.url, secret, prefix }))
    }
    proxy = await roundRobinProxy(replicas.map((r) => r.url))
    const names = replicas.map((r) => r.name)
    const roles = (): Record<string, string> =>
      Object.fromEntries(replicas.map((r) => [r.name, String(r.store.stats().revocations?.role)]))

    log(`${count} replicas of the order service behind one proxy, sharing one Redis`)
    log('='.repeat(55))
    log(`Broker (dev):  ${broker.url}`)
    log(
      `Redis:         ${redis.url}  (${redis.source === 'REDIS_URL' ? 'REDIS_URL' : 'redis-server started for this run'})`,
    )
    for (const r of replicas) log(`${r.name.padEnd(15)}${r.url}`)
    log('               (Hono order service, cacheTtlMs 60000, revocationFeed, sharedCache: redisStore)')
    log(`Proxy:         ${proxy.url}  (round robin)`)
    log('')

    // One replica takes the lease and polls the audit log; the others follow once they hear it.
    const started = performance.now()
    const settled = () => oneLeader(roles())
    while (!settled() && performance.now() - started < SETTLE_TIMEOUT_MS) await sleep(20)
    const fleet = Object.entries(roles())
      .map(([name, role]) => `${name} ${role}`)
      .join(', ')
    const waited = Math.round(performance.now() - started)
    log(`Fleet ${settled() ? 'settled' : 'NOT settled'} after ${waited} ms: ${fleet}`)
    log('')

    const agent = await broker.createAgent({
      orchId: 'order-worker',
      taskId: 'process-ord-4823',
      scope: [`read:data:customer-${CUSTOMER}`],
    })
    log(`Agent created: ${agent.agentId}`)
    broker.resetStats()
    const served: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]))
    for (let i = 0; i < requests; i++) {
      const answer = await getCustomer(proxy.url, agent.accessToken)
      if (answer.status === 200) served[answer.replica] = (served[answer.replica] ?? 0) + 1
      else mismatches.push(`request ${i + 1}: expected 200, got ${answer.status} from ${answer.replica}`)
    }
    const validateCalls = broker.stats.validateCalls
    log(
      `${requests} × GET /customers/${CUSTOMER} through the proxy → 200 (${names.map((n) => `${n} ${served[n]}`).join(', ')})`,
    )
    log(
      `Broker validate calls for the fleet: ${validateCalls}  (without the shared cache: ${count}, one per replica)`,
    )
    if (validateCalls !== 1) mismatches.push(`validate calls: expected 1 for the fleet, got ${validateCalls}`)
    for (const n of names) if (!served[n]) mismatches.push(`${n}: served no request`)
    log('')

    const { jti } = JSON.parse(Buffer.from(agent.accessToken.split('.')[1]!, 'base64url').toString()) as {
      jti: string
    }
    await broker.revoke('token', jti)
    const revokedAt = performance.now()
    log(`Revoked the token at the broker (POST /v1/revoke, level token, jti ${jti})`)
    const refusedAfterMs: Record<string, number> = {}
    while (Object.keys(refusedAfterMs).length < count && performance.now() - revokedAt < refuseWithinMs) {
      const answer = await getCustomer(proxy.url, agent.accessToken)
      const ms = Math.round(performance.now() - revokedAt)
      if (answer.status === 401 && refusedAfterMs[answer.replica] === undefined) {
        refusedAfterMs[answer.replica] = ms
        log(`  ${answer.replica} refused it after ${ms} ms (401 ${answer.code})`)
      } else if (answer.status !== 401 && refusedAfterMs[answer.replica] !== undefined) {
        mismatches.push(`${answer.replica}: answered ${answer.status} after refusing the revoked token`)
      }
      await sleep(10)
    }
    const late = names.filter((n) => refusedAfterMs[n] === undefined)
    const lastRefusedAfterMs = late.length === 0 ? Math.max(...Object.values(refusedAfterMs)) : undefined
    if (late.length === 0) {
      const first = Math.min(...Object.values(refusedAfterMs))
      log(
        `Every replica refused the revoked token; the last ${lastRefusedAfterMs} ms after the revoke ` +
          `(${lastRefusedAfterMs! - first} ms after the first), although each caches answers for 60 s.`,
      )
    } else {
      const message = `${late.join(', ')} still accepted the revoked token ${refuseWithinMs} ms after the revoke`
      log(`FAILED: ${message}`)
      mismatches.push(message)
    }
    const validateCallsAtEnd = broker.stats.validateCalls
    log(
      `Broker validate calls by now: ${validateCallsAtEnd}` +
        (validateCallsAtEnd === validateCalls ? '  (the refusals came from the feed, not the broker)' : ''),
    )
    if (validateCallsAtEnd !== validateCalls) {
      mismatches.push(
        `validate calls: the refusals cost ${validateCallsAtEnd - validateCalls}, expected none`,
      )
    }
    log('')

    const end = roles()
    log('Revocation feed, stats().sharedCache.revocations of each replica:')
    for (const r of replicas) {
      const s = r.store.stats()
      const f = s.revocations
      log(
        `  ${r.name}  ${String(f?.role).padEnd(8)}  published ${f?.published}, received ${f?.received}, ` +
          `leases ${f?.leases}, catch-ups ${f?.catchUps}; shared answers: ${s.hits} hits, ${s.flightsLed} broker calls`,
      )
    }
    if (!oneLeader(end)) {
      mismatches.push(`roles: expected 1 leader and ${count - 1} followers, got ${JSON.stringify(end)}`)
    }
    return {
      ok: mismatches.length === 0,
      mismatches,
      served,
      validateCalls,
      validateCallsAtEnd,
      refusedAfterMs,
      lastRefusedAfterMs,
      roles: end,
    }
  } finally {
    await proxy?.close()
    for (const r of replicas) await r.close()
    if (redis.source === 'REDIS_URL' && replicas.length > 0) await dropKeys(redis.url, prefix).catch(() => {})
    await redis.close()
    await broker.close()
  }
}

/** One replica leads (polls the audit log), every other follows it. */
function oneLeader(roles: Readonly<Record<string, string>>): boolean {
  const all = Object.values(roles)
  return (
    all.filter((r) => r === 'leader').length === 1 && all.every((r) => r === 'leader' || r === 'follower')
  )
}

/** `GET /customers/cust-7291` with the token: the status, who answered, the refusal's code. */
async function getCustomer(baseUrl: string, token: string) {
  const res = await fetch(new URL(`/customers/${CUSTOMER}`, baseUrl), {
    headers: { authorization: `Bearer ${token}` },
  })
  const body = (await res.json().catch(() => null)) as { error_code?: string } | null
  return { status: res.status, replica: res.headers.get('x-replica') ?? '(none)', code: body?.error_code }
}

/** A Redis this run did not start keeps nothing of it. */
async function dropKeys(url: string, prefix: string): Promise<void> {
  const client = createClient({ url })
  await client.connect()
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) {
      if (keys.length > 0) await client.del(keys)
    }
  } finally {
    await client.close()
  }
}
