/**
 * Typed subscriptions to the diagnostics channels (diagnostics.ts), so a bridge to metrics, traces
 * or logs needs no casts and no knowledge of the tracing channel's event names: one call per
 * channel, and `subscribeVerifications` for "one message per verification, once its outcome is
 * known" (it listens to both `end` and `asyncEnd`, so answers from the cache are not missed).
 * Each returns its unsubscribe function.
 */
import { channel } from 'node:diagnostics_channel'
import {
  type BrokerMessage,
  type CacheMessage,
  DIAGNOSTICS_CHANNELS,
  type FeedMessage,
  type GuardMessage,
  type KeysMessage,
  type VerifyMessage,
  verifyTrace,
} from './diagnostics.js'

/** The message type of each plain channel. */
export interface DiagnosticMessages {
  readonly guard: GuardMessage
  readonly broker: BrokerMessage
  readonly cache: CacheMessage
  readonly keys: KeysMessage
  readonly feed: FeedMessage
}

/** A verification whose outcome is known: `outcome` and `durationMs` are set. */
export type SettledVerifyMessage = VerifyMessage & {
  readonly outcome: 'accepted' | 'refused'
  readonly durationMs: number
}

/** Listen to one plain channel (`guard`, `broker`, `cache`, `keys`, `feed`). @returns unsubscribe */
export function subscribeDiagnostics<K extends keyof DiagnosticMessages>(
  name: K,
  listener: (message: DiagnosticMessages[K]) => void,
): () => void {
  const ch = channel(DIAGNOSTICS_CHANNELS[name])
  const handler = (message: unknown) => listener(message as DiagnosticMessages[K])
  ch.subscribe(handler)
  return () => {
    ch.unsubscribe(handler)
  }
}

/**
 * Listen to every verification once, when its outcome is known (the `end` event of an answer
 * given synchronously, the `asyncEnd` of any other). For spans that must start when the
 * verification starts, subscribe to the tracing channel itself (`tracingChannel(DIAGNOSTICS_CHANNELS.verify)`).
 * @returns unsubscribe
 */
export function subscribeVerifications(listener: (message: SettledVerifyMessage) => void): () => void {
  const settled = (message: VerifyMessage) => {
    if (message.outcome !== undefined) listener(message as SettledVerifyMessage)
  }
  const handlers = { start() {}, end: settled, asyncStart() {}, asyncEnd: settled, error() {} }
  verifyTrace.subscribe(handlers)
  return () => {
    verifyTrace.unsubscribe(handlers)
  }
}
