/**
 * The key source of the `jwksUri` option: a JWKS fetched over HTTP(S) and refreshed.
 *
 * The set is read with jose's `createRemoteJWKSet`. jose keeps its last good set in memory when a
 * refetch fails but then *rejects* the request (whenever the set is older than its max age, or a
 * refetch for an unknown `kid` fails), and it retries the fetch on every such request. This module
 * wraps it: after a failed fetch it backs off, and meanwhile serves the last good set while that
 * set is younger than `jwksMaxAgeMs + staleIfErrorMs`. Only when no usable key is left does it
 * answer `key_source_unavailable` (503) — never `invalid_token` (401).
 */
import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWKSCacheInput,
  jwksCache,
} from 'jose'
import { fetch as undiciFetch } from 'undici'
import { isConnectionReset, isTimeout } from './broker-client.js'
import { keysChannel, ms, publish } from './diagnostics.js'
import {
  candidateKeys,
  type KeyResolver,
  type KeySelector,
  type KeySource,
  keySourceUnavailable,
  unknownKid,
} from './key-source.js'
import type { ResolvedOptions } from './options.js'

/** Largest JWKS response body read, in bytes (1 MiB). A larger body is a key source failure. */
export const JWKS_MAX_BYTES = 1_048_576

/**
 * Default {@link JwksFetcherTuning.staleIfErrorMs}: how long past `jwksMaxAgeMs` the last good JWKS
 * is still served while the JWKS URL is failing, in milliseconds (1 hour).
 */
export const DEFAULT_STALE_IF_ERROR_MS = 3_600_000

/** Fine-tuning of a JWKS URL source. Not part of the public options (yet). */
export interface JwksFetcherTuning {
  /**
   * While refreshes fail, the last good key set keeps being used until it is
   * `jwksMaxAgeMs + staleIfErrorMs` old (measured from its successful fetch), in milliseconds.
   * Default {@link DEFAULT_STALE_IF_ERROR_MS}.
   */
  readonly staleIfErrorMs?: number
  /**
   * After a failed fetch, no new fetch is attempted for this long, in milliseconds; requests are
   * answered from the last good set (or with a 503) without touching the network.
   * Default `min(jwksCooldownMs, retryAfterSeconds × 1000)`.
   */
  readonly failureBackoffMs?: number
}

async function readCapped(body: AsyncIterable<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.byteLength
    if (total > max) throw new Error(`JWKS response larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** How one JWKS fetch ended: the HTTP status when an answer came, and why it failed. */
interface FetchReport {
  readonly status: number | undefined
  readonly reason: string | undefined
  readonly durationMs: number
}

/**
 * A fetch for jose: undici + dispatcher when given, body size capped, aborted by `close()`. A
 * pooled keep-alive connection found closed (reset before any answer) is retried once at once,
 * within the same timeout: a JWKS GET has no side effects. Each fetch is reported to `report`.
 */
function jwksFetch(
  dispatcher: ResolvedOptions['dispatcher'],
  closing: AbortSignal,
  report: (r: FetchReport) => void,
): FetchImplementation {
  const fetchOnce = fetchJwks(dispatcher, closing)
  return async (url, init) => {
    const started = performance.now()
    try {
      const res = await fetchOnce(url, init)
      const status = res.status
      report({
        status,
        reason: status === 200 ? undefined : `status_${status}`,
        durationMs: elapsed(started),
      })
      return res
    } catch (err) {
      const reason = isTimeout(err) ? 'timeout' : 'unreachable'
      report({ status: undefined, reason, durationMs: elapsed(started) })
      throw err
    }
  }
}

function elapsed(started: number): number {
  return ms(performance.now() - started)
}

function fetchJwks(dispatcher: ResolvedOptions['dispatcher'], closing: AbortSignal): FetchImplementation {
  return async (url, init) => {
    const signal = AbortSignal.any([init.signal, closing])
    const get = () =>
      dispatcher === undefined
        ? fetch(url, { ...init, signal })
        : undiciFetch(url, {
            method: init.method,
            headers: Object.fromEntries(init.headers),
            redirect: init.redirect,
            signal,
            dispatcher,
          })
    let res: Response | Awaited<ReturnType<typeof undiciFetch>>
    try {
      res = await get()
    } catch (err) {
      if (!isConnectionReset(err) || signal.aborted) throw err
      res = await get()
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {})
      return new Response(null, { status: res.status >= 200 && res.status <= 599 ? res.status : 502 })
    }
    const bytes = await readCapped(res.body as AsyncIterable<Uint8Array> | null, JWKS_MAX_BYTES)
    return new Response(bytes, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}

/** Ed25519 signing keys in a set. */
function ed25519Keys(jwks: JSONWebKeySet): number {
  return jwks.keys.filter((k) => isUsableKey(k)).length
}

function isUsableKey(k: unknown): boolean {
  if (typeof k !== 'object' || k === null) return false
  const j = k as Record<string, unknown>
  return j.kty === 'OKP' && j.crv === 'Ed25519' && typeof j.x === 'string' && (j.use ?? 'sig') === 'sig'
}

function hasUsableKey(jwks: unknown): boolean {
  if (typeof jwks !== 'object' || jwks === null) return false
  const keys = (jwks as { keys?: unknown }).keys
  return Array.isArray(keys) && keys.some(isUsableKey)
}

/**
 * The key source of the `jwksUri` option: the set at `url`, fetched and refreshed with `o`'s
 * timeouts, dispatcher and JWKS options.
 *
 * Behaviour (jose `createRemoteJWKSet`): request timeout `timeoutMs` (default 2000 ms), refetch on
 * an unknown `kid` at most once per `jwksCooldownMs` (default 30000 ms), refresh when the set is
 * older than `jwksMaxAgeMs` (default 600000 ms); requests go through `dispatcher` (undici) when
 * given; redirects are not followed; bodies over {@link JWKS_MAX_BYTES} are refused. While the URL
 * fails, see {@link JwksFetcherTuning}.
 */
export function createJwksFetcher(url: URL, o: ResolvedOptions, tuning: JwksFetcherTuning = {}): KeySource {
  const closing = new AbortController()
  // jose writes `uat` (ms, Date.now) and `jwks` here after every *successful* fetch.
  const store: { uat?: number; jwks?: JSONWebKeySet } = {}
  const shownUrl = `${url.origin}${url.pathname}`
  let fetches = 0
  let failures = 0
  /** Why the last fetch failed at the HTTP level (`undefined` when it got a 200). */
  let lastFetchFailure: string | undefined
  let lastFailure: string | undefined
  const reportFetch = (r: FetchReport): void => {
    fetches++
    lastFetchFailure = r.reason
    publish(keysChannel, () => ({
      event: 'fetch',
      url: shownUrl,
      outcome: r.reason === undefined ? 'ok' : 'error',
      status: r.status,
      durationMs: r.durationMs,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
    }))
  }
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: o.timeoutMs,
    cooldownDuration: o.jwksCooldownMs,
    cacheMaxAge: o.jwksMaxAgeMs,
    [customFetch]: jwksFetch(o.dispatcher, closing.signal, reportFetch),
    [jwksCache]: store as JWKSCacheInput,
  })
  const staleLimitMs = o.jwksMaxAgeMs + (tuning.staleIfErrorMs ?? DEFAULT_STALE_IF_ERROR_MS)
  const backoffMs = tuning.failureBackoffMs ?? Math.min(o.jwksCooldownMs, o.retryAfterSeconds * 1000)
  let failedAt: number | undefined
  let lastCause: unknown
  let lastGood: { uat: number; set: KeyResolver } | undefined
  let closed = false

  const lastGoodSet = (): KeyResolver | undefined => {
    const { uat, jwks } = store
    if (uat === undefined || jwks === undefined || Date.now() - uat > staleLimitMs) return undefined
    if (lastGood?.uat !== uat) {
      try {
        lastGood = { uat, set: createLocalJWKSet(jwks) }
      } catch {
        return undefined
      }
    }
    return lastGood.set
  }

  const fromLastGood = async (selector: KeySelector, cause: unknown): Promise<CryptoKey[]> => {
    const set = lastGoodSet()
    publish(keysChannel, () => ({
      event: 'stale',
      reason: lastFailure ?? 'jwks_unavailable',
      available: set !== undefined,
    }))
    if (set === undefined) throw keySourceUnavailable(o, 'jwks_unavailable', cause)
    try {
      return await candidateKeys(set, selector)
    } catch (err) {
      // The key may have been rotated in while the source is unreachable: we cannot tell, so 503.
      const reason =
        err instanceof errors.JWKSNoMatchingKey ? 'kid_unknown_jwks_unavailable' : 'jwks_unavailable'
      throw keySourceUnavailable(o, reason, cause)
    }
  }

  return {
    kind: 'jwks-uri',
    thumbprints: Object.freeze([]),
    async keysFor(selector) {
      if (closed) throw keySourceUnavailable(o, 'closed')
      if (failedAt !== undefined && Date.now() - failedAt < backoffMs)
        return fromLastGood(selector, lastCause)
      try {
        const keys = await candidateKeys(remote, selector)
        failedAt = undefined
        lastFailure = undefined
        return keys
      } catch (err) {
        if (closed) throw keySourceUnavailable(o, 'closed', err)
        if (err instanceof errors.JWKSNoMatchingKey) {
          // jose only says "no matching key" with a set that is fresh and either fetched within the
          // cooldown or just refetched: the source is healthy and does not know this kid.
          failedAt = undefined
          if (!hasUsableKey(store.jwks)) throw keySourceUnavailable(o, 'jwks_no_usable_key', err)
          throw unknownKid()
        }
        // Fetch failed, timed out, answered non-200, non-JSON, a malformed set, or an unusable key.
        failedAt = Date.now()
        lastCause = err
        failures++
        lastFailure = lastFetchFailure ?? 'bad_jwks'
        return fromLastGood(selector, err)
      }
    },
    stats() {
      const keys = store.jwks === undefined ? null : ed25519Keys(store.jwks)
      const ageMs = store.uat === undefined ? null : Math.max(0, Date.now() - store.uat)
      return { source: 'jwks-uri', keys, fetches, failures, ageMs, lastFailure }
    },
    async ready() {
      if (closed) return { ok: false, keys: null, reason: 'closed' }
      const backingOff = failedAt !== undefined && Date.now() - failedAt < backoffMs
      if (!backingOff && (store.jwks === undefined || !remote.fresh)) {
        try {
          await remote.reload()
          failedAt = undefined
          lastFailure = undefined
        } catch (err) {
          failedAt = Date.now()
          lastCause = err
          failures++
          lastFailure = lastFetchFailure ?? 'bad_jwks'
        }
      }
      const fresh = failedAt === undefined && store.jwks !== undefined && hasUsableKey(store.jwks)
      const keys = store.jwks === undefined ? null : ed25519Keys(store.jwks)
      if (fresh) return { ok: true, keys }
      if (lastGoodSet() !== undefined && store.jwks !== undefined && hasUsableKey(store.jwks))
        return { ok: true, keys, stale: true }
      return { ok: false, keys, reason: lastFailure ?? 'jwks_no_usable_key' }
    },
    close() {
      if (closed) return
      closed = true
      closing.abort()
      lastGood = undefined
      store.jwks = undefined
    },
  }
}
