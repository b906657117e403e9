/**
 * The revocation feed shared by a fleet over Redis: one replica at a time holds a lease
 * (`SET NX PX`, renewed while it lives, taken over by another once it lapses) and polls the
 * broker's audit log; after each good poll it appends what it applied to a Redis stream (an empty
 * message is a heartbeat). Every other replica reads the stream every `followIntervalMs` and
 * applies the messages to its own predicates and cache at once; it polls the audit log itself
 * only while it cannot hear the fleet (Redis down, no heartbeat within the feed's `maxLagMs`).
 *
 * Messages are authenticated (entry-codec.ts) and numbered; a follower that sees a gap in the
 * numbers (it was disconnected, the stream was trimmed, Redis restarted empty) catches up with one
 * poll of its own, which reads everything since its own last poll. Predicates only grow, so a
 * message applied twice, or a forged or replayed one, can only make a replica refuse.
 */
import { randomBytes } from 'node:crypto'
import type { FeedUpdate } from '../core/audit-events.js'
import type { FeedLink, PollListener, RevocationFanout } from '../core/shared-cache.js'
import { openMessage, type SecretKeys, signMessage } from './entry-codec.js'
import type { RedisLink } from './redis-link.js'

export interface FanoutOptions {
  readonly prefix: string
  /** How long the lease lasts unless renewed, ms: a dead holder is replaced within it. */
  readonly leaseMs: number
  /** How often a replica reads the stream (and checks the lease), ms. */
  readonly followIntervalMs: number
  /** Messages kept in the stream (approximately; older ones are trimmed). */
  readonly streamLength: number
  readonly now: () => number
}

/** What the fan-out reports (in `verifier.stats().sharedCache.revocations`). */
export interface FanoutStats {
  /** `leader`: this replica polls for the fleet; `follower`: it applies what the leader publishes; `alone`: it polls for itself (cannot hear the fleet). */
  readonly role: 'leader' | 'follower' | 'alone'
  readonly published: number
  readonly received: number
  /** Messages that did not authenticate: ignored. */
  readonly rejected: number
  /** Gaps in the message numbers, and the catch-up polls they caused. */
  readonly gaps: number
  readonly catchUps: number
  /** Times this replica took the lease. */
  readonly leases: number
  /** Since the last message heard, ms (`null` before the first). */
  readonly lastHeardAgeMs: number | null
}

/** Renew the lease only if it is still ours. */
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
/**
 * Take the lease if it is free — or already ours: a holder that stopped counting itself leader on a
 * Redis failure (or whose take or renewal timed out but was applied) must not lock the fleet out
 * of a lease nobody uses until it lapses.
 */
const ACQUIRE =
  "local v = redis.call('GET', KEYS[1]) if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end if v then return 0 end redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1"
/** Give the lease up only if it is still ours. */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
/** Number a message and append it. */
const APPEND =
  "local s = redis.call('INCR', KEYS[1]) local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 's', s, 'b', ARGV[1]) return {s, id}"

/** A leader whose poll applied more than this publishes "catch up" instead of the updates themselves. */
const MAX_UPDATES_PER_MESSAGE = 1000

interface MessageBody {
  readonly from: string
  readonly ageMs: number
  readonly updates?: readonly FeedUpdate[]
  /** Too much to send: poll for yourself. */
  readonly catchUp?: true
}

export function createRevocationFanout(
  link: RedisLink,
  keys: SecretKeys,
  options: FanoutOptions,
): RevocationFanout & { stats(): FanoutStats } {
  const { prefix, now } = options
  const leaseKey = `${prefix}feed:lease`
  const seqKey = `${prefix}feed:seq`
  const streamKey = `${prefix}feed:stream`
  const replicaId = randomBytes(8).toString('hex')
  let feed: FeedLink | undefined
  let leader = false
  let renewedAt = 0
  let lastId: string | undefined
  let lastSeq: number | undefined
  let lastHeard: number | undefined
  let timer: NodeJS.Timeout | undefined
  let ticking: Promise<void> | undefined
  const counts = { published: 0, received: 0, rejected: 0, gaps: 0, catchUps: 0, leases: 0 }

  /** Start reading after the stream's newest message, then poll once so nothing before it is missed. */
  async function position(f: FeedLink): Promise<void> {
    const newest = (await link.send(['XREVRANGE', streamKey, '+', '-', 'COUNT', '1'])) as StreamEntry[] | null
    const entry = newest?.[0]
    lastId = entry?.[0] ?? '0-0'
    lastSeq = entry === undefined ? undefined : seqOf(entry)
    await f.pollNow()
  }

  async function holdLease(): Promise<void> {
    const t = now()
    if (leader) {
      if (t - renewedAt < options.leaseMs / 3) return
      leader = (await link.send(['EVAL', RENEW, '1', leaseKey, replicaId, String(options.leaseMs)])) === 1
      if (leader) renewedAt = t
      return
    }
    if ((await link.send(['EVAL', ACQUIRE, '1', leaseKey, replicaId, String(options.leaseMs)])) === 1) {
      leader = true
      renewedAt = t
      counts.leases++
    }
  }

  /** Apply what the stream holds after `lastId`; catch up on a gap. */
  async function follow(f: FeedLink): Promise<void> {
    const reply = await link.send(['XREAD', 'COUNT', '100', 'STREAMS', streamKey, lastId ?? '0-0'])
    let gap = false
    for (const entry of entriesOf(reply)) {
      const seq = seqOf(entry)
      if (seq === undefined || (lastSeq !== undefined && seq !== lastSeq + 1)) gap = true
      lastId = entry[0]
      lastSeq = seq
      const body = openMessage(keys, fieldOf(entry, 'b')) as MessageBody | undefined
      if (body === undefined || typeof body !== 'object' || typeof body.ageMs !== 'number') {
        counts.rejected++
        continue
      }
      counts.received++
      lastHeard = now()
      if (body.catchUp === true) gap = true
      else if (body.from !== replicaId && Array.isArray(body.updates)) f.ingest(body.updates, body.ageMs)
    }
    if (gap) {
      counts.gaps++
      counts.catchUps++
      await f.pollNow()
    }
  }

  /** Poll ourselves while we lead, or while the fleet cannot be heard. */
  function decidePolling(f: FeedLink): void {
    const heard = lastHeard !== undefined && now() - lastHeard <= f.maxLagMs
    f.setPolling(leader || !link.up || !heard)
  }

  async function tick(f: FeedLink): Promise<void> {
    try {
      if (lastId === undefined) await position(f)
      await holdLease()
      if (!leader) await follow(f)
    } catch {
      // Redis unavailable: the link counts it down; the feed polls for itself (below).
      if (!link.up) leader = false
    } finally {
      decidePolling(f)
    }
  }

  function schedule(): void {
    if (feed === undefined) return
    const f = feed
    timer = setTimeout(() => {
      ticking = tick(f).finally(() => {
        ticking = undefined
        schedule()
      })
    }, options.followIntervalMs)
    timer.unref()
  }

  const publish: PollListener = (updates, ageMs) => {
    if (!leader) return
    const body: MessageBody =
      updates.length > MAX_UPDATES_PER_MESSAGE
        ? { from: replicaId, ageMs, catchUp: true }
        : { from: replicaId, ageMs, updates }
    const signed = signMessage(keys, JSON.stringify(body))
    link
      .send(['EVAL', APPEND, '2', seqKey, streamKey, signed, String(options.streamLength)])
      .then((reply) => {
        counts.published++
        lastHeard = now()
        const [seq, id] = reply as [number, string]
        // While leading, our own messages are where a later follow() starts.
        if (typeof id === 'string') lastId = id
        if (typeof seq === 'number') lastSeq = seq
      })
      .catch(() => {})
  }

  return {
    attach(f) {
      if (feed !== undefined) {
        throw new TypeError(
          'agentwrit-verify: a redisStore() fans out one verifier’s feed: give each verifier its own store',
        )
      }
      feed = f
      ticking = tick(f).finally(() => {
        ticking = undefined
        schedule()
      })
      return publish
    },
    async detach() {
      const wasLeader = leader
      feed = undefined
      leader = false
      if (timer !== undefined) clearTimeout(timer)
      await ticking
      if (wasLeader) await link.send(['EVAL', RELEASE, '1', leaseKey, replicaId]).catch(() => {})
    },
    stats: () => ({
      role: leader
        ? 'leader'
        : lastHeard !== undefined && feed !== undefined && now() - lastHeard <= feed.maxLagMs && link.up
          ? 'follower'
          : 'alone',
      ...counts,
      lastHeardAgeMs: lastHeard === undefined ? null : Math.max(0, now() - lastHeard),
    }),
  }
}

/**
 * The entries of our one stream in an XREAD reply, whatever the client made of it: RESP2's
 * `[[key, entries]]`, `[key, entries]`, or a map / object `{ key: entries }` (node-redis, RESP3).
 */
function entriesOf(reply: unknown): StreamEntry[] {
  let candidate: unknown
  if (reply instanceof Map) candidate = [...reply.values()][0]
  else if (Array.isArray(reply))
    candidate = typeof reply[0] === 'string' ? reply[1] : (reply[0] as unknown[] | undefined)?.[1]
  else if (typeof reply === 'object' && reply !== null) candidate = Object.values(reply)[0]
  return Array.isArray(candidate) && candidate.every(isEntry) ? (candidate as StreamEntry[]) : []
}

function isEntry(e: unknown): boolean {
  return Array.isArray(e) && typeof e[0] === 'string' && Array.isArray(e[1])
}

/** A stream entry as XREAD / XRANGE give it: `[id, [field, value, …]]`. */
type StreamEntry = [string, string[]]

function fieldOf(entry: StreamEntry, name: string): string | undefined {
  const fields = entry[1]
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

function seqOf(entry: StreamEntry): number | undefined {
  const s = Number(fieldOf(entry, 's'))
  return Number.isSafeInteger(s) ? s : undefined
}
