/**
 * Verifier "replicas" for the Redis tests: each with its own node-redis client and `redisStore()`
 * on one real redis-server, closed together.
 */
import { type AgentAuthOptions, createVerifier, type Verifier } from '../../src/index.js'
import { type RedisStore, type RedisStoreOptions, redisStore } from '../../src/redis.js'
import { type NodeRedis, newNodeRedis } from './fleet.js'

export const SECRET = 'test-secret-shared-by-every-replica-0123456789'

export interface Replica {
  readonly verifier: Verifier
  readonly store: RedisStore
  readonly client: NodeRedis
}

/** A connected node-redis client (`newNodeRedis`), closed by whoever asked for it. */
export async function redisClient(url: string): Promise<NodeRedis> {
  const client = newNodeRedis(url)
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
