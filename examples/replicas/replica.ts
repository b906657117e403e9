/**
 * One replica of the order service (examples/order-worker/service.ts, unchanged): its own
 * node-redis client, its own `redisStore()` and its own verifier, with answers cached for a
 * minute and the revocation feed on. Every answer carries `x-replica: <name>`, so a caller behind
 * the proxy can tell who answered.
 */
import { createClient } from 'redis'
import { type RedisStore, redisStore } from '../../src/redis.js'
import { buildOrderService } from '../order-worker/service.js'
import { type Listening, listen } from '../shared.js'

export interface Replica extends Listening {
  readonly name: string
  /** The replica's shared cache: `stats()` is what its verifier reports as `stats().sharedCache`. */
  readonly store: RedisStore
}

export async function startReplica(options: {
  name: string
  /** The broker's URL and admin secret (the revocation feed logs in with it). */
  broker: { readonly url: string; readonly adminSecret: string }
  redisUrl: string
  /** Shared by every replica, ≥ 32 bytes, never stored in Redis. */
  secret: string
  /** Prefix of the store's keys. */
  prefix: string
}): Promise<Replica> {
  const { name, broker } = options
  const client = createClient({ url: options.redisUrl })
  await client.connect().catch((err: Error) => {
    client.destroy()
    throw new Error(`${name}: cannot connect to Redis at ${options.redisUrl}: ${err.message}`)
  })
  const store = redisStore({ client, secret: options.secret, prefix: options.prefix })
  const service = buildOrderService({
    broker: broker.url,
    cacheTtlMs: 60_000,
    sharedCache: store,
    revocationFeed: { adminSecret: broker.adminSecret },
  })
  const server = await listen((req, res) => {
    res.setHeader('x-replica', name)
    service.listener(req, res)
  })
  return {
    name,
    url: server.url,
    store,
    async close() {
      await server.close()
      await service.close() // the verifier: its feed gives the lease up
      await store.close()
      // The store never closes the client: that is ours. node-redis's close() waits for a
      // reconnect while Redis is down, so a client that is not ready is destroyed instead.
      if (client.isReady) await client.close()
      else client.destroy()
    },
  }
}
