/**
 * Records every message of the package's diagnostics channels (src/core/diagnostics.ts) while a
 * test runs, as snapshots taken at publication (the verify trace mutates one object from `start`
 * to its last event), and checks that no message carries a token.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel'
import { expect } from 'vitest'
import { DIAGNOSTICS_CHANNELS } from '../../src/index.js'

export type ChannelKey = keyof typeof DIAGNOSTICS_CHANNELS
export type TraceEvent = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'

export interface Recorded {
  readonly channel: ChannelKey
  /** The tracing event for `verify`, `publish` for the plain channels. */
  readonly event: TraceEvent | 'publish'
  // biome-ignore lint/suspicious/noExplicitAny: tests read message fields of every shape
  readonly message: any
  /** The message as published, serialised with errors' own properties (for the token check). */
  readonly text: string
}

export interface ChannelRecorder {
  readonly all: Recorded[]
  /** The messages of one plain channel, or the verify messages whose outcome is set (at `end`/`asyncEnd`). */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  of(channel: ChannelKey): any[]
  clear(): void
  stop(): void
}

const TRACE_EVENTS: readonly TraceEvent[] = ['start', 'end', 'asyncStart', 'asyncEnd', 'error']
const PLAIN: readonly ChannelKey[] = ['guard', 'broker', 'cache', 'keys', 'feed']

/** Own properties of errors too (message, cause, detail…), so a token in any of them is seen. */
function serialise(value: unknown): string {
  const seen = new WeakSet<object>()
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[seen]'
      seen.add(v)
      if (v instanceof Error) {
        const out: Record<string, unknown> = {
          name: v.name,
          message: v.message,
          stack: v.stack,
          cause: v.cause,
        }
        for (const k of Object.getOwnPropertyNames(v)) out[k] = (v as unknown as Record<string, unknown>)[k]
        return out
      }
    }
    return v
  })
}

function snapshot(message: unknown): unknown {
  if (typeof message !== 'object' || message === null) return message
  return { ...(message as object) }
}

export function recordChannels(): ChannelRecorder {
  const all: Recorded[] = []
  const trace = tracingChannel(DIAGNOSTICS_CHANNELS.verify)
  const handlers = Object.fromEntries(
    TRACE_EVENTS.map((event) => [
      event,
      (message: unknown) => {
        all.push({ channel: 'verify', event, message: snapshot(message), text: serialise(message) })
      },
    ]),
  ) as unknown as Record<TraceEvent, (m: unknown) => void>
  trace.subscribe(handlers)
  const plain = PLAIN.map((key) => {
    const fn = (message: unknown) => {
      all.push({ channel: key, event: 'publish', message: snapshot(message), text: serialise(message) })
    }
    channel(DIAGNOSTICS_CHANNELS[key]).subscribe(fn)
    return () => channel(DIAGNOSTICS_CHANNELS[key]).unsubscribe(fn)
  })
  return {
    all,
    of(key) {
      if (key !== 'verify') return all.filter((r) => r.channel === key).map((r) => r.message)
      return all
        .filter((r) => r.channel === 'verify' && (r.event === 'end' || r.event === 'asyncEnd'))
        .map((r) => r.message)
        .filter((m) => m.outcome !== undefined)
    },
    clear() {
      all.length = 0
    },
    stop() {
      trace.unsubscribe(handlers)
      for (const off of plain) off()
    },
  }
}

/** No recorded message contains any of `tokens`, or any of their three segments. */
export function expectNoTokenIn(recorder: ChannelRecorder, tokens: readonly string[]): void {
  const needles = tokens.flatMap((t) => [t, ...t.split('.').filter((s) => s.length >= 8)])
  for (const r of recorder.all) {
    for (const needle of needles)
      expect(r.text.includes(needle), `${r.channel}:${r.event} ${r.text}`).toBe(false)
  }
}
