/**
 * The revocation feed's polling loop, with a fake audit client and fake timers (the feed's clock is
 * the faked `Date.now`): history paging, cursors per event type, failed and unreadable polls, the
 * log shrinking, renewals, lag and the cache-age bound, generations and `onChange` matchers, the
 * credential as the feed uses it, and `close()`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type AuditClient, FeedCallError, type IssuedToken } from '../../src/core/audit-client.js'
import type { AuditEventFields, AuditPage, FeedEventType, FeedUpdate } from '../../src/core/audit-events.js'
import type { AgentWritClaims } from '../../src/core/claims.js'
import {
  createRevocationFeed,
  type ResolvedFeedOptions,
  type RevocationFeed,
} from '../../src/core/revocation-feed.js'
import type { FeedLink, RevocationFanout } from '../../src/core/shared-cache.js'
import { createVerifier } from '../../src/index.js'
import { startDevBroker } from '../../src/testing/index.js'
import { json, startStubServer } from '../helpers/stub-server.js'

const SUB = 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef'
const OTHER = 'spiffe://agentwrit.local/agent/o/t/fedcba9876543210'

const revokedEvent = (level: string, target: string): AuditEventFields => ({
  event_type: 'token_revoked',
  agent_id: target,
  detail: `revoked at level=${level} target=${target}`,
})
const releasedEvent = (jti: string, sub = SUB): AuditEventFields => ({
  event_type: 'token_released',
  agent_id: sub,
  detail: `token released | jti=${jti}`,
})
const renewedEvent = (sub: string, newJti = 'n'.repeat(32)): AuditEventFields => ({
  event_type: 'token_renewed',
  agent_id: sub,
  detail: `token renewed for agent=${sub} new_jti=${newJti}`,
})

function claims(over: Partial<AgentWritClaims> = {}): AgentWritClaims {
  return {
    iss: '',
    sub: SUB,
    exp: 2_000_000_000,
    nbf: 1_700_000_000,
    iat: 1_700_000_000,
    jti: 'a'.repeat(32),
    scope: ['read:data:x'],
    task_id: 'task-1',
    ...over,
  }
}

interface Call {
  readonly bearer: string
  readonly type: FeedEventType
  readonly offset: number
}

/** An audit log served in pages of 1000 per event type, as the broker does. */
class FakeAuditClient implements AuditClient {
  log: AuditEventFields[] = []
  calls: Call[] = []
  logins = 0
  renewals: string[] = []
  closed = false
  /** Event types whose next reads fail (the reason), until cleared. */
  failing = new Map<FeedEventType, FeedCallError>()
  /** Replace an answer entirely (a broker that lies or misbehaves). */
  override: ((type: FeedEventType, offset: number) => AuditPage | undefined) | undefined
  /** While set, reads wait on it (close() lets them through, as a real client aborts them). */
  gate: Promise<void> | undefined
  #release: (() => void) | undefined
  /** Hold every read until the returned function is called. */
  hold(): () => void {
    this.gate = new Promise((r) => {
      this.#release = r
    })
    return () => {
      this.gate = undefined
      this.#release?.()
    }
  }
  login: () => IssuedToken = () => ({ token: `admin-${this.logins}`, expiresInSeconds: 300 })
  renewal: (bearer: string) => IssuedToken = (b) => ({ token: `${b}+r`, expiresInSeconds: 300 })

  async events(bearer: string, type: FeedEventType, offset: number): Promise<AuditPage> {
    this.calls.push({ bearer, type, offset })
    await this.gate
    const failure = this.failing.get(type)
    if (failure !== undefined) throw failure
    const o = this.override?.(type, offset)
    if (o !== undefined) return o
    const all = this.log.filter((e) => e.event_type === type)
    return { events: all.slice(offset, offset + 1000), total: all.length }
  }
  async adminAuth(): Promise<IssuedToken> {
    this.logins++
    return this.login()
  }
  async renew(bearer: string): Promise<IssuedToken> {
    this.renewals.push(bearer)
    return this.renewal(bearer)
  }
  async close(): Promise<void> {
    this.closed = true
    this.#release?.()
  }
  /** Calls since the last `take()`. */
  take(): Call[] {
    const c = this.calls
    this.calls = []
    return c
  }
}

const POLL = 1000

let client: FakeAuditClient
let changes: Array<(c: AgentWritClaims) => boolean>
let feeds: RevocationFeed[]

function start(over: Partial<ResolvedFeedOptions> = {}, fanout?: RevocationFanout): RevocationFeed {
  const feed = createRevocationFeed(
    {
      broker: new URL('http://127.0.0.1:1'),
      token: 'feed-token',
      adminSecret: undefined,
      pollIntervalMs: POLL,
      maxLagMs: 3 * POLL,
      laggingCacheTtlMs: 5000,
      ...over,
    },
    { now: () => Date.now(), timeoutMs: 500, client, onChange: (m) => changes.push(m), fanout },
  )
  feeds.push(feed)
  return feed
}

/** Let the poll in progress finish (no timer fires). */
const settle = () => vi.advanceTimersByTimeAsync(0)
/** Move to the next poll and let it finish. */
const nextPoll = () => vi.advanceTimersByTimeAsync(POLL)

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 })
  client = new FakeAuditClient()
  changes = []
  feeds = []
})
afterEach(async () => {
  for (const f of feeds) await f.close()
  vi.useRealTimers()
})

describe('history and cursors', () => {
  it('reads 2,500 events across pages at start; the cursor is the count', async () => {
    for (let i = 0; i < 2500; i++) client.log.push(revokedEvent('token', `jti-${i}`))
    client.log.push(releasedEvent('rel-1'))
    const feed = start()
    await settle()
    const calls = client.take()
    expect(calls.filter((c) => c.type === 'token_revoked').map((c) => c.offset)).toEqual([0, 1000, 2000])
    expect(calls.filter((c) => c.type === 'token_released').map((c) => c.offset)).toEqual([0])
    expect(calls.filter((c) => c.type === 'token_renewed')).toHaveLength(1)
    expect(calls.every((c) => c.bearer === 'feed-token')).toBe(true)
    const s = feed.stats()
    expect(s).toMatchObject({ synced: true, polls: 1, failedPolls: 0, revocations: 2500, releases: 1 })
    expect(s.predicates).toEqual({ jtis: 2501, subjects: 0, tasks: 0, chainRoots: 0 })
    expect(feed.revokes(claims({ jti: 'jti-0' }))).toBe(true)
    expect(feed.revokes(claims({ jti: 'jti-2499' }))).toBe(true)
    expect(feed.revokes(claims({ jti: 'rel-1' }))).toBe(true)
    expect(feed.revokes(claims())).toBe(false)
    // next poll: from the cursors
    await nextPoll()
    expect(
      client
        .take()
        .filter((c) => c.type !== 'token_renewed')
        .map((c) => [c.type, c.offset]),
    ).toEqual([
      ['token_revoked', 2500],
      ['token_released', 1],
    ])
  })

  it('exactly 1,000 events: a second (empty) page read confirms the end only when total says so', async () => {
    for (let i = 0; i < 1000; i++) client.log.push(revokedEvent('token', `j${i}`))
    const feed = start()
    await settle()
    expect(
      client
        .take()
        .filter((c) => c.type === 'token_revoked')
        .map((c) => c.offset),
    ).toEqual([0])
    expect(feed.stats().predicates.jtis).toBe(1000)
  })

  it('a broker with a smaller page cap is still read to the end', async () => {
    for (let i = 0; i < 25; i++) client.log.push(revokedEvent('token', `j${i}`))
    client.override = (type, offset) => {
      const all = client.log.filter((e) => e.event_type === type)
      return { events: all.slice(offset, offset + 10), total: all.length }
    }
    const feed = start()
    await settle()
    expect(
      client
        .take()
        .filter((c) => c.type === 'token_revoked')
        .map((c) => c.offset),
    ).toEqual([0, 10, 20])
    expect(feed.stats().predicates.jtis).toBe(25)
  })

  it('incremental polls read only new events, each type from its own cursor', async () => {
    client.log.push(revokedEvent('token', 'old'), renewedEvent(SUB))
    const feed = start()
    await settle()
    client.take()
    client.log.push(
      revokedEvent('agent', OTHER),
      releasedEvent('r1'),
      renewedEvent(OTHER),
      revokedEvent('task', 'T'),
    )
    await nextPoll()
    expect(client.take().map((c) => [c.type, c.offset])).toEqual([
      ['token_revoked', 1],
      ['token_released', 0],
      ['token_renewed', 1],
    ])
    expect(feed.stats()).toMatchObject({ polls: 2, revocations: 3, releases: 1, renewals: 1 })
    await nextPoll()
    expect(client.take().map((c) => [c.type, c.offset])).toEqual([
      ['token_revoked', 3],
      ['token_released', 1],
      ['token_renewed', 2],
    ])
    expect(feed.stats()).toMatchObject({ polls: 3, revocations: 3, releases: 1, renewals: 1 })
  })

  it('polls start every pollIntervalMs and never overlap', async () => {
    const feed = start()
    await settle()
    await vi.advanceTimersByTimeAsync(5 * POLL)
    expect(feed.stats().polls).toBe(6)
    // a slow answer: the next poll starts once this one is done
    const open = client.hold()
    await vi.advanceTimersByTimeAsync(3 * POLL)
    expect(feed.stats().polls).toBe(6)
    client.take()
    await vi.advanceTimersByTimeAsync(3 * POLL)
    expect(client.take()).toEqual([])
    open()
    await settle()
    // the late poll completes, and the next one, overdue, starts at once
    expect(feed.stats().polls).toBe(8)
    client.take()
    await vi.advanceTimersByTimeAsync(POLL - 1)
    expect(client.take()).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(feed.stats().polls).toBe(9)
  })

  it('a failed read of one type advances no cursor and applies nothing', async () => {
    const feed = start()
    await settle()
    client.log.push(revokedEvent('token', 'j1'), releasedEvent('r1'))
    client.failing.set('token_released', new FeedCallError('status_503', 503))
    client.take()
    await nextPoll()
    expect(feed.stats()).toMatchObject({ polls: 1, failedPolls: 1, lastFailure: 'status_503' })
    expect(feed.revokes(claims({ jti: 'j1' }))).toBe(false) // read, but not applied
    expect(feed.generation).toBe(1) // only the first sync
    client.failing.clear()
    client.take()
    await nextPoll()
    expect(client.take().map((c) => [c.type, c.offset])).toEqual([
      ['token_revoked', 0],
      ['token_released', 0],
      ['token_renewed', 0],
    ])
    expect(feed.stats()).toMatchObject({ polls: 2, failedPolls: 1, lastFailure: undefined })
    expect(feed.revokes(claims({ jti: 'j1' }))).toBe(true)
    expect(feed.revokes(claims({ jti: 'r1' }))).toBe(true)
  })

  it('the log shrinking (total < cursor, another database) is read again from 0', async () => {
    for (let i = 0; i < 2500; i++) client.log.push(revokedEvent('token', `j${i}`))
    const feed = start()
    await settle()
    client.log = [revokedEvent('agent', OTHER), revokedEvent('token', 'fresh')]
    client.take()
    await nextPoll()
    expect(
      client
        .take()
        .filter((c) => c.type === 'token_revoked')
        .map((c) => c.offset),
    ).toEqual([2500, 0])
    // predicates only grow: the old ones stay, the new ones are in
    expect(feed.revokes(claims({ jti: 'j7' }))).toBe(true)
    expect(feed.revokes(claims({ jti: 'fresh' }))).toBe(true)
    expect(feed.revokes(claims({ sub: OTHER }))).toBe(true)
    client.log.push(revokedEvent('token', 'later'))
    client.take()
    await nextPoll()
    expect(
      client
        .take()
        .filter((c) => c.type === 'token_revoked')
        .map((c) => c.offset),
    ).toEqual([2])
    expect(feed.revokes(claims({ jti: 'later' }))).toBe(true)
  })

  it('token_renewed history is skipped at start (renewals name no predecessor)', async () => {
    client.log.push(renewedEvent(SUB), renewedEvent(OTHER))
    const feed = start()
    await settle()
    expect(feed.stats().renewals).toBe(0)
    expect(feed.revokes(claims())).toBe(false)
    client.take()
    await nextPoll()
    expect(client.take().find((c) => c.type === 'token_renewed')?.offset).toBe(2)
  })

  it('an unreadable event fails the poll: nothing of it applied, nothing advanced, read again', async () => {
    const feed = start()
    await settle()
    client.log.push(revokedEvent('token', 'good'), {
      event_type: 'token_released',
      agent_id: SUB,
      detail: 'token released',
    })
    await nextPoll()
    expect(feed.stats()).toMatchObject({ polls: 1, failedPolls: 1, lastFailure: 'unreadable_event' })
    expect(feed.revokes(claims({ jti: 'good' }))).toBe(false)
    client.take()
    await nextPoll()
    expect(feed.stats().failedPolls).toBe(2)
    expect(
      client
        .take()
        .filter((c) => c.type !== 'token_renewed')
        .map((c) => c.offset),
    ).toEqual([0, 0])
  })

  it('a page that is not one (wrong shape from the client) fails the poll with its reason', async () => {
    const feed = start()
    await settle()
    client.failing.set('token_revoked', new FeedCallError('bad_page', 200))
    await nextPoll()
    expect(feed.stats().lastFailure).toBe('bad_page')
  })

  it('an unexpected exception is a failed poll, never a crash', async () => {
    const feed = start()
    await settle()
    client.override = () => {
      throw new Error('boom')
    }
    await nextPoll()
    expect(feed.stats()).toMatchObject({ failedPolls: 1, lastFailure: 'unexpected_error' })
    client.override = undefined
    await nextPoll()
    expect(feed.stats()).toMatchObject({ polls: 2, lastFailure: undefined })
  })
})

describe('predicates', () => {
  it.each([
    ['token', { jti: 'T' }],
    ['agent', { sub: 'T' }],
    ['task', { task_id: 'T' }],
    [
      'chain',
      { delegation_chain: [{ agent: 'T', scope: ['read:data:x'], delegated_at: 'x', signature: 'y' }] },
    ],
  ] as const)('level %s refuses exactly its claims', async (level, over) => {
    client.log.push(revokedEvent(level, 'T'))
    const feed = start()
    await settle()
    expect(feed.revokes(claims(over as Partial<AgentWritClaims>))).toBe(true)
    expect(feed.revokes(claims())).toBe(false)
    const others = [{ jti: 'T' }, { sub: 'T' }, { task_id: 'T' }].filter(
      (o) => Object.keys(o)[0] !== Object.keys(over)[0],
    )
    for (const o of others) expect(feed.revokes(claims(o))).toBe(false)
  })

  it('chain: only the root (position 0) of a non-empty chain', async () => {
    client.log.push(revokedEvent('chain', 'ROOT'))
    const feed = start()
    await settle()
    const hop = (agent: string) => ({ agent, scope: ['read:data:x'], delegated_at: 'x', signature: 'y' })
    expect(feed.revokes(claims({ delegation_chain: [hop('ROOT'), hop('B')] }))).toBe(true)
    expect(feed.revokes(claims({ delegation_chain: [hop('A'), hop('ROOT')] }))).toBe(false)
    expect(feed.revokes(claims({ sub: 'ROOT' }))).toBe(false) // the root's own token lives
  })

  it('an empty task id never matches', async () => {
    client.log.push({ event_type: 'token_revoked', detail: 'revoked at level=task target=' })
    client.log.length = 0
    client.log.push(revokedEvent('task', 'T'))
    const feed = start()
    await settle()
    expect(feed.revokes(claims({ task_id: '' }))).toBe(false)
    expect(feed.revokes(claims({ task_id: undefined }))).toBe(false)
  })

  it('revoked with an unknown level → recorded at every level', async () => {
    client.log.push(revokedEvent('session', 'X'))
    const feed = start()
    await settle()
    expect(feed.stats().predicates).toEqual({ jtis: 1, subjects: 1, tasks: 1, chainRoots: 1 })
    expect(feed.revokes(claims({ jti: 'X' }))).toBe(true)
    expect(feed.revokes(claims({ sub: 'X' }))).toBe(true)
    expect(feed.revokes(claims({ task_id: 'X' }))).toBe(true)
    expect(
      feed.revokes(
        claims({ delegation_chain: [{ agent: 'X', scope: [], delegated_at: 'x', signature: 'y' }] }),
      ),
    ).toBe(true)
  })
})

describe('lag, current, maxCacheAgeMs', () => {
  it('before the first good poll the feed is not current and bounds cached answers', async () => {
    client.hold()
    const feed = start({ laggingCacheTtlMs: 700 })
    expect(feed.stats()).toMatchObject({ current: false, lagMs: null, synced: false, polls: 0 })
    expect(feed.maxCacheAgeMs(Date.now())).toBe(700)
  })

  it('current while the last good poll started within maxLagMs; then bounded; back when it recovers', async () => {
    const feed = start({ maxLagMs: 2500, laggingCacheTtlMs: 700 })
    await settle()
    const t0 = Date.now()
    expect(feed.stats()).toMatchObject({ current: true, lagMs: 0, synced: true })
    expect(feed.maxCacheAgeMs(Date.now())).toBe(Number.POSITIVE_INFINITY)
    client.failing.set('token_revoked', new FeedCallError('timeout'))
    await nextPoll() // t0 + 1000
    expect(feed.stats()).toMatchObject({ current: true, lagMs: 1000, failedPolls: 1, lastFailure: 'timeout' })
    await nextPoll() // t0 + 2000
    expect(feed.stats().current).toBe(true)
    await vi.advanceTimersByTimeAsync(500) // t0 + 2500: still within
    expect(feed.stats().current).toBe(true)
    expect(feed.maxCacheAgeMs(t0 + 2500)).toBe(Number.POSITIVE_INFINITY)
    await vi.advanceTimersByTimeAsync(1) // t0 + 2501
    expect(feed.stats()).toMatchObject({ current: false, lagMs: 2501 })
    expect(feed.maxCacheAgeMs(Date.now())).toBe(700)
    client.failing.clear()
    await vi.advanceTimersByTimeAsync(499) // the poll at t0 + 3000 succeeds
    expect(feed.stats()).toMatchObject({ current: true, lagMs: 0, lastFailure: undefined, failedPolls: 2 })
    expect(feed.maxCacheAgeMs(Date.now())).toBe(Number.POSITIVE_INFINITY)
  })

  it('the lag counts from when the last good poll started, not when it ended', async () => {
    const feed = start({ maxLagMs: 1000 })
    await settle()
    const open = client.hold()
    await vi.advanceTimersByTimeAsync(POLL) // poll 2 starts, hangs
    await vi.advanceTimersByTimeAsync(900)
    open()
    await settle() // poll 2 done, started 900 ms ago
    expect(feed.stats()).toMatchObject({ polls: 2, lagMs: 900, current: true })
    client.hold() // poll 3 (at +1000 ms) hangs
    await vi.advanceTimersByTimeAsync(100)
    expect(feed.stats()).toMatchObject({ lagMs: 1000, current: true })
    await vi.advanceTimersByTimeAsync(1)
    expect(feed.stats()).toMatchObject({ lagMs: 1001, current: false })
  })

  it('whenSynced resolves at the first good poll, or after its timeout', async () => {
    client.failing.set('token_revoked', new FeedCallError('status_500', 500))
    const feed = start()
    let done = false
    void feed.whenSynced(300).then(() => {
      done = true
    })
    await vi.advanceTimersByTimeAsync(299)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(done).toBe(true)
    let synced = false
    void feed.whenSynced(60_000).then(() => {
      synced = true
    })
    client.failing.clear()
    await nextPoll()
    expect(synced).toBe(true)
    expect(feed.stats().synced).toBe(true)
    await feed.whenSynced(1) // immediate now
  })
})

describe('generation and onChange', () => {
  it('the first sync bumps the generation once and drops every cached answer', async () => {
    const feed = start()
    expect(feed.generation).toBe(0)
    await settle()
    expect(feed.generation).toBe(1)
    expect(changes).toHaveLength(1)
    expect(changes[0]!(claims())).toBe(true)
  })

  it('revoked / released / renewed: one bump per poll, with a matcher of what lost trust', async () => {
    const feed = start()
    await settle()
    changes.length = 0
    await nextPoll() // nothing new
    expect(feed.generation).toBe(1)
    expect(changes).toHaveLength(0)

    client.log.push(revokedEvent('agent', OTHER))
    await nextPoll()
    expect(feed.generation).toBe(2)
    expect(changes).toHaveLength(1)
    expect(changes[0]!(claims({ sub: OTHER }))).toBe(true)
    expect(changes[0]!(claims())).toBe(false)

    client.log.push(releasedEvent('rel'), renewedEvent(SUB))
    await nextPoll()
    expect(feed.generation).toBe(3)
    const m = changes[1]!
    expect(m(claims({ jti: 'rel', sub: 'someone' }))).toBe(true)
    expect(m(claims({ sub: SUB, jti: 'another' }))).toBe(true) // renewed subject
    expect(m(claims({ sub: 'spiffe://agentwrit.local/agent/o/t/1111111111111111' }))).toBe(false)
    expect(feed.stats()).toMatchObject({ revocations: 1, releases: 1, renewals: 1 })

    // a renewal is not a predicate: the token is not refused, only its cached answers dropped
    expect(feed.revokes(claims({ sub: SUB, jti: 'another' }))).toBe(false)

    // the same revocation again changes nothing
    client.log.push(revokedEvent('agent', OTHER))
    await nextPoll()
    expect(feed.generation).toBe(3)
    expect(changes).toHaveLength(2)
    expect(feed.stats().revocations).toBe(2)
  })

  it('a failed poll bumps nothing', async () => {
    const feed = start()
    await settle()
    client.log.push(revokedEvent('token', 'x'))
    client.failing.set('token_renewed', new FeedCallError('status_502', 502))
    await nextPoll()
    expect(feed.generation).toBe(1)
  })
})

describe('the credential, as the feed uses it', () => {
  it('admin secret: login at start, again at 75 % of its lifetime and after a 401', async () => {
    const feed = start({ token: undefined, adminSecret: 's' })
    await settle()
    expect(client.logins).toBe(1)
    expect(client.take().every((c) => c.bearer === 'admin-1')).toBe(true)
    await vi.advanceTimersByTimeAsync(224 * POLL)
    expect(client.logins).toBe(1)
    await nextPoll() // 225 s
    expect(client.logins).toBe(2)
    expect(client.take().at(-1)?.bearer).toBe('admin-2')
    // the broker refuses the token: this poll fails, the next one logs in again
    client.failing.set('token_revoked', new FeedCallError('status_401', 401))
    await nextPoll()
    expect(feed.stats().lastFailure).toBe('status_401')
    client.failing.clear()
    await nextPoll()
    expect(client.logins).toBe(3)
    expect(client.take().at(-1)?.bearer).toBe('admin-3')
    expect(feed.stats()).toMatchObject({ credentialRenewals: 3, lastFailure: undefined })
  })

  it('admin secret: a failed login is a failed poll', async () => {
    client.login = () => {
      throw new FeedCallError('status_401', 401)
    }
    const feed = start({ token: undefined, adminSecret: 'wrong' })
    await settle()
    expect(feed.stats()).toMatchObject({
      polls: 0,
      failedPolls: 1,
      lastFailure: 'status_401',
      current: false,
    })
    expect(client.calls).toEqual([])
  })

  it('a token string is renewed at 75 % of its lifetime through the broker, before the poll uses it', async () => {
    const now = Math.floor(Date.now() / 1000)
    const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const token = `${b({ alg: 'EdDSA' })}.${b({ iat: now, exp: now + 60 })}.c2ln`
    const feed = start({ token })
    await settle()
    expect(client.take().every((c) => c.bearer === token)).toBe(true)
    await vi.advanceTimersByTimeAsync(44 * POLL)
    expect(client.renewals).toEqual([])
    client.take()
    await nextPoll() // 45 s of 60
    expect(client.renewals).toEqual([token])
    expect(client.take().map((c) => c.bearer)).toEqual(Array(3).fill(`${token}+r`))
    expect(feed.stats().credentialRenewals).toBe(1)
  })

  it('a token string whose renewal fails is used until it expires, then polls fail', async () => {
    const now = Math.floor(Date.now() / 1000)
    const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const token = `${b({ alg: 'EdDSA' })}.${b({ iat: now, exp: now + 20 })}.c2ln`
    client.renewal = () => {
      throw new FeedCallError('status_503', 503)
    }
    const feed = start({ token })
    await settle()
    await vi.advanceTimersByTimeAsync(19 * POLL) // renewals from 15 s on fail
    expect(client.renewals).toHaveLength(5)
    expect(client.renewals.every((r) => r === token)).toBe(true)
    expect(feed.stats()).toMatchObject({ polls: 20, failedPolls: 0 })
    client.take()
    await nextPoll() // 20 s: its exp, the feed stops using it
    expect(client.take()).toEqual([])
    expect(feed.stats()).toMatchObject({ polls: 20, failedPolls: 1, lastFailure: 'status_503' })
  })

  it('a token function is called once per poll; its junk fails the poll', async () => {
    const results: unknown[] = ['t1', 't2', '', 42, 'bad token', undefined, 't3']
    let calls = 0
    const feed = start({
      token: () => {
        calls++
        return results.shift() as string
      },
    })
    await settle()
    expect(client.take().map((c) => c.bearer)).toEqual(['t1', 't1', 't1'])
    await nextPoll()
    expect(client.take().map((c) => c.bearer)).toEqual(['t2', 't2', 't2'])
    for (let i = 0; i < 4; i++) {
      await nextPoll()
      expect(feed.stats().lastFailure).toBe('token_function_returned_no_token')
    }
    expect(client.take()).toEqual([])
    await nextPoll()
    expect(client.take().map((c) => c.bearer)).toEqual(['t3', 't3', 't3'])
    expect(calls).toBe(7)
    expect(feed.stats()).toMatchObject({ polls: 3, failedPolls: 4, lastFailure: undefined })
  })

  it('a token function that throws or never settles fails the poll, and the feed goes on', async () => {
    let mode: 'throw' | 'hang' | 'ok' = 'throw'
    const feed = start({
      token: () => {
        if (mode === 'throw') throw new Error('vault down')
        if (mode === 'hang') return new Promise<string>(() => {})
        return 'ok'
      },
    })
    await settle()
    expect(feed.stats().lastFailure).toBe('token_function_failed')
    mode = 'hang'
    await nextPoll()
    await vi.advanceTimersByTimeAsync(500) // the feed's call timeout
    expect(feed.stats().lastFailure).toBe('token_function_timeout')
    mode = 'ok'
    await vi.advanceTimersByTimeAsync(POLL)
    expect(feed.stats()).toMatchObject({ polls: 1, lastFailure: undefined })
  })
})

describe('close()', () => {
  it('stops polling and closes the client', async () => {
    const feed = start()
    await settle()
    await feed.close()
    expect(client.closed).toBe(true)
    client.take()
    await vi.advanceTimersByTimeAsync(10 * POLL)
    expect(client.calls).toEqual([])
    expect(feed.stats().polls).toBe(1)
  })

  it('a poll in flight at close is not applied', async () => {
    const feed = start()
    await settle()
    const open = client.hold()
    client.log.push(revokedEvent('token', 'late'))
    await nextPoll()
    const closing = feed.close()
    open()
    await closing
    expect(feed.revokes(claims({ jti: 'late' }))).toBe(false)
    expect(feed.stats().polls).toBe(1)
    await vi.advanceTimersByTimeAsync(5 * POLL)
    expect(feed.stats().polls).toBe(1)
  })
})

describe('the verifier and the feed (stub broker over HTTP, real timers)', () => {
  beforeEach(() => {
    vi.useRealTimers()
  })

  it('an answer the broker gave while the feed learned a renewal serves its request but is not kept', async () => {
    const signer = await startDevBroker({ sampleApp: false })
    const now = Math.floor(Date.now() / 1000)
    const tokenClaims = {
      iss: '',
      sub: SUB,
      exp: now + 300,
      nbf: now,
      iat: now,
      jti: 'c'.repeat(32),
      scope: ['read:data:x'],
      task_id: 'task-1',
      orch_id: 'o',
    }
    const token = signer.signToken(tokenClaims)
    await signer.close()
    const log: AuditEventFields[] = []
    let validateDelayMs = 0
    let validateCalls = 0
    const stub = await startStubServer((req, _body, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/v1/token/validate') {
        validateCalls++
        setTimeout(() => json(res, 200, { valid: true, claims: tokenClaims }), validateDelayMs)
        return
      }
      if (url.pathname === '/v1/audit/events') {
        const type = url.searchParams.get('event_type')
        const offset = Number(url.searchParams.get('offset'))
        const all = log.filter((e) => e.event_type === type)
        json(res, 200, { events: all.slice(offset, offset + 1000), total: all.length, offset, limit: 1000 })
        return
      }
      json(res, 404, {})
    })
    const verifier = createVerifier({
      broker: stub.url,
      cacheTtlMs: 60_000,
      revocationFeed: { token: 'feed-token', pollIntervalMs: 100 },
    })
    try {
      await vi.waitFor(() => expect(verifier.stats().revocationFeed?.synced).toBe(true))
      // no change while asking: the answer is kept
      expect((await verifier.verifyToken(token)).verification.source).toBe('broker')
      expect((await verifier.verifyToken(token)).verification.source).toBe('cache')
      expect(validateCalls).toBe(1)
      // the answer is slow; meanwhile the broker records a renewal of the subject, the feed reads it
      log.push(revokedEvent('token', 'a-cached-answer-is-evicted-first'))
      await vi.waitFor(() => expect(verifier.stats().revocationFeed?.revocations).toBe(1))
      log.push(renewedEvent(SUB))
      await vi.waitFor(() => expect(verifier.stats().revocationFeed?.renewals).toBe(1))
      // the cached answer was dropped (renewed subject): asked again, slowly, while another renewal lands
      validateDelayMs = 400
      const slow = verifier.verifyToken(token)
      await new Promise((r) => setTimeout(r, 50))
      log.push(renewedEvent(SUB))
      await vi.waitFor(() => expect(verifier.stats().revocationFeed?.renewals).toBe(2))
      expect((await slow).verification.source).toBe('broker')
      expect(validateCalls).toBe(2)
      validateDelayMs = 0
      // not kept: the next request asks the broker again
      expect((await verifier.verifyToken(token)).verification.source).toBe('broker')
      expect(validateCalls).toBe(3)
      expect((await verifier.verifyToken(token)).verification.source).toBe('cache')
      expect(validateCalls).toBe(3)
    } finally {
      await verifier.close()
      await stub.close()
    }
  })

  it('close() returns at once while an audit read hangs on a dispatcher the feed does not own', async () => {
    const { Agent } = await import('undici')
    const dispatcher = new Agent()
    const stub = await startStubServer(() => {
      // never answers
    })
    const verifier = createVerifier({
      broker: stub.url,
      dispatcher,
      timeoutMs: 10_000,
      revocationFeed: { token: 'feed-token' },
    })
    await vi.waitFor(() => expect(stub.requests.length).toBeGreaterThan(0))
    const started = Date.now()
    await verifier.close()
    expect(Date.now() - started).toBeLessThan(1000)
    await stub.close()
    await dispatcher.close()
  })
})

describe('fan-out link (a shared cache polls for the fleet)', () => {
  /** A fan-out that records what the feed gives it and what it publishes. */
  function fanout() {
    const published: Array<{ updates: readonly FeedUpdate[]; ageMs: number }> = []
    let link: FeedLink | undefined
    let detached = false
    const api: RevocationFanout = {
      attach(l) {
        link = l
        return (updates, ageMs) => published.push({ updates, ageMs })
      },
      async detach() {
        detached = true
      },
    }
    return { api, published, link: () => link!, detached: () => detached }
  }

  const startLinked = (f: ReturnType<typeof fanout>) => start({}, f.api)

  it('publishes what each good poll applied (a heartbeat when nothing), with the poll’s age', async () => {
    const f = fanout()
    client.log.push(revokedEvent('token', 'jti-1'))
    startLinked(f)
    await settle()
    expect(f.published).toEqual([
      { updates: [{ kind: 'revoked', level: 'token', target: 'jti-1' }], ageMs: 0 },
    ])
    await nextPoll()
    expect(f.published.at(-1)).toEqual({ updates: [], ageMs: 0 })
    expect(f.link()).toMatchObject({ pollIntervalMs: POLL, maxLagMs: 3 * POLL })
  })

  it('ingest: another replica’s updates refuse at once, drop cached answers, and count as a poll that old', async () => {
    const f = fanout()
    const feed = startLinked(f)
    await settle()
    const generation = feed.generation
    changes.length = 0
    await vi.advanceTimersByTimeAsync(2500)
    f.link().setPolling(false)
    f.link().ingest([{ kind: 'released', jti: 'r'.repeat(32) }], 200)
    expect(feed.revokes(claims({ jti: 'r'.repeat(32) }))).toBe(true)
    expect(feed.generation).toBe(generation + 1)
    expect(changes).toHaveLength(1)
    expect(changes[0]!(claims({ jti: 'r'.repeat(32) }))).toBe(true)
    expect(feed.stats().lagMs).toBe(200)
  })

  it('setPolling(false) stops the polls, pollNow() still polls once, setPolling(true) polls at once', async () => {
    const f = fanout()
    const feed = startLinked(f)
    await settle()
    f.link().setPolling(false)
    client.take()
    await vi.advanceTimersByTimeAsync(5 * POLL)
    expect(client.take()).toEqual([])
    await f.link().pollNow()
    expect(client.take()).toHaveLength(3)
    f.link().setPolling(true)
    await settle()
    expect(client.take()).toHaveLength(3)
    await nextPoll()
    expect(client.take()).toHaveLength(3)
    expect(feed.stats().polls).toBe(4)
  })

  it('close() detaches the fan-out', async () => {
    const f = fanout()
    const feed = startLinked(f)
    await settle()
    await feed.close()
    expect(f.detached()).toBe(true)
  })
})
