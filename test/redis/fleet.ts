/**
 * What the Redis tests over real HTTP stand on: the node-redis client every Redis test uses, and a
 * harness for a fleet of framework replicas on real redis-servers in front of the development
 * broker — the broker started once per file with one agent, fresh tokens from it, redis-servers and
 * clients closed after each test, and the requests the tests send a replica.
 */
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import type { RedisStoreStats } from '../../src/redis.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import type { AdapterName, RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { bearer, jti, payloadOf } from '../helpers/tokens.js'

/** The frameworks of a fleet, one replica each. */
export const FRAMEWORKS = ['express', 'koa', 'fastify'] as const satisfies readonly AdapterName[]

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A node-redis client (not connected yet) that reconnects quickly and never ends the process on an error. */
export function newNodeRedis(url: string) {
  const client = createClient({
    url,
    socket: { reconnectStrategy: (n: number) => Math.min(n * 50, 500), connectTimeout: 1000 },
  })
  client.on('error', () => {})
  return client
}

export type NodeRedis = ReturnType<typeof newNodeRedis>

/** A token's `jti`. */
export const jtiOf = (token: string) => payloadOf(token).jti as string

type Cleanup = () => Promise<void> | void

export interface FleetHarness {
  /** The development broker (started in `beforeAll`, closed in `afterAll`). */
  readonly broker: DevBroker
  /** A new broker-signed token the broker accepts (a fresh `jti`, otherwise as the broker issued it). */
  freshToken(): string
  jtiOf(token: string): string
  /** A new redis-server, closed after the test. */
  redisServer(): Promise<RedisServer>
  /**
   * A node-redis client, destroyed after the test; connected, or with `awaitConnect: false`
   * connecting in the background (Redis absent).
   */
  nodeRedis(url: string, awaitConnect?: boolean): Promise<NodeRedis>
  /** Run `fn` after the test; the last registered first. */
  onCleanup(fn: Cleanup): void
}

/**
 * Register this file's hooks: the broker with one agent (`orchId`, `taskId`, scope
 * `read:data:customer-7`) for the file, the cleanups after each test.
 */
export function useFleetHarness(agent: { orchId: string; taskId: string }): FleetHarness {
  let broker: DevBroker | undefined
  /** The payload of a broker-issued token: fresh tokens are this with a new `jti`. */
  let payload: Record<string, unknown>
  const cleanups: Cleanup[] = []

  beforeAll(async () => {
    broker = await startDevBroker()
    const { accessToken } = await broker.createAgent({ ...agent, scope: ['read:data:customer-7'] })
    payload = payloadOf(accessToken)
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  afterAll(async () => {
    await broker?.close()
  })

  const harness: FleetHarness = {
    get broker() {
      if (broker === undefined) throw new Error('the broker is started in beforeAll')
      return broker
    },
    freshToken: () => harness.broker.signToken({ ...payload, jti: jti() }),
    jtiOf,
    async redisServer() {
      const server = await startRedisServer()
      cleanups.push(() => server.close())
      return server
    },
    async nodeRedis(url, awaitConnect = true) {
      const client = newNodeRedis(url)
      const connecting = client.connect()
      cleanups.push(() => {
        if (client.isOpen) client.destroy()
      })
      if (awaitConnect) await connecting
      else connecting.catch(() => {})
      return client
    },
    onCleanup: (fn) => {
      cleanups.push(fn)
    },
  }
  return harness
}

/** A replica as the requests below see it: a framework service with its verifier. */
export interface ServedReplica {
  readonly name: string
  readonly app: RunningApp
}

/** `verifier.stats().sharedCache`: what the store reports. */
export function shared(r: ServedReplica): RedisStoreStats {
  return r.app.verifier.stats().sharedCache as RedisStoreStats
}

export interface Answer {
  readonly status: number
  readonly code: string | undefined
  readonly source: string | undefined
  readonly ms: number
}

/** GET /customers/7 with `token`; never hangs (5 s at most). */
export async function get(r: ServedReplica, token: string): Promise<Answer> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${r.name}: no answer within 5 s`)), 5000)
  })
  try {
    const res = await Promise.race([
      send(r.app.url, { path: '/customers/7', headers: bearer(token) }),
      timeout,
    ])
    return {
      status: res.status,
      code: res.json?.error_code,
      source: res.json?.source,
      ms: performance.now() - started,
    }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Ask `r` with `token` every `everyMs` until it is refused (401); how long that took, ms since
 * `since`. Fails on anything but 200 before, or past `limitMs`.
 */
export async function refusedWithin(
  r: ServedReplica,
  token: string,
  limitMs: number,
  { since = performance.now(), everyMs = 20 }: { since?: number; everyMs?: number } = {},
): Promise<number> {
  for (;;) {
    const { status } = await get(r, token)
    const elapsed = performance.now() - since
    if (status === 401) return elapsed
    expect(status).toBe(200)
    if (elapsed > limitMs) throw new Error(`${r.name} still accepts the revoked token after ${limitMs} ms`)
    await sleep(everyMs)
  }
}
