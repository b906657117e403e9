/**
 * The shared level of broker answers in Redis (the `SharedCache` of `redisStore()`): on a
 * replica's cache miss, an authenticated entry another replica stored is used; otherwise one
 * replica of the fleet asks the broker (a flight claimed with `SET NX PX`) and stores the answer,
 * while the others poll for it for at most `flightTimeoutMs` and then ask themselves. Whenever
 * Redis fails, is slow or counts as down, the replica asks the broker at once: Redis can only
 * save broker calls, never cause a refusal.
 */
import { randomBytes } from 'node:crypto'
import type { SharedComputed, SharedResolution } from '../core/shared-cache.js'
import { decodeAnswer, encodeAnswer, entryName, type SecretKeys } from './entry-codec.js'
import type { RedisLink } from './redis-link.js'

export interface SharedAnswersOptions {
  /** Prefix of every Redis key. */
  readonly prefix: string
  /** How long a flight is held, and how long the others wait for its answer, ms. */
  readonly flightTimeoutMs: number
  readonly now: () => number
}

/** Counters of the shared answers (in `verifier.stats().sharedCache`). */
export interface SharedAnswersStats {
  /** Answers found in Redis (directly, or once another replica's flight stored them). */
  readonly hits: number
  /** Lookups that found nothing usable. */
  readonly misses: number
  /** Entries found that did not authenticate (wrong MAC, unreadable) or had expired: ignored. */
  readonly rejected: number
  /** Answers written. */
  readonly stores: number
  /** Broker calls this replica made for the fleet (it claimed the flight). */
  readonly flightsLed: number
  /** Lookups that waited for another replica's flight; of them, those that got its answer, and those that gave up. */
  readonly flightsJoined: number
  readonly flightAnswers: number
  readonly flightTimeouts: number
  /** Broker calls made without the shared level because Redis failed or counted as down. */
  readonly bypassed: number
}

/** Poll steps while another replica's flight is out, ms (then the last one, repeated). */
const POLL_STEPS_MS = [2, 4, 8, 16, 32, 50]

/** The stored answer (`{1, entry}`), or the flight claimed (`{2}`) or already out (`{3}`). */
const LOOK_OR_CLAIM =
  "local v = redis.call('GET', KEYS[1]) if v then return {1, v} end if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end return {3}"

/** Compare-and-delete: drop a flight only if it is still ours. */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

export interface SharedAnswers {
  resolve(key: string, ask: () => Promise<SharedComputed>): Promise<SharedResolution>
  discard(key: string): void
  stats(): SharedAnswersStats
}

export function createSharedAnswers(
  link: RedisLink,
  keys: SecretKeys,
  options: SharedAnswersOptions,
): SharedAnswers {
  const { prefix, flightTimeoutMs, now } = options
  const counts = {
    hits: 0,
    misses: 0,
    rejected: 0,
    stores: 0,
    flightsLed: 0,
    flightsJoined: 0,
    flightAnswers: 0,
    flightTimeouts: 0,
    bypassed: 0,
  }

  const entryKey = (name: string) => `${prefix}answer:${name}`
  const flightKey = (name: string) => `${prefix}flight:${name}`

  /** Fire and forget: a write that fails changes nothing but a later miss. */
  function quietly(args: string[]): void {
    link.send(args).catch(() => {})
  }

  function store(name: string, computed: SharedComputed): void {
    const ttl = Math.floor(computed.ttlMs)
    if (!(ttl > 0)) return
    counts.stores++
    const at = now()
    const entry = encodeAnswer(keys, name, computed.verdict, at + ttl, at)
    quietly(['SET', entryKey(name), entry, 'PX', String(ttl)])
  }

  /** Ask the broker; store the answer when Redis is up. */
  async function askAndStore(name: string, ask: () => Promise<SharedComputed>): Promise<SharedResolution> {
    const computed = await ask()
    if (link.up) store(name, computed)
    return { ...computed, ageMs: 0, source: 'broker' }
  }

  function bypass(ask: () => Promise<SharedComputed>): Promise<SharedResolution> {
    counts.bypassed++
    return ask().then((computed) => ({ ...computed, ageMs: 0, source: 'broker' as const }))
  }

  /** What a GET or MGET found under `name`: a usable answer, or `undefined` (counted). */
  function usable(name: string, raw: unknown): SharedResolution | undefined {
    if (raw === null || raw === undefined) return undefined
    const found = decodeAnswer(keys, name, raw, now())
    if (found === undefined) {
      counts.rejected++
      return undefined
    }
    return { ...found, source: 'shared' }
  }

  async function lead(
    name: string,
    nonce: string,
    ask: () => Promise<SharedComputed>,
  ): Promise<SharedResolution> {
    counts.flightsLed++
    try {
      const computed = await ask()
      store(name, computed)
      return { ...computed, ageMs: 0, source: 'broker' }
    } finally {
      quietly(['EVAL', RELEASE, '1', flightKey(name), nonce])
    }
  }

  /** Wait for another replica's flight: its answer, or `undefined` once it is gone or too long out. */
  async function follow(name: string): Promise<SharedResolution | undefined> {
    counts.flightsJoined++
    const deadline = now() + flightTimeoutMs
    for (let i = 0; now() < deadline; i++) {
      await sleep(
        Math.min(POLL_STEPS_MS[Math.min(i, POLL_STEPS_MS.length - 1)]!, Math.max(1, deadline - now())),
      )
      const reply = (await link.send(['MGET', entryKey(name), flightKey(name)])) as unknown[]
      const found = usable(name, reply?.[0])
      if (found !== undefined) {
        counts.flightAnswers++
        return found
      }
      // The flight ended without an answer we can use (its broker call failed, or stored nothing).
      if (reply?.[1] === null || reply?.[1] === undefined) return undefined
    }
    counts.flightTimeouts++
    return undefined
  }

  async function resolve(key: string, ask: () => Promise<SharedComputed>): Promise<SharedResolution> {
    if (!link.up) return bypass(ask)
    const name = entryName(keys, key)
    const nonce = randomBytes(12).toString('base64url')
    let claimed: boolean
    try {
      // The answer, or else the flight, in one step: no replica can claim a flight whose answer
      // was stored between its look and its claim.
      const flight = String(flightTimeoutMs)
      const reply = (await link.send([
        'EVAL',
        LOOK_OR_CLAIM,
        '2',
        entryKey(name),
        flightKey(name),
        nonce,
        flight,
      ])) as unknown[] | null
      const found = reply?.[0] === 1 ? usable(name, reply[1]) : undefined
      if (found !== undefined) {
        counts.hits++
        return found
      }
      counts.misses++
      claimed =
        reply?.[0] === 2 ||
        // An entry was there but unusable here (another secret, edited): claim as if there were none.
        (reply?.[0] === 1 && (await link.send(['SET', flightKey(name), nonce, 'NX', 'PX', flight])) === 'OK')
    } catch {
      return bypass(ask)
    }
    if (claimed) return lead(name, nonce, ask)
    let followed: SharedResolution | undefined
    try {
      followed = await follow(name)
    } catch {
      return bypass(ask)
    }
    if (followed !== undefined) {
      counts.hits++
      return followed
    }
    return askAndStore(name, ask)
  }

  return {
    resolve,
    discard(key) {
      quietly(['DEL', entryKey(entryName(keys, key))])
    },
    stats: () => ({ ...counts }),
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref()
  })
}
