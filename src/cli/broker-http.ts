/**
 * The CLI's HTTP client for a broker — the dev broker or a real one: plain JSON over undici, a
 * bounded deadline per call, no redirects followed, a bounded answer size, and one-line errors that
 * name the broker URL (without any user:password part) but never a request body, a secret or a token.
 */
import { Agent, request } from 'undici'
import { isTimeout } from '../core/broker-client.js'
import { UsageError } from './args.js'

/** Default deadline of one broker call (connect + headers + body), seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 10

/**
 * The broker could not be talked to (refused or lost connection, deadline, oversized answer), as
 * opposed to a broker that answered with a refusal. Still a {@link UsageError} (exit 2).
 */
export class BrokerUnreachableError extends UsageError {}

/** Largest answer read from the broker, bytes. */
const MAX_ANSWER_BYTES = 1 << 20

/** One answer from the broker. */
export interface BrokerAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The parsed JSON body; `undefined` when empty or not JSON. */
  readonly json: unknown
}

/** A connection to one broker for the duration of a command. Close it when done. */
export interface BrokerHttp {
  /** The broker URL as shown in messages: scheme, host and path, without credentials. */
  readonly display: string
  call(
    method: 'GET' | 'POST',
    path: string,
    opts?: { body?: unknown; bearer?: string },
  ): Promise<BrokerAnswer>
  close(): Promise<void>
}

/**
 * Check a broker URL: absolute, `http:` or `https:`.
 * @param source - where it came from, for the message (`--broker`, `AGENTWRIT_BROKER_URL`)
 * @throws UsageError otherwise
 */
export function parseBrokerUrl(text: string, source: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`${source}: not a URL (expected e.g. http://127.0.0.1:8080)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source}: expected an http:// or https:// URL, got a ${url.protocol} URL`)
  }
  return url
}

function displayOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')}`
}

/** The most telling short reason of a transport error (`ECONNREFUSED`, a TLS error code…). */
function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | null
  const code = e?.code ?? e?.cause?.code
  if (typeof code === 'string' && code !== '' && !code.startsWith('UND_ERR')) return code
  const message = e?.cause?.message ?? e?.message
  return typeof message === 'string' && message !== '' ? message : String(err)
}

/** Open a client for `broker` with a deadline of `timeoutMs` per call. */
export function brokerHttp(broker: URL, timeoutMs: number): BrokerHttp {
  const base = broker.href.endsWith('/') ? broker.href : `${broker.href}/`
  const display = displayOf(broker)
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  })

  async function call(
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; bearer?: string } = {},
  ): Promise<BrokerAnswer> {
    const endpoint = `${method} ${path}`
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'agentwrit-verify-cli',
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`
    const signal = AbortSignal.timeout(timeoutMs)
    const seconds = `${timeoutMs / 1000} s`
    let res: Awaited<ReturnType<typeof request>>
    try {
      res = await request(new URL(path.replace(/^\//, ''), base), {
        method,
        dispatcher,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal,
      })
    } catch (err) {
      if (isTimeout(err) || signal.aborted) {
        throw new BrokerUnreachableError(
          `the broker at ${display} did not answer ${endpoint} within ${seconds}`,
        )
      }
      throw new BrokerUnreachableError(`cannot reach the broker at ${display} (${reasonOf(err)})`)
    }
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy()
          throw new BrokerUnreachableError(`the broker at ${display} sent an oversized answer to ${endpoint}`)
        }
        chunks.push(chunk as Buffer)
      }
    } catch (err) {
      if (err instanceof UsageError) throw err
      if (isTimeout(err) || signal.aborted) {
        throw new BrokerUnreachableError(
          `the broker at ${display} did not answer ${endpoint} within ${seconds}`,
        )
      }
      throw new BrokerUnreachableError(`lost the connection to the broker at ${display} (${reasonOf(err)})`)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.statusCode, headers: res.headers, json }
  }

  return {
    display,
    call,
    async close() {
      await dispatcher.close()
    },
  }
}

/**
 * The broker's reason in an error answer: the problem body's `detail` (RFC 7807, contract §2), else
 * the HTTP status alone.
 */
export function brokerReason(answer: BrokerAnswer): string {
  const j = answer.json as { detail?: unknown; error_code?: unknown } | undefined
  const detail = typeof j?.detail === 'string' && j.detail !== '' ? j.detail : undefined
  const code = typeof j?.error_code === 'string' && j.error_code !== '' ? ` ${j.error_code}` : ''
  return detail === undefined ? `HTTP ${answer.status}` : `${answer.status}${code}: ${detail}`
}

/** A broker answer the command cannot use (wrong status or shape), with the broker's reason. */
export function unexpectedAnswer(http: BrokerHttp, endpoint: string, answer: BrokerAnswer): UsageError {
  return new UsageError(
    `unexpected answer from the broker at ${http.display} to ${endpoint}: ${brokerReason(answer)}`,
  )
}
