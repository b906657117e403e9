/**
 * The revocation feed fanned out over Redis, end to end: three replicas (Express, Koa and Fastify
 * services, each with its own verifier, node-redis client and `redisStore()`) with
 * `revocationFeed: { adminSecret }` (default poll interval, 1 s) and answers cached a minute, on
 * one real redis-server in front of the development broker, over real HTTP on 127.0.0.1.
 *
 * - One replica holds the lease and polls the audit log for the fleet; the broker sees about one
 *   replica's polling; a revocation is refused by all three within 2.5 s.
 * - The leader cut off from Redis: another takes the lease within `leaseMs`; the followers and the
 *   cut-off replica (which then polls for itself) all refuse a new revocation.
 * - Messages missed (Redis flushed under the replicas): the gap in the numbers makes followers catch
 *   up; the revocation is refused everywhere.
 * - Forged messages (another secret, garbage, an edited body) are ignored and change nothing.
 */
import { describe, expect, it, vi } from 'vitest'
import { createVerifier } from '../../src/index.js'
import { deriveKeys, signMessage } from '../../src/redis/entry-codec.js'
import { type FanoutStats, type RedisStore, type RedisStoreOptions, redisStore } from '../../src/redis.js'
import { AUDIT_EVENTS_PATH } from '../../src/testing/index.js'
import { buildApp } from '../adapters/apps.js'
import type { NodeRedis, ServedReplica } from './fleet.js'
import { FRAMEWORKS, get, refusedWithin, shared, sleep, useFleetHarness } from './fleet.js'

const SECRET = 'fanout-test-secret-shared-by-every-replica-0123456789'
const PREFIX = 'agentwrit-verify:'
const STREAM_KEY = `${PREFIX}feed:stream`
const SEQ_KEY = `${PREFIX}feed:seq`
/** The feed's default poll interval (not set below), and each poll's requests: one per event type. */
const POLL_INTERVAL_MS = 1000
const REQUESTS_PER_POLL = 3

interface Replica extends ServedReplica {
  readonly store: RedisStore
  readonly client: NodeRedis
}

const harness = useFleetHarness({ orchId: 'redis-fanout', taskId: 'revocations' })
const { freshToken, jtiOf, redisServer, nodeRedis, onCleanup } = harness

/** Express, Koa and Fastify replicas with the feed fanned out over `url`. */
async function fleet(url: string, store: Partial<RedisStoreOptions> = {}): Promise<Replica[]> {
  const replicas: Replica[] = []
  for (const name of FRAMEWORKS) {
    const client = await nodeRedis(url)
    const shared = redisStore({ client, secret: SECRET, ...store })
    const verifier = createVerifier({
      broker: harness.broker.url,
      cacheTtlMs: 60_000,
      revocationFeed: { adminSecret: harness.broker.adminSecret },
      sharedCache: shared,
    })
    const app = await buildApp(name, verifier)
    onCleanup(async () => {
      await app.close() // and the verifier
      await shared.close()
    })
    replicas.push({ name, app, store: shared, client })
  }
  return replicas
}

function fanout(r: Replica): FanoutStats {
  const s = shared(r).revocations
  if (s === undefined) throw new Error(`${r.name}: no fan-out`)
  return s
}

function feed(r: Replica) {
  const s = r.app.verifier.stats().revocationFeed
  if (s === undefined) throw new Error(`${r.name}: no feed`)
  return s
}

const roles = (replicas: readonly Replica[]) => replicas.map((r) => fanout(r).role)

/** Wait for one leader and followers for the rest; the leader. */
async function settled(replicas: readonly Replica[], timeout = 5000): Promise<Replica> {
  await vi.waitFor(
    () => {
      const now = roles(replicas)
      expect(now.filter((role) => role === 'leader')).toHaveLength(1)
      expect(now.filter((role) => role === 'follower')).toHaveLength(replicas.length - 1)
      for (const r of replicas) expect(feed(r).synced).toBe(true)
    },
    { timeout, interval: 20 },
  )
  return replicas.find((r) => fanout(r).role === 'leader')!
}

/** GET /customers/7 with `token`: the status and where the answer came from. */
async function reply(r: Replica, token: string) {
  const { status, source } = await get(r, token)
  return { status, source }
}

/** A new token each replica has answered, the last answer from its own cache. */
async function cachedEverywhere(replicas: readonly Replica[]): Promise<string> {
  const token = freshToken()
  for (const r of replicas) {
    expect((await reply(r, token)).status).toBe(200)
    expect(await reply(r, token)).toEqual({ status: 200, source: 'cache' })
  }
  return token
}

/** Revoke `token` at the broker; how long each replica took to refuse it (ms since the revoke call). */
async function revokeAndTime(replicas: readonly Replica[], token: string, limitMs: number) {
  const since = performance.now()
  await harness.broker.revoke('token', jtiOf(token))
  return Promise.all(replicas.map((r) => refusedWithin(r, token, limitMs, { since, everyMs: 10 })))
}

const report = (label: string, names: readonly string[], ms: readonly number[]) =>
  console.log(
    `[${label}] refused after`,
    Object.fromEntries(names.map((n, i) => [n, Math.round(ms[i]!)])),
    `slowest ${Math.round(Math.max(...ms))} ms`,
  )

describe('the revocation feed fanned out over Redis', () => {
  it('one leader polls for the fleet; a revocation is refused by all three within 2.5 s', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url)
    const leader = await settled(replicas)
    const followers = replicas.filter((r) => r !== leader)

    // About one replica's polling: ~3 polls in 3 s, each one request per event type (9), where
    // three replicas polling would make ~27.
    const polls = replicas.map((r) => feed(r).polls)
    harness.broker.resetStats()
    await sleep(3 * POLL_INTERVAL_MS)
    const audit = harness.broker.stats.requests[AUDIT_EVENTS_PATH] ?? 0
    const ownPolls = replicas.map((r, i) => feed(r).polls - polls[i]!)
    console.log(`[fan-out] audit requests in 3 s: ${audit}; own polls`, ownPolls, 'roles', roles(replicas))
    expect(audit).toBeGreaterThanOrEqual(2 * REQUESTS_PER_POLL)
    expect(audit).toBeLessThanOrEqual(4 * REQUESTS_PER_POLL)
    expect(ownPolls[replicas.indexOf(leader)]).toBeGreaterThanOrEqual(2)
    for (const f of followers) {
      expect(feed(f).polls - polls[replicas.indexOf(f)]!).toBe(0)
      expect(feed(f).current).toBe(true)
      expect(fanout(f).received).toBeGreaterThan(0)
    }
    expect(roles(replicas).filter((role) => role === 'leader')).toHaveLength(1)

    const token = await cachedEverywhere(replicas)
    harness.broker.resetStats()
    const took = await revokeAndTime(replicas, token, 2500)
    report(
      'fan-out',
      replicas.map((r) => `${r.name}${r === leader ? ' (leader)' : ''}`),
      took,
    )
    expect(Math.max(...took)).toBeLessThan(2500)
    // Refused from the feed's predicates: the broker was never asked.
    expect(harness.broker.stats.validateCalls).toBe(0)
  })

  it('the leader cut off from Redis: another takes the lease within leaseMs; followers and the cut-off replica refuse a new revocation', async () => {
    const LEASE_MS = 1000
    const redis = await redisServer()
    const replicas = await fleet(redis.url, { leaseMs: LEASE_MS })
    const leader = await settled(replicas)
    const others = replicas.filter((r) => r !== leader)
    const token = await cachedEverywhere(replicas)

    const cut = performance.now()
    leader.client.destroy()
    await vi.waitFor(() => expect(others.some((r) => fanout(r).role === 'leader')).toBe(true), {
      timeout: LEASE_MS + 2000,
      interval: 10,
    })
    const takeover = performance.now() - cut
    // The lease lapses within leaseMs of its last renewal, then the next follow interval takes it.
    expect(takeover).toBeLessThan(LEASE_MS + 1000)
    await vi.waitFor(
      () => {
        expect(fanout(leader).role).toBe('alone')
        expect(roles(others).sort()).toEqual(['follower', 'leader'])
      },
      { timeout: 3000, interval: 10 },
    )
    console.log(
      `[leader cut off] ${leader.name} → alone; ${others.find((r) => fanout(r).role === 'leader')!.name} leads after ${Math.round(takeover)} ms`,
    )

    const took = await revokeAndTime([...others, leader], token, 2500)
    report(
      'leader cut off',
      [...others.map((r) => `${r.name} (${fanout(r).role})`), `${leader.name} (alone)`],
      took,
    )
    expect(Math.max(...took)).toBeLessThan(2500)
    // The cut-off replica keeps answering with the broker and polls for itself.
    expect((await reply(leader, freshToken())).status).toBe(200)
    expect(feed(leader).current).toBe(true)
  })

  it('messages missed (Redis flushed under the replicas): the gap makes followers catch up; every replica refuses the revocation within 3 s', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url)
    await settled(replicas)
    const token = await cachedEverywhere(replicas)
    const before = replicas.map((r) => ({ ...fanout(r) }))

    await redis.flushAll()
    const took = await revokeAndTime(replicas, token, 3000)
    report(
      'flushed',
      replicas.map((r) => r.name),
      took,
    )
    expect(Math.max(...took)).toBeLessThan(3000)

    // A replica that followed before the flush and still follows read numbers restarting at 1.
    await settled(replicas)
    const steady = replicas.filter((r, i) => before[i]!.role === 'follower' && fanout(r).role === 'follower')
    expect(steady.length).toBeGreaterThan(0)
    await vi.waitFor(
      () => {
        for (const r of steady) {
          const was = before[replicas.indexOf(r)]!
          expect(fanout(r).gaps).toBeGreaterThan(was.gaps)
          expect(fanout(r).catchUps).toBeGreaterThan(was.catchUps)
        }
      },
      { timeout: 3000, interval: 20 },
    )
    console.log(
      '[flushed] roles before',
      before.map((b) => b.role),
      'after',
      roles(replicas),
      'gaps',
      replicas.map((r, i) => fanout(r).gaps - before[i]!.gaps),
      'catch-ups',
      replicas.map((r, i) => fanout(r).catchUps - before[i]!.catchUps),
    )
    // Still one fleet: the new leader's messages reach the followers.
    const received = replicas.map((r) => fanout(r).received)
    await vi.waitFor(
      () => {
        for (const [i, r] of replicas.entries())
          if (fanout(r).role === 'follower') expect(fanout(r).received).toBeGreaterThan(received[i]!)
      },
      { timeout: 3000, interval: 20 },
    )
  })

  it('Redis paused under the fleet: the lease holder takes its own lease back after resume(), without waiting for it to lapse', async () => {
    // A long lease: a holder that did not recognise its own lease would leave the fleet leaderless
    // for seconds (nobody publishing; followers polling for themselves once they stop hearing).
    const LEASE_MS = 10_000
    const redis = await redisServer()
    const replicas = await fleet(redis.url, { leaseMs: LEASE_MS })
    const leader = await settled(replicas)
    const token = await cachedEverywhere(replicas)

    redis.pause()
    // Every replica meets the paused Redis (a timed-out command), stops counting itself leader or
    // follower, and polls for itself; cached answers are still served.
    await vi.waitFor(() => expect(roles(replicas)).toEqual(['alone', 'alone', 'alone']), {
      timeout: 5000,
      interval: 20,
    })
    for (const r of replicas) expect(await reply(r, token)).toEqual({ status: 200, source: 'cache' })
    await sleep(1000)
    redis.resume()
    const resumed = performance.now()
    await vi.waitFor(() => expect(roles(replicas).filter((role) => role === 'leader')).toHaveLength(1), {
      timeout: LEASE_MS,
      interval: 10,
    })
    const back = performance.now() - resumed
    console.log(`[paused] a leader again ${Math.round(back)} ms after resume (lease ${LEASE_MS} ms)`)
    // Within retryMs (Redis left alone after the failures) and a follow interval or two.
    expect(back).toBeLessThan(2500)
    expect(fanout(leader).role).toBe('leader')
    await settled(replicas)
    const took = await revokeAndTime(replicas, token, 2500)
    report(
      'paused',
      replicas.map((r) => r.name),
      took,
    )
    expect(Math.max(...took)).toBeLessThan(2500)
  })

  it('forged fan-out messages (another secret, garbage, an edited body) are ignored and change nothing', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url)
    const leader = await settled(replicas)
    const followers = replicas.filter((r) => r !== leader)
    const victim = await cachedEverywhere(replicas)
    const control = await cachedEverywhere(replicas)
    const admin = await nodeRedis(redis.url)

    /** Append a message as a replica would (numbered with the fleet's counter, so no gap). */
    async function append(b: string): Promise<void> {
      const s = String(await admin.incr(SEQ_KEY))
      await admin.sendCommand(['XADD', STREAM_KEY, '*', 's', s, 'b', b])
    }
    const body = (token: string) =>
      JSON.stringify({
        from: 'attacker',
        ageMs: 0,
        updates: [{ kind: 'revoked', level: 'token', target: jtiOf(token) }],
      })
    const foreign = deriveKeys(Buffer.from('another-secret-that-is-at-least-32-bytes-long'))
    const genuine = deriveKeys(Buffer.from(SECRET))
    const edited = signMessage(genuine, body(control)).replace(jtiOf(control), jtiOf(victim))

    const rejected = followers.map((f) => fanout(f).rejected)
    const predicates = replicas.map((r) => feed(r).predicates)
    for (const forged of [signMessage(foreign, body(victim)), 'garbage', `.${body(victim)}`, edited]) {
      await append(forged)
    }
    await vi.waitFor(
      () => {
        for (const [i, f] of followers.entries()) expect(fanout(f).rejected).toBe(rejected[i]! + 4)
      },
      { timeout: 3000, interval: 20 },
    )
    // A heartbeat after them has been applied too: the fleet still follows, nothing changed.
    const received = followers.map((f) => fanout(f).received)
    await vi.waitFor(
      () => {
        for (const [i, f] of followers.entries()) expect(fanout(f).received).toBeGreaterThan(received[i]!)
      },
      { timeout: 3000, interval: 20 },
    )
    for (const r of replicas) {
      expect(await reply(r, victim)).toEqual({ status: 200, source: 'cache' })
      expect(feed(r).predicates).toEqual(predicates[replicas.indexOf(r)])
    }
    expect(roles(replicas).sort()).toEqual(['follower', 'follower', 'leader'])

    // Control: the same message signed with the fleet's secret is applied (so the forged ones were
    // refused for their MAC, not their shape) — by the followers, which read the stream.
    await append(signMessage(genuine, body(control)))
    await vi.waitFor(
      async () => {
        for (const f of followers) expect((await reply(f, control)).status).toBe(401)
      },
      { timeout: 3000, interval: 20 },
    )
    for (const r of replicas) expect((await reply(r, victim)).status).toBe(200)
  })
})
