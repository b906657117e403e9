/**
 * `agentwrit-verify/redis`: one truth for many replicas. `redisStore({ client, secret })` is given
 * to the verifier as `sharedCache`: a second cache level in Redis, below each process's own, so
 * the fleet asks the broker once per token per `cacheTtlMs` (one replica asks while the others
 * wait for its answer), and — with `revocationFeed` — one replica polls the broker's audit log
 * and fans out what it learns to every other at once.
 *
 * Threat model: whoever can write to Redis must not be able to make a replica accept a token.
 * Every entry and message is authenticated with `secret` (HMAC-SHA256, keys derived with HKDF);
 * one that does not authenticate is ignored. An authenticated answer is still checked as the
 * broker's is (exactly the token's own claims, the feed's predicates), so Redis can at most make
 * a replica ask the broker again or refuse. Redis sees the claims of verified tokens, never a
 * token or its hash (entries are named by a keyed hash).
 *
 * Redis down, slow, restarted or partitioned: every command has a deadline, a failed Redis is
 * left alone for `retryMs`, and meanwhile each replica uses its own cache and the broker (and
 * polls the audit log itself). The warm path never touches Redis.
 */

import { fail, intIn } from './core/option-checks.js'
import type { SharedCache } from './core/shared-cache.js'
import { deriveKeys } from './redis/entry-codec.js'
import {
  createRedisLink,
  isRedisClient,
  type RedisClientLike,
  type RedisLinkStats,
} from './redis/redis-link.js'
import { createRevocationFanout, type FanoutStats } from './redis/revocation-fanout.js'
import { createSharedAnswers, type SharedAnswersStats } from './redis/shared-answers.js'

export type { RedisClientLike, RedisLinkStats } from './redis/redis-link.js'
export type { FanoutStats } from './redis/revocation-fanout.js'
export type { SharedAnswersStats } from './redis/shared-answers.js'

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * A connected Redis client: node-redis (`createClient()` from `redis` 5 or 6, RESP2 or RESP3)
   * or ioredis (`new Redis()`). The store adds an `'error'` listener (node-redis ends the process
   * on an unheard one) and never closes the client: that is yours to do.
   */
  readonly client: RedisClientLike
  /**
   * The secret every replica shares, at least 32 bytes (a string of ≥ 32 characters or bytes).
   * Entries written with another secret are ignored. Keep it out of Redis.
   */
  readonly secret: string | Uint8Array
  /** Prefix of every key the store writes. Default `'agentwrit-verify:'`. */
  readonly prefix?: string
  /** Deadline of one Redis command, ms (`1`–`10000`). Default `100`. */
  readonly timeoutMs?: number
  /** After a Redis failure, how long it is left alone (replicas use their own cache and the broker), ms (`100`–`600000`). Default `1000`. */
  readonly retryMs?: number
  /**
   * How long one replica's broker call for a new token is waited for by the others, and how long
   * its claim lasts, ms (`10`–`60000`). Default `2500` (the verifier's default `timeoutMs` + 500).
   */
  readonly flightTimeoutMs?: number
  /** Fan the revocation feed out over Redis (used when the verifier has `revocationFeed`). Default `true`. */
  readonly revocations?: boolean
  /** Lease of the replica that polls the audit log, ms (`500`–`600000`): a dead holder is replaced within it. Default `5000`. */
  readonly leaseMs?: number
  /** How often replicas read the fan-out stream, ms (`10`–`10000`). Default `100`. */
  readonly followIntervalMs?: number
  /** Fan-out messages kept in Redis (approximately), `100`–`1000000`. Default `10000`. */
  readonly streamLength?: number
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number
}

/** What `stats()` of a Redis store reports (in `verifier.stats().sharedCache`). */
export interface RedisStoreStats extends SharedAnswersStats {
  readonly redis: RedisLinkStats
  readonly revocations?: FanoutStats
}

/** A Redis-backed shared cache: give it to the verifier as `sharedCache`. */
export interface RedisStore extends SharedCache {
  stats(): RedisStoreStats
}

const KNOWN = new Set([
  'client',
  'secret',
  'prefix',
  'timeoutMs',
  'retryMs',
  'flightTimeoutMs',
  'revocations',
  'leaseMs',
  'followIntervalMs',
  'streamLength',
  'now',
])

/**
 * A shared cache (and revocation fan-out) on Redis for `createVerifier({ sharedCache })`.
 * Options are validated now: a bad one throws a `TypeError` naming it.
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  if (typeof options !== 'object' || options === null) fail('redisStore', 'an options object', options)
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) fail(k, 'a known redisStore() option', k)
  if (!isRedisClient(options.client)) fail('client', 'a node-redis or ioredis client', options.client)
  const secret = secretBytes(options.secret)
  const prefix = options.prefix ?? 'agentwrit-verify:'
  if (typeof prefix !== 'string') fail('prefix', 'a string', prefix)
  if (options.now !== undefined && typeof options.now !== 'function')
    fail('now', 'a function returning ms', options.now)
  if (options.revocations !== undefined && typeof options.revocations !== 'boolean')
    fail('revocations', 'a boolean', options.revocations)
  const now = options.now ?? Date.now
  const link = createRedisLink(options.client, {
    timeoutMs: intIn('timeoutMs', options.timeoutMs, 100, 1, 10_000),
    retryMs: intIn('retryMs', options.retryMs, 1000, 100, 600_000),
    now,
  })
  const keys = deriveKeys(secret)
  const answers = createSharedAnswers(link, keys, {
    prefix,
    flightTimeoutMs: intIn('flightTimeoutMs', options.flightTimeoutMs, 2500, 10, 60_000),
    now,
  })
  const fanoutOptions = {
    prefix,
    leaseMs: intIn('leaseMs', options.leaseMs, 5000, 500, 600_000),
    followIntervalMs: intIn('followIntervalMs', options.followIntervalMs, 100, 10, 10_000),
    streamLength: intIn('streamLength', options.streamLength, 10_000, 100, 1_000_000),
    now,
  }
  const fanout = options.revocations === false ? undefined : createRevocationFanout(link, keys, fanoutOptions)
  return Object.freeze({
    resolve: answers.resolve,
    discard: answers.discard,
    ...(fanout === undefined ? {} : { revocations: fanout }),
    stats: () => ({
      ...answers.stats(),
      redis: link.stats(),
      ...(fanout === undefined ? {} : { revocations: fanout.stats() }),
    }),
    async ready() {
      try {
        const pong = await link.send(['PING'])
        return pong === 'PONG' ? { ok: true } : { ok: false, reason: 'unexpected_reply' }
      } catch (err) {
        return { ok: false, reason: (err as { reason?: string }).reason ?? 'error' }
      }
    },
    async close() {
      await fanout?.detach()
    },
  })
}

function secretBytes(secret: unknown): Buffer {
  const bytes =
    typeof secret === 'string'
      ? Buffer.from(secret, 'utf8')
      : secret instanceof Uint8Array
        ? Buffer.from(secret)
        : undefined
  if (bytes === undefined || bytes.length < 32) {
    fail(
      'secret',
      'a string or bytes of at least 32 bytes, shared by every replica',
      secret === undefined ? undefined : '[redacted]',
    )
  }
  return bytes
}
