/**
 * The observability recipes (examples/observability/) end to end: an Express service on 127.0.0.1
 * in front of the development broker, called over HTTP with an `X-Request-ID` — accepted (from the
 * broker, then from the cache), refused by a guard (403), refused for a forged signature (401),
 * and 503 once the broker is stopped — then the Prometheus text, the OpenTelemetry spans and
 * metric points, the refusal log lines and the readiness probe asserted. No recorded output ever
 * contains a token or any of its segments; every recipe is disposed after each test.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { hasSubscribers } from 'node:diagnostics_channel'
import {
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import {
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import express from 'express'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { agentwritOpenTelemetry } from '../../examples/observability/opentelemetry.js'
import { agentwritPrometheusMetrics } from '../../examples/observability/prometheus.js'
import { readinessHandler } from '../../examples/observability/readiness.js'
import { logRefusals } from '../../examples/observability/refusal-log.js'
import { type Listening, listen } from '../../examples/shared.js'
import { agentAuth, agentOf, requireScope } from '../../src/express.js'
import {
  type AgentAuthOptions,
  createVerifier,
  DIAGNOSTICS_CHANNELS,
  type Verifier,
} from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import { startBrokerWithAgent } from '../helpers/agents.js'
import { forgeSignature, payloadOf, segments } from '../helpers/tokens.js'

let broker: DevBroker
/** Holds `read:data:customer-7`. */
let token: string
/** Another agent's token, first presented while the broker is down. */
let spare: string
let verifier: Verifier
let server: Listening
/** Handlers a test's service runs before `agentAuth()` (a tracing middleware). */
let before: express.RequestHandler[]
/** What each test's recipes recorded (metrics text, spans, log lines…), checked for tokens after it. */
let recorded: string[]
/** The recipes' `dispose()`, run after each test. */
let disposers: (() => void)[]

beforeEach(async () => {
  ;({ broker, token } = await startBrokerWithAgent(['read:data:customer-7']))
  spare = (await broker.createAgent({ orchId: 'o', taskId: 'spare', scope: ['read:data:customer-7'] }))
    .accessToken
  before = []
  recorded = []
  disposers = []
})

afterEach(async () => {
  for (const dispose of disposers) dispose()
  await server?.close()
  await verifier?.close()
  await broker.close()
  expect(recorded.length).toBeGreaterThan(0)
  for (const text of recorded) expectNoToken(text)
  for (const name of CHANNEL_NAMES) expect(hasSubscribers(name), name).toBe(false)
})

/** Every channel the recipes subscribe to (none may keep a subscriber after `dispose()`). */
const CHANNEL_NAMES = [
  ...['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map(
    (e) => `tracing:${DIAGNOSTICS_CHANNELS.verify}:${e}`,
  ),
  DIAGNOSTICS_CHANNELS.guard,
  DIAGNOSTICS_CHANNELS.broker,
  DIAGNOSTICS_CHANNELS.cache,
  DIAGNOSTICS_CHANNELS.keys,
  DIAGNOSTICS_CHANNELS.feed,
]

/** Neither a token nor any of its three segments (the forgery shares the first two). */
function expectNoToken(text: string): void {
  for (const t of [token, spare, forgeSignature(token), forgeSignature(spare)]) {
    expect(text).not.toContain(t)
    for (const segment of segments(t)) expect(text).not.toContain(segment)
  }
}

/** Start the service: `/readyz` and `/metrics` open, `/customers/:id` behind `agentAuth` + `requireScope`. */
async function startService(
  metrics?: Registry,
  options: AgentAuthOptions = { broker: broker.url, breakerThreshold: 1 },
): Promise<void> {
  verifier = createVerifier(options)
  const app = express()
  for (const handler of before) app.use(handler)
  app.get('/readyz', readinessHandler(verifier))
  app.get('/metrics', async (_req, res) => {
    res.type(metrics!.contentType).send(await metrics!.metrics())
  })
  app.use(agentAuth(verifier))
  app.get('/customers/:id', requireScope('read:data:customer-:id'), (req, res) => {
    res.json({ customer: req.params.id, by: agentOf(req).id })
  })
  server = await listen(app)
}

async function get(path: string, bearerToken: string | undefined, requestId: string): Promise<number> {
  const headers: Record<string, string> = { 'x-request-id': requestId }
  if (bearerToken !== undefined) headers.authorization = `Bearer ${bearerToken}`
  const res = await fetch(`${server.url}${path}`, { headers })
  await res.arrayBuffer()
  return res.status
}

/**
 * The traffic every recipe is checked against: `req-cold` (200 from the broker), `req-warm` (200
 * from the cache), `req-scope` (403, guard), `req-forged` (401) and, with the broker stopped,
 * `req-down` (503; the breaker, threshold 1, opens).
 */
async function scenario(): Promise<void> {
  const statuses = [
    await get('/customers/7', token, 'req-cold'),
    await get('/customers/7', token, 'req-warm'),
    await get('/customers/8', token, 'req-scope'),
    await get('/customers/7', forgeSignature(token), 'req-forged'),
  ]
  await broker.stop()
  statuses.push(await get('/customers/7', spare, 'req-down'))
  expect(statuses).toEqual([200, 200, 403, 401, 503])
}

/** `name{labels}` → value, from the Prometheus text format. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

describe('prometheus.ts', () => {
  it('counts every outcome in agentwrit_verify_* series, gauges from stats(), served on /metrics', async () => {
    const registry = new Registry()
    await startService(registry)
    disposers.push(agentwritPrometheusMetrics(registry, verifier))
    await scenario()

    const res = await fetch(`${server.url}/metrics`)
    expect(res.headers.get('content-type')).toContain('text/plain')
    const text = await res.text()
    recorded.push(text)
    const s = samples(text)
    const v = (series: string) => s.get(`agentwrit_verify_${series}`)
    const express = 'adapter="express",mode="remote"'

    expect(v(`verifications_total{${express},outcome="accepted",source="broker",code=""}`)).toBe(1)
    expect(v(`verifications_total{${express},outcome="accepted",source="cache",code=""}`)).toBe(2)
    expect(v(`verifications_total{${express},outcome="refused",source="",code="invalid_token"}`)).toBe(1)
    expect(v(`verifications_total{${express},outcome="refused",source="",code="broker_unavailable"}`)).toBe(1)
    expect(v(`verification_duration_seconds_count{${express},outcome="accepted"}`)).toBe(3)
    expect(v(`verification_duration_seconds_count{${express},outcome="refused"}`)).toBe(2)
    const acceptedSeconds = v(`verification_duration_seconds_sum{${express},outcome="accepted"}`)!
    expect(acceptedSeconds).toBeGreaterThan(0)
    expect(acceptedSeconds).toBeLessThan(5) // seconds, not milliseconds

    expect(v('guard_decisions_total{guard="requireScope",outcome="granted",code=""}')).toBe(2)
    expect(v('guard_decisions_total{guard="requireScope",outcome="refused",code="insufficient_scope"}')).toBe(
      1,
    )

    expect(v('broker_requests_total{outcome="valid",status="200"}')).toBe(1)
    expect(v('broker_requests_total{outcome="invalid",status="200"}')).toBe(1)
    expect(v('broker_requests_total{outcome="error",status=""}')).toBe(1)
    expect(v('broker_request_duration_seconds_count{outcome="valid"}')).toBe(1)
    expect(v('broker_request_duration_seconds_count{outcome="error"}')).toBe(1)

    expect(v('cache_events_total{event="miss"}')).toBe(3)
    expect(v('cache_events_total{event="hit"}')).toBe(2)
    expect(v('cache_events_total{event="store"}')).toBe(2)
    expect(v('circuit_breaker_transitions_total{state="open"}')).toBe(1)

    // Gauges, read from verifier.stats() at the scrape.
    expect(v('cache_entries{cache="remote"}')).toBe(2)
    expect(v('circuit_breaker_open')).toBe(1)
    // Remote mode: no key set, and no feed configured (its gauges are not registered).
    expect(text).toContain('# TYPE agentwrit_verify_jwks_fetches_total counter')
    expect([...s.keys()].some((k) => k.startsWith('agentwrit_verify_jwks_fetches_total{'))).toBe(false)
    expect(text).not.toContain('agentwrit_verify_revocation_feed_lag_seconds')
    // Bounded labels: no agent id, token id or request id.
    expect(text).not.toContain(String(payloadOf(token).sub))
    expect(text).not.toContain(String(payloadOf(token).jti))
    expect(text).not.toContain('req-')
  })

  it('hybrid mode with a revocation feed: JWKS fetches, feed polls, lag and current gauges', async () => {
    const registry = new Registry()
    await startService(registry, {
      broker: broker.url,
      jwksUri: broker.jwksUrl,
      revocationFeed: { adminSecret: broker.adminSecret, pollIntervalMs: 100 },
    })
    // Counts the stats() snapshots the gauges read: one per scrape, however many gauges.
    let reads = 0
    const stats = () => {
      reads++
      return verifier.stats()
    }
    const counted: Verifier = { ...verifier, stats }
    disposers.push(agentwritPrometheusMetrics(registry, counted))
    await vi.waitFor(() => expect(verifier.stats().revocationFeed?.current).toBe(true))
    expect(await get('/customers/7', token, 'req-hybrid')).toBe(200)

    reads = 0
    const text = await registry.metrics()
    expect(reads).toBe(1)
    recorded.push(text)
    const s = samples(text)
    expect(s.get('agentwrit_verify_jwks_fetches_total{outcome="ok"}')).toBeGreaterThanOrEqual(1)
    expect(s.get('agentwrit_verify_revocation_feed_polls_total{outcome="ok"}')).toBeGreaterThanOrEqual(1)
    expect(s.get('agentwrit_verify_revocation_feed_current')).toBe(1)
    const lag = s.get('agentwrit_verify_revocation_feed_lag_seconds')!
    expect(lag).toBeGreaterThanOrEqual(0)
    expect(lag).toBeLessThan(1)
    expect(s.get('agentwrit_verify_cache_entries{cache="remote"}')).toBe(1)
    expect(s.get('agentwrit_verify_cache_entries{cache="local"}')).toBe(1)
    expect(
      s.get(
        'agentwrit_verify_verifications_total{adapter="express",mode="hybrid",outcome="accepted",source="broker",code=""}',
      ),
    ).toBe(1)
    // The next scrape reads a fresh snapshot.
    expect(await get('/customers/8', spare, 'req-hybrid-2')).toBe(403)
    const next = await registry.metrics()
    recorded.push(next)
    expect(reads).toBe(2)
    expect(samples(next).get('agentwrit_verify_cache_entries{cache="remote"}')).toBe(2)
  })

  it('dispose() removes the metrics and stops counting; the recipe can be set up again', async () => {
    const registry = new Registry()
    await startService(registry)
    agentwritPrometheusMetrics(registry, verifier)()
    expect((await registry.metrics()).trim()).toBe('')
    expect(await get('/customers/7', token, 'req-1')).toBe(200)
    disposers.push(agentwritPrometheusMetrics(registry, verifier))
    expect(await get('/customers/7', token, 'req-2')).toBe(200)
    const text = await registry.metrics()
    recorded.push(text)
    expect(samples(text).get('agentwrit_verify_cache_events_total{event="hit"}')).toBe(1)
    expect(text).not.toContain('event="miss"')
  })
})

/** A synchronous-collect metric reader: `collect()` on demand. */
class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** An AsyncLocalStorage context manager, as `@opentelemetry/context-async-hooks` provides. */
class TestContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>()
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args))
  }
  bind<T>(_ctx: Context, target: T): T {
    return target
  }
  enable(): this {
    return this
  }
  disable(): this {
    this.#storage.disable()
    return this
  }
}

describe('opentelemetry.ts', () => {
  let exporter: InMemorySpanExporter
  let tracerProvider: BasicTracerProvider
  let reader: TestMetricReader
  let meterProvider: MeterProvider

  beforeEach(() => {
    exporter = new InMemorySpanExporter()
    tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    reader = new TestMetricReader()
    meterProvider = new MeterProvider({ readers: [reader] })
  })
  afterEach(async () => {
    context.disable()
    await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()])
  })

  /** Finished spans by their `http.request.id`. */
  function spansByRequest(): Map<unknown, ReadableSpan> {
    return new Map(
      exporter
        .getFinishedSpans()
        .filter((s) => s.name === 'agentwrit.verify')
        .map((s) => [s.attributes['http.request.id'], s]),
    )
  }

  async function collectedMetrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await reader.collect()
    expect(errors).toEqual([])
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    return new Map(all.map((m) => [m.descriptor.name, m]))
  }

  /** The value of the point of `metric` whose attributes are exactly `attributes`. */
  function point(metric: MetricData | undefined, attributes: Record<string, unknown>): unknown {
    return metric?.dataPoints.find(
      (p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)),
    )?.value
  }
  const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))

  it('one agentwrit.verify span per verification, child of the active span, with outcome attributes', async () => {
    context.setGlobalContextManager(new TestContextManager())
    const tracer = tracerProvider.getTracer('test')
    // What an HTTP instrumentation does: the request runs with its server span active.
    before.push((_req, _res, next) => {
      const span = tracer.startSpan('GET /customers/:id')
      context.with(trace.setSpan(context.active(), span), next)
      span.end()
    })
    await startService()
    disposers.push(agentwritOpenTelemetry({ tracer, meter: meterProvider.getMeter('test') }))
    await scenario()

    const claims = payloadOf(token)
    const spans = spansByRequest()
    expect(spans.size).toBe(5)
    recorded.push(JSON.stringify(exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.status])))
    const base = { 'agentwrit.adapter': 'express', 'agentwrit.mode': 'remote' }
    const agent = { 'agentwrit.agent_id': claims.sub, 'agentwrit.jti': claims.jti }
    expect(spans.get('req-cold')!.attributes).toEqual({
      ...base,
      ...agent,
      'http.request.id': 'req-cold',
      'agentwrit.outcome': 'accepted',
      'agentwrit.source': 'broker',
    })
    expect(spans.get('req-cold')!.status.code).toBe(SpanStatusCode.UNSET)
    expect(spans.get('req-warm')!.attributes).toMatchObject({ 'agentwrit.source': 'cache', ...agent })
    // The guard refused after the verification accepted: the span is the verification's.
    expect(spans.get('req-scope')!.attributes).toMatchObject({ 'agentwrit.outcome': 'accepted' })

    const forged = spans.get('req-forged')!
    expect(forged.attributes).toMatchObject({
      ...base,
      ...agent, // what the forged token claims
      'agentwrit.outcome': 'refused',
      'agentwrit.error.code': 'invalid_token',
      'agentwrit.error.reason': 'rejected_by_broker',
    })
    expect(forged.attributes['agentwrit.source']).toBeUndefined()
    expect(forged.status).toEqual({ code: SpanStatusCode.ERROR, message: 'invalid_token' })

    const down = spans.get('req-down')!
    expect(down.attributes).toMatchObject({
      'agentwrit.outcome': 'refused',
      'agentwrit.error.code': 'broker_unavailable',
      'agentwrit.error.reason': 'unreachable',
      'agentwrit.agent_id': payloadOf(spare).sub,
    })
    expect(down.status).toEqual({ code: SpanStatusCode.ERROR, message: 'broker_unavailable' })

    // Each verification's span is a child of its request's span (same trace, parent = server span).
    const servers = exporter.getFinishedSpans().filter((s) => s.name === 'GET /customers/:id')
    expect(servers).toHaveLength(5)
    for (const span of spans.values()) {
      const parent = servers.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId)
      expect(parent, String(span.attributes['http.request.id'])).toBeDefined()
      expect(span.spanContext().traceId).toBe(parent!.spanContext().traceId)
    }
  })

  it('metrics: verifications, duration (s), broker calls, guard decisions; bounded attributes', async () => {
    await startService()
    const tracer = tracerProvider.getTracer('test')
    disposers.push(agentwritOpenTelemetry({ tracer, meter: meterProvider.getMeter('test') }))
    await scenario()

    const metrics = await collectedMetrics()
    recorded.push(JSON.stringify([...metrics.values()]))
    const base = { 'agentwrit.adapter': 'express', 'agentwrit.mode': 'remote' }
    const verifications = metrics.get('agentwrit.verify.verifications')
    const accepted = { ...base, 'agentwrit.outcome': 'accepted' }
    const refused = { ...base, 'agentwrit.outcome': 'refused' }
    expect(point(verifications, { ...accepted, 'agentwrit.source': 'broker' })).toBe(1)
    expect(point(verifications, { ...accepted, 'agentwrit.source': 'cache' })).toBe(2)
    expect(point(verifications, { ...refused, 'agentwrit.error.code': 'invalid_token' })).toBe(1)
    expect(point(verifications, { ...refused, 'agentwrit.error.code': 'broker_unavailable' })).toBe(1)

    const duration = metrics.get('agentwrit.verify.duration') as HistogramMetricData
    expect(duration.descriptor.unit).toBe('s')
    expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM)
    const acceptedDuration = point(duration, accepted) as {
      count: number
      sum: number
      buckets: { boundaries: number[] }
    }
    expect(acceptedDuration.count).toBe(3)
    expect(acceptedDuration.sum).toBeGreaterThan(0)
    expect(acceptedDuration.sum).toBeLessThan(5)
    expect(acceptedDuration.buckets.boundaries[0]).toBe(0.0001)
    expect((point(duration, refused) as { count: number }).count).toBe(2)

    const brokerRequests = metrics.get('agentwrit.verify.broker.requests')
    expect(
      point(brokerRequests, { 'agentwrit.broker.outcome': 'valid', 'http.response.status_code': 200 }),
    ).toBe(1)
    expect(
      point(brokerRequests, { 'agentwrit.broker.outcome': 'invalid', 'http.response.status_code': 200 }),
    ).toBe(1)
    expect(point(brokerRequests, { 'agentwrit.broker.outcome': 'error' })).toBe(1)
    const brokerDuration = metrics.get('agentwrit.verify.broker.duration')
    expect(brokerDuration?.descriptor.unit).toBe('s')
    expect(brokerDuration?.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(3)

    const guards = metrics.get('agentwrit.verify.guard_decisions')
    expect(point(guards, { 'agentwrit.guard': 'requireScope', 'agentwrit.outcome': 'granted' })).toBe(2)
    expect(
      point(guards, {
        'agentwrit.guard': 'requireScope',
        'agentwrit.outcome': 'refused',
        'agentwrit.error.code': 'insufficient_scope',
      }),
    ).toBe(1)
    // Metric attributes never carry the agent id, the token id or the request id.
    const attributeKeys = new Set(
      [...metrics.values()].flatMap((m) => m.dataPoints.flatMap((p) => Object.keys(p.attributes))),
    )
    for (const key of ['agentwrit.agent_id', 'agentwrit.jti', 'http.request.id'])
      expect(attributeKeys).not.toContain(key)
    // Spans were produced as well, without a context manager (root spans then).
    expect(spansByRequest().size).toBe(5)
  })
})

describe('refusal-log.ts', () => {
  it('one line per refusal with code, reason, status, agent id and request id; 503s at error level', async () => {
    const lines: { level: 'warn' | 'error'; obj: Record<string, unknown>; msg: string }[] = []
    const logger = {
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: { ...obj }, msg }),
      error: (obj: object, msg: string) => lines.push({ level: 'error', obj: { ...obj }, msg }),
    }
    await startService()
    disposers.push(logRefusals(logger))
    await scenario()
    recorded.push(JSON.stringify(lines))

    const claims = payloadOf(token)
    const common = { event: 'agentwrit.refusal', adapter: 'express', agentId: claims.sub, jti: claims.jti }
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'request refused',
        obj: {
          ...common,
          phase: 'guard',
          code: 'insufficient_scope',
          reason: undefined,
          status: 403,
          requestId: 'req-scope',
        },
      },
      {
        level: 'warn',
        msg: 'request refused',
        obj: {
          ...common,
          phase: 'verify',
          code: 'invalid_token',
          reason: 'rejected_by_broker',
          status: 401,
          requestId: 'req-forged',
        },
      },
      {
        level: 'error',
        msg: 'request refused',
        obj: {
          ...common,
          agentId: payloadOf(spare).sub,
          jti: payloadOf(spare).jti,
          phase: 'verify',
          code: 'broker_unavailable',
          reason: 'unreachable',
          status: 503,
          requestId: 'req-down',
        },
      },
    ])
  })

  it('with pino: JSON lines at warn (40) and error (50); a logger without error() gets warn', async () => {
    const written: string[] = []
    const logger = pino({ base: null, timestamp: false }, { write: (line: string) => written.push(line) })
    const warnOnly: { obj: object; msg: string }[] = []
    await startService()
    disposers.push(logRefusals(logger))
    disposers.push(logRefusals({ warn: (obj, msg) => warnOnly.push({ obj, msg }) }))
    await scenario()
    recorded.push(...written, JSON.stringify(warnOnly))

    const parsed = written.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(parsed.map((l) => [l.level, l.phase, l.code, l.requestId, l.msg])).toEqual([
      [40, 'guard', 'insufficient_scope', 'req-scope', 'request refused'],
      [40, 'verify', 'invalid_token', 'req-forged', 'request refused'],
      [50, 'verify', 'broker_unavailable', 'req-down', 'request refused'],
    ])
    expect(parsed[2]).toMatchObject({
      event: 'agentwrit.refusal',
      status: 503,
      agentId: payloadOf(spare).sub,
    })
    expect(warnOnly.map((l) => (l.obj as { code: string }).code)).toEqual([
      'insufficient_scope',
      'invalid_token',
      'broker_unavailable',
    ])
  })
})

describe('readiness.ts', () => {
  it('/readyz: 200 with the broker up, 503 after it stops; the Readiness object, never cached', async () => {
    await startService()
    const up = await fetch(`${server.url}/readyz`)
    const upBody = (await up.json()) as Record<string, unknown>
    expect(up.status).toBe(200)
    expect(up.headers.get('cache-control')).toBe('no-store')
    expect(upBody).toEqual({ ready: true, checks: { broker: { ok: true, latencyMs: expect.any(Number) } } })

    await broker.stop()
    const down = await fetch(`${server.url}/readyz`)
    const downBody = (await down.json()) as Record<string, unknown>
    expect(down.status).toBe(503)
    expect(down.headers.get('cache-control')).toBe('no-store')
    expect(downBody).toEqual({
      ready: false,
      checks: { broker: { ok: false, latencyMs: expect.any(Number), reason: 'unreachable' } },
    })
    recorded.push(JSON.stringify([upBody, downBody]))
  })

  it('the open circuit breaker makes the service not ready without asking the broker', async () => {
    await startService()
    await broker.stop()
    expect(await get('/customers/7', spare, 'req-down')).toBe(503)
    await broker.restart()
    const res = await fetch(`${server.url}/readyz`)
    const body = await res.json()
    recorded.push(JSON.stringify(body))
    expect(res.status).toBe(503)
    expect(body).toEqual({ ready: false, checks: { broker: { ok: false, reason: 'circuit_open' } } })
  })
})
