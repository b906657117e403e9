/**
 * The broker's audit trail (`internal/audit/audit_log.go`, contract §4.9): an append-only, hash-chained
 * list of events with ids from a counter, UTC nanosecond timestamps and sanitised details, queried by a
 * full scan in insertion order. The Go broker writes every event through to SQLite and rebuilds the log
 * from it at start; {@link AuditLog.reload} reproduces that rebuild.
 */
import { hash as oneShotHash } from 'node:crypto'
import { formatInstantRfc3339Nano, type GoInstant, parseGoRfc3339 } from './go-time.js'

/**
 * One audit event as `GET /v1/audit/events` returns it: the Go struct's JSON field names and order, with
 * the `omitempty` fields (`agent_id`, `task_id`, `orch_id`, `resource`, `outcome`, `deleg_depth`,
 * `deleg_chain_hash`, `bytes_transferred`) absent when empty or zero.
 */
export interface AuditEvent {
  /** `evt-%06d` from the log's counter (`evt-000001`, …; seven digits past 999,999). */
  readonly id: string
  /** UTC, Go RFC3339Nano (up to nine fractional digits, trailing zeros trimmed). */
  readonly timestamp: string
  readonly event_type: string
  readonly agent_id?: string
  readonly task_id?: string
  readonly orch_id?: string
  /** Sanitised (see {@link sanitizeDetail}). */
  readonly detail: string
  readonly resource?: string
  readonly outcome?: string
  readonly deleg_depth?: number
  readonly deleg_chain_hash?: string
  readonly bytes_transferred?: number
  /** Lowercase hex SHA-256 over the `|`-joined fields (see {@link auditEventHash}). */
  readonly hash: string
  /** The previous event's `hash`; 64 zeros for the first event. */
  readonly prev_hash: string
}

/** What a writer passes to `AuditLog.Record` (Go: the positional arguments plus the `With…` options). */
export interface AuditEventInput {
  readonly event_type: string
  readonly agent_id?: string
  readonly task_id?: string
  readonly orch_id?: string
  /** Sanitised before it is stored. Default `''`. */
  readonly detail?: string
  readonly resource?: string
  readonly outcome?: string
  /** Go `int`; 0 = absent. */
  readonly deleg_depth?: number
  readonly deleg_chain_hash?: string
  /** Go `int64`; 0 = absent. */
  readonly bytes_transferred?: number
}

/**
 * Filters of a query (the query parameters of `GET /v1/audit/events`): exact matches, an empty string
 * meaning no filter; `since` / `until` inclusive.
 */
export interface AuditEventFilter {
  readonly agent_id?: string
  readonly task_id?: string
  readonly event_type?: string
  readonly outcome?: string
  /** Inclusive lower bound: RFC 3339 text (as Go `time.Parse(time.RFC3339, …)` reads it) or a `Date`. */
  readonly since?: string | Date
  /** Inclusive upper bound. */
  readonly until?: string | Date
}

/** The first event's `prev_hash`. */
export const GENESIS_PREV_HASH = '0'.repeat(64)

const SENSITIVE = ['secret', 'password', 'token_value', 'private_key'] as const

/** Go `strings.ToLower` for what matters here (JavaScript lowercases U+0130 to two code points). */
function goLower(s: string): string {
  return s.replace(/\u0130/g, 'i').toLowerCase()
}

/**
 * The broker's `sanitizePII`: when the detail mentions (case-insensitively) `secret`, `password`,
 * `token_value` or `private_key`, it is split at its first `=` — or, if the text before that does not name
 * one of them, at its first `: ` — and when the text before the separator names one, everything after it
 * becomes `***REDACTED***`. Otherwise the detail is kept as it is.
 */
export function sanitizeDetail(detail: string): string {
  const lower = goLower(detail)
  if (!SENSITIVE.some((k) => lower.includes(k))) return detail
  for (const sep of ['=', ': ']) {
    const i = detail.indexOf(sep)
    if (i < 0) continue
    const key = goLower(detail.slice(0, i))
    if (SENSITIVE.some((k) => key.includes(k))) return `${detail.slice(0, i)}${sep}***REDACTED***`
  }
  return detail
}

/**
 * The broker's `computeHash`: lowercase hex SHA-256 of
 * `prev_hash|id|timestamp|event_type|agent_id|task_id|orch_id|detail|resource|outcome|deleg_depth|deleg_chain_hash|bytes_transferred`
 * (absent strings empty, absent integers `0`).
 */
export function auditEventHash(e: Omit<AuditEvent, 'hash'>): string {
  const data = [
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
    String(e.deleg_depth ?? 0),
    e.deleg_chain_hash ?? '',
    String(e.bytes_transferred ?? 0),
  ].join('|')
  return oneShotHash('sha256', data, 'hex')
}

function optionalString(name: string, v: unknown): string {
  if (v === undefined) return ''
  if (typeof v !== 'string') throw new TypeError(`${name}: expected a string`)
  return v
}

function optionalInt(name: string, v: unknown): number {
  if (v === undefined) return 0
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${name}: expected an integer`)
  return v
}

function boundOf(name: string, v: string | Date | undefined): GoInstant | null {
  if (v === undefined || v === '') return null
  if (v instanceof Date) {
    const ms = v.getTime()
    if (Number.isNaN(ms)) throw new TypeError(`${name}: invalid Date`)
    return { ms, subNs: 0 }
  }
  if (typeof v !== 'string') throw new TypeError(`${name}: expected an RFC 3339 string or a Date`)
  const t = parseGoRfc3339(v)
  if (t === null) throw new TypeError(`${name}: not an RFC 3339 time: ${JSON.stringify(v)}`)
  return t
}

/** Filters in their compiled form (`null` bound = none). */
export interface CompiledAuditFilter {
  readonly agentId: string
  readonly taskId: string
  readonly eventType: string
  readonly outcome: string
  readonly since: GoInstant | null
  readonly until: GoInstant | null
}

/**
 * Compile a programmatic filter.
 * @throws TypeError for a wrong type or an unparseable `since` / `until`
 */
export function compileAuditFilter(f: AuditEventFilter = {}): CompiledAuditFilter {
  if (typeof f !== 'object' || f === null) throw new TypeError('filter: expected an object')
  return {
    agentId: optionalString('agent_id', f.agent_id),
    taskId: optionalString('task_id', f.task_id),
    eventType: optionalString('event_type', f.event_type),
    outcome: optionalString('outcome', f.outcome),
    since: boundOf('since', f.since),
    until: boundOf('until', f.until),
  }
}

/** Largest page the broker returns. */
export const AUDIT_MAX_LIMIT = 1000
/** Page size when `limit` is absent, unparseable or ≤ 0. */
export const AUDIT_DEFAULT_LIMIT = 100

/** The in-memory, hash-chained audit log. */
export class AuditLog {
  // Parallel arrays keep 100,000+ events cheap: the frozen wire objects, and each event's instant.
  #events: AuditEvent[] = []
  #ms: number[] = []
  #subNs: number[] = []
  #prevHash = GENESIS_PREV_HASH
  #counter = 0

  /** @param now - the clock, to the nanosecond */
  constructor(readonly now: () => GoInstant) {}

  /**
   * `NewAuditLogWithEvents` over rows as `LoadAllAuditEvents` would return them (in stored order; they are
   * re-sorted by id as text, see {@link AuditLog.reload}).
   * @throws TypeError for a timestamp Go could not parse back
   */
  static fromPersisted(now: () => GoInstant, rows: readonly AuditEvent[]): AuditLog {
    const log = new AuditLog(now)
    for (const r of rows) {
      const t = parseGoRfc3339(r.timestamp)
      if (t === null) throw new TypeError(`parse timestamp ${JSON.stringify(r.timestamp)}`)
      log.#events.push(Object.freeze({ ...r }))
      log.#ms.push(t.ms)
      log.#subNs.push(t.subNs)
    }
    log.reload()
    return log
  }

  /** Number of events (`audit_events_count` of `GET /v1/health`). */
  get size(): number {
    return this.#events.length
  }

  /**
   * `AuditLog.Record`: next id from the counter, timestamp now (UTC), detail sanitised, chained to the
   * previous event's hash.
   * @throws TypeError for a malformed input (programmatic callers)
   */
  record(input: AuditEventInput): AuditEvent {
    if (typeof input !== 'object' || input === null) throw new TypeError('event: expected an object')
    const eventType = optionalString('event_type', input.event_type)
    const agentId = optionalString('agent_id', input.agent_id)
    const taskId = optionalString('task_id', input.task_id)
    const orchId = optionalString('orch_id', input.orch_id)
    const detail = sanitizeDetail(optionalString('detail', input.detail))
    const resource = optionalString('resource', input.resource)
    const outcome = optionalString('outcome', input.outcome)
    const delegDepth = optionalInt('deleg_depth', input.deleg_depth)
    const delegChainHash = optionalString('deleg_chain_hash', input.deleg_chain_hash)
    const bytes = optionalInt('bytes_transferred', input.bytes_transferred)

    const t = this.now()
    this.#counter++
    const id = `evt-${String(this.#counter).padStart(6, '0')}`
    const timestamp = formatInstantRfc3339Nano(t)
    const prevHash = this.#prevHash
    const hash = oneShotHash(
      'sha256',
      `${prevHash}|${id}|${timestamp}|${eventType}|${agentId}|${taskId}|${orchId}|${detail}|${resource}|` +
        `${outcome}|${delegDepth}|${delegChainHash}|${bytes}`,
      'hex',
    )
    // Built field by field in the Go struct's order, omitempty fields left out.
    const e: Record<string, unknown> = { id, timestamp, event_type: eventType }
    if (agentId !== '') e.agent_id = agentId
    if (taskId !== '') e.task_id = taskId
    if (orchId !== '') e.orch_id = orchId
    e.detail = detail
    if (resource !== '') e.resource = resource
    if (outcome !== '') e.outcome = outcome
    if (delegDepth !== 0) e.deleg_depth = delegDepth
    if (delegChainHash !== '') e.deleg_chain_hash = delegChainHash
    if (bytes !== 0) e.bytes_transferred = bytes
    e.hash = hash
    e.prev_hash = prevHash
    const event = Object.freeze(e) as unknown as AuditEvent
    this.#prevHash = hash
    this.#events.push(event)
    this.#ms.push(t.ms)
    this.#subNs.push(t.subNs)
    return event
  }

  /**
   * `AuditLog.Query`: scan every event in insertion order, keep the matches, count them (`total`), then
   * skip `offset` (≤ 0: none; ≥ total: empty page) and take `limit` (≤ 0 → 100, capped at 1000).
   */
  query(
    filter: CompiledAuditFilter,
    page: { offset: bigint; limit: bigint } = { offset: 0n, limit: BigInt(Number.MAX_SAFE_INTEGER) },
  ): { events: AuditEvent[]; total: number } {
    let limit = page.limit <= 0n ? AUDIT_DEFAULT_LIMIT : Number(page.limit)
    if (page.limit > BigInt(AUDIT_MAX_LIMIT)) limit = AUDIT_MAX_LIMIT
    return this.#scan(filter, page.offset, limit)
  }

  /** Every match, no paging (programmatic accessor). */
  all(filter: CompiledAuditFilter): AuditEvent[] {
    return this.#scan(filter, 0n, Number.POSITIVE_INFINITY).events
  }

  #scan(f: CompiledAuditFilter, offset: bigint, limit: number): { events: AuditEvent[]; total: number } {
    const n = this.#events.length
    const first = offset <= 0n ? 0 : offset >= BigInt(n) ? Number.POSITIVE_INFINITY : Number(offset)
    const events: AuditEvent[] = []
    let total = 0
    for (let i = 0; i < n; i++) {
      const e = this.#events[i] as AuditEvent
      if (f.agentId !== '' && (e.agent_id ?? '') !== f.agentId) continue
      if (f.taskId !== '' && (e.task_id ?? '') !== f.taskId) continue
      if (f.eventType !== '' && e.event_type !== f.eventType) continue
      if (f.outcome !== '' && (e.outcome ?? '') !== f.outcome) continue
      if (f.since !== null || f.until !== null) {
        const ms = this.#ms[i] as number
        const subNs = this.#subNs[i] as number
        // Go: skip when Timestamp.Before(since) or Timestamp.After(until) — both bounds inclusive
        if (f.since !== null && (ms < f.since.ms || (ms === f.since.ms && subNs < f.since.subNs))) continue
        if (f.until !== null && (ms > f.until.ms || (ms === f.until.ms && subNs > f.until.subNs))) continue
      }
      if (total >= first && events.length < limit) events.push(e)
      total++
    }
    return { events, total }
  }

  /**
   * What a Go broker restart does with the log: `LoadAllAuditEvents` reads the persisted events
   * `ORDER BY id ASC` — the id is TEXT, so past `evt-999999` the order is textual (`evt-1000000` sorts
   * right after `evt-100000`) — and `NewAuditLogWithEvents` sets the counter to the number of events and
   * the next `prev_hash` to the hash of the last one in that order.
   */
  reload(): void {
    const n = this.#events.length
    if (this.#events.some((e, i) => i > 0 && (this.#events[i - 1] as AuditEvent).id > e.id)) {
      const order = Array.from({ length: n }, (_, i) => i)
      const ids = this.#events.map((e) => e.id)
      order.sort((a, b) => {
        const x = ids[a] as string
        const y = ids[b] as string
        return x < y ? -1 : x > y ? 1 : 0
      })
      this.#events = order.map((i) => this.#events[i] as AuditEvent)
      this.#ms = order.map((i) => this.#ms[i] as number)
      this.#subNs = order.map((i) => this.#subNs[i] as number)
    }
    this.#counter = n
    this.#prevHash = n === 0 ? GENESIS_PREV_HASH : (this.#events[n - 1] as AuditEvent).hash
  }
}
