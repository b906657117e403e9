/**
 * Redis faults seen through real replicas: Express, Koa and Fastify services, each with its own
 * verifier, Redis client and `redisStore()`, on one real redis-server in front of the development
 * broker, over real HTTP on 127.0.0.1. Whatever happens to Redis, three things hold:
 *
 * - no wrong accept: a forged or revoked token is never answered 200;
 * - no 5xx while the broker is up: a dead, paused or absent Redis costs at most a Redis deadline
 *   (`timeoutMs`) per `retryMs`, and the replicas ask the broker themselves;
 * - recovery without restart: once Redis is back, the same replicas (same clients, stores and
 *   verifiers) share answers again (one validate call for a token the three see).
 *
 * And the other way round: with the broker down and Redis up, a new token is a 503 (never a 401),
 * while an answer another replica stored before the outage still serves a replica that never saw
 * the token — until the broker revokes it and the feed says so.
 *
 * While the feed lags, a shared answer counts as old as it is in Redis: one older than the feed's
 * `laggingCacheTtlMs` is asked again, so a revocation the feed cannot see is refused by the broker.
 */
import { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import type { AgentAuthOptions } from '../../src/index.js'
import { createVerifier } from '../../src/index.js'
import { type RedisClientLike, type RedisStore, redisStore } from '../../src/redis.js'
import { AUDIT_EVENTS_PATH } from '../../src/testing/index.js'
import { type AdapterName, buildApp } from '../adapters/apps.js'
import { forgeSignature } from '../helpers/tokens.js'
import type { Answer, NodeRedis, ServedReplica } from './fleet.js'
import { FRAMEWORKS, get, refusedWithin, shared, sleep, useFleetHarness } from './fleet.js'

const SECRET = 'faults-test-secret-shared-by-every-replica-0123456789'
/** The store's defaults, stated: a command's deadline, how long a failed Redis is left alone. */
const TIMEOUT_MS = 100
const RETRY_MS = 1000

interface Replica extends ServedReplica {
  readonly store: RedisStore
  /** Close the Redis client abruptly (never waits for a dead or paused server). */
  readonly dropClient: () => void
  /** The client is connected and ready for commands. */
  readonly clientReady: () => boolean
}

const harness = useFleetHarness({ orchId: 'redis-faults', taskId: 'traffic' })
const { freshToken, jtiOf, redisServer, nodeRedis, onCleanup } = harness

async function ioRedis(url: string): Promise<Redis> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500) })
  client.on('error', () => {})
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve))
  return client
}

/** One replica: its own client, store, verifier and framework service. */
async function replica(
  framework: AdapterName,
  client: RedisClientLike,
  drop: { dropClient: () => void; clientReady: () => boolean },
  settings: Partial<AgentAuthOptions> = {},
): Promise<Replica> {
  const store = redisStore({ client, secret: SECRET, timeoutMs: TIMEOUT_MS, retryMs: RETRY_MS })
  const verifier = createVerifier({
    broker: harness.broker.url,
    cacheTtlMs: 60_000,
    ...settings,
    sharedCache: store,
  })
  const app = await buildApp(framework, verifier)
  const r: Replica = { name: framework, app, store, ...drop }
  onCleanup(async () => {
    await app.close() // closes the verifier too
    await store.close()
    r.dropClient()
  })
  return r
}

function nodeRedisReplica(
  framework: AdapterName,
  client: NodeRedis,
  settings?: Partial<AgentAuthOptions>,
): Promise<Replica> {
  return replica(
    framework,
    client,
    {
      dropClient: () => {
        if (client.isOpen) client.destroy()
      },
      clientReady: () => client.isReady,
    },
    settings,
  )
}

/** Express, Koa and Fastify replicas on `url`, each with its own node-redis client. */
async function fleet(url: string, settings?: Partial<AgentAuthOptions>, awaitConnect = true) {
  const out: Replica[] = []
  for (const framework of FRAMEWORKS) {
    out.push(await nodeRedisReplica(framework, await nodeRedis(url, awaitConnect), settings))
  }
  return out
}

/** A new token seen by every replica in turn: how many validate calls it cost, and the shared hits it made. */
async function seenByAll(replicas: readonly Replica[]): Promise<{ validateCalls: number; hits: number[] }> {
  const token = freshToken()
  const before = replicas.map((r) => shared(r).hits)
  harness.broker.resetStats()
  for (const r of replicas) expect((await get(r, token)).status).toBe(200)
  return {
    validateCalls: harness.broker.stats.validateCalls,
    hits: replicas.map((r, i) => shared(r).hits - before[i]!),
  }
}

/** Wait until every client is connected again and no store leaves Redis alone any more. */
async function recovered(replicas: readonly Replica[], timeout = 5000): Promise<void> {
  await vi.waitFor(
    () => {
      for (const r of replicas) {
        expect(r.clientReady()).toBe(true)
        expect(shared(r).redis.state).toBe('up')
      }
    },
    { timeout, interval: 20 },
  )
}

describe('Redis faults while the broker is up: no wrong accept, no 5xx, recovery without restart', () => {
  it('Redis killed (SIGKILL) during traffic: valid 200, forged 401, never 5xx; `down` and `bypassed`; shared again after restart()', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url)
    // Sharing works before the fault.
    expect(await seenByAll(replicas)).toEqual({ validateCalls: 1, hits: [0, 1, 1] })
    const warm = freshToken()
    for (const r of replicas) expect((await get(r, warm)).status).toBe(200)
    const bypassedBefore = replicas.map((r) => shared(r).bypassed)

    const valid: Answer[] = []
    const forged: Answer[] = []
    const seenDown = new Set<string>()
    let running = true
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        const r = replicas[i % replicas.length]!
        const fresh = freshToken()
        const [w, n, f] = await Promise.all([get(r, warm), get(r, fresh), get(r, forgeSignature(fresh))])
        valid.push(w, n)
        forged.push(f)
        if (shared(r).redis.state === 'down') seenDown.add(r.name)
      }
    })()
    await sleep(300)
    await redis.kill()
    // Longer than retryMs twice: every replica tries Redis again at least once meanwhile.
    await sleep(2 * RETRY_MS + 500)
    running = false
    await traffic

    expect(valid.length).toBeGreaterThan(30)
    expect(valid.filter((a) => a.status !== 200)).toEqual([])
    expect(forged.filter((a) => a.status !== 401)).toEqual([])
    expect([...valid, ...forged].filter((a) => a.status >= 500)).toEqual([])
    // Right after a new token's lookup, a replica counts Redis down (it failed, or was skipped).
    for (const r of replicas) {
      expect((await get(r, freshToken())).status).toBe(200)
      const s = shared(r)
      expect(s.redis.state).toBe('down')
      expect(s.redis.failures).toBeGreaterThan(0)
      seenDown.add(r.name)
    }
    expect(seenDown.size).toBe(3)
    expect(replicas.map((r, i) => shared(r).bypassed > bypassedBefore[i]!)).toEqual([true, true, true])
    const slowest = Math.max(...valid.map((a) => a.ms))
    console.log(
      `[redis killed] ${valid.length + forged.length} requests, slowest ${slowest.toFixed(0)} ms; bypassed`,
      replicas.map((r, i) => shared(r).bypassed - bypassedBefore[i]!),
    )

    // Redis comes back empty on the same port: the same replicas share again.
    await redis.restart()
    await recovered(replicas)
    expect(await seenByAll(replicas)).toEqual({ validateCalls: 1, hits: [0, 1, 1] })
    // The warm token was cached by each replica itself: still served, no broker call.
    harness.broker.resetStats()
    for (const r of replicas) expect(await get(r, warm)).toMatchObject({ status: 200, source: 'cache' })
    expect(harness.broker.stats.validateCalls).toBe(0)
  })

  it('Redis paused (SIGSTOP): cold requests go to the broker, warm ones are served, nothing hangs; shared again after resume()', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url)
    const warm = freshToken()
    for (const r of replicas) expect((await get(r, warm)).status).toBe(200)

    redis.pause()
    const cold: Answer[] = []
    const cached: Answer[] = []
    const forged: Answer[] = []
    const started = Date.now()
    // Over more than one retryMs, so each replica meets the paused Redis more than once.
    while (Date.now() - started < RETRY_MS + 500) {
      for (const r of replicas) {
        const fresh = freshToken()
        const [c, w, f] = await Promise.all([get(r, fresh), get(r, warm), get(r, forgeSignature(fresh))])
        cold.push(c)
        cached.push(w)
        forged.push(f)
      }
    }
    expect(cold.filter((a) => a.status !== 200)).toEqual([])
    expect(cached.filter((a) => a.status !== 200 || a.source !== 'cache')).toEqual([])
    expect(forged.filter((a) => a.status !== 401)).toEqual([])
    // Far below the verifier's broker timeout (2 s): a paused Redis costs one deadline (100 ms).
    const slowest = Math.max(...cold.map((a) => a.ms))
    expect(slowest).toBeLessThan(2000)
    for (const r of replicas) {
      const s = shared(r)
      expect(s.redis.timeouts).toBeGreaterThan(0)
      expect(s.bypassed).toBeGreaterThan(0)
    }
    console.log(
      `[redis paused] ${cold.length} cold requests, slowest ${slowest.toFixed(0)} ms, median ${median(cold.map((a) => a.ms)).toFixed(0)} ms`,
    )

    redis.resume()
    await recovered(replicas)
    expect(await seenByAll(replicas)).toEqual({ validateCalls: 1, hits: [0, 1, 1] })
  })

  it('Redis absent when the replicas start: they are created, serve via the broker, ready() is ready with sharedCache.ok false; shared once Redis starts', async () => {
    const redis = await redisServer()
    await redis.stop()
    const replicas = await fleet(redis.url, undefined, false)

    for (const r of replicas) {
      const token = freshToken()
      expect(await get(r, token)).toMatchObject({ status: 200, source: 'broker' })
      expect((await get(r, forgeSignature(token))).status).toBe(401)
      const readiness = await r.app.verifier.ready()
      expect(readiness.ready).toBe(true)
      expect(readiness.checks.sharedCache?.ok).toBe(false)
      expect(shared(r).bypassed + shared(r).redis.failures).toBeGreaterThan(0)
    }

    // Redis starts on the configured port: the clients connect by themselves.
    await redis.restart()
    await recovered(replicas)
    expect(await seenByAll(replicas)).toEqual({ validateCalls: 1, hits: [0, 1, 1] })
    for (const r of replicas) expect((await r.app.verifier.ready()).checks.sharedCache).toEqual({ ok: true })
  })
})

describe('the broker down while Redis is up', () => {
  it('a new token is a 503 (never 401, never 200); an answer stored before the outage serves a replica that never saw it; refused once revoked', async () => {
    const redis = await redisServer()
    const replicas = await fleet(redis.url, { revocationFeed: { adminSecret: harness.broker.adminSecret } })
    const [a, b, c] = replicas as [Replica, Replica, Replica]
    await vi.waitFor(
      () => {
        for (const r of replicas) expect(r.app.verifier.stats().revocationFeed?.synced).toBe(true)
      },
      { timeout: 5000, interval: 20 },
    )
    const seen = freshToken()
    const unseen = freshToken()
    expect(await get(a, seen)).toMatchObject({ status: 200, source: 'broker' })

    await harness.broker.stop()
    try {
      for (const r of [b, c]) {
        const n = await get(r, unseen)
        expect(n).toMatchObject({ status: 503, code: 'broker_unavailable' })
        expect((await get(r, forgeSignature(unseen))).status).toBe(503)
      }
      // The shared level: B and C never saw `seen`, A stored the broker's answer in Redis.
      for (const r of [b, c]) {
        const hits = shared(r).hits
        expect(await get(r, seen)).toMatchObject({ status: 200, source: 'cache' })
        expect(shared(r).hits).toBe(hits + 1)
      }
    } finally {
      await harness.broker.restart()
    }

    // The broker is back and revokes `seen`: every replica refuses it (the feed), none accepts it again.
    const revokedAt = performance.now()
    await harness.broker.revoke('token', jtiOf(seen))
    const took = await Promise.all(replicas.map((r) => refusedWithin(r, seen, 3000)))
    console.log(
      '[broker outage] revoked token refused after (ms):',
      took.map((t) => t.toFixed(0)),
      `(since revoke: ${(performance.now() - revokedAt).toFixed(0)} ms)`,
    )
    for (const r of replicas) expect((await get(r, seen)).status).toBe(401)
    // And the token that met the outage is accepted once the broker answers again.
    await vi.waitFor(async () => expect((await get(b, unseen)).status).toBe(200), {
      timeout: 5000,
      interval: 100,
    })
  })
})

describe('the audit log down while Redis and the broker are up (the feed lags)', () => {
  /**
   * While the feed lags, a cached positive answer may be used for `laggingCacheTtlMs` only —
   * older ones are asked again, so a revocation the feed cannot see is refused by the broker. A
   * shared answer counts as old as it is (the time the broker gave it, in the entry), so the fleet
   * refuses the revoked token as a single replica would.
   */
  it('a token revoked while the feed cannot see it is refused once answers older than laggingCacheTtlMs are re-asked', async () => {
    const LAGGING_MS = 1000
    const redis = await redisServer()
    const settings: Partial<AgentAuthOptions> = {
      revocationFeed: {
        adminSecret: harness.broker.adminSecret,
        pollIntervalMs: 250,
        laggingCacheTtlMs: LAGGING_MS,
      },
    }
    const replicas = [
      await nodeRedisReplica('express', await nodeRedis(redis.url), settings),
      await nodeRedisReplica('koa', await nodeRedis(redis.url), settings),
    ]
    await vi.waitFor(
      () => {
        for (const r of replicas) expect(r.app.verifier.stats().revocationFeed?.current).toBe(true)
      },
      { timeout: 5000, interval: 20 },
    )
    const token = freshToken()
    for (const r of replicas) expect((await get(r, token)).status).toBe(200)
    harness.broker.fault({ kind: 'status', status: 503, paths: [AUDIT_EVENTS_PATH] })
    try {
      await harness.broker.revoke('token', jtiOf(token))
      await vi.waitFor(
        () => {
          for (const r of replicas) expect(r.app.verifier.stats().revocationFeed?.current).toBe(false)
        },
        { timeout: 5000, interval: 20 },
      )
      // What a replica without the shared level does: refused once its answer is older than LAGGING_MS.
      await Promise.all(replicas.map((r) => refusedWithin(r, token, LAGGING_MS + 1500)))
    } finally {
      harness.broker.fault(null)
    }
  })
})

describe('ioredis', () => {
  it('an ioredis replica and a node-redis replica share answers both ways', async () => {
    const redis = await redisServer()
    const io = await ioRedis(redis.url)
    const viaNodeRedis = await nodeRedisReplica('express', await nodeRedis(redis.url))
    const viaIoRedis = await replica('koa', io, {
      dropClient: () => io.disconnect(),
      clientReady: () => io.status === 'ready',
    })
    expect(await seenByAll([viaNodeRedis, viaIoRedis])).toEqual({ validateCalls: 1, hits: [0, 1] })
    expect(await seenByAll([viaIoRedis, viaNodeRedis])).toEqual({ validateCalls: 1, hits: [0, 1] })
    // A refusal is shared too.
    const forged = forgeSignature(freshToken())
    harness.broker.resetStats()
    expect((await get(viaIoRedis, forged)).status).toBe(401)
    expect((await get(viaNodeRedis, forged)).status).toBe(401)
    expect(harness.broker.stats.validateCalls).toBe(1)
    expect(shared(viaIoRedis).redis).toMatchObject({ state: 'up', failures: 0 })
  })
})

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}
