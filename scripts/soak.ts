/**
 * Load and fault run (issue 6): `npm run soak`: a plain run of `SOAK_SECONDS` (default 60) and a
 * feed run of `SOAK_FEED_SECONDS` (default 1.5 × `SOAK_SECONDS`); `SOAK_RUNS=plain` or
 * `SOAK_RUNS=feed` runs only one.
 *
 * Each run starts a development broker and the same protected service on Express, Koa and Fastify
 * (test/adapters/apps.ts, remote mode), all on 127.0.0.1, and drives mixed traffic through the three
 * adapters concurrently for a fixed time while:
 * - tokens are revoked at random levels (token, agent, task, chain) and released, and the expected
 *   outcome of every later request is derived from the broker's revocation predicates (contract §8);
 * - the broker is stopped and restarted twice (expect 503, or a cached 200 within the TTL).
 *
 * The two runs:
 * - "plain": `cacheTtlMs` 1000, no revocation feed. A revoked token may pass for
 *   `cacheTtlMs + SLACK_MS` after its revocation returned.
 * - "feed": `cacheTtlMs` 60 000 and `revocationFeed: { token: () => broker.adminToken(),
 *   pollIntervalMs: 1000 }`; besides the broker outages, the audit endpoint alone fails three times
 *   for 4.5 s (503, hanging, connection reset: `fault({ paths: [AUDIT_EVENTS_PATH] })`),
 *   longer than `maxLagMs`, and revocations go on during those outages. A revoked token may pass for
 *   `pollIntervalMs + FEED_SLACK_MS` while the feed is current (no outage from the revocation to that
 *   bound), else for `maxLagMs + laggingCacheTtlMs + FEED_SLACK_MS` (the feed lags, cached answers
 *   older than `laggingCacheTtlMs` are asked again). While the feed surely lags, a cache hit must be
 *   younger than `laggingCacheTtlMs` (+ slack).
 *
 * Every request has a known expected outcome. A wrong accept is an authenticated answer (200, or a
 * 403 — which means the token was accepted) for a token that must be refused: forged, expired,
 * foreign, garbage, admin, or revoked longer than the run's bound before the request was sent.
 * Exits 1 when there is any wrong accept in either run, else 0 (2 if a run itself failed).
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Pool } from 'undici'
import { DEFAULTS } from '../src/core/options.js'
import {
  AUDIT_EVENTS_PATH,
  type CreatedAgent,
  type DevBroker,
  type FaultMode,
  startDevBroker,
} from '../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../test/adapters/apps.js'
import { forgeSignature } from '../test/helpers/tokens.js'
import { percentile, pick, sleep } from './soak-support.js'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
if (!Number.isFinite(SECONDS) || SECONDS < 10) throw new Error('SOAK_SECONDS must be a number ≥ 10')
/** The feed run spends much of its time in or around outages: it runs longer to measure both bounds. */
const FEED_SECONDS = Number(process.env.SOAK_FEED_SECONDS ?? Math.round(1.5 * SECONDS))
if (!Number.isFinite(FEED_SECONDS) || FEED_SECONDS < 10)
  throw new Error('SOAK_FEED_SECONDS must be a number ≥ 10')
const RUNS = (process.env.SOAK_RUNS ?? 'plain,feed').split(',').filter(Boolean) as Mode[]
if (RUNS.length === 0 || RUNS.some((r) => r !== 'plain' && r !== 'feed'))
  throw new Error('SOAK_RUNS must list plain and/or feed')
/** Broker round trip + request in flight: how far past the TTL a revoked token may still pass. */
const SLACK_MS = 250
/** The verifier's per-call timeout (broker validate and each audit query). */
const TIMEOUT_MS = 500
/** The feed run's settings. */
const FEED_POLL_MS = 1000
const FEED_MAX_LAG_MS = 3 * FEED_POLL_MS
const FEED_LAGGING_TTL_MS = 5000
/**
 * Past the feed's bound: the longest a good poll can take (each of its calls is cut at TIMEOUT_MS)
 * plus a request in flight and timer delay (SLACK_MS).
 */
const FEED_SLACK_MS = TIMEOUT_MS + SLACK_MS
/** Revoked while the feed is current: refused once the next poll has been applied. */
const FEED_CURRENT_BOUND_MS = FEED_POLL_MS + FEED_SLACK_MS
/** Revoked while the feed lags (or about to): refused by the short cache bound (remote mode). */
const FEED_LAGGING_BOUND_MS = FEED_MAX_LAG_MS + FEED_LAGGING_TTL_MS + FEED_SLACK_MS
/** After an outage ends, the feed's first poll may still fail (a dead keep-alive socket, a hung call). */
const FEED_RECOVERY_MS = 2 * FEED_POLL_MS + TIMEOUT_MS
/**
 * After a restart, connections re-establish and the circuit breaker (opened by the outage) lets its
 * next probe through at most one cooldown later: 503s this long after it are still "outage".
 */
const OUTAGE_GRACE_MS = DEFAULTS.breakerCooldownMs + 1000
const WORKERS_PER_ADAPTER = 6
const REVOKE_EVERY_MS = 900
const NEW_AGENT_EVERY_MS = 1200

type Level = 'token' | 'agent' | 'task' | 'chain' | 'release'
type Mode = 'plain' | 'feed'
type BoundKind = 'ttl' | 'current' | 'lagging'

interface Outage {
  readonly from: number
  to: number | null
}

interface PoolToken {
  readonly token: string
  readonly jti: string
  readonly sub: string
  readonly task: string
  readonly chainRoot: string | null
  /** The customer id whose `read:data:customer-<id>` scope it holds. */
  readonly customer: string
  readonly createdAt: number
  /** A revocation that matches it was requested at … (ms, monotonic). */
  pendingSince: number | null
  /** … and completed at (ms): from here + the run's bound, an accept is a wrong accept. */
  revokedAt: number | null
  level: Level | null
  /** Which bound applies to it (feed run: decided once the bound has passed). */
  bound: BoundKind | null
}

interface Revocation {
  readonly level: Level
  readonly target: string
  readonly startedAt: number
  endedAt: number | null
}

interface AdapterStats {
  requests: number
  byStatus: Record<string, number>
  wrongAccepts: number
  wrongRefusals: number
  unclassified: number
  outage503: number
  outageCached200: number
  cacheBeyondTtl: number
  /** feed run: cache hits older than laggingCacheTtlMs (+ slack) while the feed surely lagged */
  cacheBeyondLagTtl: number
  scopeMistakes: number
  /** per revoked token, by bound: first 401 after the revocation completed (ms after it) */
  revocationDelays: Record<BoundKind, number[]>
  /** per revoked token, by bound: latest accept after the revocation completed (ms after it) */
  staleAccepts: Record<BoundKind, number[]>
  /** per bound: revoked tokens never seen refused, or first seen refused after the bound */
  notRefusedInBound: Record<BoundKind, number>
  examples: string[]
}

const now = () => performance.now()

/** A real `gc()` even without `--expose-gc`, so heap figures are live objects, not garbage. */
function getGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc
  if (existing) return existing
  setFlagsFromString('--expose_gc')
  return runInNewContext('gc') as () => void
}
const gc = getGc()

function newStats(): AdapterStats {
  return {
    requests: 0,
    byStatus: {},
    wrongAccepts: 0,
    wrongRefusals: 0,
    unclassified: 0,
    outage503: 0,
    outageCached200: 0,
    cacheBeyondTtl: 0,
    cacheBeyondLagTtl: 0,
    scopeMistakes: 0,
    revocationDelays: { ttl: [], current: [], lagging: [] },
    staleAccepts: { ttl: [], current: [], lagging: [] },
    notRefusedInBound: { ttl: 0, current: 0, lagging: 0 },
    examples: [],
  }
}

function claimsOf(token: string): { jti: string; sub: string; task_id?: string } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
}

interface RunResult {
  readonly mode: Mode
  readonly wrongAccepts: number
  readonly unclassified: number
  readonly notRefusedInBound: number
}

async function soakRun(mode: Mode): Promise<RunResult> {
  const t0 = now()
  const feedRun = mode === 'feed'
  const seconds = feedRun ? FEED_SECONDS : SECONDS
  const DURATION_MS = seconds * 1000
  const CACHE_TTL_MS = feedRun ? 60_000 : 1000
  const broker: DevBroker = await startDevBroker()
  const other = await startDevBroker({ sampleApp: false })
  const apps = {} as Record<AdapterName, RunningApp>
  const pools = {} as Record<AdapterName, Pool>
  for (const a of ADAPTERS) {
    apps[a] = await buildApp(a, {
      broker: broker.url,
      cacheTtlMs: CACHE_TTL_MS,
      timeoutMs: TIMEOUT_MS,
      ...(feedRun
        ? {
            revocationFeed: {
              token: () => broker.adminToken(),
              pollIntervalMs: FEED_POLL_MS,
              maxLagMs: FEED_MAX_LAG_MS,
              laggingCacheTtlMs: FEED_LAGGING_TTL_MS,
            },
          }
        : {}),
    })
    pools[a] = new Pool(apps[a].url, { connections: WORKERS_PER_ADAPTER })
  }

  // ---- token population ------------------------------------------------------------------------
  const tokens: PoolToken[] = []
  const revocations: Revocation[] = []
  const agents: CreatedAgent[] = []
  let taskSeq = 0
  const ttl = seconds + 600

  const matches = (r: Revocation, t: PoolToken) =>
    r.level === 'token' || r.level === 'release'
      ? t.jti === r.target
      : r.level === 'agent'
        ? t.sub === r.target
        : r.level === 'task'
          ? t.task !== '' && t.task === r.target
          : t.chainRoot === r.target

  function add(token: string, customer: string, chainRoot: string | null): PoolToken {
    const c = claimsOf(token)
    const t: PoolToken = {
      token,
      jti: c.jti,
      sub: c.sub,
      task: c.task_id ?? '',
      chainRoot,
      customer,
      createdAt: now(),
      pendingSince: null,
      revokedAt: null,
      level: null,
      bound: null,
    }
    // revocations are permanent predicates: a token born revoked is never acceptable
    for (const r of revocations) {
      if (matches(r, t)) {
        t.pendingSince = -Infinity
        t.revokedAt = -Infinity
        t.level = r.level
      }
    }
    tokens.push(t)
    return t
  }

  async function newAgent(): Promise<void> {
    const n = taskSeq++
    const customer = String(100 + n)
    // tasks are shared by pairs of agents, so task revocation kills two agents at once
    const agent = await broker.createAgent({
      orchId: `orch-${n % 3}`,
      taskId: `task-${Math.floor(n / 2)}`,
      scope: [`read:data:customer-${customer}`, 'read:data:customer-7'],
      maxTtl: ttl,
    })
    agents.push(agent)
    add(agent.accessToken, customer, null)
    // every third agent delegates to a previous one: a chain rooted at this agent
    if (n % 3 === 2 && agents.length > 1) {
      const to = agents[agents.length - 2]!
      const d = await broker.delegate(agent.accessToken, {
        to: to.agentId,
        scope: [`read:data:customer-${customer}`],
        ttl,
      })
      add(d.accessToken, customer, agent.agentId)
    }
  }

  for (let i = 0; i < 18; i++) await newAgent()

  // tokens that must always be refused
  const nowS = Math.floor(Date.now() / 1000)
  const template = claimsOf(tokens[0]!.token)
  const refused: { kind: string; token: string }[] = [
    { kind: 'forged', token: forgeSignature(tokens[0]!.token) },
    { kind: 'forged', token: forgeSignature(tokens[1]!.token) },
    { kind: 'forged', token: forgeSignature(tokens[2]!.token) },
    {
      kind: 'expired',
      token: broker.signToken({
        ...template,
        exp: nowS - 5,
        nbf: nowS - 60,
        iat: nowS - 60,
        jti: 'expired-1',
      }),
    },
    { kind: 'foreign', token: other.signToken({ ...template, exp: nowS + ttl, jti: 'foreign-1' }) },
    { kind: 'garbage', token: 'abc.def' },
    { kind: 'admin', token: await broker.adminToken() },
  ]
  await other.close()

  // ---- schedule ----------------------------------------------------------------------------------
  const start = now()
  spanOrigin = start
  // the whole run (setup included) takes SOAK_SECONDS; half a second is kept for the teardown
  const runMs = Math.max(5000, t0 + DURATION_MS - 500 - start)
  const deadline = start + runMs
  const outages: Outage[] = []
  let brokerUp = true
  const outagePlan = [0.3, 0.65].map((f) => ({
    at: start + f * runMs,
    for: Math.min(5000, 0.1 * runMs),
  }))
  const inOutage = (sendAt: number, recvAt: number) =>
    outages.some((o) => recvAt >= o.from && (o.to === null || sendAt <= o.to + OUTAGE_GRACE_MS))
  /** feed run: outages of the audit endpoint alone, longer than maxLagMs, clear of the broker's */
  const auditOutages: Outage[] = []
  const auditFaults: FaultMode[] = [
    { kind: 'status', status: 503, paths: [AUDIT_EVENTS_PATH] },
    { kind: 'hang', paths: [AUDIT_EVENTS_PATH] },
    { kind: 'down', paths: [AUDIT_EVENTS_PATH] },
  ]
  const auditPlan = feedRun
    ? [0.12, 0.47, 0.82].map((f, i) => ({
        at: start + f * runMs,
        // long enough for the feed to lag (maxLagMs) and fall back to the short cache bound
        for: Math.min(0.1 * runMs, FEED_MAX_LAG_MS + 1500),
        mode: auditFaults[i]!,
      }))
    : []
  let auditUp = true

  /**
   * Feed run: the bound of a revocation completed at `revokedAt` — `current` when no outage (of the
   * broker or of its audit endpoint, plus the feed's recovery after it) touches the time from the
   * revocation to the current bound, else `lagging`. Call it once that bound has passed (outages
   * starting before then are known).
   */
  function feedBoundOf(revokedAt: number): BoundKind {
    const end = revokedAt + FEED_CURRENT_BOUND_MS
    const touched = [...outages, ...auditOutages].some(
      (o) => o.from <= end && (o.to === null || o.to + FEED_RECOVERY_MS >= revokedAt),
    )
    return touched ? 'lagging' : 'current'
  }
  const boundMs = (k: BoundKind) =>
    k === 'ttl' ? CACHE_TTL_MS + SLACK_MS : k === 'current' ? FEED_CURRENT_BOUND_MS : FEED_LAGGING_BOUND_MS
  /** The bound of a revoked token, `null` while it cannot be decided yet (feed run, current bound not passed). */
  function boundOf(t: PoolToken, at: number): BoundKind | null {
    if (t.bound !== null) return t.bound
    if (!feedRun) return 'ttl'
    if (t.revokedAt === null) return null
    if (!Number.isFinite(t.revokedAt)) return 'current'
    if (at <= t.revokedAt + FEED_CURRENT_BOUND_MS) return null
    t.bound = feedBoundOf(t.revokedAt)
    return t.bound
  }
  /** Whether an accept of `t` sent at `sendAt` is a wrong accept (revoked longer than its bound before). */
  function beyondBound(t: PoolToken, sendAt: number): boolean {
    if (t.revokedAt === null || t.level === null) return false
    if (sendAt <= t.revokedAt + FEED_CURRENT_BOUND_MS && feedRun) return false
    const k = boundOf(t, sendAt)
    return k !== null && sendAt > t.revokedAt + boundMs(k)
  }
  /**
   * Feed run: times at which the feed surely lags (no good poll for longer than maxLagMs): from
   * maxLagMs (+ slack) into an outage of the broker or of its audit endpoint, to its end (− slack).
   */
  const surelyLagging = (at: number) =>
    feedRun &&
    [...outages, ...auditOutages].some(
      (o) => at >= o.from + FEED_MAX_LAG_MS + SLACK_MS && (o.to === null || at <= o.to - SLACK_MS),
    )

  const stats = Object.fromEntries(ADAPTERS.map((a) => [a, newStats()])) as Record<AdapterName, AdapterStats>
  /**
   * per adapter, per token: send times of broker-sourced 200s (a cache entry is stored between the
   * send and the receipt of such a request) and of cache hits; checked at the end, because a cache
   * hit can be answered before the broker-sourced request that filled the entry is.
   */
  const brokerOkAt = Object.fromEntries(ADAPTERS.map((a) => [a, new Map<string, number[]>()])) as Record<
    AdapterName,
    Map<string, number[]>
  >
  let cacheHits: {
    adapter: AdapterName
    jti: string
    sendAt: number
    path: string
    lagging: boolean
  }[] = []

  /**
   * A cache hit must follow a broker-sourced answer for the same token by at most the TTL (+ slack),
   * and, while the feed surely lags, by at most laggingCacheTtlMs (+ slack).
   * Checked for hits sent before `upTo` (every answer that could have filled their entry has been
   * received by then); the bookkeeping is pruned so that it does not grow with the run.
   */
  function checkCacheHits(upTo: number): void {
    const keep: typeof cacheHits = []
    for (const h of cacheHits) {
      if (h.sendAt >= upTo) {
        keep.push(h)
        continue
      }
      const bases = brokerOkAt[h.adapter].get(h.jti) ?? []
      let base = -Infinity
      for (const b of bases) if (b <= h.sendAt + SLACK_MS && b > base) base = b
      if (h.sendAt - base > CACHE_TTL_MS + SLACK_MS) {
        const s = stats[h.adapter]
        s.cacheBeyondTtl++
        if (s.examples.length < 8)
          s.examples.push(
            `cache hit ${Number.isFinite(base) ? `${Math.round(h.sendAt - base)} ms after the broker answer` : 'without a broker answer'}: ${h.path}`,
          )
      } else if (h.lagging && h.sendAt - base > FEED_LAGGING_TTL_MS + SLACK_MS) {
        const s = stats[h.adapter]
        s.cacheBeyondLagTtl++
        if (s.examples.length < 8)
          s.examples.push(
            `cache hit ${Math.round(h.sendAt - base)} ms after the broker answer while the feed lagged: ${h.path}`,
          )
      }
    }
    cacheHits = keep
    if (Number.isFinite(upTo)) {
      // bases older than TTL + slack before the oldest unchecked hit can no longer matter (keep one)
      const horizon = upTo - CACHE_TTL_MS - 2 * SLACK_MS - 2000
      for (const m of Object.values(brokerOkAt))
        for (const [k, list] of m) {
          const recent = list.filter((b) => b >= horizon)
          m.set(k, recent.length > 0 ? recent : list.slice(-1))
        }
    }
  }
  const checkTimer = setInterval(() => checkCacheHits(now() - 2000), 1000)
  /** per adapter, per revoked token: measured */
  const firstRefusal = Object.fromEntries(ADAPTERS.map((a) => [a, new Map<string, number>()])) as Record<
    AdapterName,
    Map<string, number>
  >
  const lastAccept = Object.fromEntries(ADAPTERS.map((a) => [a, new Map<string, number>()])) as Record<
    AdapterName,
    Map<string, number>
  >

  let revocationCount = 0
  const revocationLevels: Record<string, number> = {}

  async function revokeSomething(): Promise<void> {
    const live = tokens.filter((t) => t.pendingSince === null)
    if (live.length < 6) return
    const level = pick<Level>(['token', 'agent', 'task', 'chain', 'release'])
    let target: string
    const victim = pick(live)
    if (level === 'token' || level === 'release') target = victim.jti
    else if (level === 'agent') target = victim.sub
    else if (level === 'task') target = victim.task
    else {
      const rooted = live.filter((t) => t.chainRoot !== null)
      if (rooted.length === 0) return
      target = pick(rooted).chainRoot!
    }
    const r: Revocation = { level, target, startedAt: now(), endedAt: null }
    revocations.push(r)
    const hit = tokens.filter((t) => t.pendingSince === null && matches(r, t))
    for (const t of hit) t.pendingSince = r.startedAt
    try {
      if (level === 'release') await broker.release(victim.token)
      else await broker.revoke(level, target)
    } catch (err) {
      // the broker went down mid-call: we cannot know whether it applied; keep it pending forever
      // (accepts stay allowed for pending tokens, refusals are fine), and never count it
      for (const t of hit) t.level = null
      console.error(`revoke ${level} failed (${(err as Error).message}); left pending`)
      return
    }
    r.endedAt = now()
    for (const t of hit) {
      t.revokedAt = r.endedAt
      t.level = level
    }
    revocationCount++
    revocationLevels[level] = (revocationLevels[level] ?? 0) + 1
  }

  // ---- traffic -----------------------------------------------------------------------------------
  async function one(adapter: AdapterName): Promise<void> {
    const s = stats[adapter]
    const roll = Math.random()
    let token: string
    let poolToken: PoolToken | null = null
    let mustRefuse: string | null = null
    let path = '/me'
    let expectForbidden = false
    if (roll < 0.72) {
      const recentMs = feedRun ? FEED_LAGGING_BOUND_MS + 1000 : 3000
      const recent = tokens.filter((t) => t.revokedAt !== null && t.revokedAt > now() - recentMs)
      poolToken = recent.length > 0 && Math.random() < 0.4 ? pick(recent) : pick(tokens)
      token = poolToken.token
      if (Math.random() < 0.3) {
        const own = Math.random() < 0.5
        path = `/customers/${own ? poolToken.customer : '999'}`
        expectForbidden = !own
      }
    } else {
      const r = pick(refused)
      token = r.token
      mustRefuse = r.kind
      if (Math.random() < 0.3) path = '/customers/7'
    }
    const sendAt = now()
    let status: number
    let source: string | undefined
    try {
      const res = await pools[adapter].request({
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      })
      status = res.statusCode
      const text = await res.body.text()
      if (status === 200) source = (JSON.parse(text) as { source?: string }).source
    } catch (err) {
      s.unclassified++
      if (s.examples.length < 5) s.examples.push(`client error: ${(err as Error).message}`)
      return
    }
    const recvAt = now()
    s.requests++
    s.byStatus[status] = (s.byStatus[status] ?? 0) + 1
    const accepted = status === 200 || status === 403
    const outage = inOutage(sendAt, recvAt)
    const note = (what: string) => {
      if (s.examples.length < 8)
        s.examples.push(`${what}: ${path} → ${status} at ${((sendAt - start) / 1000).toFixed(2)}s`)
    }

    if (mustRefuse !== null) {
      if (accepted) {
        s.wrongAccepts++
        note(`WRONG ACCEPT (${mustRefuse})`)
      } else if (status === 503) {
        if (outage) s.outage503++
        else {
          s.wrongRefusals++
          note(`503 outside an outage (${mustRefuse})`)
        }
      } else if (status !== 401) {
        s.unclassified++
        note(`unexpected (${mustRefuse})`)
      }
      return
    }

    const t = poolToken!
    if (accepted) {
      if (beyondBound(t, sendAt)) {
        s.wrongAccepts++
        note(
          `WRONG ACCEPT (revoked ${t.level} ${Math.round(sendAt - t.revokedAt!)} ms before, bound ${t.bound ?? 'ttl'})`,
        )
      }
      if (t.revokedAt !== null && Number.isFinite(t.revokedAt) && sendAt > t.revokedAt) {
        const prev = lastAccept[adapter].get(t.jti) ?? 0
        lastAccept[adapter].set(t.jti, Math.max(prev, sendAt - t.revokedAt))
      }
      if (status === 200 && expectForbidden) {
        s.scopeMistakes++
        s.wrongAccepts++
        note('WRONG ACCEPT (scope)')
      }
      if (status === 403 && !expectForbidden) {
        s.scopeMistakes++
        note('403 for an own scope')
      }
      // A 403 carries no body `source`: it may have been verified by the broker, so it counts as a
      // possible base too (this can only hide, never invent, a cache-age violation).
      if (source === 'broker' || status === 403) {
        const list = brokerOkAt[adapter].get(t.jti) ?? []
        list.push(sendAt)
        brokerOkAt[adapter].set(t.jti, list)
      }
      if (source === 'cache') {
        cacheHits.push({ adapter, jti: t.jti, sendAt, path, lagging: surelyLagging(sendAt) })
        if (outage) s.outageCached200++
      }
    } else if (status === 401) {
      if (t.pendingSince === null || t.pendingSince > recvAt) {
        s.wrongRefusals++
        note('401 for a live token')
      } else if (t.revokedAt !== null && t.revokedAt !== -Infinity && sendAt >= t.revokedAt) {
        if (!firstRefusal[adapter].has(t.jti)) firstRefusal[adapter].set(t.jti, recvAt - t.revokedAt)
      }
    } else if (status === 503) {
      if (outage) s.outage503++
      else {
        s.wrongRefusals++
        note('503 outside an outage')
      }
    } else {
      s.unclassified++
      note('unexpected status')
    }
  }

  async function worker(adapter: AdapterName): Promise<void> {
    while (now() < deadline) await one(adapter)
  }

  async function controller(): Promise<void> {
    let nextRevoke = start + 2000
    let nextAgent = start + NEW_AGENT_EVERY_MS
    const plan = [...outagePlan]
    const audit = [...auditPlan]
    while (now() < deadline) {
      const t = now()
      const o = plan[0]
      const a = audit[0]
      if (a && auditUp && brokerUp && t >= a.at) {
        auditUp = false
        auditOutages.push({ from: now(), to: null })
        broker.fault(a.mode)
        console.log(`  ${((now() - start) / 1000).toFixed(1)}s audit endpoint out (${a.mode.kind})`)
      } else if (a && !auditUp && t >= a.at + a.for) {
        broker.fault(null)
        auditOutages.at(-1)!.to = now()
        auditUp = true
        audit.shift()
        console.log(`  ${((now() - start) / 1000).toFixed(1)}s audit endpoint back`)
      } else if (o && t >= o.at && brokerUp) {
        brokerUp = false
        outages.push({ from: now(), to: null })
        await broker.stop()
        console.log(`  ${((now() - start) / 1000).toFixed(1)}s broker stopped`)
      } else if (o && !brokerUp && t >= o.at + o.for) {
        await broker.restart()
        outages.at(-1)!.to = now()
        brokerUp = true
        plan.shift()
        console.log(`  ${((now() - start) / 1000).toFixed(1)}s broker restarted`)
      } else if (
        brokerUp &&
        t >= nextRevoke &&
        t < deadline - 2000 &&
        // plain run: keep revocations clear of outages, so "first 401" measures the cache, not the
        // outage; the feed run revokes during audit outages too (their bound is the lagging one)
        (feedRun || !plan.some((p) => p.at > t && p.at - t < CACHE_TTL_MS + SLACK_MS + 1000))
      ) {
        nextRevoke = t + REVOKE_EVERY_MS * (0.5 + Math.random())
        await revokeSomething()
      } else if (brokerUp && t >= nextAgent && t < deadline - 2000) {
        nextAgent = t + NEW_AGENT_EVERY_MS
        await newAgent().catch((err: Error) => console.error(`new agent failed: ${err.message}`))
      }
      await sleep(20)
    }
  }

  const setting = feedRun
    ? `cacheTtlMs ${CACHE_TTL_MS}, revocation feed (pollIntervalMs ${FEED_POLL_MS}, maxLagMs ${FEED_MAX_LAG_MS}, laggingCacheTtlMs ${FEED_LAGGING_TTL_MS})`
    : `cacheTtlMs ${CACHE_TTL_MS}`
  console.log(
    `soak (${mode} run): ${seconds}s, adapters ${ADAPTERS.join(', ')}, remote mode, ${setting}, ` +
      `${WORKERS_PER_ADAPTER} workers each, ${tokens.length} live tokens at start`,
  )
  // memory: after a full GC at the start, at each quarter and at the end; rss peak sampled each second
  gc()
  const memStart = process.memoryUsage()
  const memQuarters: NodeJS.MemoryUsage[] = []
  let peakRss = memStart.rss
  const memTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 1000)
  const quarterTimers = [1, 2, 3].map((q) =>
    setTimeout(
      () => {
        gc()
        memQuarters.push(process.memoryUsage())
      },
      (q * runMs) / 4,
    ),
  )
  await Promise.all([
    controller(),
    ...ADAPTERS.flatMap((a) => Array.from({ length: WORKERS_PER_ADAPTER }, () => worker(a))),
  ])
  clearInterval(memTimer)
  clearInterval(checkTimer)
  for (const q of quarterTimers) clearTimeout(q)
  gc()
  const memEnd = process.memoryUsage()
  peakRss = Math.max(peakRss, memEnd.rss)
  const elapsed = (now() - start) / 1000

  checkCacheHits(Infinity)
  const endAt = now()
  for (const a of ADAPTERS) {
    for (const t of tokens) {
      if (t.revokedAt === null || t.revokedAt === -Infinity || t.level === null) continue
      const k = boundOf(t, endAt)
      if (k === null) continue
      const d = firstRefusal[a].get(t.jti)
      if (d !== undefined) stats[a].revocationDelays[k].push(d)
      // a token whose bound ends after the traffic stopped can only fail this by a late 401
      if (d !== undefined ? d > boundMs(k) : t.revokedAt + boundMs(k) <= deadline)
        stats[a].notRefusedInBound[k]++
      const l = lastAccept[a].get(t.jti)
      if (l !== undefined) stats[a].staleAccepts[k].push(l)
    }
  }

  // ---- report --------------------------------------------------------------------------------------
  const fmt = (n: number) => n.toLocaleString('en-US')
  const ms = (n: number | undefined) => (n === undefined ? '—' : `${Math.round(n)} ms`)
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`
  const col = (s: string, w: number) => s.padStart(w)
  const kinds: BoundKind[] = feedRun ? ['current', 'lagging'] : ['ttl']
  const revocationRows = kinds.flatMap((k): [string, (s: AdapterStats) => string][] => {
    const tag = feedRun ? ` (${k})` : ''
    const judged: [string, (s: AdapterStats) => string][] = feedRun
      ? [[`not refused within bound${tag}`, (s) => fmt(s.notRefusedInBound[k])]]
      : []
    return [
      [`revoked tokens measured${tag}`, (s) => fmt(s.revocationDelays[k].length)],
      [`revocation → first 401 p50${tag}`, (s) => ms(percentile(s.revocationDelays[k], 50))],
      [`revocation → first 401 max${tag}`, (s) => ms(percentile(s.revocationDelays[k], 100))],
      [`last accept after revocation${tag}`, (s) => ms(percentile(s.staleAccepts[k], 100))],
      ...judged,
    ]
  })
  const rows: [string, (s: AdapterStats) => string][] = [
    ['requests', (s) => fmt(s.requests)],
    ['requests/s', (s) => fmt(Math.round(s.requests / elapsed))],
    ['  200', (s) => fmt(s.byStatus['200'] ?? 0)],
    ['  403 (scope refused)', (s) => fmt(s.byStatus['403'] ?? 0)],
    ['  401', (s) => fmt(s.byStatus['401'] ?? 0)],
    ['  503', (s) => fmt(s.byStatus['503'] ?? 0)],
    ['WRONG ACCEPTS', (s) => fmt(s.wrongAccepts)],
    ['wrong refusals', (s) => fmt(s.wrongRefusals)],
    ['unclassified', (s) => fmt(s.unclassified)],
    ['503 during outages', (s) => fmt(s.outage503)],
    ['cached 200 during outages', (s) => fmt(s.outageCached200)],
    ['cache hits beyond TTL', (s) => fmt(s.cacheBeyondTtl)],
    ...(feedRun
      ? ([['cache hits beyond lag TTL', (s) => fmt(s.cacheBeyondLagTtl)]] as [
          string,
          (s: AdapterStats) => string,
        ][])
      : []),
    ...revocationRows,
  ]
  const W = 22
  const label = 34
  console.log('')
  console.log(
    feedRun
      ? `agentwrit-verify soak, feed run — ${elapsed.toFixed(1)} s, remote mode, cacheTtlMs ${CACHE_TTL_MS}, ` +
          `feed pollIntervalMs ${FEED_POLL_MS} (bound ${FEED_CURRENT_BOUND_MS} ms while current; ` +
          `${FEED_LAGGING_BOUND_MS} ms = maxLagMs ${FEED_MAX_LAG_MS} + laggingCacheTtlMs ${FEED_LAGGING_TTL_MS} + slack when it lags)`
      : `agentwrit-verify soak — ${elapsed.toFixed(1)} s, remote mode, cacheTtlMs ${CACHE_TTL_MS} (bound ${CACHE_TTL_MS + SLACK_MS} ms with slack)`,
  )
  console.log(
    `revocations: ${revocationCount} (${Object.entries(revocationLevels)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}); ` +
      `tokens: ${tokens.length} issued, ${tokens.filter((t) => t.revokedAt !== null).length} revoked; ` +
      `outages: ${span(outages)}${feedRun ? `; audit endpoint outages: ${span(auditOutages)}` : ''}`,
  )
  console.log('')
  console.log(`${''.padEnd(label)}${ADAPTERS.map((a) => col(a, W)).join('')}`)
  for (const [name, f] of rows)
    console.log(`${name.padEnd(label)}${ADAPTERS.map((a) => col(f(stats[a]), W)).join('')}`)
  console.log('')
  const heapSeries = [memStart, ...memQuarters, memEnd].map((m) => mb(m.heapUsed)).join(' → ')
  console.log(
    `memory (after GC): rss ${mb(memStart.rss)} → ${mb(memEnd.rss)} (peak ${mb(peakRss)}); ` +
      `heapUsed ${heapSeries} (start, quarters, end)`,
  )
  for (const a of ADAPTERS) {
    const v = apps[a].verifier.stats()
    const f = v.revocationFeed
    console.log(
      `${a}: broker calls ${fmt(v.brokerCalls)}, cache entries at end ${fmt(v.cacheEntries)}` +
        (f === undefined
          ? ''
          : `; feed: ${fmt(f.polls)} polls, ${fmt(f.failedPolls)} failed, current ${f.current}, ` +
            `${f.revocations} revocations + ${f.releases} releases applied, ${f.credentialRenewals} credential renewals`),
    )
  }
  const wrong = ADAPTERS.reduce((n, a) => n + stats[a].wrongAccepts, 0)
  const unclassified = ADAPTERS.reduce((n, a) => n + stats[a].unclassified, 0)
  for (const a of ADAPTERS) for (const e of stats[a].examples) console.log(`  ${a}: ${e}`)
  const notInBound = ADAPTERS.reduce(
    (n, a) => n + kinds.reduce((m, k) => m + stats[a].notRefusedInBound[k], 0),
    0,
  )
  console.log('')
  console.log(
    `RESULT (${mode} run): ${wrong === 0 ? 'PASS — 0 wrong accepts' : `FAIL — ${wrong} wrong accepts`}` +
      (feedRun
        ? `; revoked tokens not seen refused within their bound: ${notInBound}` +
          ' (without an accept past the bound this is sampling: no request for the token in time)'
        : ''),
  )
  console.log(`(run time ${((now() - t0) / 1000).toFixed(1)} s)`)

  for (const a of ADAPTERS) {
    await pools[a].close()
    await apps[a].close()
  }
  await broker.close()
  if (unclassified > 0) console.log(`note: ${unclassified} requests could not be classified (see examples)`)
  return { mode, wrongAccepts: wrong, unclassified, notRefusedInBound: notInBound }
}

function span(list: readonly Outage[]): string {
  return list
    .map(
      (o) =>
        `${((o.from - spanOrigin) / 1000).toFixed(1)}–${(((o.to ?? o.from) - spanOrigin) / 1000).toFixed(1)} s`,
    )
    .join(', ')
}
let spanOrigin = 0

async function main(): Promise<void> {
  const t0 = now()
  const results: RunResult[] = []
  for (const [i, mode] of RUNS.entries()) {
    if (i > 0) console.log(`\n${'─'.repeat(100)}\n`)
    results.push(await soakRun(mode))
  }
  const wrong = results.reduce((n, r) => n + r.wrongAccepts, 0)
  console.log('')
  console.log(
    results
      .map(
        (r) =>
          `${r.mode}: ${r.wrongAccepts} wrong accepts${r.mode === 'feed' ? `, ${r.notRefusedInBound} not seen refused in bound` : ''}`,
      )
      .join('; '),
  )
  console.log(
    `${wrong === 0 ? 'RESULT: PASS — 0 wrong accepts' : `RESULT: FAIL — ${wrong} wrong accepts`} ` +
      `(total run time ${((now() - t0) / 1000).toFixed(1)} s)`,
  )
  process.exitCode = wrong > 0 ? 1 : 0
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 2
})
