/**
 * `GET /v1/audit/events` of the dev broker (contract §4.9, Go `internal/audit/audit_log.go` and
 * `internal/handler/audit_hdl.go`): auth, filters, paging, event shape, ids, timestamps, hash chain,
 * sanitising, persistence across restarts, audit-only faults and a large seeded history — over real HTTP.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditLog, compileAuditFilter } from '../../src/testing/audit-log.js'
import {
  AUDIT_EVENTS_PATH,
  type AuditEvent,
  auditEventHash,
  type DevBroker,
  sanitizeDetail,
  startDevBroker,
} from '../../src/testing/index.js'
import { type Answer, call, decodeJwt, manualClock, PROBLEM_FIELDS } from './support.js'

const ALL_FIELDS = [
  'id',
  'timestamp',
  'event_type',
  'agent_id',
  'task_id',
  'orch_id',
  'detail',
  'resource',
  'outcome',
  'deleg_depth',
  'deleg_chain_hash',
  'bytes_transferred',
  'hash',
  'prev_hash',
]
const ZEROS = '0'.repeat(64)
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/

/** An independent implementation of the broker's `computeHash`. */
function expectedHash(e: AuditEvent): string {
  const fields = [
    e.prev_hash,
    e.id,
    e.timestamp,
    e.event_type,
    e.agent_id ?? '',
    e.task_id ?? '',
    e.orch_id ?? '',
    e.detail,
    e.resource ?? '',
    e.outcome ?? '',
    `${e.deleg_depth ?? 0}`,
    e.deleg_chain_hash ?? '',
    `${e.bytes_transferred ?? 0}`,
  ]
  return createHash('sha256').update(fields.join('|'), 'utf8').digest('hex')
}

/** Check hashes and links of consecutive events; `prev` = the hash before the first one. */
function verifyChain(events: readonly AuditEvent[], prev: string): string {
  let last = prev
  for (const e of events) {
    expect(e.prev_hash, e.id).toBe(last)
    expect(e.hash, e.id).toBe(expectedHash(e))
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
    last = e.hash
  }
  return last
}

/** Shift an RFC3339Nano UTC timestamp by `deltaNs` nanoseconds, keeping nine fractional digits. */
function shiftNs(ts: string, deltaNs: bigint): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts)
  if (m === null) throw new Error(`bad timestamp ${ts}`)
  const ns = BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')) + deltaNs
  const secs = ns / 1_000_000_000n
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0')
  return `${new Date(Number(secs) * 1000).toISOString().slice(0, 19)}.${frac}Z`
}

function audit(broker: DevBroker, token: string, query = ''): Promise<Answer> {
  return call(broker.url, 'GET', `${AUDIT_EVENTS_PATH}${query === '' ? '' : `?${query}`}`, { token })
}

describe('GET /v1/audit/events: who may read it', () => {
  let broker: DevBroker
  let admin: string
  beforeAll(async () => {
    broker = await startDevBroker()
    admin = await broker.adminToken()
  })
  afterAll(() => broker.close())

  it('no Authorization → 401 missing authorization header (problem body)', async () => {
    const res = await call(broker.url, 'GET', AUDIT_EVENTS_PATH)
    expect(res.status).toBe(401)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(Object.keys(res.json)).toEqual(PROBLEM_FIELDS)
    expect(res.json).toMatchObject({
      type: 'urn:agentwrit:error:unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail: 'missing authorization header',
      instance: '/v1/audit/events',
      error_code: 'unauthorized',
    })
  })

  it('wrong scheme / bad token → 401 with the broker strings', async () => {
    const basic = await call(broker.url, 'GET', AUDIT_EVENTS_PATH, { headers: { Authorization: 'Basic x' } })
    expect([basic.status, basic.json.detail]).toEqual([401, 'invalid authorization scheme'])
    const bad = await audit(broker, 'not.a.token')
    expect([bad.status, bad.json.detail]).toEqual([401, 'token verification failed'])
  })

  it('an agent token without admin:audit:* → 403 insufficient_scope', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })
    const res = await audit(broker, agent.accessToken)
    expect(res.status).toBe(403)
    expect(res.json).toMatchObject({
      type: 'urn:agentwrit:error:insufficient_scope',
      status: 403,
      detail: 'token lacks required scope: admin:audit:*',
      error_code: 'insufficient_scope',
      instance: '/v1/audit/events',
    })
  })

  it('an app token (app:audit:read) does not cover admin:audit:* → 403', async () => {
    const app = broker.sampleApp!
    const auth = await call(broker.url, 'POST', '/v1/app/auth', {
      body: { client_id: app.clientId, client_secret: app.clientSecret },
    })
    expect(auth.json.scopes).toContain('app:audit:read')
    const res = await audit(broker, auth.json.access_token)
    expect([res.status, res.json.detail]).toEqual([403, 'token lacks required scope: admin:audit:*'])
  })

  it('an admin token → 200 application/json, compact body + newline, security headers', async () => {
    const res = await audit(broker, admin)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/)
    expect(res.text).toMatch(/^\{"events":\[.*\],"total":\d+,"offset":0,"limit":100\}\n$/s)
    expect(Object.keys(res.json)).toEqual(['events', 'total', 'offset', 'limit'])
  })

  it('an agent holding ["admin:audit:*"] delegated by an admin reads it; renewable; chain revoke of admin kills it', async () => {
    const reader = await broker.createAgent({ orchId: 'feed', taskId: 'reader', scope: ['read:data:*'] })
    const d = await broker.delegate(admin, { to: reader.agentId, scope: ['admin:audit:*'], ttl: 600 })
    const claims = decodeJwt(d.accessToken).payload
    expect(claims.sub).toBe(reader.agentId)
    expect(claims.scope).toEqual(['admin:audit:*'])
    expect(claims.delegation_chain[0].agent).toBe('admin')
    expect(d.expiresIn).toBe(600)
    expect((await audit(broker, d.accessToken)).status).toBe(200)
    // it cannot revoke: only the audit scope was delegated
    const rv = await call(broker.url, 'POST', '/v1/revoke', {
      token: d.accessToken,
      body: { level: 'token', target: 'x' },
    })
    expect([rv.status, rv.json.detail]).toEqual([403, 'token lacks required scope: admin:revoke:*'])
    const renewed = await broker.renew(d.accessToken)
    expect((await audit(broker, renewed.accessToken)).status).toBe(200)
    expect((await audit(broker, d.accessToken)).status).toBe(401) // the predecessor is revoked
    await broker.revoke('chain', 'admin')
    expect((await audit(broker, renewed.accessToken)).status).toBe(401)
    expect((await audit(broker, admin)).status).toBe(200) // the admin's own token is not delegated
  })
})

describe('GET /v1/audit/events: filters, paging, shape', () => {
  const clock = manualClock(Date.UTC(2026, 3, 14, 20, 26, 15, 0))
  let broker: DevBroker
  let admin: string
  /** The events this suite recorded, in order. */
  let mine: AuditEvent[]

  beforeAll(async () => {
    broker = await startDevBroker({ now: clock.now, sampleApp: false })
    admin = await broker.adminToken() // evt-000001 admin_auth
    const spec = [
      { event_type: 'token_revoked', agent_id: 'a1', task_id: 't1', outcome: 'success', detail: 'one' },
      { event_type: 'token_revoked', agent_id: 'a2', task_id: 't1', outcome: 'success', detail: 'two' },
      { event_type: 'token_issued', agent_id: 'a1', task_id: 't2', outcome: 'success', detail: 'three' },
      { event_type: 'scope_violation', agent_id: 'a1', task_id: 't2', outcome: 'denied', detail: 'four' },
      { event_type: 'token_revoked', agent_id: 'spiffe://x/agent/o/t/1 +&', detail: 'five' },
    ]
    mine = []
    for (const e of spec) {
      clock.advance(1000)
      mine.push(...broker.recordAuditEvents([e]))
    }
  })
  afterAll(() => broker.close())

  const ids = (res: Answer) => (res.json.events as AuditEvent[]).map((e) => e.detail)

  it('no filter: every event in insertion order; ids evt-%06d from the counter', async () => {
    const res = await audit(broker, admin)
    expect(res.json.total).toBe(6)
    expect(res.json.events.map((e: AuditEvent) => e.id)).toEqual([
      'evt-000001',
      'evt-000002',
      'evt-000003',
      'evt-000004',
      'evt-000005',
      'evt-000006',
    ])
    expect(res.json.events[0].event_type).toBe('admin_auth')
    expect(res.json.events.slice(1)).toEqual(mine)
  })

  it('agent_id, task_id, event_type, outcome: exact, case-sensitive, combinable; empty = no filter', async () => {
    expect(ids(await audit(broker, admin, 'agent_id=a1'))).toEqual(['one', 'three', 'four'])
    expect(ids(await audit(broker, admin, 'agent_id=a'))).toEqual([])
    expect(ids(await audit(broker, admin, 'agent_id=A1'))).toEqual([])
    expect(ids(await audit(broker, admin, 'task_id=t1'))).toEqual(['one', 'two'])
    expect(ids(await audit(broker, admin, 'event_type=token_revoked'))).toEqual(['one', 'two', 'five'])
    expect(ids(await audit(broker, admin, 'outcome=denied'))).toEqual(['four'])
    expect(ids(await audit(broker, admin, 'event_type=token_revoked&agent_id=a1&task_id=t1'))).toEqual([
      'one',
    ])
    expect((await audit(broker, admin, 'agent_id=&task_id=&event_type=&outcome=')).json.total).toBe(6)
    // an event without outcome never matches an outcome filter
    expect(ids(await audit(broker, admin, 'outcome=success'))).toEqual([
      'admin authenticated as admin',
      'one',
      'two',
      'three',
    ])
  })

  it('query values are URL-decoded like Go (%XX, + = space); the first of repeated keys wins', async () => {
    const enc = encodeURIComponent('spiffe://x/agent/o/t/1 +&')
    expect(ids(await audit(broker, admin, `agent_id=${enc}`))).toEqual(['five'])
    expect(ids(await audit(broker, admin, 'agent_id=spiffe://x/agent/o/t/1+%2B%26'))).toEqual(['five'])
    expect(ids(await audit(broker, admin, 'agent_id=a2&agent_id=a1'))).toEqual(['two'])
    // a pair with a bad escape or a ';' is dropped (no filter at all here)
    expect((await audit(broker, admin, 'agent_id=%zz')).json.total).toBe(6)
    expect((await audit(broker, admin, 'agent_id=a1;x')).json.total).toBe(6)
  })

  it('since / until: RFC 3339, both inclusive, offsets and fractions accepted, unparseable ignored', async () => {
    const t2 = (mine[1] as AuditEvent).timestamp // 2026-04-14T20:26:17Z
    const t4 = (mine[3] as AuditEvent).timestamp
    expect(t2).toBe('2026-04-14T20:26:17Z')
    expect(ids(await audit(broker, admin, `since=${t2}`))).toEqual(['two', 'three', 'four', 'five'])
    const ADMIN = 'admin authenticated as admin' // evt-000001, at the clock's start
    expect(ids(await audit(broker, admin, `until=${t2}`))).toEqual([ADMIN, 'one', 'two'])
    expect(ids(await audit(broker, admin, `since=${t2}&until=${t4}`))).toEqual(['two', 'three', 'four'])
    // the same instants written with an offset, a fraction, a comma fraction, a one-digit-hour layout
    expect(
      ids(await audit(broker, admin, `since=${encodeURIComponent('2026-04-14T22:26:17+02:00')}`)),
    ).toEqual(['two', 'three', 'four', 'five'])
    expect(ids(await audit(broker, admin, 'since=2026-04-14T20:26:17.000000001Z'))).toEqual([
      'three',
      'four',
      'five',
    ])
    expect(ids(await audit(broker, admin, 'until=2026-04-14T20:26:16.999999999999Z'))).toEqual([ADMIN, 'one'])
    expect(ids(await audit(broker, admin, 'until=2026-04-14T20:26:16,5Z'))).toEqual([ADMIN, 'one'])
    expect(
      ids(await audit(broker, admin, `until=${encodeURIComponent('2026-04-14T8:26:16-12:00')}`)),
    ).toEqual([ADMIN, 'one'])
    expect(ids(await audit(broker, admin, 'since=2026-04-14T20:26:16Z&until=2026-04-14T20:26:16Z'))).toEqual([
      'one',
    ])
    // unparseable → silently no bound
    for (const bad of [
      'yesterday',
      '2026-04-14',
      '2026-04-14T20:26:17',
      '2026-04-14t20:26:17z',
      '2026-02-30T00:00:00Z',
    ]) {
      expect((await audit(broker, admin, `since=${bad}&until=${bad}`)).json.total, bad).toBe(6)
    }
  })

  it('since / until compare to the nanosecond', async () => {
    const b = await startDevBroker({ sampleApp: false }) // default clock: nanosecond timestamps
    try {
      const token = await b.adminToken()
      const evs = b.recordAuditEvents(Array.from({ length: 5 }, (_, i) => ({ event_type: `e${i}` })))
      const ts = (evs[2] as AuditEvent).timestamp
      expect(ts).toMatch(TIMESTAMP)
      const q = (k: string, v: string) => audit(b, token, `${k}=${encodeURIComponent(v)}`)
      const types = (r: Answer) => (r.json.events as AuditEvent[]).map((e) => e.event_type)
      expect(types(await q('since', ts))).toEqual(['e2', 'e3', 'e4'])
      expect(types(await q('until', ts))).toEqual(['admin_auth', 'e0', 'e1', 'e2'])
      expect(types(await q('since', shiftNs(ts, 1n)))).toEqual(['e3', 'e4'])
      expect(types(await q('until', shiftNs(ts, -1n)))).toEqual(['admin_auth', 'e0', 'e1'])
      // the programmatic accessor agrees
      expect(b.auditEvents({ since: ts }).map((e) => e.event_type)).toEqual(['e2', 'e3', 'e4'])
      expect(b.auditEvents({ until: shiftNs(ts, -1n) }).map((e) => e.event_type)).toEqual([
        'admin_auth',
        'e0',
        'e1',
      ])
    } finally {
      await b.close()
    }
  })

  it('limit: default 100; ≤ 0, non-numeric, out-of-range → 100; > 1000 echoed but capped; exact int64 echo', async () => {
    const echo = async (q: string) => (await audit(broker, admin, q)).json.limit
    expect(await echo('')).toBe(100)
    expect(await echo('limit=2')).toBe(2)
    expect(ids(await audit(broker, admin, 'limit=2'))).toEqual(['admin authenticated as admin', 'one'])
    for (const q of [
      'limit=0',
      'limit=-3',
      'limit=abc',
      'limit=1.5',
      'limit=%202',
      'limit=',
      'limit=9223372036854775808',
    ]) {
      const res = await audit(broker, admin, q)
      expect([res.json.limit, res.json.events.length], q).toEqual([100, 6])
    }
    expect(await echo('limit=%2B3')).toBe(3) // "+3" is accepted by strconv.Atoi
    expect(await echo('limit=5000')).toBe(5000)
    const max = await audit(broker, admin, 'limit=9223372036854775807')
    expect(max.text).toContain('"limit":9223372036854775807}')
    expect(max.json.events).toHaveLength(6)
  })

  it('offset: echoed as given; negative = 0; past the end → [] (never null) with total', async () => {
    const res = await audit(broker, admin, 'offset=4')
    expect([res.json.offset, res.json.total]).toEqual([4, 6])
    expect(ids(res)).toEqual(['four', 'five'])
    const neg = await audit(broker, admin, 'offset=-2&limit=1')
    expect([neg.json.offset, neg.json.limit, ids(neg)]).toEqual([-2, 1, ['admin authenticated as admin']])
    for (const q of ['offset=6', 'offset=7', 'offset=9223372036854775807']) {
      const past = await audit(broker, admin, q)
      expect(past.text, q).toMatch(/^\{"events":\[\],"total":6,"offset":\d+,"limit":100\}\n$/)
    }
    expect((await audit(broker, admin, 'offset=abc')).json.offset).toBe(0)
    const none = await audit(broker, admin, 'event_type=nothing')
    expect(none.text).toBe('{"events":[],"total":0,"offset":0,"limit":100}\n')
  })

  it('total counts every match before paging', async () => {
    const res = await audit(broker, admin, 'event_type=token_revoked&limit=1&offset=1')
    expect([res.json.total, ids(res)]).toEqual([3, ['two']])
  })

  it('event fields in the Go struct order, omitempty fields absent; raw JSON text exact', async () => {
    clock.advance(1000)
    const [full] = broker.recordAuditEvents([
      {
        event_type: 'resource_accessed',
        agent_id: 'ag',
        task_id: 'ta',
        orch_id: 'or',
        detail: 'x<y>&z',
        resource: '/r',
        outcome: 'success',
        deleg_depth: 2,
        deleg_chain_hash: 'c'.repeat(64),
        bytes_transferred: 1234,
      },
    ])
    const [bare] = broker.recordAuditEvents([{ event_type: 'bare' }])
    const res = await audit(broker, admin, 'offset=6')
    expect(res.json.events).toEqual([full, bare])
    expect(Object.keys(res.json.events[0])).toEqual(ALL_FIELDS)
    expect(Object.keys(res.json.events[1])).toEqual([
      'id',
      'timestamp',
      'event_type',
      'detail',
      'hash',
      'prev_hash',
    ])
    const f = full as AuditEvent
    const b = bare as AuditEvent
    expect(res.text).toBe(
      `{"events":[{"id":"evt-000007","timestamp":"2026-04-14T20:26:21Z","event_type":"resource_accessed",` +
        `"agent_id":"ag","task_id":"ta","orch_id":"or","detail":"x\\u003cy\\u003e\\u0026z","resource":"/r",` +
        `"outcome":"success","deleg_depth":2,"deleg_chain_hash":"${'c'.repeat(64)}","bytes_transferred":1234,` +
        `"hash":"${f.hash}","prev_hash":"${f.prev_hash}"},` +
        `{"id":"evt-000008","timestamp":"2026-04-14T20:26:21Z","event_type":"bare","detail":"",` +
        `"hash":"${b.hash}","prev_hash":"${f.hash}"}],"total":8,"offset":6,"limit":100}\n`,
    )
  })

  it('timestamps are UTC RFC3339Nano (fraction trimmed, none when zero)', async () => {
    clock.advance(0.5)
    const [half] = broker.recordAuditEvents([{ event_type: 'frac' }])
    expect((half as AuditEvent).timestamp).toBe('2026-04-14T20:26:21.0005Z')
    clock.advance(999.5)
    const [whole] = broker.recordAuditEvents([{ event_type: 'frac' }])
    expect((whole as AuditEvent).timestamp).toBe('2026-04-14T20:26:22Z')
  })

  it('hash chain: first prev_hash is 64 zeros; every hash recomputes; pages link up', async () => {
    const all = (await audit(broker, admin, 'limit=1000')).json.events as AuditEvent[]
    expect((all[0] as AuditEvent).prev_hash).toBe(ZEROS)
    verifyChain(all, ZEROS)
    for (const e of all) expect(auditEventHash(e)).toBe(e.hash) // the exported helper agrees
    const p1 = (await audit(broker, admin, 'limit=3')).json.events as AuditEvent[]
    const p2 = (await audit(broker, admin, 'limit=3&offset=3')).json.events as AuditEvent[]
    verifyChain(p2, verifyChain(p1, ZEROS))
  })
})

describe('paging through more than 1,000 events', () => {
  let broker: DevBroker
  let admin: string
  beforeAll(async () => {
    broker = await startDevBroker({ sampleApp: false })
    admin = await broker.adminToken()
    broker.recordAuditEvents(
      Array.from({ length: 2499 }, (_, i) => ({ event_type: 'bulk', detail: `n=${i}` })),
    )
  })
  afterAll(() => broker.close())

  it('limit above 1000 returns 1000; offset pages cover the log exactly once, in order, chained', async () => {
    const pages: AuditEvent[][] = []
    for (let offset = 0; offset < 3000; offset += 1000) {
      const res = await audit(broker, admin, `limit=5000&offset=${offset}`)
      expect([res.json.total, res.json.offset, res.json.limit]).toEqual([2500, offset, 5000])
      pages.push(res.json.events)
    }
    expect(pages.map((p) => p.length)).toEqual([1000, 1000, 500])
    const flat = pages.flat()
    expect(flat.map((e) => e.id)).toEqual(
      Array.from({ length: 2500 }, (_, i) => `evt-${String(i + 1).padStart(6, '0')}`),
    )
    expect(flat).toEqual(broker.auditEvents())
    verifyChain(flat, ZEROS)
    const past = await audit(broker, admin, 'limit=1000&offset=2500')
    expect([past.json.events, past.json.total]).toEqual([[], 2500])
  })
})

describe('detail sanitising (sanitizePII)', () => {
  const cases: Array<[string, string]> = [
    ['client_secret=abc def', 'client_secret=***REDACTED***'],
    ['Password: hunter2', 'Password: ***REDACTED***'],
    ['PRIVATE_KEY=xyz=1', 'PRIVATE_KEY=***REDACTED***'],
    ['TOKEN_VALUE: abc', 'TOKEN_VALUE: ***REDACTED***'],
    ['note=x password: y', 'note=x password: ***REDACTED***'], // '=' key has none; ': ' key has one
    ['prİvate_key=1', 'prİvate_key=***REDACTED***'], // Go lowercases İ to i
    ['client_id=c1 reason=wrong_secret', 'client_id=c1 reason=wrong_secret'], // keyword after the '='
    ['a=b secret=c', 'a=b secret=c'], // only the first '=' is looked at
    ['the secret is out', 'the secret is out'], // no separator
    ['password:nospace', 'password:nospace'], // ':' must be followed by a space
    ['nothing=here', 'nothing=here'],
  ]
  let broker: DevBroker
  let admin: string
  beforeAll(async () => {
    broker = await startDevBroker({ sampleApp: false })
    admin = await broker.adminToken()
  })
  afterAll(() => broker.close())

  it.each(cases)('%s → %s', (input, expected) => {
    expect(sanitizeDetail(input)).toBe(expected)
  })

  it('recorded details are sanitised before hashing; the endpoint serves the sanitised text', async () => {
    const recorded = broker.recordAuditEvents(cases.map(([detail]) => ({ event_type: 'x', detail })))
    expect(recorded.map((e) => e.detail)).toEqual(cases.map(([, out]) => out))
    const res = await audit(broker, admin, 'event_type=x')
    expect(res.json.events.map((e: AuditEvent) => e.detail)).toEqual(cases.map(([, out]) => out))
    expect(res.text).not.toContain('hunter2')
    verifyChain(res.json.events, (broker.auditEvents()[0] as AuditEvent).hash)
  })
})

describe('restart keeps the audit log and its counter', () => {
  let broker: DevBroker
  beforeAll(async () => {
    broker = await startDevBroker()
  })
  afterAll(() => broker.close())

  it('stop() + restart(): history, counter and chain continue; restart() while running is a no-op', async () => {
    const admin = await broker.adminToken()
    const before = broker.auditEvents()
    const port = broker.port
    await broker.stop()
    await broker.restart()
    expect(broker.port).toBe(port)
    await broker.restart() // running: nothing happens
    const [next] = broker.recordAuditEvents([{ event_type: 'after_restart' }])
    const res = await audit(broker, admin, 'limit=1000')
    expect(res.json.events.slice(0, before.length)).toEqual(before)
    expect(next?.id).toBe(`evt-${String(before.length + 1).padStart(6, '0')}`)
    expect(next?.prev_hash).toBe(before.at(-1)?.hash)
    verifyChain(res.json.events, ZEROS)
  })

  it('restart({ stopFirst: true }) bounces a running broker: keys, agents, revocations, log kept', async () => {
    const admin = await broker.adminToken()
    const a = await broker.createAgent({ orchId: 'o', taskId: 'bounce', scope: ['read:data:*'] })
    const b = await broker.createAgent({ orchId: 'o', taskId: 'bounce2', scope: ['read:data:*'] })
    await broker.revoke('agent', b.agentId)
    const before = broker.auditEvents()
    const port = broker.port
    await broker.restart({ stopFirst: true })
    expect(broker.port).toBe(port)
    expect((await broker.validate(a.accessToken)).valid).toBe(true) // same key
    expect((await broker.validate(b.accessToken)).valid).toBe(false) // revocation kept
    await broker.delegate(a.accessToken, { to: a.agentId, scope: ['read:data:x'] }) // agent table kept
    const after = (await audit(broker, admin, 'limit=1000')).json.events as AuditEvent[]
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after[before.length]?.id).toBe(`evt-${String(before.length + 1).padStart(6, '0')}`)
    verifyChain(after, ZEROS)
  })

  it('restart({ dropMemoryState: true }) = a Go process restart: SQLite state kept, memory state lost', async () => {
    const admin = await broker.adminToken()
    const agent = await broker.createAgent({ orchId: 'o', taskId: 'before', scope: ['read:data:*'] })
    const lt = await call(broker.url, 'POST', '/v1/admin/launch-tokens', {
      token: admin,
      body: { agent_name: 'w', allowed_scope: ['read:data:*'] },
    })
    const revoked = await broker.createAgent({ orchId: 'o', taskId: 'gone', scope: ['read:data:*'] })
    await broker.revoke('task', 'gone')
    const before = broker.auditEvents()
    await broker.restart({ dropMemoryState: true })
    // persisted: the key (old tokens verify), revocations, apps, the audit log
    expect((await broker.validate(agent.accessToken)).valid).toBe(true)
    expect((await broker.validate(revoked.accessToken)).valid).toBe(false)
    const health = await call(broker.url, 'GET', '/v1/health')
    expect(health.json.uptime).toBe(0)
    expect(health.json.audit_events_count).toBe(before.length)
    const app = broker.sampleApp!
    const auth = await call(broker.url, 'POST', '/v1/app/auth', {
      body: { client_id: app.clientId, client_secret: app.clientSecret },
    })
    expect(auth.status).toBe(200)
    // in memory only: launch tokens and the agent table
    const ch = await call(broker.url, 'GET', '/v1/challenge')
    const reg = await call(broker.url, 'POST', '/v1/register', {
      body: {
        launch_token: lt.json.launch_token,
        nonce: ch.json.nonce,
        public_key: 'AA==',
        signature: 'AA==',
        orch_id: 'o',
        task_id: 't',
        requested_scope: ['read:data:x'],
      },
    })
    expect([reg.status, reg.json.detail]).toEqual([401, 'launch token: launch token not found'])
    const del = await call(broker.url, 'POST', '/v1/delegate', {
      token: agent.accessToken,
      body: { delegate_to: agent.agentId, scope: ['read:data:x'] },
    })
    expect([del.status, del.json.detail]).toEqual([404, 'delegate agent not found'])
    // the log: same history, the counter and the chain continue
    const after = (await audit(broker, admin, 'limit=1000')).json.events as AuditEvent[]
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after.slice(before.length).map((e) => e.id)).toEqual(
      after.slice(before.length).map((_, i) => `evt-${String(before.length + 1 + i).padStart(6, '0')}`),
    )
    expect(after[before.length]?.event_type).toBe('app_authenticated')
    verifyChain(after, ZEROS)
  })

  it('restart options are checked; restart after close is an error', async () => {
    await expect(broker.restart(null as never)).rejects.toThrow(TypeError)
    const b = await startDevBroker({ sampleApp: false })
    await b.close()
    await expect(b.restart({ dropMemoryState: true })).rejects.toThrow(/after close/)
  })
})

describe('audit-only faults leave validate working', () => {
  let broker: DevBroker
  let admin: string
  let token: string
  const validate = async () => {
    const r = await call(broker.url, 'POST', '/v1/token/validate', { body: { token } })
    expect([r.status, r.json.valid]).toEqual([200, true])
  }
  beforeAll(async () => {
    broker = await startDevBroker()
    admin = await broker.adminToken()
    token = (await broker.createAgent({ orchId: 'o', taskId: 't', scope: ['read:data:*'] })).accessToken
  })
  afterAll(() => broker.close())

  it('slow: only the audit answer is delayed', async () => {
    broker.fault({ kind: 'slow', delayMs: 400, paths: [AUDIT_EVENTS_PATH] })
    try {
      const started = Date.now()
      const pending = audit(broker, admin)
      const v0 = Date.now()
      await validate()
      expect(Date.now() - v0).toBeLessThan(300)
      const res = await pending
      expect(res.status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(390)
    } finally {
      broker.fault(null)
    }
  })

  it('problem: a 5xx RFC 7807 answer with request id and security headers', async () => {
    broker.fault({
      kind: 'problem',
      status: 503,
      detail: 'audit store unavailable',
      paths: [AUDIT_EVENTS_PATH],
    })
    try {
      const res = await call(broker.url, 'GET', `${AUDIT_EVENTS_PATH}?limit=5`, {
        token: admin,
        headers: { 'X-Request-ID': 'rid-1' },
      })
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.headers.get('x-request-id')).toBe('rid-1')
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.text).toBe(
        '{"type":"urn:agentwrit:error:internal_error","title":"Service Unavailable","status":503,' +
          '"detail":"audit store unavailable","instance":"/v1/audit/events","error_code":"internal_error",' +
          '"request_id":"rid-1"}\n',
      )
      await validate()
      broker.fault({ kind: 'problem', paths: [AUDIT_EVENTS_PATH] })
      const dflt = await audit(broker, admin)
      expect([dflt.status, dflt.json.detail]).toEqual([500, 'internal error'])
      broker.fault({ kind: 'status', status: 502, paths: [AUDIT_EVENTS_PATH] })
      const proxy = await audit(broker, admin)
      expect([proxy.status, proxy.text]).toEqual([502, '502 Bad Gateway\n'])
      await validate()
    } finally {
      broker.fault(null)
    }
  })

  it('down: the audit connection is closed without an answer', async () => {
    broker.fault({ kind: 'down', paths: [AUDIT_EVENTS_PATH] })
    try {
      await expect(fetch(`${broker.url}${AUDIT_EVENTS_PATH}`)).rejects.toThrow(TypeError)
      await validate()
    } finally {
      broker.fault(null)
    }
  })

  it('hang: the audit request is never answered', async () => {
    broker.fault({ kind: 'hang', paths: [AUDIT_EVENTS_PATH] })
    try {
      const r = fetch(`${broker.url}${AUDIT_EVENTS_PATH}`, { signal: AbortSignal.timeout(200) })
      await expect(r).rejects.toThrow()
      await validate()
    } finally {
      broker.fault(null)
    }
  })

  it('garbage, wrong-shape JSON and raw text', async () => {
    try {
      broker.fault({ kind: 'garbage', paths: [AUDIT_EVENTS_PATH] })
      const html = await audit(broker, admin)
      expect([html.status, html.headers.get('content-type'), html.json]).toEqual([
        200,
        'text/html; charset=utf-8',
        undefined,
      ])
      await validate()
      broker.fault({ kind: 'json', body: { events: null, total: 'many' }, paths: [AUDIT_EVENTS_PATH] })
      const shape = await audit(broker, admin)
      expect([shape.status, shape.json]).toEqual([200, { events: null, total: 'many' }])
      await validate()
      broker.fault({ kind: 'raw', body: '{"events":[{"id":"evt-0', paths: [AUDIT_EVENTS_PATH] })
      const cut = await audit(broker, admin)
      expect([cut.status, cut.headers.get('content-type'), cut.text]).toEqual([
        200,
        'application/json',
        '{"events":[{"id":"evt-0',
      ])
      broker.fault({
        kind: 'raw',
        status: 200,
        contentType: 'text/plain',
        body: 'ok',
        paths: [AUDIT_EVENTS_PATH],
      })
      expect((await audit(broker, admin)).text).toBe('ok')
      await validate()
    } finally {
      broker.fault(null)
    }
    expect((await audit(broker, admin)).status).toBe(200)
  })

  it('several faults at once: each request gets the first whose paths match', async () => {
    broker.fault([
      { kind: 'problem', paths: [AUDIT_EVENTS_PATH] },
      { kind: 'status', status: 503 }, // default paths: validate
    ])
    try {
      expect((await audit(broker, admin)).status).toBe(500)
      const v = await call(broker.url, 'POST', '/v1/token/validate', { body: { token } })
      expect(v.status).toBe(503)
      expect((await call(broker.url, 'GET', '/v1/health')).status).toBe(200)
      broker.fault([])
      await validate()
      expect((await audit(broker, admin)).status).toBe(200)
    } finally {
      broker.fault(null)
    }
  })

  it('invalid faults are a TypeError', () => {
    expect(() => broker.fault({ kind: 'problem', status: 418 as 500 })).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'problem', detail: 3 as never })).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'raw', body: 3 as never })).toThrow(TypeError)
    expect(() => broker.fault({ kind: 'raw', body: '', status: 99 })).toThrow(TypeError)
    expect(() => broker.fault([{ kind: 'down' }, { kind: 'slow', delayMs: -1 }])).toThrow(
      /faults\[1\]\.delayMs/,
    )
    expect(() => broker.fault([null as never])).toThrow(/faults\[0\]/)
  })
})

describe('a large seeded history', () => {
  let broker: DevBroker
  let admin: string
  beforeAll(async () => {
    broker = await startDevBroker()
    admin = await broker.adminToken()
  })
  afterAll(() => broker.close())

  it('seedRevocations(100_000): fast, revokes for real, queryable with filters and paging', async () => {
    const heapBefore = process.memoryUsage().heapUsed
    const started = performance.now()
    const targets = broker.seedRevocations(100_000)
    const seedMs = performance.now() - started
    expect(targets).toHaveLength(100_000)
    expect(new Set(targets).size).toBe(100_000)
    expect(targets[0]).toMatch(/^[0-9a-f]{32}$/)
    expect(seedMs).toBeLessThan(5000)
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(300 * 1024 * 1024)

    // the revocations are real: a token with a seeded jti does not validate
    const now = Math.floor(Date.now() / 1000)
    const forged = broker.signToken({
      iss: '',
      sub: 'spiffe://agentwrit.local/agent/o/t/1',
      exp: now + 60,
      nbf: now,
      iat: now,
      jti: targets[54_321],
      scope: ['read:data:*'],
    })
    expect((await broker.validate(forged)).valid).toBe(false)
    const control = broker.signToken({
      iss: '',
      sub: 'spiffe://agentwrit.local/agent/o/t/1',
      exp: now + 60,
      nbf: now,
      iat: now,
      jti: 'f'.repeat(32),
      scope: ['read:data:*'],
    })
    expect((await broker.validate(control)).valid).toBe(true)

    const t0 = performance.now()
    const one = await audit(broker, admin, `event_type=token_revoked&agent_id=${targets[77_777]}`)
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(one.json.total).toBe(1)
    expect(one.json.events[0]).toMatchObject({
      event_type: 'token_revoked',
      agent_id: targets[77_777],
      detail: `revoked at level=token target=${targets[77_777]}`,
      outcome: 'success',
    })

    const t1 = performance.now()
    const page = await audit(broker, admin, 'event_type=token_revoked&limit=1000&offset=99500')
    expect(performance.now() - t1).toBeLessThan(2000)
    expect([page.json.total, page.json.events.length]).toEqual([100_000, 500])
    expect((page.json.events as AuditEvent[]).map((e) => e.agent_id)).toEqual(targets.slice(99_500))
    verifyChain(page.json.events, (page.json.events[0] as AuditEvent).prev_hash)

    const health = await call(broker.url, 'GET', '/v1/health')
    expect(health.json.audit_events_count).toBe(broker.auditEvents().length)
  })

  it('seedRevocations with explicit targets and a level behaves like POST /v1/revoke', async () => {
    const agent = await broker.createAgent({ orchId: 'o', taskId: 'seeded-task', scope: ['read:data:*'] })
    expect(broker.seedRevocations(['seeded-task', 'other'], { level: 'task' })).toEqual([
      'seeded-task',
      'other',
    ])
    expect((await broker.validate(agent.accessToken)).valid).toBe(false)
    const evs = broker.auditEvents({ agent_id: 'seeded-task' })
    expect(evs.map((e) => [e.event_type, e.detail, e.outcome])).toEqual([
      ['token_revoked', 'revoked at level=task target=seeded-task', 'success'],
    ])
    expect(Object.keys(evs[0] as AuditEvent)).toEqual([
      'id',
      'timestamp',
      'event_type',
      'agent_id',
      'detail',
      'outcome',
      'hash',
      'prev_hash',
    ])
    expect(broker.seedRevocations(0)).toEqual([])
  })

  it('bad arguments are a TypeError', () => {
    expect(() => broker.seedRevocations(-1)).toThrow(TypeError)
    expect(() => broker.seedRevocations(1.5)).toThrow(TypeError)
    expect(() => broker.seedRevocations([''])).toThrow(TypeError)
    expect(() => broker.seedRevocations(1, { level: 'nope' as never })).toThrow(TypeError)
    expect(() => broker.recordAuditEvents([{ event_type: 3 as never }])).toThrow(TypeError)
    expect(() => broker.recordAuditEvents([{ event_type: 'x', deleg_depth: 1.5 }])).toThrow(TypeError)
    expect(() => broker.recordAuditEvents(3 as never)).toThrow(TypeError)
    expect(() => broker.auditEvents({ since: 'not a time' })).toThrow(TypeError)
    expect(() => broker.auditEvents({ agent_id: 1 as never })).toThrow(TypeError)
  })
})

describe('AuditLog rebuild from the store (NewAuditLogWithEvents)', () => {
  const clock = () => ({ ms: Date.UTC(2026, 0, 1), subNs: 0 })
  const row = (id: string, prev: string): AuditEvent => {
    const e = {
      id,
      timestamp: '2026-01-01T00:00:00.123456789Z',
      event_type: 'x',
      detail: id,
      prev_hash: prev,
    }
    return { ...e, hash: expectedHash({ ...e, hash: '' }) }
  }

  it('rows come back ORDER BY id as TEXT: past evt-999999 the order is textual; counter = row count', () => {
    const a = row('evt-100000', ZEROS)
    const b = row('evt-999999', a.hash)
    const c = row('evt-1000000', b.hash)
    const d = row('evt-1000001', c.hash)
    const log = AuditLog.fromPersisted(clock, [a, b, c, d])
    const ids = log.all(compileAuditFilter()).map((e) => e.id)
    expect(ids).toEqual(['evt-100000', 'evt-1000000', 'evt-1000001', 'evt-999999'])
    const next = log.record({ event_type: 'y' })
    expect(next.id).toBe('evt-000005') // len(events) + 1
    expect(next.prev_hash).toBe(b.hash) // the last row in text order, not the newest event
    expect(log.all(compileAuditFilter({ since: '2026-01-01T00:00:00.123456789Z' })).length).toBe(4)
  })

  it('an in-order log is reloaded unchanged', () => {
    const a = row('evt-000001', ZEROS)
    const b = row('evt-000002', a.hash)
    const log = AuditLog.fromPersisted(clock, [a, b])
    expect(log.all(compileAuditFilter())).toEqual([a, b])
    expect(log.record({ event_type: 'z' })).toMatchObject({ id: 'evt-000003', prev_hash: b.hash })
  })
})
