/**
 * The revocation feed end to end: real protected services (Express, Koa, Fastify on 127.0.0.1) in
 * every mode (remote, local with `jwksUri`, hybrid), cached answers kept a minute
 * (`cacheTtlMs: 60_000`), the development broker's audit log read over real HTTP.
 *
 * - Every revocation level and release: once a poll that started after the broker recorded it has
 *   completed, the next request is refused (401) without asking the broker, while tokens that
 *   match nothing keep being served from the cache with no broker call.
 * - Renewal: remote and hybrid ask the broker again (the old token is dead); local mode cannot
 *   know the predecessor and keeps accepting it (its documented limit).
 * - The default poll interval (1000 ms): the refusal comes within about 1.5 s.
 * - The audit endpoint down / slow / hung / failing / garbage, the feed's credential expired or
 *   revoked: the feed says it is not current; remote and hybrid re-ask the broker for answers
 *   older than `laggingCacheTtlMs`, so a revocation the feed cannot see is still refused; nothing
 *   is ever accepted because of the feed.
 * - Broker restarts, paging past 1,000 events, 100,000 revocations at start.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { AgentAuthOptions, RevocationFeedOptions, Verifier } from '../../src/index.js'
import {
  AUDIT_EVENTS_PATH,
  type CreatedAgent,
  type DevBroker,
  type FaultMode,
  startDevBroker,
} from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { MODES, type Mode, optionsFor } from '../helpers/modes.js'
import { bearer, forgeSignature, payloadOf } from '../helpers/tokens.js'

/** The broker is asked (and so can refuse what the feed cannot see) in these modes. */
const asksBroker = (mode: Mode) => mode !== 'local'

const CACHE_TTL_MS = 60_000

/**
 * Verifier options for `mode` with the feed on (an admin token from the broker's helper by default),
 * `mode` stated explicitly.
 */
function feedOptions(
  mode: Mode,
  broker: DevBroker,
  feed: Partial<RevocationFeedOptions> = {},
  extra: Partial<AgentAuthOptions> = {},
): AgentAuthOptions {
  const revocationFeed: RevocationFeedOptions = {
    token: () => broker.adminToken(),
    pollIntervalMs: 250,
    ...feed,
  }
  return optionsFor(mode, broker, {
    settings: {
      cacheTtlMs: CACHE_TTL_MS,
      ...extra,
      // Local mode has no `broker`: the feed is told where the audit log is.
      revocationFeed: mode === 'local' ? { broker: broker.url, ...revocationFeed } : revocationFeed,
    },
    stateMode: true,
  })
}

function feedStats(v: Verifier) {
  const s = v.stats().revocationFeed
  if (s === undefined) throw new Error('no revocation feed')
  return s
}

async function synced(v: Verifier): Promise<void> {
  await vi.waitFor(() => expect(feedStats(v).synced).toBe(true), { timeout: 30_000, interval: 10 })
}

/** Wait until a poll that started after now has completed. */
async function afterFreshPoll(v: Verifier): Promise<void> {
  const p0 = feedStats(v).polls
  // p0 + 1 may be a poll that was already under way; p0 + 2 started after it ended.
  await vi.waitFor(() => expect(feedStats(v).polls).toBeGreaterThanOrEqual(p0 + 2), {
    timeout: 10_000,
    interval: 5,
  })
}

async function call(app: RunningApp, token: string, path = '/me') {
  const res = await send(app.url, { path, headers: bearer(token) })
  return { status: res.status, source: res.json?.source as string | undefined }
}

/** 200, then served from the cache (a feed change in between may drop it once: ask again). */
async function warm(app: RunningApp, token: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const r = await call(app, token)
    expect(r.status).toBe(200)
    if (r.source === 'cache') return
  }
  throw new Error('never served from the cache')
}

const jtiOf = (token: string) => payloadOf(token).jti as string

/** A full collection when the process runs with --expose-gc (heap figures are then retained memory). */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) gc?.()
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let serial = 0
function agentOf(broker: DevBroker, name: string, taskId = `${name}-${++serial}`): Promise<CreatedAgent> {
  return broker.createAgent({ orchId: 'feed-e2e', taskId, scope: ['read:data:customer-7'] })
}

// ---------------------------------------------------------------------------------------------------
// Every level and release, every adapter, every mode
// ---------------------------------------------------------------------------------------------------

const MATRIX = MODES.flatMap((mode) => ADAPTERS.map((adapter) => [mode, adapter] as const))

describe.each(MATRIX)('feed in %s mode through %s', (mode, adapter) => {
  let broker: DevBroker
  let app: RunningApp
  const t: Record<string, string> = {}
  const ids: Record<string, string> = {}

  /** 200 from the cache, with no broker call. */
  async function stillCached(...names: string[]): Promise<void> {
    broker.resetStats()
    for (const n of names) expect(await call(app, t[n]!), n).toEqual({ status: 200, source: 'cache' })
    expect(broker.stats.validateCalls).toBe(0)
  }

  /** Refused at once by the feed: 401, and the broker's validate endpoint not called. */
  async function refusedByFeed(...names: string[]): Promise<void> {
    broker.resetStats()
    for (const n of names) expect((await call(app, t[n]!)).status, n).toBe(401)
    expect(broker.stats.validateCalls).toBe(0)
  }

  beforeAll(async () => {
    broker = await startDevBroker()
    const mk = async (name: string, taskId?: string) => {
      const a = await agentOf(broker, name, taskId)
      t[name] = a.accessToken
      ids[name] = a.agentId
    }
    await mk('bystander')
    await mk('byJti')
    await mk('byAgent')
    await mk('byTask1', `doomed-task-${mode}-${adapter}`)
    await mk('byTask2', `doomed-task-${mode}-${adapter}`)
    await mk('root')
    await mk('child')
    await mk('released')
    await mk('renewed')
    t.delegated = (
      await broker.delegate(t.root!, { to: ids.child!, scope: ['read:data:customer-7'] })
    ).accessToken
    app = await buildApp(adapter, feedOptions(mode, broker, { pollIntervalMs: 100 }))
    await synced(app.verifier)
    for (const token of Object.values(t)) await warm(app, token)
  })
  afterAll(async () => {
    await app?.close()
    await broker?.close()
  })

  it('everything is served from the cache with no broker call', async () => {
    await stillCached(...Object.keys(t))
  })

  it('token level: that jti is refused after the next poll; the rest stays cached', async () => {
    await broker.revoke('token', jtiOf(t.byJti!))
    await afterFreshPoll(app.verifier)
    await refusedByFeed('byJti')
    await stillCached('bystander', 'byAgent', 'root')
  })

  it('agent level: the subject is refused; the rest stays cached', async () => {
    await broker.revoke('agent', ids.byAgent!)
    await afterFreshPoll(app.verifier)
    await refusedByFeed('byAgent')
    await stillCached('bystander', 'root', 'child')
  })

  it('task level: every token of the task is refused; the rest stays cached', async () => {
    expect(ids.byTask1).not.toBe(ids.byTask2)
    const task = payloadOf(t.byTask1!).task_id as string
    await broker.revoke('task', task)
    await afterFreshPoll(app.verifier)
    await refusedByFeed('byTask1', 'byTask2')
    await stillCached('bystander', 'root')
  })

  it("chain level: the delegated token is refused; the root's and the delegate's own tokens stay cached", async () => {
    await broker.revoke('chain', ids.root!)
    await afterFreshPoll(app.verifier)
    await refusedByFeed('delegated')
    await stillCached('bystander', 'root', 'child')
  })

  it('release: the released token is refused; the rest stays cached', async () => {
    await broker.release(t.released!)
    await afterFreshPoll(app.verifier)
    await refusedByFeed('released')
    await stillCached('bystander', 'root')
  })

  if (asksBroker(mode)) {
    it('renewal: the old token is asked at the broker again and refused; the new one works', async () => {
      const { accessToken } = await broker.renew(t.renewed!)
      await afterFreshPoll(app.verifier)
      broker.resetStats()
      expect((await call(app, t.renewed!)).status).toBe(401)
      expect(broker.stats.validateCalls).toBe(1)
      expect(await call(app, accessToken)).toEqual({ status: 200, source: 'broker' })
      await stillCached('bystander', 'root')
      expect(feedStats(app.verifier).renewals).toBeGreaterThanOrEqual(1)
    })
  } else {
    it('renewal: LIMITATION — local mode cannot know the predecessor, the old token is still accepted', async () => {
      const { accessToken } = await broker.renew(t.renewed!)
      await afterFreshPoll(app.verifier)
      expect(feedStats(app.verifier).renewals).toBeGreaterThanOrEqual(1)
      // The renewal dropped the cached answer, but the signature still checks out locally.
      expect(await call(app, t.renewed!)).toEqual({ status: 200, source: 'local' })
      expect(await call(app, t.renewed!)).toEqual({ status: 200, source: 'cache' })
      // The broker itself refuses it.
      expect((await broker.validate(t.renewed!)).valid).toBe(false)
      expect((await call(app, accessToken)).status).toBe(200)
    })
  }

  it('the feed reports what it applied', () => {
    const s = feedStats(app.verifier)
    expect(s).toMatchObject({ current: true, synced: true, lastFailure: undefined, failedPolls: 0 })
    expect(s.revocations).toBe(4)
    expect(s.releases).toBe(1)
    // the revoked jti and the released one
    expect(s.predicates).toEqual({ jtis: 2, subjects: 1, tasks: 1, chainRoots: 1 })
    expect(s.lagMs).toBeLessThan(1000)
  })
})

// ---------------------------------------------------------------------------------------------------
// The default poll interval
// ---------------------------------------------------------------------------------------------------

describe('refusal latency at the default poll interval (1000 ms)', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(async () => broker?.close())

  const ROTATION: Record<Mode, AdapterName> = { remote: 'fastify', local: 'express', hybrid: 'koa' }
  // The documented bound is one poll interval plus one poll's duration; the bench (bench:feed)
  // measures the p99 target of 1.5 s. Here: the bound, with room for a loaded CI machine.
  it.each(MODES)(
    '%s mode: a revoked token is refused within one poll interval plus one poll',
    async (mode) => {
      const a = await agentOf(broker, `latency-${mode}`)
      const other = await agentOf(broker, `latency-other-${mode}`)
      const app = await buildApp(ROTATION[mode], feedOptions(mode, broker, { pollIntervalMs: undefined }))
      try {
        expect(app.verifier.options.revocationFeed?.pollIntervalMs).toBe(1000)
        await synced(app.verifier)
        await warm(app, a.accessToken)
        await warm(app, other.accessToken)
        // revoke at a random point of the poll cycle
        await sleep(Math.floor(Math.random() * 1000))
        const started = performance.now()
        await broker.revoke('agent', a.agentId)
        let latency = Number.NaN
        while (performance.now() - started < 3000) {
          const r = await call(app, a.accessToken)
          if (r.status === 401) {
            latency = performance.now() - started
            break
          }
          expect(r).toEqual({ status: 200, source: 'cache' })
          await sleep(10)
        }
        console.log(
          `[feed] ${mode}/${ROTATION[mode]}: refused ${latency.toFixed(0)} ms after the revocation (poll 1000 ms)`,
        )
        expect(latency).toBeLessThan(2000)
        expect(await call(app, other.accessToken)).toEqual({ status: 200, source: 'cache' })
      } finally {
        await app.close()
      }
    },
  )
})

// ---------------------------------------------------------------------------------------------------
// Audit endpoint failures and bad credentials
// ---------------------------------------------------------------------------------------------------

const LAGGING_TTL_MS = 500
const FAULT_FEED = { pollIntervalMs: 100, maxLagMs: 300, laggingCacheTtlMs: LAGGING_TTL_MS }

interface Failure {
  readonly name: string
  /** Break the feed; returns how to mend it. */
  readonly apply: (ctx: FaultContext) => Promise<() => void> | (() => void)
  /** Expected `lastFailure`. */
  readonly reason: string
}

interface FaultContext {
  readonly broker: DevBroker
  /** What the feed's token function returns from now on (`undefined` = the admin token). */
  setToken(fn: (() => string | Promise<string>) | undefined): void
}

function auditFault(mode: FaultMode): (ctx: FaultContext) => () => void {
  return ({ broker }) => {
    broker.fault({ ...mode, paths: [AUDIT_EVENTS_PATH] } as FaultMode)
    return () => broker.fault(null)
  }
}

const FAILURES: readonly Failure[] = [
  { name: 'down (connection reset)', apply: auditFault({ kind: 'down' }), reason: 'unreachable' },
  { name: 'slow (past the timeout)', apply: auditFault({ kind: 'slow', delayMs: 1000 }), reason: 'timeout' },
  { name: 'hung', apply: auditFault({ kind: 'hang' }), reason: 'timeout' },
  { name: '503 from a proxy', apply: auditFault({ kind: 'status', status: 503 }), reason: 'status_503' },
  { name: '500 problem from the broker', apply: auditFault({ kind: 'problem' }), reason: 'status_500' },
  { name: 'garbage (HTML 200)', apply: auditFault({ kind: 'garbage' }), reason: 'not_json' },
  {
    name: 'JSON of the wrong shape',
    apply: auditFault({ kind: 'json', body: { events: 'all revoked', total: 1 } }),
    reason: 'bad_page',
  },
  {
    name: 'events of another type',
    apply: auditFault({
      kind: 'json',
      body: { events: [{ event_type: 'token_issued', detail: 'x' }], total: 1 },
    }),
    reason: 'bad_page',
  },
  {
    name: 'truncated JSON',
    apply: auditFault({ kind: 'raw', body: '{"events":[{"event_type":"token_rev' }),
    reason: 'not_json',
  },
  {
    name: 'the token function returns a bad token',
    apply: ({ setToken }) => {
      setToken(() => 'not-a-token')
      return () => setToken(undefined)
    },
    reason: 'status_401',
  },
  {
    name: 'the token function returns an expired admin token',
    apply: ({ broker, setToken }) => {
      const now = Math.floor(Date.now() / 1000)
      const expired = broker.signToken({
        iss: '',
        sub: 'admin',
        exp: now - 5,
        nbf: now - 305,
        iat: now - 305,
        jti: 'e'.repeat(32),
        scope: ['admin:launch-tokens:*', 'admin:revoke:*', 'admin:audit:*'],
      })
      setToken(() => expired)
      return () => setToken(undefined)
    },
    reason: 'status_401',
  },
  {
    name: 'the token function returns a token without admin:audit:*',
    apply: async ({ broker, setToken }) => {
      const a = await agentOf(broker, 'no-audit-scope')
      setToken(() => a.accessToken)
      return () => setToken(undefined)
    },
    reason: 'status_403',
  },
  {
    name: 'the token function throws',
    apply: ({ setToken }) => {
      setToken(() => {
        throw new Error('vault unreachable')
      })
      return () => setToken(undefined)
    },
    reason: 'token_function_failed',
  },
]

/** In local mode the fallback does not apply: a few failures show the feed's state is reported. */
const LOCAL_FAILURES = new Set([
  'down (connection reset)',
  'garbage (HTML 200)',
  'the token function returns a bad token',
])

const FAULT_ROTATION: Record<Mode, AdapterName> = { remote: 'express', local: 'koa', hybrid: 'fastify' }

/** One mode's service for the failure tests: its own broker, so the modes run side by side. */
interface FaultRig extends FaultContext {
  readonly mode: Mode
  readonly app: RunningApp
  close(): Promise<void>
}

async function faultRig(mode: Mode): Promise<FaultRig> {
  const broker = await startDevBroker()
  let tokenFn: (() => string | Promise<string>) | undefined
  const app = await buildApp(
    FAULT_ROTATION[mode],
    feedOptions(
      mode,
      broker,
      { ...FAULT_FEED, token: () => (tokenFn ?? (() => broker.adminToken()))() },
      { timeoutMs: 500 },
    ),
  )
  await synced(app.verifier)
  return {
    mode,
    broker,
    app,
    setToken(fn) {
      tokenFn = fn
    },
    async close() {
      await app.close()
      await broker.close()
    },
  }
}

/** Break the feed, check what the service does meanwhile, mend it, check it catches up. */
async function exerciseFailure(rig: FaultRig, failure: Failure): Promise<void> {
  const { app, broker, mode } = rig
  const victim = await agentOf(broker, 'victim')
  const bystander = await agentOf(broker, 'bystander')
  await warm(app, victim.accessToken)
  await warm(app, bystander.accessToken)
  const warmedAt = performance.now()
  const mend = await failure.apply(rig)
  try {
    await vi.waitFor(
      () => {
        const s = feedStats(app.verifier)
        expect(s.current, mode).toBe(false)
        expect(s.lastFailure, mode).toBe(failure.reason)
      },
      { timeout: 5000, interval: 10 },
    )
    // A revocation the feed cannot see.
    await broker.revoke('token', jtiOf(victim.accessToken))
    await sleep(Math.max(0, LAGGING_TTL_MS + 50 - (performance.now() - warmedAt)))
    // Forged tokens are refused whatever the feed says.
    expect((await call(app, forgeSignature(bystander.accessToken))).status, mode).toBe(401)
    broker.resetStats()
    if (asksBroker(mode)) {
      // Answers older than laggingCacheTtlMs are asked again: the revocation is refused by the broker.
      expect((await call(app, victim.accessToken)).status, mode).toBe(401)
      expect(await call(app, bystander.accessToken), mode).toEqual({ status: 200, source: 'broker' })
      expect(broker.stats.validateCalls, mode).toBe(2)
      expect(await call(app, bystander.accessToken), mode).toEqual({ status: 200, source: 'cache' })
    } else {
      // LIMITATION: local mode has no broker to ask; the cached answer stands until the feed is back.
      expect(await call(app, victim.accessToken), mode).toEqual({ status: 200, source: 'cache' })
    }
    expect(feedStats(app.verifier).failedPolls, mode).toBeGreaterThan(0)
  } finally {
    mend()
  }
  // Back: the feed reads what it missed and refuses the victim by itself.
  await vi.waitFor(() => expect(feedStats(app.verifier).current, mode).toBe(true), {
    timeout: 5000,
    interval: 10,
  })
  await afterFreshPoll(app.verifier)
  expect(feedStats(app.verifier).lastFailure, mode).toBeUndefined()
  broker.resetStats()
  expect((await call(app, victim.accessToken)).status, mode).toBe(401)
  expect(broker.stats.validateCalls, mode).toBe(0)
}

describe('audit log failures (remote, local and hybrid side by side)', () => {
  const rigs: Partial<Record<Mode, FaultRig>> = {}
  beforeAll(async () => {
    for (const mode of MODES) rigs[mode] = await faultRig(mode)
  })
  afterAll(async () => {
    for (const rig of Object.values(rigs)) await rig?.close()
  })

  it.each(FAILURES)('$name', async (failure) => {
    const modes = MODES.filter((m) => m !== 'local' || LOCAL_FAILURES.has(failure.name))
    const results = await Promise.allSettled(modes.map((m) => exerciseFailure(rigs[m]!, failure)))
    for (const r of results) if (r.status === 'rejected') throw r.reason
  })

  it('a lying audit log (empty) cannot un-revoke: predicates only grow', async () => {
    const { app, broker } = rigs.remote!
    const a = await agentOf(broker, 'unrevoke')
    await warm(app, a.accessToken)
    await broker.revoke('agent', a.agentId)
    await afterFreshPoll(app.verifier)
    broker.fault({ kind: 'json', body: { events: [], total: 0 }, paths: [AUDIT_EVENTS_PATH] })
    try {
      await afterFreshPoll(app.verifier)
      broker.resetStats()
      expect((await call(app, a.accessToken)).status).toBe(401)
      expect(broker.stats.validateCalls).toBe(0)
    } finally {
      broker.fault(null)
    }
    await afterFreshPoll(app.verifier)
    expect((await call(app, a.accessToken)).status).toBe(401)
  })
})

describe('the feed reading with a delegated audit token (text), renewed and then revoked', () => {
  let broker: DevBroker
  let app: RunningApp
  let reader: CreatedAgent
  beforeAll(async () => {
    broker = await startDevBroker()
    reader = await agentOf(broker, 'audit-reader')
  })
  afterAll(async () => {
    await app?.close()
    await broker?.close()
  })

  it('is renewed at 75 % of its lifetime and outlives it; once its agent is revoked the feed lags and the broker is asked', async () => {
    const audit = await broker.delegate(await broker.adminToken(), {
      to: reader.agentId,
      scope: ['admin:audit:*'],
      ttl: 2,
    })
    app = await buildApp(
      'koa',
      feedOptions('hybrid', broker, {
        token: audit.accessToken,
        pollIntervalMs: 250,
        maxLagMs: 750,
        laggingCacheTtlMs: LAGGING_TTL_MS,
      }),
    )
    await synced(app.verifier)
    // 2 s lifetime: renewed at 1.5 s (and 3 s); still reading at 3.5 s
    await sleep(3500)
    const s = feedStats(app.verifier)
    expect(s.credentialRenewals).toBeGreaterThanOrEqual(1)
    expect(s).toMatchObject({ current: true, lastFailure: undefined })
    expect((await broker.validate(audit.accessToken)).valid).toBe(false) // the renewal killed it
    const victim = await agentOf(broker, 'victim')
    await warm(app, victim.accessToken)
    const warmedAt = performance.now()
    await broker.revoke('agent', reader.agentId)
    await vi.waitFor(
      () => {
        const f = feedStats(app.verifier)
        expect(f.current).toBe(false)
        expect(f.lastFailure).toBe('status_401')
      },
      { timeout: 5000, interval: 10 },
    )
    await broker.revoke('token', jtiOf(victim.accessToken))
    await sleep(Math.max(0, LAGGING_TTL_MS + 50 - (performance.now() - warmedAt)))
    broker.resetStats()
    expect((await call(app, victim.accessToken)).status).toBe(401)
    expect(broker.stats.validateCalls).toBe(1)
  })
})

describe('the feed logging in with the admin secret', () => {
  it('logs in once and reads the log; the admin-auth rate limit is not touched per poll', async () => {
    const broker = await startDevBroker()
    const a = await agentOf(broker, 'secret-login')
    await broker.adminToken() // the helper's own login (for revoke), before counting
    const app = await buildApp(
      'express',
      feedOptions('local', broker, {
        token: undefined,
        adminSecret: broker.adminSecret,
        pollIntervalMs: 100,
      }),
    )
    try {
      await synced(app.verifier)
      broker.resetStats()
      await warm(app, a.accessToken)
      await broker.revoke('agent', a.agentId)
      await afterFreshPoll(app.verifier)
      expect((await call(app, a.accessToken)).status).toBe(401)
      await sleep(500)
      expect(feedStats(app.verifier).credentialRenewals).toBe(1)
      expect(broker.stats.requests['/v1/admin/auth'] ?? 0).toBe(0)
      expect(broker.stats.requests[AUDIT_EVENTS_PATH]).toBeGreaterThan(10)
    } finally {
      await app.close()
      await broker.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// Broker restarts
// ---------------------------------------------------------------------------------------------------

const RESTART_ROTATION: Record<Mode, AdapterName> = { remote: 'koa', local: 'fastify', hybrid: 'express' }

describe.each(MODES)('broker restarts in %s mode', (mode) => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(async () => broker?.close())

  it('restart({ stopFirst: true }): the feed keeps working and sees later revocations', async () => {
    const victim = await agentOf(broker, 'victim')
    const bystander = await agentOf(broker, 'bystander')
    const app = await buildApp(RESTART_ROTATION[mode], feedOptions(mode, broker, { pollIntervalMs: 100 }))
    try {
      await synced(app.verifier)
      await warm(app, victim.accessToken)
      await warm(app, bystander.accessToken)
      await broker.restart({ stopFirst: true })
      await afterFreshPoll(app.verifier)
      await broker.revoke('token', jtiOf(victim.accessToken))
      await afterFreshPoll(app.verifier)
      broker.resetStats()
      expect((await call(app, victim.accessToken)).status).toBe(401)
      expect(await call(app, bystander.accessToken)).toEqual({ status: 200, source: 'cache' })
      expect(broker.stats.validateCalls).toBe(0)
      expect(feedStats(app.verifier)).toMatchObject({ current: true, lastFailure: undefined })
    } finally {
      await app.close()
    }
  })

  it('a new verifier after a restart (memory state dropped) reads the persisted history and refuses an earlier revocation', async () => {
    const victim = await agentOf(broker, 'victim')
    const bystander = await agentOf(broker, 'bystander')
    await broker.revoke('agent', victim.agentId)
    await broker.restart({ dropMemoryState: true })
    const app = await buildApp(RESTART_ROTATION[mode], feedOptions(mode, broker, { pollIntervalMs: 100 }))
    try {
      await synced(app.verifier)
      broker.resetStats()
      expect((await call(app, victim.accessToken)).status).toBe(401)
      expect(broker.stats.validateCalls).toBe(0) // the feed refused it, not the broker
      expect((await call(app, bystander.accessToken)).status).toBe(200)
      expect(feedStats(app.verifier).predicates.subjects).toBeGreaterThanOrEqual(1)
    } finally {
      await app.close()
    }
  })

  if (mode === 'local') {
    it('local mode: the first request waits for the history (a cold verifier does not accept a revoked token)', async () => {
      const victim = await agentOf(broker, 'victim')
      await broker.revoke('token', jtiOf(victim.accessToken))
      const app = await buildApp('express', feedOptions(mode, broker))
      try {
        expect((await call(app, victim.accessToken)).status).toBe(401)
      } finally {
        await app.close()
      }
    })
  }
})

// ---------------------------------------------------------------------------------------------------
// Large histories
// ---------------------------------------------------------------------------------------------------

describe('paging past 1,000 events', () => {
  it('2,500 seeded revocations and a real one: a new verifier refuses the real one, in every mode', async () => {
    const broker = await startDevBroker()
    try {
      const victim = await agentOf(broker, 'victim')
      const bystander = await agentOf(broker, 'bystander')
      broker.seedRevocations(1200)
      await broker.revoke('token', jtiOf(victim.accessToken))
      broker.seedRevocations(1300)
      expect(broker.auditEvents({ event_type: 'token_revoked' })).toHaveLength(2501)
      for (const [i, mode] of MODES.entries()) {
        const app = await buildApp(ADAPTERS[i]!, feedOptions(mode, broker))
        try {
          await synced(app.verifier)
          expect(feedStats(app.verifier).predicates.jtis).toBe(2501)
          broker.resetStats()
          expect((await call(app, victim.accessToken)).status).toBe(401)
          expect(broker.stats.validateCalls).toBe(0)
          expect((await call(app, bystander.accessToken)).status).toBe(200)
        } finally {
          await app.close()
        }
      }
    } finally {
      await broker.close()
    }
  })
})

describe('100,000 revocations at start', () => {
  it('a new verifier syncs, and refuses a seeded target', async () => {
    const broker = await startDevBroker()
    try {
      const victim = await agentOf(broker, 'victim')
      const bystander = await agentOf(broker, 'bystander')
      const seeded = performance.now()
      broker.seedRevocations(50_000)
      broker.seedRevocations([jtiOf(victim.accessToken)])
      broker.seedRevocations(49_999)
      const seedMs = performance.now() - seeded
      collectGarbage()
      const heapBefore = process.memoryUsage().heapUsed
      const started = performance.now()
      const app = await buildApp('fastify', feedOptions('local', broker))
      try {
        await synced(app.verifier)
        const syncMs = performance.now() - started
        collectGarbage()
        const heapGrowth = process.memoryUsage().heapUsed - heapBefore
        console.log(
          `[feed] 100,000 revocations: seeded in ${seedMs.toFixed(0)} ms; synced in ${syncMs.toFixed(0)} ms; ` +
            `heap +${(heapGrowth / 1024 / 1024).toFixed(1)} MiB ` +
            `(heapUsed; ${typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'retained, after a full GC' : 'no forced GC: run with NODE_OPTIONS=--expose-gc for retained memory'})`,
        )
        expect(syncMs).toBeLessThan(30_000)
        expect(feedStats(app.verifier).predicates.jtis).toBe(100_000)
        expect((await call(app, victim.accessToken)).status).toBe(401)
        expect((await call(app, bystander.accessToken)).status).toBe(200)
        // polls go on over the large log
        await afterFreshPoll(app.verifier)
        expect(feedStats(app.verifier).current).toBe(true)
      } finally {
        await app.close()
      }
    } finally {
      await broker.close()
    }
  }, 60_000)
})
