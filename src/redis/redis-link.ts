/**
 * One way to talk to Redis for the store, whatever the client: node-redis (`redis` 5/6:
 * `sendCommand`) or ioredis (`call`). Every command has a deadline; after a failure (an error,
 * a timeout) Redis counts as down for `retryMs` and commands fail at once without being sent, so
 * a dead, paused or partitioned Redis costs a replica one timeout per `retryMs`, not one per
 * request. Replies are RESP2 values as both clients give them (strings, numbers, arrays, null).
 */

/** What the store needs of a client. */
export type RedisClientLike =
  | { sendCommand(args: string[]): Promise<unknown> }
  | { call(command: string, ...args: string[]): Promise<unknown> }

export interface RedisLinkOptions {
  /** Deadline of one command, ms. */
  readonly timeoutMs: number
  /** After a failure, how long Redis is left alone, ms. */
  readonly retryMs: number
  readonly now: () => number
}

/** Counters of the link (in `stats().redis`). */
export interface RedisLinkStats {
  readonly commands: number
  readonly failures: number
  readonly timeouts: number
  /** Commands not sent because Redis was counted down. */
  readonly skipped: number
  /** `up`, or `down` while failures keep it alone. */
  readonly state: 'up' | 'down'
  readonly lastError: string | undefined
}

export interface RedisLink {
  /** Send one command. Rejects on an error, a timeout, or at once while Redis counts as down. */
  send(args: readonly string[]): Promise<unknown>
  /** Redis is not being left alone after a failure. */
  readonly up: boolean
  stats(): RedisLinkStats
}

/** Why a command was not answered (never carries what was sent). */
export class RedisUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`redis unavailable: ${reason}`)
    this.name = 'RedisUnavailable'
  }
}

/** Whether `client` is a node-redis or ioredis client. */
export function isRedisClient(client: unknown): client is RedisClientLike {
  const c = client as { sendCommand?: unknown; call?: unknown } | null
  return (
    typeof c === 'object' &&
    c !== null &&
    (typeof c.sendCommand === 'function' || typeof c.call === 'function')
  )
}

export function createRedisLink(client: RedisClientLike, options: RedisLinkOptions): RedisLink {
  // ioredis has a `sendCommand` too (of its own Command objects): `call` first.
  const raw =
    'call' in client && typeof client.call === 'function'
      ? (args: string[]) => client.call(args[0]!, ...args.slice(1))
      : (args: string[]) => (client as { sendCommand(a: string[]): Promise<unknown> }).sendCommand(args)
  // node-redis emits 'error' on every failed reconnect: unheard, it would end the process.
  const emitter = client as { on?: (event: string, listener: (err: unknown) => void) => unknown }
  if (typeof emitter.on === 'function') emitter.on('error', (err) => noteError(err))
  let commands = 0
  let failures = 0
  let timeouts = 0
  let skipped = 0
  let downUntil = 0
  let lastError: string | undefined

  function noteError(err: unknown): void {
    const e = err as { name?: string; code?: string } | null
    lastError = e?.code ?? e?.name ?? 'error'
  }

  function failed(reason: string): void {
    failures++
    downUntil = options.now() + options.retryMs
    lastError = reason
  }

  function send(args: readonly string[]): Promise<unknown> {
    if (options.now() < downUntil) {
      skipped++
      return Promise.reject(new RedisUnavailable('down'))
    }
    commands++
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timeouts++
        failed('timeout')
        reject(new RedisUnavailable('timeout'))
      }, options.timeoutMs)
      timer.unref()
    })
    let sent: Promise<unknown>
    try {
      sent = Promise.resolve(raw([...args]))
    } catch (err) {
      sent = Promise.reject(err)
    }
    const answered = sent.then(
      (reply) => reply,
      (err: unknown) => {
        if (err instanceof RedisUnavailable) throw err
        noteError(err)
        failed(lastError ?? 'error')
        throw new RedisUnavailable(lastError ?? 'error')
      },
    )
    // A late answer after the deadline is dropped (and a late error is not unhandled).
    answered.catch(() => {})
    return Promise.race([answered, deadline]).finally(() => clearTimeout(timer))
  }

  return {
    send,
    get up() {
      return options.now() >= downUntil
    },
    stats: () => ({
      commands,
      failures,
      timeouts,
      skipped,
      state: options.now() < downUntil ? 'down' : 'up',
      lastError,
    }),
  }
}
