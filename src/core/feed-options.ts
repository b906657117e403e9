/**
 * The `revocationFeed` option: its shape, defaults and eager validation.
 */
import type { FeedTokenSource } from './feed-credential.js'
import { fail, httpUrl, intIn } from './option-checks.js'
import type { ResolvedFeedOptions } from './revocation-feed.js'

/**
 * A revocation feed from the broker's audit log (`GET /v1/audit/events`): revocations at all four
 * levels and releases are refused about a second after the broker records them, in every mode
 * (local included), while cached answers may live `cacheTtlMs` (for example 60 s). Give exactly
 * one credential, `token` or `adminSecret`. See the README's "Instant revocation".
 */
export interface RevocationFeedOptions {
  /**
   * A bearer token holding `admin:audit:*` (for example from `agentwrit-verify audit-token`), or a
   * function returning one (called before every poll). A token given as text is renewed with
   * `POST /v1/token/renew` once three quarters of its lifetime have passed.
   */
  token?: FeedTokenSource
  /**
   * The broker's admin secret: the feed logs in with `POST /v1/admin/auth`. Simpler, but the
   * service then holds a secret that can also revoke and issue launch tokens; prefer `token`.
   */
  adminSecret?: string
  /** Broker base URL. Default: the verifier's `broker` (which local mode may be given for this). */
  broker?: string | URL
  /** Time between the starts of two polls, ms. Default `1000`. Range 100–60000. */
  pollIntervalMs?: number
  /**
   * The feed is current while its last good poll started at most this long ago, ms. Default
   * `3 × pollIntervalMs`. At least `pollIntervalMs`.
   */
  maxLagMs?: number
  /**
   * While the feed is not current (it lags, or has not read the history yet), a cached broker
   * answer older than this is not used, ms: remote and hybrid modes ask the broker again. Default
   * `5000` (the no-feed default of `cacheTtlMs`). Local mode has no broker to ask: see the README.
   */
  laggingCacheTtlMs?: number
}

export const FEED_DEFAULTS = Object.freeze({
  pollIntervalMs: 1_000,
  laggingCacheTtlMs: 5_000,
})

const KNOWN = new Set(['token', 'adminSecret', 'broker', 'pollIntervalMs', 'maxLagMs', 'laggingCacheTtlMs'])

/**
 * Validate `revocationFeed`. `broker` is the verifier's own broker URL, the default.
 * @throws TypeError naming `revocationFeed.<key>`.
 */
export function resolveFeedOptions(input: unknown, broker: URL | undefined): ResolvedFeedOptions | undefined {
  if (input === undefined) return undefined
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail('revocationFeed', 'an object', input)
  }
  const feed = input as RevocationFeedOptions
  for (const key of Object.keys(feed)) {
    if (!KNOWN.has(key)) throw new TypeError(`agentwrit-verify: unknown option "revocationFeed.${key}"`)
  }
  const { token, adminSecret } = feed
  if ((token === undefined) === (adminSecret === undefined)) {
    throw new TypeError(
      'agentwrit-verify: option "revocationFeed" needs exactly one credential: "token" (admin:audit:*) or "adminSecret"',
    )
  }
  if (
    token !== undefined &&
    !(typeof token === 'function' || (typeof token === 'string' && /^[\x21-\x7e]+$/.test(token)))
  ) {
    fail(
      'revocationFeed.token',
      'a bearer token (visible ASCII, no spaces) or a function returning one',
      '<redacted>',
    )
  }
  if (adminSecret !== undefined && (typeof adminSecret !== 'string' || adminSecret === '')) {
    fail('revocationFeed.adminSecret', 'a non-empty string', '<redacted>')
  }
  const feedBroker = feed.broker === undefined ? broker : httpUrl('revocationFeed.broker', feed.broker)
  if (feedBroker === undefined) {
    fail('revocationFeed.broker', 'a broker URL (or the verifier option "broker")', undefined)
  }
  const pollIntervalMs = intIn(
    'revocationFeed.pollIntervalMs',
    feed.pollIntervalMs,
    FEED_DEFAULTS.pollIntervalMs,
    100,
    60_000,
  )
  const maxLagMs = intIn(
    'revocationFeed.maxLagMs',
    feed.maxLagMs,
    3 * pollIntervalMs,
    pollIntervalMs,
    3_600_000,
  )
  const laggingCacheTtlMs = intIn(
    'revocationFeed.laggingCacheTtlMs',
    feed.laggingCacheTtlMs,
    FEED_DEFAULTS.laggingCacheTtlMs,
    0,
    3_600_000,
  )
  return Object.freeze({
    broker: feedBroker,
    token,
    adminSecret,
    pollIntervalMs,
    maxLagMs,
    laggingCacheTtlMs,
  })
}
