/**
 * Reading the broker's audit log (contract §4.9) for a revocation feed: a page of
 * `GET /v1/audit/events`, and what each event of the three kinds the feed follows means.
 *
 * Detail strings, as the broker writes them:
 * - `token_revoked`: `revoked at level=<level> target=<target>`, `agent_id` = the target;
 * - `token_released`: `token released | jti=<jti>`, `agent_id` = the token's subject;
 * - `token_renewed`: `token renewed for agent=<sub> new_jti=<jti>`, `agent_id` = the subject.
 */
import { isRevocationLevel, type RevocationLevel } from './revocation-predicates.js'

/** The audit event types a revocation feed follows, in the order it applies them. */
export const FEED_EVENT_TYPES = ['token_revoked', 'token_released', 'token_renewed'] as const
export type FeedEventType = (typeof FEED_EVENT_TYPES)[number]

/** The broker's page size cap. */
export const AUDIT_PAGE_LIMIT = 1000

/** One page of events of one type. */
export interface AuditPage {
  readonly events: readonly AuditEventFields[]
  /** Every match before paging. */
  readonly total: number
}

/** The fields of an event the feed reads. */
export interface AuditEventFields {
  readonly event_type: string
  readonly agent_id?: string
  readonly detail: string
}

/** What one event tells the feed. `null`: nothing it can use (the caller decides). */
export type FeedUpdate =
  /** A revocation; `level` `undefined` when the detail did not say which (record it at every level). */
  | { readonly kind: 'revoked'; readonly level: RevocationLevel | undefined; readonly target: string }
  | { readonly kind: 'released'; readonly jti: string }
  /** The subject renewed a token: its predecessor is revoked, but the event does not name it. */
  | { readonly kind: 'renewed'; readonly subject: string }

/**
 * Check the shape of a page for `type`: `{ events: [...], total }`, every event an object of that
 * type with a string `detail`. `null` when it is not one (the poll failed).
 */
export function parseAuditPage(body: unknown, type: FeedEventType): AuditPage | null {
  if (typeof body !== 'object' || body === null) return null
  const { events, total } = body as { events?: unknown; total?: unknown }
  if (!Array.isArray(events) || !Number.isSafeInteger(total) || (total as number) < 0) return null
  for (const e of events) {
    if (typeof e !== 'object' || e === null) return null
    const { event_type, detail, agent_id } = e as Record<string, unknown>
    if (event_type !== type || typeof detail !== 'string') return null
    if (agent_id !== undefined && typeof agent_id !== 'string') return null
  }
  return { events: events as AuditEventFields[], total: total as number }
}

const REVOKED = /^revoked at level=(\S*) target=(.*)$/s
const RELEASED = /^token released \| jti=(\S+)$/
const RENEWED = /^token renewed for agent=(\S+) new_jti=\S+$/

/**
 * What an event means for the feed, or `null` when it names nothing usable. A revocation whose
 * level cannot be read (or whose detail names another target than `agent_id`) but whose target can
 * is recorded at every level (fail closed).
 */
export function feedUpdateOf(event: AuditEventFields): FeedUpdate | null {
  const agent = event.agent_id ?? ''
  switch (event.event_type) {
    case 'token_revoked': {
      const m = REVOKED.exec(event.detail)
      const level = m?.[1]
      const named = m?.[2] ?? ''
      // `agent_id` is the target verbatim; the detail is sanitised by the broker (a target holding
      // `secret`, `password`… before a `: ` is partly redacted there), so it is only the fallback.
      const target = agent || named
      if (target === '') return null
      return {
        kind: 'revoked',
        level: level !== undefined && isRevocationLevel(level) && named === target ? level : undefined,
        target,
      }
    }
    case 'token_released': {
      const jti = RELEASED.exec(event.detail)?.[1]
      return jti === undefined ? null : { kind: 'released', jti }
    }
    case 'token_renewed': {
      const subject = agent || RENEWED.exec(event.detail)?.[1] || ''
      return subject === '' ? null : { kind: 'renewed', subject }
    }
    default:
      return null
  }
}
