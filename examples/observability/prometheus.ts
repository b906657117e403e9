/**
 * Recipe — Prometheus metrics with prom-client (README, "Observability").
 *
 * Counters and histograms are fed from the package's diagnostics channels; gauges are read from
 * `verifier.stats()` at each scrape (one snapshot per scrape). Names follow the broker's own style
 * (`agentwrit_*`) under `agentwrit_verify_`. Every label is bounded: never an agent id, a token id
 * or a request id (those go to traces and logs). Durations are seconds.
 *
 * @example
 * ```ts
 * const registry = new Registry()
 * const auth = agentAuth({ broker: process.env.AGENTWRIT_BROKER_URL })
 * agentwritPrometheusMetrics(registry, auth.verifier)
 * app.get('/metrics', async (_req, res) => {
 *   res.type(registry.contentType).send(await registry.metrics())
 * })
 * ```
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import {
  subscribeDiagnostics,
  subscribeVerifications,
  type Verifier,
  type VerifierStats,
} from '../../src/index.js'

/** Latency buckets, seconds: a cached answer takes microseconds, a broker call milliseconds. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * Register agentwrit-verify's metrics on `registry` and start feeding them. Call once per
 * registry; pass the service's verifier (`auth.verifier`) for the gauges read from its stats.
 * @returns `dispose()`: unsubscribe from the channels and remove the metrics from `registry`.
 */
export function agentwritPrometheusMetrics(registry: Registry, verifier?: Verifier): () => void {
  const names: string[] = []
  const config = <L extends string>(name: string, labelNames: readonly L[], help: string) => {
    names.push(`agentwrit_verify_${name}`)
    return { name: `agentwrit_verify_${name}`, labelNames, help, registers: [registry] }
  }
  const counter = <L extends string>(name: string, labels: readonly L[], help: string) =>
    new Counter(config(name, labels, help))
  const histogram = <L extends string>(name: string, labels: readonly L[], help: string) =>
    new Histogram({ ...config(name, labels, help), buckets: BUCKETS })

  const verifyLabels = ['adapter', 'mode', 'outcome'] as const
  const verifications = counter('verifications_total', [...verifyLabels, 'source', 'code'], 'Verifications.')
  const verifyDuration = histogram('verification_duration_seconds', verifyLabels, 'Verification time, s.')
  const guards = counter('guard_decisions_total', ['guard', 'outcome', 'code'], 'Guard decisions.')
  const brokerCalls = counter('broker_requests_total', ['outcome', 'status'], 'Broker validate calls.')
  const brokerDuration = histogram('broker_request_duration_seconds', ['outcome'], 'Validate call time, s.')
  const breakerRefusals = counter('circuit_breaker_refusals_total', [], 'Calls not sent: breaker open.')
  const breakerChanges = counter('circuit_breaker_transitions_total', ['state'], 'Breaker state changes.')
  const cacheEvents = counter('cache_events_total', ['event'], 'Cache events (evict, invalidate: entries).')
  const jwksFetches = counter('jwks_fetches_total', ['outcome'], 'JWKS fetches.')
  const feedPolls = counter('revocation_feed_polls_total', ['outcome'], 'Revocation feed polls.')

  const unsubscribes = [
    subscribeVerifications(({ adapter, mode, outcome, source = '', code = 'unexpected', durationMs }) => {
      const labels = { adapter, mode, outcome }
      const refused = outcome === 'refused'
      verifications.inc({ ...labels, source: refused ? '' : source, code: refused ? code : '' })
      verifyDuration.observe(labels, durationMs / 1000)
    }),
    subscribeDiagnostics('guard', ({ guard, outcome, code = '' }) => guards.inc({ guard, outcome, code })),
    subscribeDiagnostics('broker', (m) => {
      if (m.event === 'validate') {
        brokerCalls.inc({ outcome: m.outcome, status: m.status ?? '' })
        brokerDuration.observe({ outcome: m.outcome }, m.durationMs / 1000)
      } else if (m.event === 'breaker') breakerChanges.inc({ state: m.state })
      else breakerRefusals.inc()
    }),
    subscribeDiagnostics('cache', (m) => {
      cacheEvents.inc({ event: m.event }, m.event === 'evict' || m.event === 'invalidate' ? m.count : 1)
    }),
    subscribeDiagnostics('keys', (m) => {
      if (m.event === 'fetch') jwksFetches.inc({ outcome: m.outcome })
    }),
    subscribeDiagnostics('feed', (m) => {
      if (m.event === 'poll') feedPolls.inc({ outcome: m.outcome })
    }),
  ]
  if (verifier !== undefined) {
    // Gauges. A scrape runs every collect() in one synchronous loop: the first reads stats(), the
    // others reuse that snapshot, which is dropped at the next microtask (so it is never stale).
    let snapshot: VerifierStats | undefined
    const gauge = <L extends string>(name: string, labels: readonly L[], help: string, set: Collect<L>) =>
      new Gauge({
        ...config(name, labels, help),
        collect() {
          if (snapshot === undefined) {
            snapshot = verifier.stats()
            queueMicrotask(() => {
              snapshot = undefined
            })
          }
          set(this, snapshot)
        },
      })
    const initial = verifier.stats()
    gauge('cache_entries', ['cache'], 'Entries in the verification caches.', (g, s) => {
      if (s.cache.remote !== undefined) g.set({ cache: 'remote' }, s.cache.remote.entries)
      if (s.cache.local !== undefined) g.set({ cache: 'local' }, s.cache.local.entries)
    })
    // Only those that apply: the breaker's with a breaker, the feed's with a revocation feed.
    if (initial.broker?.breaker !== undefined) {
      gauge('circuit_breaker_open', [], '1 while the circuit breaker is open.', (g, s) => {
        g.set(s.broker?.breaker?.state === 'open' ? 1 : 0)
      })
    }
    if (initial.revocationFeed !== undefined) {
      gauge('revocation_feed_lag_seconds', [], 'Time since the last good poll started, s.', (g, s) => {
        g.set((s.revocationFeed?.lagMs ?? Number.NaN) / 1000) // NaN before the first good poll
      })
      gauge('revocation_feed_current', [], '1 while the revocation feed is current.', (g, s) => {
        g.set(s.revocationFeed?.current ? 1 : 0)
      })
    }
  }
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
    for (const name of names) registry.removeSingleMetric(name)
  }
}

type Collect<L extends string> = (gauge: Gauge<L>, stats: VerifierStats) => void
