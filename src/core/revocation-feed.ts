/**
 * The revocation feed: the broker's audit log (`GET /v1/audit/events`, contract §4.9) turned into
 * the broker's revocation predicates, so a verifier can keep answers for a minute and still refuse
 * a revoked or released token about a second after the broker recorded it — in every mode.
 *
 * - At start it reads the whole history of `token_revoked` and `token_released` (revocations are
 *   permanent predicates), then polls every `pollIntervalMs` with an offset cursor per event type,
 *   so a poll reads only what is new. The three types are read together; cursors advance only when
 *   all three pages were read and applied, so a failed poll is simply read again.
 * - `token_revoked` → a predicate (jti, subject, task id, chain root); `token_released` → a jti;
 *   `token_renewed` (which names only the new jti) → the subject's cached answers are dropped, so
 *   remote and hybrid modes ask the broker again, which knows the predecessor is dead.
 * - Every change bumps {@link RevocationFeed.generation} and calls `onChange` with a matcher, so
 *   the verifier drops matching cached answers at once.
 * - It only ever removes trust: a failed poll or an unreadable answer changes nothing but the lag.
 *   While the last good poll started within `maxLagMs` the feed is current; otherwise
 *   {@link RevocationFeed.maxCacheAgeMs} bounds the age of a cached answer to `laggingCacheTtlMs`.
 */
import { LRUCache } from 'lru-cache'
import type { Dispatcher } from 'undici'
import { type AuditClient, createAuditClient, FeedCallError } from './audit-client.js'
import {
  type AuditEventFields,
  FEED_EVENT_TYPES,
  type FeedEventType,
  type FeedUpdate,
  feedUpdateOf,
} from './audit-events.js'
import type { AgentWritClaims } from './claims.js'
import { feedChannel, ms, publish } from './diagnostics.js'
import { createFeedCredential, type FeedTokenSource } from './feed-credential.js'
import { type PredicateCounts, RevocationPredicates } from './revocation-predicates.js'
import type { FeedLink, PollListener, RevocationFanout } from './shared-cache.js'

/** The feed's settings after validation (see `revocationFeed` in the options). */
export interface ResolvedFeedOptions {
  readonly broker: URL
  readonly token: FeedTokenSource | undefined
  readonly adminSecret: string | undefined
  readonly pollIntervalMs: number
  readonly maxLagMs: number
  readonly laggingCacheTtlMs: number
}

/** What the feed reports (in `verifier.stats().revocationFeed`). */
export interface RevocationFeedStats {
  /** The last good poll started within `maxLagMs`. */
  readonly current: boolean
  /** Time since the last good poll started, ms; `null` before the first one. */
  readonly lagMs: number | null
  /** The whole history has been read once. */
  readonly synced: boolean
  /** Good polls, failed polls. */
  readonly polls: number
  readonly failedPolls: number
  /** Why the last poll failed (`status_503`, `timeout`, `bad_page`, …), `undefined` once one succeeded after it. */
  readonly lastFailure: string | undefined
  /** Events applied: revocations, releases, renewals. */
  readonly revocations: number
  readonly releases: number
  readonly renewals: number
  /** Sizes of the predicate sets. */
  readonly predicates: PredicateCounts
  /** Logins with the admin secret or renewals of the feed's own token. */
  readonly credentialRenewals: number
}

export interface RevocationFeed {
  /** Bumped on every change that can remove trust from a cached answer. */
  readonly generation: number
  /** Whether the broker revoked or released a token with these claims, as far as the feed knows. */
  revokes(claims: AgentWritClaims): boolean
  /** When (ms, the feed's clock) the feed last learned that `subject` renewed a token; `undefined` if not lately. */
  renewedAt(subject: string): number | undefined
  /** How old a cached broker answer may be now: unbounded while current, `laggingCacheTtlMs` otherwise. */
  maxCacheAgeMs(now: number): number
  /** Resolves once the history has been read, or after `timeoutMs`, whichever is first. */
  whenSynced(timeoutMs: number): Promise<void>
  stats(): RevocationFeedStats
  close(): Promise<void>
}

export interface RevocationFeedDeps {
  readonly now: () => number
  /** Per-call timeout, ms. */
  readonly timeoutMs: number
  readonly dispatcher?: Dispatcher | undefined
  /** Called after every change with a matcher of the claims that lost trust. */
  readonly onChange: (matches: (claims: AgentWritClaims) => boolean) => void
  /** Injected client (tests). */
  readonly client?: AuditClient
  /**
   * Share the feed with the other replicas (the shared cache's fan-out): one replica polls and
   * publishes, the others apply what it read and poll only when they cannot hear it.
   */
  readonly fanout?: RevocationFanout | undefined
}

/** New events of one type and the cursor after them. */
interface TypeRead {
  readonly type: FeedEventType
  readonly events: readonly AuditEventFields[]
  readonly cursor: number
}

export function createRevocationFeed(
  settings: ResolvedFeedOptions,
  deps: RevocationFeedDeps,
): RevocationFeed {
  const { now } = deps
  const client =
    deps.client ??
    createAuditClient({ broker: settings.broker, timeoutMs: deps.timeoutMs, dispatcher: deps.dispatcher })
  const credential = createFeedCredential({
    token: settings.token,
    adminSecret: settings.adminSecret,
    client,
    now,
    timeoutMs: deps.timeoutMs,
  })
  const predicates = new RevocationPredicates()
  /** Subjects seen renewing, and when (bounded: only recent renewals matter, see `renewedAt`). */
  const renewedAt = new LRUCache<string, number>({ max: 10_000 })
  const cursors: Record<FeedEventType, number | undefined> = {
    token_revoked: 0,
    token_released: 0,
    // Renewals before start concern no cached answer: the cursor starts at the end of the log.
    token_renewed: undefined,
  }
  let generation = 0
  let lastGood: number | undefined
  let polls = 0
  let failedPolls = 0
  let lastFailure: string | undefined
  let revocations = 0
  let releases = 0
  let renewals = 0
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> | undefined
  let isSynced = false
  let markSynced!: () => void
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve
  })

  /** Every new event of `type` after its cursor, across pages. */
  async function readNew(bearer: string, type: FeedEventType): Promise<TypeRead> {
    const start = cursors[type]
    if (start === undefined) {
      const page = await client.events(bearer, type, 0)
      return { type, events: [], cursor: page.total }
    }
    const events: AuditEventFields[] = []
    let offset = start
    for (;;) {
      const page = await client.events(bearer, type, offset)
      if (page.total < offset) {
        // The log is shorter than what was read: another log (a new broker database). Read it
        // from the start; predicates only grow, so reading old events again is harmless.
        offset = 0
        events.length = 0
        continue
      }
      events.push(...page.events)
      offset += page.events.length
      // A short page is not the end unless the total says so (a broker may cap pages lower).
      if (page.events.length === 0 || offset >= page.total) break
    }
    return { type, events, cursor: offset }
  }

  /** Apply what a poll read; `null` when an event could not be used (the poll then fails). */
  function apply(reads: readonly TypeRead[]): FeedUpdate[] | null {
    const read = reads.flatMap((r) => r.events.map(feedUpdateOf))
    if (read.some((u) => u === null)) return null
    const updates = read as FeedUpdate[]
    // The history's renewals are skipped (they name no predecessor), but an answer cached before
    // this first complete read may be for a token renewed since: the first sync drops them all.
    const firstSync = cursors.token_renewed === undefined
    for (const r of reads) cursors[r.type] = r.cursor
    applyUpdates(updates, firstSync)
    return updates
  }

  /** Add updates to the predicates and drop the cached answers that lost trust. */
  function applyUpdates(updates: readonly FeedUpdate[], firstSync: boolean): void {
    let changed = false
    const renewed = new Set<string>()
    for (const u of updates) {
      if (u.kind === 'revoked') {
        revocations++
        changed = predicates.add(u.level, u.target) || changed
      } else if (u.kind === 'released') {
        releases++
        changed = predicates.add('token', u.jti) || changed
      } else {
        renewals++
        renewed.add(u.subject)
        renewedAt.set(u.subject, now())
        changed = true
      }
    }
    if (firstSync) {
      generation++
      deps.onChange(() => true)
    } else if (changed) {
      generation++
      deps.onChange((claims) => predicates.revokes(claims) || renewed.has(claims.sub))
    }
  }

  async function poll(): Promise<void> {
    const started = now()
    const timer = performance.now()
    const before = { revocations, releases, renewals }
    let failure: string | undefined
    try {
      failure = await pollOnce(started)
    } finally {
      publish(feedChannel, () => ({
        event: 'poll',
        outcome: failure === undefined ? 'ok' : 'error',
        reason: failure,
        durationMs: ms(performance.now() - timer),
        lagMs: lastGood === undefined ? null : Math.max(0, now() - lastGood),
        synced: isSynced,
        applied: {
          revocations: revocations - before.revocations,
          releases: releases - before.releases,
          renewals: renewals - before.renewals,
        },
      }))
    }
  }

  /** One poll; the reason it failed, `undefined` when it succeeded. */
  async function pollOnce(started: number): Promise<string | undefined> {
    let bearer: string | undefined
    try {
      const token = await credential.bearer()
      bearer = token
      const reads = await Promise.all(FEED_EVENT_TYPES.map((type) => readNew(token, type)))
      if (closed) return 'closed'
      const applied = apply(reads)
      if (applied === null) throw new FeedCallError('unreadable_event', 200)
      lastGood = Math.max(lastGood ?? started, started)
      lastFailure = undefined
      polls++
      isSynced = true
      markSynced()
      published?.(applied, Math.max(0, now() - started))
      return undefined
    } catch (err) {
      failedPolls++
      const e = err instanceof FeedCallError ? err : new FeedCallError('unexpected_error')
      lastFailure = e.reason
      if (bearer !== undefined && (e.status === 401 || e.status === 403)) credential.refused(bearer)
      return e.reason
    }
  }

  /** Polls run one at a time (the loop's and {@link FeedLink.pollNow}'s). */
  let chain: Promise<void> = Promise.resolve()
  function pollExclusive(): Promise<void> {
    const p = chain.then(poll)
    chain = p.catch(() => {})
    return p
  }

  /** `false` while another replica polls for the fleet (fan-out). */
  let polling = true

  function schedule(delayMs: number): void {
    if (closed || !polling) return
    timer = setTimeout(run, Math.max(0, delayMs))
    timer.unref()
  }

  function run(): void {
    timer = undefined
    if (closed || !polling) return
    const started = now()
    inFlight = pollExclusive().finally(() => {
      inFlight = undefined
      schedule(started + settings.pollIntervalMs - now())
    })
  }

  const link: FeedLink = {
    ingest(updates, ageMs) {
      if (closed) return
      applyUpdates(updates, false)
      lastGood = Math.max(lastGood ?? 0, now() - Math.max(0, ageMs))
    },
    setPolling(on) {
      if (on === polling || closed) return
      polling = on
      if (!on && timer !== undefined) {
        clearTimeout(timer)
        timer = undefined
      }
      if (on && timer === undefined && inFlight === undefined) run()
    },
    pollNow: () => (closed ? Promise.resolve() : pollExclusive()),
    pollIntervalMs: settings.pollIntervalMs,
    maxLagMs: settings.maxLagMs,
  }

  run()
  /** Called after each good poll of our own: the fan-out publishes it to the other replicas. */
  const published: PollListener | undefined = deps.fanout?.attach(link)

  return {
    get generation() {
      return generation
    },
    revokes: (claims) => predicates.revokes(claims),
    renewedAt: (subject) => renewedAt.get(subject),
    maxCacheAgeMs(at) {
      return lastGood !== undefined && at - lastGood <= settings.maxLagMs
        ? Number.POSITIVE_INFINITY
        : settings.laggingCacheTtlMs
    },
    whenSynced(timeoutMs) {
      if (isSynced) return Promise.resolve()
      let t: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => {
        t = setTimeout(resolve, timeoutMs)
        t.unref()
      })
      return Promise.race([synced, timeout]).finally(() => clearTimeout(t))
    },
    stats() {
      const at = now()
      return {
        current: lastGood !== undefined && at - lastGood <= settings.maxLagMs,
        lagMs: lastGood === undefined ? null : Math.max(0, at - lastGood),
        synced: cursors.token_renewed !== undefined && lastGood !== undefined,
        polls,
        failedPolls,
        lastFailure,
        revocations,
        releases,
        renewals,
        predicates: predicates.counts,
        credentialRenewals: credential.renewals,
      }
    },
    async close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      await deps.fanout?.detach()
      await client.close()
      await inFlight
      await chain
    },
  }
}
