/**
 * The contract of a cache level shared by the replicas of a service (the `sharedCache` option,
 * e.g. `redisStore()` from `agentwrit-verify/redis`), below each process's own cache, and of the
 * revocation fan-out that can ride on it. Framework-free and store-free: the core only ever sees
 * these interfaces.
 *
 * Trust only narrows: whatever a shared level answers, the verifier checks it as it checks the
 * broker's answer (the claims must be exactly the token's own, the feed's predicates apply), so
 * a shared level can make a replica refuse or ask the broker again, never accept a token the
 * broker would refuse.
 */

import type { FeedUpdate } from './audit-events.js'
import type { BrokerVerdict } from './broker-client.js'

/** A broker answer and how long it may be reused, ms. */
export interface SharedComputed {
  readonly verdict: BrokerVerdict
  readonly ttlMs: number
}

/** What {@link SharedCache.resolve} found: a shared entry (`shared`) or the broker's answer now (`broker`). */
export interface SharedResolution extends SharedComputed {
  readonly source: 'shared' | 'broker'
  /** How long ago the broker gave this answer, ms (`0` for `broker`). */
  readonly ageMs: number
}

/**
 * A second cache level, shared by every replica. Keys are the verifier's token keys (a SHA-256 of
 * the token, never the token); a store keys its entries by a keyed hash of those.
 */
export interface SharedCache {
  /**
   * The answer for a token key: an entry another replica stored (authenticated and unexpired), or
   * `ask()` (the broker), asked once for the whole fleet while several replicas want the same new
   * token (single flight), its answer then stored for the others. On any failure of the shared
   * level it must fall back to `ask()`, at once or after a bounded wait, and reject only with what
   * `ask()` rejected with.
   */
  resolve(key: string, ask: () => Promise<SharedComputed>): Promise<SharedResolution>
  /** Drop a shared entry whose answer turned out unusable here (the claims did not match the token). */
  discard(key: string): void
  /** The revocation fan-out, when the store offers one (used with the `revocationFeed` option). */
  readonly revocations?: RevocationFanout
  /** Counters, for `verifier.stats().sharedCache`. */
  stats(): object
  /** Whether the shared level is usable now (a replica works without it: not part of `ready`). */
  ready?(): Promise<{ readonly ok: boolean; readonly reason?: string }>
  /** Stop timers; the client the store was given is the caller's to close. */
  close(): Promise<void>
}

/**
 * What the revocation feed lets a fan-out do: publish what it read from the audit log, apply what
 * another replica read, and turn its own polling off while another replica polls for the fleet.
 */
export interface FeedLink {
  /**
   * Apply updates another replica read from the audit log in a poll that started `ageMs` ago (so
   * the feed is as current as that poll). Idempotent: predicates only grow.
   */
  ingest(updates: readonly FeedUpdate[], ageMs: number): void
  /**
   * `true`: poll the audit log (this replica holds the lease, or the fleet cannot be heard from);
   * `false`: follow the fleet. Turning it on polls at once.
   */
  setPolling(on: boolean): void
  /** Resolves after this replica's next own poll has completed (a catch-up after missed messages). */
  pollNow(): Promise<void>
  /** The poll interval, ms. */
  readonly pollIntervalMs: number
  /** How old the last good poll may be while the feed counts as current, ms. */
  readonly maxLagMs: number
}

/**
 * Called by the feed after each of its own good polls with what the poll applied (possibly
 * nothing: then it is a heartbeat) and how long ago the poll started, ms.
 */
export type PollListener = (updates: readonly FeedUpdate[], ageMs: number) => void

/** A revocation fan-out: the store's side of {@link FeedLink}. */
export interface RevocationFanout {
  /** Start fanning out for this feed. @returns what the feed calls after each of its own good polls. */
  attach(feed: FeedLink): PollListener
  /** Stop (release a lease, stop following). */
  detach(): Promise<void>
}
