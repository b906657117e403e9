/**
 * The last token seen on each connection, its cache key and, once a cached answer was found for
 * it, that answer until its cache entry expires. A keep-alive connection usually repeats one
 * token: a repeat then skips the SHA-256 and the cache lookup. Tokens are compared by exact
 * equality. Kept in a `WeakMap` rather than on the socket, so Node's sockets keep the hidden class
 * Node's own code expects; a memo lives and dies with its connection and is never a cache key, a
 * log line or an error.
 */
import { tokenKey } from './cache.js'
import type { IdentityBase } from './claims.js'
import type { VerifiedToken } from './strategy.js'

/** What is remembered about one connection. */
export interface ConnectionMemo {
  readonly token: string
  /** `tokenKey(token)`. */
  readonly key: string
  /** The accepted identity base of the cached answer, `undefined` until one was found. */
  base: IdentityBase | undefined
  /** When that answer was stored (ms, on the verifier's clock), for `cacheAgeMs`. */
  storedAt: number
  /** Its cache entry's expiry (exclusive, ms). */
  until: number
  /** The revocation feed's generation when the answer was found (0 without a feed). */
  generation: number
}

/** The memos of one verifier. */
export interface ConnectionMemos {
  /** The memo of `socket` for `token`: the remembered one when the token repeats, else a new one. */
  memoFor(socket: object | null | undefined, token: string): ConnectionMemo
  /** Remember a cached answer on a memo (only answers that came from a cache entry are reused). */
  remember(
    memo: ConnectionMemo,
    base: IdentityBase,
    hit: VerifiedToken,
    now: number,
    generation: number,
  ): void
  /** Forget every connection (the verifier is closing). */
  clear(): void
}

export function createConnectionMemos(): ConnectionMemos {
  let bySocket = new WeakMap<object, ConnectionMemo>()
  return {
    memoFor(socket, token) {
      if (socket === undefined || socket === null) return newMemo(token)
      const last = bySocket.get(socket)
      if (last !== undefined && last.token === token) return last
      const memo = newMemo(token)
      bySocket.set(socket, memo)
      return memo
    },
    remember(memo, base, hit, now, generation) {
      if (hit.reusableUntil === undefined) return
      memo.base = base
      memo.storedAt = now - hit.cacheAgeMs
      memo.until = hit.reusableUntil
      memo.generation = generation
    },
    clear() {
      bySocket = new WeakMap()
    },
  }
}

function newMemo(token: string): ConnectionMemo {
  return { token, key: tokenKey(token), base: undefined, storedAt: 0, until: 0, generation: 0 }
}
