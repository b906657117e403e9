/**
 * The bearer credential a revocation feed reads the audit log with (`admin:audit:*`), in one of
 * three forms:
 * - a token given directly: renewed with `POST /v1/token/renew` once three quarters of its
 *   lifetime have passed (the broker's renewal keeps scope and lifetime; the predecessor dies);
 * - a function returning one: called before every poll (cache in it what you like);
 * - the admin secret: `POST /v1/admin/auth`, again when three quarters of the admin token's
 *   lifetime have passed, or when the broker refused it.
 */
import type { AuditClient, IssuedToken } from './audit-client.js'
import { FeedCallError } from './audit-client.js'

/** Where the feed's bearer token comes from. */
export type FeedTokenSource = string | (() => string | Promise<string>)

export interface FeedCredential {
  /** The token to send now. Rejects with a {@link FeedCallError} when none can be had. */
  bearer(): Promise<string>
  /** The broker refused the last token (401/403): the next {@link FeedCredential.bearer} gets a new one if it can. */
  refused(): void
  /** Credential renewals or logins done so far. */
  readonly renewals: number
}

export interface FeedCredentialOptions {
  readonly token?: FeedTokenSource | undefined
  readonly adminSecret?: string | undefined
  readonly client: AuditClient
  /** Clock in ms. */
  readonly now: () => number
}

/** Renew once this share of a credential's lifetime has passed. */
const RENEW_AT = 0.75

export function createFeedCredential(options: FeedCredentialOptions): FeedCredential {
  const { client, now } = options
  const source = options.token
  let renewals = 0
  if (typeof source === 'function') {
    return {
      async bearer() {
        let token: unknown
        try {
          token = await source()
        } catch {
          throw new FeedCallError('token_function_failed')
        }
        if (typeof token !== 'string' || token === '')
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
    bearer() {
      const t = now()
      if (current !== undefined && current.token !== refusedToken && t < current.expiresAt) {
        // Due for renewal: renew in the background; this poll still uses the current token.
        if (t >= current.renewAt) void renewQuietly()
        return Promise.resolve(current.token)
      }
      return renewNow()
    },
    refused() {
      refusedToken = current?.token
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

  async function renewQuietly(): Promise<void> {
    try {
      await renewNow()
    } catch {
      // The current token stays in use until it expires; the next poll tries again.
    }
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
