/**
 * The bearer credential a revocation feed reads the audit log with (`admin:audit:*`), in one of
 * three forms:
 * - a token given directly: renewed with `POST /v1/token/renew` once three quarters of its
 *   lifetime have passed (the broker's renewal keeps scope and lifetime; the predecessor dies);
 * - a function returning one: called before every poll (cache in it what you like), bounded by the
 *   feed's call timeout;
 * - the admin secret: `POST /v1/admin/auth`, again when three quarters of the admin token's
 *   lifetime have passed, or when the broker refused it.
 *
 * A due renewal is done before the poll that needs the token, not beside it: the broker revokes a
 * renewed token at once, so a read still in flight with it would be refused. When the renewal
 * fails, the current token is used until it expires.
 */
import type { AuditClient, IssuedToken } from './audit-client.js'
import { FeedCallError } from './audit-client.js'
import { feedChannel, publish } from './diagnostics.js'

/** Where the feed's bearer token comes from. */
export type FeedTokenSource = string | (() => string | Promise<string>)

export interface FeedCredential {
  /** The token to send now. Rejects with a {@link FeedCallError} when none can be had. */
  bearer(): Promise<string>
  /**
   * The broker refused `token` (401/403): when it is still the current one, the next
   * {@link FeedCredential.bearer} gets a new one if it can.
   */
  refused(token: string): void
  /** Credential renewals or logins done so far. */
  readonly renewals: number
}

export interface FeedCredentialOptions {
  readonly token?: FeedTokenSource | undefined
  readonly adminSecret?: string | undefined
  readonly client: AuditClient
  /** Clock in ms. */
  readonly now: () => number
  /** How long a token function may take, ms (a function that never settles must not stall the feed). */
  readonly timeoutMs: number
}

/** Renew once this share of a credential's lifetime has passed. */
const RENEW_AT = 0.75

/** What can follow `Bearer ` in a header: visible ASCII, no spaces (RFC 6750 b64token and then some). */
const HEADER_SAFE = /^[\x21-\x7e]+$/

/** `promise`, or a rejection with `reason` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, reason: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FeedCallError(reason)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export function createFeedCredential(options: FeedCredentialOptions): FeedCredential {
  const { client, now } = options
  const source = options.token
  let renewals = 0
  if (typeof source === 'function') {
    return {
      async bearer() {
        let token: unknown
        try {
          token = await within(Promise.resolve().then(source), options.timeoutMs, 'token_function_timeout')
        } catch (err) {
          if (err instanceof FeedCallError) throw err
          throw new FeedCallError('token_function_failed')
        }
        // A value that cannot be sent as a bearer token (not a string, empty, spaces, control
        // characters) is the function's fault, said so, rather than a transport error.
        if (typeof token !== 'string' || !HEADER_SAFE.test(token))
          throw new FeedCallError('token_function_returned_no_token')
        return token
      },
      refused() {},
      get renewals() {
        return renewals
      },
    }
  }

  /** The current credential and when to replace it (ms). */
  let current: { token: string; renewAt: number; expiresAt: number } | undefined
  let pending: Promise<string> | undefined
  let refusedToken: string | undefined

  function adopt(issued: IssuedToken): string {
    const at = now()
    const lifetimeMs = Math.max(0, issued.expiresInSeconds) * 1000
    current = { token: issued.token, renewAt: at + lifetimeMs * RENEW_AT, expiresAt: at + lifetimeMs }
    return issued.token
  }

  if (typeof source === 'string') current = fromTokenString(source)

  /** Replace the credential: log in again with the secret, or renew the given token. */
  async function replace(): Promise<string> {
    const kind = options.adminSecret !== undefined ? 'login' : 'renewal'
    try {
      const token = await obtain()
      publish(feedChannel, () => ({ event: 'credential', kind, outcome: 'ok' }))
      return token
    } catch (err) {
      publish(feedChannel, () => ({ event: 'credential', kind, outcome: 'error' }))
      throw err
    }
  }

  async function obtain(): Promise<string> {
    if (options.adminSecret !== undefined) {
      const issued = await client.adminAuth(options.adminSecret)
      renewals++
      return adopt(issued)
    }
    if (current === undefined) throw new FeedCallError('no_credential')
    const issued = await client.renew(current.token)
    renewals++
    return adopt(issued)
  }

  return {
    async bearer() {
      const t = now()
      if (current !== undefined && current.token !== refusedToken && t < current.expiresAt) {
        if (t < current.renewAt) return current.token
        // Due for renewal: renew first (a renewed token is revoked at once, so no read may still
        // be using it); when that fails, the current token serves until it expires.
        const usable = current.token
        try {
          return await renewNow()
        } catch {
          return usable
        }
      }
      return renewNow()
    },
    refused(token) {
      // Only the token the broker refused: a renewal may have replaced it since.
      if (current?.token === token) refusedToken = token
    },
    get renewals() {
      return renewals
    },
  }

  function renewNow(): Promise<string> {
    if (pending === undefined) {
      pending = replace().finally(() => {
        pending = undefined
      })
    }
    return pending
  }

  /** A token given as text: its lifetime from its own (unverified) `iat`/`exp`. */
  function fromTokenString(token: string): { token: string; renewAt: number; expiresAt: number } {
    const claims = unverifiedTimes(token)
    if (claims === undefined)
      return { token, renewAt: Number.POSITIVE_INFINITY, expiresAt: Number.POSITIVE_INFINITY }
    const issuedAt = claims.iat * 1000
    const expiresAt = claims.exp * 1000
    return { token, renewAt: issuedAt + (expiresAt - issuedAt) * RENEW_AT, expiresAt }
  }
}

/** `iat` and `exp` of a JWS's payload, unverified (only to schedule renewal). */
function unverifiedTimes(token: string): { iat: number; exp: number } | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined) return undefined
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      iat?: unknown
      exp?: unknown
    }
    if (!Number.isSafeInteger(c.iat) || !Number.isSafeInteger(c.exp)) return undefined
    return { iat: c.iat as number, exp: c.exp as number }
  } catch {
    return undefined
  }
}
