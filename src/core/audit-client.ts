/**
 * The revocation feed's HTTP calls to the broker, over undici: `GET /v1/audit/events` (one page of
 * one event type), `POST /v1/admin/auth` and `POST /v1/token/renew` for its credential. One timeout
 * per call, no redirects, bounded answers. Every failure is a {@link FeedCallError} with a short
 * reason; no error ever carries a token or the admin secret.
 */
import { Agent, type Dispatcher, request } from 'undici'
import { AUDIT_PAGE_LIMIT, type AuditPage, type FeedEventType, parseAuditPage } from './audit-events.js'
import { isTimeout } from './broker-client.js'
import { readBoundedText } from './http-body.js'

/** A failed feed call. `reason` is safe to log (`status_503`, `timeout`, `not_json`, …). */
export class FeedCallError extends Error {
  override readonly name = 'FeedCallError'
  constructor(
    readonly reason: string,
    /** The HTTP status, when the broker answered. */
    readonly status?: number,
  ) {
    super(`revocation feed: ${reason}`)
  }
}

/** A bearer credential and when the broker says it expires. */
export interface IssuedToken {
  readonly token: string
  /** Lifetime from now, in seconds, as the broker answered it. */
  readonly expiresInSeconds: number
}

export interface AuditClient {
  /** One page (up to 1000 events) of `type`, from `offset`. */
  events(bearer: string, type: FeedEventType, offset: number): Promise<AuditPage>
  /** `POST /v1/admin/auth`: an admin token (it holds `admin:audit:*`). */
  adminAuth(secret: string): Promise<IssuedToken>
  /** `POST /v1/token/renew` with `bearer`: its successor (the old one is revoked at once). */
  renew(bearer: string): Promise<IssuedToken>
  close(): Promise<void>
}

export interface AuditClientOptions {
  readonly broker: URL
  readonly timeoutMs: number
  /** Dispatcher to use; when absent the client owns a small keep-alive pool. */
  readonly dispatcher: Dispatcher | undefined
}

/** A page of 1000 events is about 300 KiB; leave room for long details. */
const MAX_PAGE_BYTES = 8 * 1024 * 1024
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024

export function createAuditClient(options: AuditClientOptions): AuditClient {
  const base = options.broker.href.endsWith('/') ? options.broker.href : `${options.broker.href}/`
  const owned =
    options.dispatcher === undefined
      ? new Agent({ keepAliveTimeout: 10_000, connections: 4, connect: { timeout: options.timeoutMs } })
      : undefined
  const dispatcher = options.dispatcher ?? owned!
  /** Aborts every call on close, also on a dispatcher the client does not own. */
  const closing = new AbortController()

  async function call(
    method: 'GET' | 'POST',
    path: string,
    init: { bearer?: string; body?: unknown; maxBytes: number },
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'agentwrit-verify' }
    if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    let res: Dispatcher.ResponseData
    try {
      res = await request(new URL(path, base), {
        method,
        dispatcher,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), closing.signal]),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      })
    } catch (err) {
      throw new FeedCallError(isTimeout(err) ? 'timeout' : 'unreachable')
    }
    let text: string | null
    try {
      if (res.statusCode !== 200) {
        await res.body.dump()
        throw new FeedCallError(`status_${res.statusCode}`, res.statusCode)
      }
      text = await readBoundedText(res.body, init.maxBytes)
    } catch (err) {
      if (err instanceof FeedCallError) throw err
      throw new FeedCallError(isTimeout(err) ? 'timeout' : 'read_failed')
    }
    if (text === null) throw new FeedCallError('answer_too_large', 200)
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new FeedCallError('not_json', 200)
    }
  }

  function issued(answer: unknown, field: string): IssuedToken {
    const a = answer as Record<string, unknown> | null
    const token = a?.[field]
    const expiresIn = a?.expires_in
    if (typeof token !== 'string' || token === '' || !Number.isSafeInteger(expiresIn)) {
      throw new FeedCallError('bad_token_answer', 200)
    }
    return { token, expiresInSeconds: expiresIn as number }
  }

  return {
    async events(bearer, type, offset) {
      const query = `v1/audit/events?event_type=${type}&offset=${offset}&limit=${AUDIT_PAGE_LIMIT}`
      const page = parseAuditPage(await call('GET', query, { bearer, maxBytes: MAX_PAGE_BYTES }), type)
      if (page === null) throw new FeedCallError('bad_page', 200)
      return page
    },
    async adminAuth(secret) {
      const answer = await call('POST', 'v1/admin/auth', {
        body: { secret },
        maxBytes: MAX_TOKEN_ANSWER_BYTES,
      })
      return issued(answer, 'access_token')
    },
    async renew(bearer) {
      const answer = await call('POST', 'v1/token/renew', { bearer, maxBytes: MAX_TOKEN_ANSWER_BYTES })
      return issued(answer, 'access_token')
    },
    async close() {
      // A poll in flight is abandoned (it fails, and nothing is applied after close).
      closing.abort()
      if (owned) await owned.destroy()
    },
  }
}
