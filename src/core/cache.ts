/**
 * Bounded TTL LRU of verification results keyed by a hash of the token, with single-flight:
 * concurrent lookups of the same uncached token share one computation.
 *
 * Keys are SHA-256 digests (base64url) of the token, never the token itself.
 *
 * A cached answer is a `BrokerVerdict` (broker-client.ts): the claims of a good token, or "this
 * token is bad". The remote strategy stores the broker's word as it came, and a local signature
 * check reaches the same verdict (always `valid: true`) without asking, so there is one type,
 * defined with the answer it mirrors.
 */
import * as nodeCrypto from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { BrokerVerdict } from './broker-client.js'
import type { AgentWritClaims } from './claims.js'
import { cacheChannel, publish } from './diagnostics.js'

/** What {@link VerificationCache.run} computes: an outcome and how long it may be reused (ms, 0 = not cached). */
export interface Computed {
  readonly outcome: BrokerVerdict
  readonly ttlMs: number
  /** The outcome came from a cache level shared by replicas, not from a computation now. */
  readonly shared?: boolean
  /** How old the outcome already is (a shared answer), ms: the entry counts as stored that long ago. */
  readonly ageMs?: number
}

interface Entry {
  readonly outcome: BrokerVerdict
  readonly storedAt: number
  /** `storedAt + ttl`: the entry is served while the clock reads less than this. */
  readonly expiresAt: number
}

/** A cache hit or a fresh computation, with the age of a hit. */
export interface Lookup {
  readonly outcome: BrokerVerdict
  /** `true` when served from the cache (including joining an in-flight computation: `false`). */
  readonly hit: boolean
  /** The computation found the outcome in a cache level shared by replicas. */
  readonly shared?: boolean
  readonly ageMs: number
  /**
   * When the cached answer expires (ms, the cache's clock; exclusive): `undefined` when the answer
   * was not stored (a TTL of 0).
   */
  readonly expiresAt: number | undefined
}

export interface VerificationCacheOptions {
  /** Which cache this is, in diagnostics messages: the broker answers' (`remote`, the default) or the signature checks' (`local`). */
  name?: 'remote' | 'local'
  /** Maximum entries. */
  max: number
  /** Clock in ms (also drives TTL expiry). */
  now: () => number
  /**
   * How old a positive entry may be when it is read, ms, asked at every read; an older one is
   * dropped and not served. Default: no bound beyond its TTL. (The revocation feed shortens it
   * while it lags.)
   */
  maxAgeMs?: () => number
}

/** SHA-256 of the token, base64url. The only form in which a token is ever used as a key. */
export function tokenKey(token: string): string {
  return oneShot === undefined
    ? nodeCrypto.createHash('sha256').update(token).digest('base64url')
    : oneShot('sha256', token, 'base64url')
}

/** `crypto.hash` (Node ≥ 20.12): a one-shot digest, several times cheaper than `createHash`. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash

/** What a cache counts (in `verifier.stats().cache`). */
export interface CacheStats {
  /** Entries now, and the most it holds (`cacheMaxEntries`). */
  readonly entries: number
  readonly max: number
  /** Computations in flight now. */
  readonly inflight: number
  /** Lookups that joined a computation already in flight instead of starting one (single flight). */
  readonly joins: number
  /** Answers stored. */
  readonly stores: number
  /** Entries dropped to make room (least recently used first). */
  readonly evictions: number
  /** Entries dropped because the revocation feed learned they lost trust. */
  readonly invalidations: number
}

export class VerificationCache {
  readonly #lru: LRUCache<string, Entry>
  readonly #name: 'remote' | 'local'
  readonly #max: number
  #joins = 0
  #stores = 0
  #evictions = 0
  #invalidations = 0
  readonly #inflight = new Map<string, Promise<Lookup>>()
  readonly #now: () => number
  readonly #maxAgeMs: (() => number) | undefined

  constructor(options: VerificationCacheOptions) {
    this.#now = options.now
    this.#maxAgeMs = options.maxAgeMs
    this.#name = options.name ?? 'remote'
    this.#max = options.max
    this.#lru = new LRUCache<string, Entry>({
      max: options.max,
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') this.#evicted()
      },
      // lru-cache reads this clock for TTL checks, so an injected clock drives expiry too.
      perf: { now: options.now },
      ttlResolution: 0,
    })
  }

  /** Number of cached entries. */
  get size(): number {
    return this.#lru.size
  }

  /** Number of computations in flight. */
  get inflight(): number {
    return this.#inflight.size
  }

  stats(): CacheStats {
    return {
      entries: this.#lru.size,
      max: this.#max,
      inflight: this.#inflight.size,
      joins: this.#joins,
      stores: this.#stores,
      evictions: this.#evictions,
      invalidations: this.#invalidations,
    }
  }

  #evicted(): void {
    this.#evictions++
    publish(cacheChannel, () => ({ event: 'evict', cache: this.#name, count: 1 }))
  }

  /** A live entry for this key, if any. */
  get(key: string): Lookup | undefined {
    const e = this.#lru.get(key)
    if (e === undefined) return undefined
    const ageMs = Math.max(0, this.#now() - e.storedAt)
    if (this.#maxAgeMs !== undefined && e.outcome.valid && ageMs > this.#maxAgeMs()) {
      this.#lru.delete(key)
      return undefined
    }
    return { outcome: e.outcome, hit: true, ageMs, expiresAt: e.expiresAt }
  }

  /**
   * Store an outcome for `ttlMs` milliseconds (nothing is stored when `ttlMs <= 0`), one that is
   * already `ageMs` old (default 0).
   * @returns when the entry expires (see {@link Lookup.expiresAt}), `undefined` when not stored.
   */
  set(key: string, outcome: BrokerVerdict, ttlMs: number, ageMs = 0): number | undefined {
    if (!(ttlMs > 0)) return undefined
    const ttl = Math.ceil(ttlMs)
    const now = this.#now()
    // An answer that is already `ageMs` old counts as stored then (bounds on its age see it so).
    const storedAt = now - Math.max(0, ageMs)
    this.#stores++
    publish(cacheChannel, () => ({ event: 'store', cache: this.#name, ttlMs: ttl, valid: outcome.valid }))
    // lru-cache starts its own TTL clock after this read, so it never expires an entry sooner.
    this.#lru.set(key, { outcome, storedAt, expiresAt: now + ttl }, { ttl })
    return now + ttl
  }

  /**
   * Return the cached outcome for `key`, or run `compute` once for all concurrent callers of the
   * same key and cache its result for the TTL it returns. A rejected computation is not cached
   * and rejects every waiter.
   */
  run(key: string, compute: () => Promise<Computed>): Promise<Lookup> {
    const cached = this.get(key)
    if (cached) return Promise.resolve(cached)
    const pending = this.#inflight.get(key)
    if (pending) {
      this.#joins++
      publish(cacheChannel, () => ({ event: 'join', cache: this.#name }))
      return pending
    }
    const p = (async (): Promise<Lookup> => {
      try {
        const { outcome, ttlMs, shared, ageMs = 0 } = await compute()
        const expiresAt = this.set(key, outcome, ttlMs, ageMs)
        return { outcome, hit: false, ageMs, expiresAt, ...(shared ? { shared } : {}) }
      } finally {
        this.#inflight.delete(key)
      }
    })()
    this.#inflight.set(key, p)
    return p
  }

  /** Drop one entry. */
  delete(key: string): void {
    this.#lru.delete(key)
  }

  /** Drop every positive entry whose claims `matches`. @returns how many were dropped. */
  deleteWhere(matches: (claims: AgentWritClaims) => boolean): number {
    const doomed: string[] = []
    for (const [key, e] of this.#lru.entries()) {
      if (e.outcome.valid && matches(e.outcome.claims)) doomed.push(key)
    }
    for (const key of doomed) this.#lru.delete(key)
    if (doomed.length > 0) {
      this.#invalidations += doomed.length
      publish(cacheChannel, () => ({ event: 'invalidate', cache: this.#name, count: doomed.length }))
    }
    return doomed.length
  }

  /** Drop everything. */
  clear(): void {
    this.#lru.clear()
  }
}
