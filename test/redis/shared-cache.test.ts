/**
 * The shared level end to end: replicas (Express, Koa and Fastify services, each with its own
 * verifier, node-redis client and redisStore) on one real redis-server in front of the development
 * broker, over real HTTP. One validate call per token for the fleet, also when the replicas see a
 * new token at the same moment; and whoever can write to Redis without the secret cannot make a
 * replica accept a token: forged, moved, edited or foreign-secret entries are ignored.
 */
import { createHmac } from 'node:crypto'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { tokenKey } from '../../src/core/cache.js'
import { createVerifier } from '../../src/index.js'
import { decodeAnswer, deriveKeys, encodeAnswer, entryName } from '../../src/redis/entry-codec.js'
import { redisStore } from '../../src/redis.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { buildApp, type RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { bearer, forgeSignature, payloadOf } from '../helpers/tokens.js'
import type { NodeRedis } from './fleet.js'
import { closeReplicas, type Replica, redisClient, SECRET, startReplica } from './replicas.js'

let redis: RedisServer
let broker: DevBroker
let admin: NodeRedis

beforeAll(async () => {
  ;[redis, broker] = await Promise.all([startRedisServer(), startDevBroker()])
  admin = await redisClient(redis.url)
})
afterAll(async () => {
  admin.destroy()
  await Promise.all([redis.close(), broker.close()])
})

async function newToken(scope = ['read:data:customer-7']): Promise<string> {
  return (await broker.createAgent({ orchId: 'o', taskId: 't', scope })).accessToken
}

describe('three framework replicas share broker answers', () => {
  const FRAMEWORKS = ['express', 'koa', 'fastify'] as const
  let replicas: Replica[]
  let apps: RunningApp[]
  beforeAll(async () => {
    replicas = await Promise.all(FRAMEWORKS.map(() => startReplica(redis.url, { broker: broker.url })))
    apps = await Promise.all(FRAMEWORKS.map((f, i) => buildApp(f, replicas[i]!.verifier)))
  })
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()))
    await closeReplicas(replicas)
  })

  it('a token seen by each replica in turn: one validate call; the others answer from Redis', async () => {
    const token = await newToken()
    broker.resetStats()
    for (const app of apps) {
      const res = await send(app.url, { path: '/customers/7', headers: bearer(token) })
      expect(res.status).toBe(200)
    }
    expect(broker.stats.validateCalls).toBe(1)
    expect(replicas.map((r) => r.store.stats().hits)).toEqual([0, 1, 1])
    // Answers from Redis are cached answers: the identity says so.
    const [, second] = replicas
    expect((await second!.verifier.verifyToken(token)).verification.source).toBe('cache')
  })

  it('twenty new tokens hitting all three replicas at the same moment: one validate call each', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => newToken()))
    broker.resetStats()
    const answers = await Promise.all(
      tokens.flatMap((t) => apps.map((app) => send(app.url, { path: '/customers/7', headers: bearer(t) }))),
    )
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200))
    expect(broker.stats.validateCalls).toBe(20)
    const joined = replicas.reduce((n, r) => n + r.store.stats().flightAnswers + r.store.stats().hits, 0)
    expect(joined).toBeGreaterThanOrEqual(40)
  })

  it('refusals are shared too, and a refused token stays refused on every replica', async () => {
    const forged = forgeSignature(await newToken())
    broker.resetStats()
    for (const app of apps) {
      expect((await send(app.url, { path: '/me', headers: bearer(forged) })).status).toBe(401)
    }
    expect(broker.stats.validateCalls).toBe(1)
  })

  it('guards still apply to a shared answer (403), and stats name the shared level', async () => {
    const token = await newToken()
    await send(apps[0]!.url, { path: '/customers/7', headers: bearer(token) })
    expect((await send(apps[1]!.url, { path: '/customers/8', headers: bearer(token) })).status).toBe(403)
    const stats = replicas[1]!.verifier.stats().sharedCache as { hits: number; redis: { state: string } }
    expect(stats.redis.state).toBe('up')
    expect(stats.hits).toBeGreaterThan(0)
  })
})

describe('whoever writes to Redis without the secret cannot make a replica accept a token', () => {
  const keys = deriveKeys(Buffer.from(SECRET))
  const foreign = deriveKeys(Buffer.from('another-secret-of-at-least-32-bytes!!'))
  let replica: Replica
  afterEach(async () => {
    await closeReplicas([replica])
  })

  /** The Redis key of a token's answer, as the store names it. */
  const answerKey = (token: string) => `agentwrit-verify:answer:${entryName(keys, tokenKey(token))}`

  it('a forged token with a forged "valid" entry (foreign secret, no MAC, copied MAC): 401, the broker is asked', async () => {
    replica = await startReplica(redis.url, { broker: broker.url })
    const token = await newToken()
    const forged = forgeSignature(token)
    const claims = payloadOf(token)
    const name = entryName(keys, tokenKey(forged))
    const until = Date.now() + 60_000
    const genuine = encodeAnswer(
      keys,
      entryName(keys, tokenKey(token)),
      { valid: true, claims: claims as never },
      until,
    )
    for (const planted of [
      encodeAnswer(foreign, name, { valid: true, claims: claims as never }, until),
      JSON.stringify({ valid: true, claims, until }),
      genuine,
    ]) {
      await admin.set(answerKey(forged), planted, { PX: 60_000 })
      broker.resetStats()
      await expect(replica.verifier.verifyToken(forged)).rejects.toMatchObject({ code: 'invalid_token' })
      expect(broker.stats.validateCalls).toBe(1)
      await replica.verifier.close()
      await replica.store.close()
      replica.client.destroy()
      replica = await startReplica(redis.url, { broker: broker.url })
    }
    expect(replica.store.stats().rejected).toBe(0)
  })

  it('an entry edited to widen the scope or extend its life is ignored; the broker’s answer is used', async () => {
    replica = await startReplica(redis.url, { broker: broker.url })
    const token = await newToken()
    const key = answerKey(token)
    const writer = await startReplica(redis.url, { broker: broker.url })
    try {
      await writer.verifier.verifyToken(token)
      const stored = await admin.get(key)
      expect(decodeAnswer(keys, entryName(keys, tokenKey(token)), stored, Date.now())?.verdict.valid).toBe(
        true,
      )
      await admin.set(key, stored!.replace('read:data:customer-7', 'read:data:*'), { PX: 60_000 })
      broker.resetStats()
      const agent = await replica.verifier.verifyToken(token)
      expect(agent.scope).toEqual(['read:data:customer-7'])
      expect(broker.stats.validateCalls).toBe(1)
      expect(replica.store.stats().rejected).toBe(1)
    } finally {
      await closeReplicas([writer])
    }
  })

  it('an authenticated answer for other claims (a copied entry) is not used: the broker decides', async () => {
    replica = await startReplica(redis.url, { broker: broker.url })
    const a = await newToken()
    const b = await newToken(['read:data:customer-8'])
    // The attacker holds the secret's naming but copies A's genuine entry under B's name with a
    // valid MAC for B's name (as a replica with the secret could): the claims are A's, not B's.
    const nameB = entryName(keys, tokenKey(b))
    await admin.set(
      answerKey(b),
      encodeAnswer(keys, nameB, { valid: true, claims: payloadOf(a) as never }, Date.now() + 60_000),
      {
        PX: 60_000,
      },
    )
    broker.resetStats()
    const agent = await replica.verifier.verifyToken(b)
    expect(agent.scope).toEqual(['read:data:customer-8'])
    expect(broker.stats.validateCalls).toBe(1)
  })

  it('Redis holds no token and no token hash: only keyed names and claims', async () => {
    replica = await startReplica(redis.url, { broker: broker.url })
    const token = await newToken()
    await replica.verifier.verifyToken(token)
    const everything: string[] = []
    for (const k of await admin.keys('*')) {
      everything.push(k)
      const type = await admin.type(k)
      if (type === 'string') everything.push(String(await admin.get(k)))
    }
    const text = everything.join('\n')
    for (const part of [token, ...token.split('.'), tokenKey(token)]) expect(text.includes(part)).toBe(false)
  })
})

describe('hybrid mode shares the broker’s answers too', () => {
  it('two hybrid replicas: signatures checked locally on each, one validate call; a forgery never reaches Redis', async () => {
    const hybrid = { broker: broker.url, jwksUri: broker.jwksUrl }
    const replicas = await Promise.all([startReplica(redis.url, hybrid), startReplica(redis.url, hybrid)])
    try {
      const token = await newToken()
      broker.resetStats()
      for (const r of replicas) expect((await r.verifier.verifyToken(token)).id).toBe(payloadOf(token).sub)
      expect(broker.stats.validateCalls).toBe(1)
      expect(replicas[1]!.store.stats().hits).toBe(1)
      const before = replicas.map((r) => r.store.stats().misses + r.store.stats().hits)
      await expect(replicas[0]!.verifier.verifyToken(forgeSignature(token))).rejects.toMatchObject({
        reason: 'bad_signature',
      })
      expect(replicas.map((r) => r.store.stats().misses + r.store.stats().hits)).toEqual(before)
      expect(broker.stats.validateCalls).toBe(1)
    } finally {
      await closeReplicas(replicas)
    }
  })
})

describe('redisStore() options are checked at once', () => {
  it.each([
    [{}, 'client'],
    [{ client: {} }, 'client'],
    [{ client: { sendCommand: async (): Promise<unknown> => null } }, 'secret'],
    [{ client: { sendCommand: async (): Promise<unknown> => null }, secret: 'short' }, 'secret'],
    [
      { client: { sendCommand: async (): Promise<unknown> => null }, secret: SECRET, timeoutMs: 0 },
      'timeoutMs',
    ],
    [
      { client: { sendCommand: async (): Promise<unknown> => null }, secret: SECRET, leaseMs: 'x' },
      'leaseMs',
    ],
    [{ client: { sendCommand: async (): Promise<unknown> => null }, secret: SECRET, nope: 1 }, 'nope'],
  ])('%o → TypeError naming %s', (options, name) => {
    expect(() => redisStore(options as never)).toThrow(new RegExp(`"${name}"`))
  })

  it('a short secret is not echoed', () => {
    expect(() =>
      redisStore({ client: { sendCommand: async (): Promise<unknown> => null }, secret: 'hunter2' }),
    ).toThrow(/redacted/)
  })

  it('the shared level needs a broker: local mode refuses it', () => {
    const store = redisStore({ client: { sendCommand: async (): Promise<unknown> => null }, secret: SECRET })
    expect(() => createVerifier({ jwksUri: broker.jwksUrl, sharedCache: store })).toThrow(/"sharedCache"/)
    expect(() => createVerifier({ broker: broker.url, sharedCache: {} as never })).toThrow(/"sharedCache"/)
  })

  it('one store per verifier with a feed', async () => {
    const client = await redisClient(redis.url)
    const store = redisStore({ client, secret: SECRET })
    const feed = { adminSecret: broker.adminSecret }
    const first = createVerifier({ broker: broker.url, sharedCache: store, revocationFeed: feed })
    try {
      expect(() => createVerifier({ broker: broker.url, sharedCache: store, revocationFeed: feed })).toThrow(
        /its own store/,
      )
    } finally {
      await first.close()
      await store.close()
      client.destroy()
    }
  })
})

it('the store is keyed by an HMAC of the token key (documented naming)', () => {
  const keys = deriveKeys(Buffer.from(SECRET))
  expect(entryName(keys, 'k')).toBe(createHmac('sha256', keys.naming).update('k').digest('base64url'))
})

describe('node-redis with RESP3', () => {
  it('shares answers with a RESP2 replica, and follows its fan-out', async () => {
    const resp3 = createClient({ url: redis.url, RESP: 3 })
    resp3.on('error', () => {})
    await resp3.connect()
    const feed = { adminSecret: broker.adminSecret }
    const leader = await startReplica(
      redis.url,
      { broker: broker.url, cacheTtlMs: 60_000, revocationFeed: feed },
      { prefix: 'resp3:' },
    )
    const store = redisStore({ client: resp3, secret: SECRET, prefix: 'resp3:' })
    const follower = createVerifier({
      broker: broker.url,
      cacheTtlMs: 60_000,
      sharedCache: store,
      revocationFeed: feed,
    })
    try {
      await vi.waitFor(() => expect(store.stats().revocations?.role).toBe('follower'), {
        timeout: 5000,
        interval: 50,
      })
      const token = await newToken()
      broker.resetStats()
      await leader.verifier.verifyToken(token)
      await follower.verifyToken(token)
      expect(broker.stats.validateCalls).toBe(1)
      await broker.revoke('token', String(payloadOf(token).jti))
      await vi.waitFor(() => expect(store.stats().revocations?.received).toBeGreaterThan(0), {
        timeout: 3000,
      })
      await vi.waitFor(
        () => expect(follower.verifyToken(token)).rejects.toMatchObject({ reason: 'revoked_per_feed' }),
        {
          timeout: 3000,
          interval: 50,
        },
      )
    } finally {
      await follower.close()
      await store.close()
      resp3.destroy()
      await closeReplicas([leader])
    }
  })
})
