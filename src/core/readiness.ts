/**
 * `verifier.ready()`: can this verifier answer requests now? The broker answers its health check
 * (remote and hybrid; an open circuit breaker is "not ready" without asking), a usable key set is
 * loaded (local and hybrid; a JWKS URL is fetched when none was read yet), the revocation feed has
 * read the history and is current (when configured). A service mounts it as its readiness probe.
 * Concurrent calls share one check.
 */
import { request } from 'undici'
import { isTimeout } from './broker-client.js'
import { ms } from './diagnostics.js'
import type { KeysReadiness } from './key-source.js'
import type { LocalStrategy } from './local.js'
import type { ResolvedOptions } from './options.js'
import type { RemoteStrategy } from './remote.js'
import type { RevocationFeed } from './revocation-feed.js'

/** What `verifier.ready()` resolves with (it never rejects). */
export interface Readiness {
  /** Every check below is `ok`. */
  readonly ready: boolean
  readonly checks: {
    /** Remote and hybrid modes. */
    readonly broker?: BrokerReadiness
    /** Local and hybrid modes. */
    readonly keys?: KeysReadiness
    /** With a `revocationFeed`. */
    readonly revocationFeed?: FeedReadiness
    /**
     * With a `sharedCache` that can tell: informational, not part of `ready` (a replica serves
     * without it, from its own cache and the broker).
     */
    readonly sharedCache?: { readonly ok: boolean; readonly reason?: string }
  }
}

/** The broker's part of {@link Readiness}. */
export interface BrokerReadiness {
  /** `GET /v1/health` answered 200 within `timeoutMs`, and the circuit breaker is not open. */
  readonly ok: boolean
  /** The health call's duration, ms (absent when no call was made). */
  readonly latencyMs?: number
  /** Why not: `circuit_open`, `timeout`, `unreachable`, `status_<code>`. */
  readonly reason?: string
}

/** The revocation feed's part of {@link Readiness}. */
export interface FeedReadiness {
  /** The history was read once and the last good poll is within `maxLagMs`. */
  readonly ok: boolean
  readonly synced: boolean
  readonly lagMs: number | null
  /** Why not: `not_synced` or `lagging`, with the last poll failure (`lagging: status_503`). */
  readonly reason?: string
}

export interface ReadinessParts {
  readonly options: ResolvedOptions
  readonly remote: RemoteStrategy | undefined
  readonly local: LocalStrategy | undefined
  readonly feed: () => RevocationFeed | undefined
}

export function createReadinessCheck(parts: ReadinessParts): () => Promise<Readiness> {
  let inFlight: Promise<Readiness> | undefined
  return () => {
    inFlight ??= check(parts).finally(() => {
      inFlight = undefined
    })
    return inFlight
  }
}

async function check({ options, remote, local, feed }: ReadinessParts): Promise<Readiness> {
  const [broker, keys] = await Promise.all([
    remote === undefined ? undefined : brokerReadiness(remote, options),
    local === undefined
      ? undefined
      : local.keys.ready().catch(() => ({ ok: false, keys: null, reason: 'error' })),
  ])
  const f = feed()
  const revocationFeed = f === undefined ? undefined : feedReadiness(f)
  const checks = {
    ...(broker === undefined ? {} : { broker }),
    ...(keys === undefined ? {} : { keys }),
    ...(revocationFeed === undefined ? {} : { revocationFeed }),
  }
  const ready = Object.values(checks).every((c) => c.ok)
  const shared = await sharedReadiness(options)
  return { ready, checks: shared === undefined ? checks : { ...checks, sharedCache: shared } }
}

async function brokerReadiness(remote: RemoteStrategy, options: ResolvedOptions): Promise<BrokerReadiness> {
  if (remote.brokerStats().breaker?.state === 'open') return { ok: false, reason: 'circuit_open' }
  const base = remote.broker.href.endsWith('/') ? remote.broker : new URL(`${remote.broker.href}/`)
  const started = performance.now()
  const latency = () => ms(performance.now() - started)
  try {
    const res = await request(new URL('v1/health', base), {
      method: 'GET',
      dispatcher: options.dispatcher,
      headers: { accept: 'application/json', 'user-agent': 'agentwrit-verify' },
      signal: AbortSignal.timeout(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      reset: true,
    })
    await res.body.dump()
    if (res.statusCode !== 200) return { ok: false, latencyMs: latency(), reason: `status_${res.statusCode}` }
    return { ok: true, latencyMs: latency() }
  } catch (err) {
    return { ok: false, latencyMs: latency(), reason: isTimeout(err) ? 'timeout' : 'unreachable' }
  }
}

async function sharedReadiness(options: ResolvedOptions) {
  const check = options.sharedCache?.ready
  if (check === undefined) return undefined
  try {
    return await check.call(options.sharedCache)
  } catch {
    return { ok: false, reason: 'error' }
  }
}

function feedReadiness(feed: RevocationFeed): FeedReadiness {
  const s = feed.stats()
  const why = s.lastFailure === undefined ? '' : `: ${s.lastFailure}`
  if (!s.synced) return { ok: false, synced: false, lagMs: s.lagMs, reason: `not_synced${why}` }
  if (!s.current) return { ok: false, synced: true, lagMs: s.lagMs, reason: `lagging${why}` }
  return { ok: true, synced: true, lagMs: s.lagMs }
}
