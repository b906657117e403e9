/**
 * Verifier "replicas" for the Redis tests: each with its own node-redis client and `redisStore()`
 * on one real redis-server, closed together.
 */
import { createClient } from 'redis'
import { type AgentAuthOptions, createVerifier, type Verifier } from '../../src/index.js'
import { type RedisStore, type RedisStoreOptions, redisStore } from '../../src/redis.js'

export const SECRET = 'test-secret-shared-by-every-replica-0123456789'

export type NodeRedisClient = Awaited<ReturnType<typeof redisClient>>

export interface Replica {
  readonly verifier: Verifier
  readonly store: RedisStore
  readonly client: NodeRedisClient
}

/** A connected node-redis client that never ends the process on an error and reconnects quickly. */
export async function redisClient(url: string) {
  const client = createClient({
    url,
    socket: { reconnectStrategy: (n: number) => Math.min(50 * (n + 1), 500), connectTimeout: 1000 },
  })
  client.on('error', () => {})
  await client.connect()
  return client
}

export async function startReplica(
  url: string,
  options: AgentAuthOptions,
  store: Partial<RedisStoreOptions> = {},
): Promise<Replica> {
  const client = await redisClient(url)
  const shared = redisStore({ client, secret: SECRET, ...store })
  return { verifier: createVerifier({ ...options, sharedCache: shared }), store: shared, client }
}

export async function closeReplicas(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      await r.verifier.close()
      await r.store.close()
      if (r.client.isOpen) r.client.destroy()
    }),
  )
}
