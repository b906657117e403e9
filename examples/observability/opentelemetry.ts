/**
 * Recipe — OpenTelemetry spans and metrics through `@opentelemetry/api` only (README,
 * "Observability"); the service's SDK (NodeSDK, an OTLP exporter…) decides where they go.
 *
 * - One span `agentwrit.verify` per verification, a child of the active context (the request's
 *   server span, with an HTTP instrumentation), ended when the outcome is known; refusals get
 *   status ERROR with the refusal's code.
 * - Metrics `agentwrit.verify.verifications`, `.duration` (s), `.broker.requests`,
 *   `.broker.duration` (s) and `.guard_decisions` (guards get no span), with bounded attributes:
 *   the agent id, token id and request id are span attributes only.
 *
 * @example
 * ```ts
 * import { metrics, trace } from '@opentelemetry/api'
 * agentwritOpenTelemetry({
 *   tracer: trace.getTracer('agentwrit-verify'),
 *   meter: metrics.getMeter('agentwrit-verify'),
 * })
 * ```
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { type Attributes, type Meter, type Span, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import {
  DIAGNOSTICS_CHANNELS,
  subscribeDiagnostics,
  subscribeVerifications,
  type VerifyMessage,
} from '../../src/index.js'

/** Histogram buckets, seconds (the SDK's default buckets are sized for milliseconds). */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Where the spans and metrics go: usually `trace.getTracer(…)` and `metrics.getMeter(…)`. */
export interface AgentwritOpenTelemetryOptions {
  readonly tracer: Tracer
  readonly meter: Meter
}

/**
 * Start turning agentwrit-verify's diagnostics into spans and metrics. Call once.
 * @returns `dispose()`: unsubscribe (verifications in flight then end without their span).
 */
export function agentwritOpenTelemetry({ tracer, meter }: AgentwritOpenTelemetryOptions): () => void {
  const counter = (name: string, description: string) =>
    meter.createCounter(`agentwrit.verify.${name}`, { description })
  const advice = { explicitBucketBoundaries: BUCKETS }
  const seconds = (name: string, description: string) =>
    meter.createHistogram(`agentwrit.verify.${name}`, { description, unit: 's', advice })
  const verifications = counter('verifications', 'Token verifications (source if accepted, code if refused).')
  const duration = seconds('duration', 'Time from the start of a verification to its outcome.')
  const brokerRequests = counter('broker.requests', 'POST /v1/token/validate calls: valid, invalid or error.')
  const brokerDuration = seconds('broker.duration', 'Duration of validate calls to the broker.')
  const guardDecisions = counter('guard_decisions', 'Guard decisions (requireScope, requireAnyScope…).')

  // A span starts with its verification: at the tracing channel's `start`, published in the request's
  // async context, so its parent is the active span (startSpan's default). Kept beside the message.
  const spans = new WeakMap<VerifyMessage, Span>()
  const start = (m: VerifyMessage) => {
    const attributes = attrs({ adapter: m.adapter, mode: m.mode, 'http.request.id': m.requestId })
    spans.set(m, tracer.startSpan('agentwrit.verify', { attributes }))
  }
  const noop = () => {}
  const onStart = { start, end: noop, asyncStart: noop, asyncEnd: noop, error: noop }
  const verifyTrace = tracingChannel<VerifyMessage, VerifyMessage>(DIAGNOSTICS_CHANNELS.verify)
  verifyTrace.subscribe(onStart)

  const unsubscribes = [
    () => verifyTrace.unsubscribe(onStart),
    subscribeVerifications((m) => {
      const { adapter, mode, outcome, source } = m
      const code = outcome === 'refused' ? (m.code ?? 'unexpected') : undefined
      const span = spans.get(m)
      span?.setAttributes(attrs({ outcome, source, 'error.code': code, 'error.reason': m.reason }))
      span?.setAttributes(attrs({ agent_id: m.agentId, jti: m.jti })) // on a refusal: claimed, unverified
      if (code !== undefined) span?.setStatus({ code: SpanStatusCode.ERROR, message: code })
      span?.end()
      verifications.add(1, attrs({ adapter, mode, outcome, source, 'error.code': code }))
      duration.record(m.durationMs / 1000, attrs({ adapter, mode, outcome }))
    }),
    subscribeDiagnostics('broker', (m) => {
      if (m.event !== 'validate') return
      const attributes = attrs({ 'broker.outcome': m.outcome, 'http.response.status_code': m.status })
      brokerRequests.add(1, attributes)
      brokerDuration.record(m.durationMs / 1000, attributes)
    }),
    subscribeDiagnostics('guard', ({ guard, outcome, code }) => {
      guardDecisions.add(1, attrs({ guard, outcome, 'error.code': code }))
    }),
  ]
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
  }
}

/** The attributes that have a value, named `agentwrit.<key>` (`http.*` keys as they are). */
function attrs(attributes: Record<string, string | number | undefined>): Attributes {
  const out: Attributes = {}
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) out[key.startsWith('http.') ? key : `agentwrit.${key}`] = value
  return out
}
