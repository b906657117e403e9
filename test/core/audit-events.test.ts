/**
 * Reading audit pages and events for the revocation feed (contract §4.9): the page shape, and what
 * each `token_revoked` / `token_released` / `token_renewed` event means — failing closed where the
 * event is unclear.
 */
import { describe, expect, it } from 'vitest'
import {
  AUDIT_PAGE_LIMIT,
  FEED_EVENT_TYPES,
  feedUpdateOf,
  parseAuditPage,
} from '../../src/core/audit-events.js'
import { sanitizeDetail } from '../../src/testing/index.js'

const SUB = 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef'

function revoked(level: string, target: string, agent: string | undefined = target) {
  return {
    event_type: 'token_revoked',
    ...(agent === undefined ? {} : { agent_id: agent }),
    detail: `revoked at level=${level} target=${target}`,
  }
}

describe('parseAuditPage', () => {
  it('reads a page of one type', () => {
    const e = revoked('token', 'j1')
    expect(parseAuditPage({ events: [e], total: 1, offset: 0, limit: 1000 }, 'token_revoked')).toEqual({
      events: [e],
      total: 1,
    })
    expect(parseAuditPage({ events: [], total: 0 }, 'token_released')).toEqual({ events: [], total: 0 })
  })

  it.each([
    ['null', null],
    ['a string', 'events'],
    ['an array', []],
    ['no events', { total: 0 }],
    ['events null', { events: null, total: 0 }],
    ['no total', { events: [] }],
    ['total a string', { events: [], total: '1' }],
    ['total negative', { events: [], total: -1 }],
    ['total fractional', { events: [], total: 1.5 }],
    ['total unsafe', { events: [], total: 2 ** 60 }],
    ['an event null', { events: [null], total: 1 }],
    ['an event a string', { events: ['x'], total: 1 }],
    ['an event of another type', { events: [{ event_type: 'token_released', detail: 'x' }], total: 1 }],
    ['an event without detail', { events: [{ event_type: 'token_revoked', agent_id: 'a' }], total: 1 }],
    [
      'an event with a numeric agent_id',
      { events: [{ event_type: 'token_revoked', detail: 'x', agent_id: 1 }], total: 1 },
    ],
  ])('refuses %s', (_name, body) => {
    expect(parseAuditPage(body, 'token_revoked')).toBeNull()
  })

  it('follows three types, 1000 events a page', () => {
    expect(FEED_EVENT_TYPES).toEqual(['token_revoked', 'token_released', 'token_renewed'])
    expect(AUDIT_PAGE_LIMIT).toBe(1000)
  })
})

describe('feedUpdateOf', () => {
  it.each(['token', 'agent', 'task', 'chain'] as const)('token_revoked at level %s', (level) => {
    expect(feedUpdateOf(revoked(level, 'target-1'))).toEqual({ kind: 'revoked', level, target: 'target-1' })
  })

  it('a SPIFFE target (with ":" and "/") is read whole', () => {
    expect(feedUpdateOf(revoked('agent', SUB))).toEqual({ kind: 'revoked', level: 'agent', target: SUB })
  })

  it('an unknown level is recorded at every level (fail closed)', () => {
    expect(feedUpdateOf(revoked('session', 'x'))).toEqual({ kind: 'revoked', level: undefined, target: 'x' })
    expect(feedUpdateOf(revoked('', 'x'))).toEqual({ kind: 'revoked', level: undefined, target: 'x' })
    expect(feedUpdateOf(revoked('TOKEN', 'x'))).toEqual({ kind: 'revoked', level: undefined, target: 'x' })
  })

  it('an unreadable detail with an agent_id: the agent_id at every level', () => {
    expect(feedUpdateOf({ event_type: 'token_revoked', agent_id: 'x', detail: 'something else' })).toEqual({
      kind: 'revoked',
      level: undefined,
      target: 'x',
    })
  })

  it('no agent_id: the detail names the target', () => {
    expect(feedUpdateOf(revoked('task', 'T', undefined))).toEqual({
      kind: 'revoked',
      level: 'task',
      target: 'T',
    })
  })

  it('agent_id and detail disagree: agent_id (verbatim) at every level', () => {
    expect(feedUpdateOf(revoked('token', 'other', 'x'))).toEqual({
      kind: 'revoked',
      level: undefined,
      target: 'x',
    })
  })

  it('a target the broker partly redacted in the detail is still recorded verbatim (agent_id)', () => {
    const target = 'key-secret: 42'
    const detail = sanitizeDetail(`revoked at level=task target=${target}`)
    expect(detail).toBe('revoked at level=task target=key-secret: ***REDACTED***')
    expect(feedUpdateOf({ event_type: 'token_revoked', agent_id: target, detail })).toEqual({
      kind: 'revoked',
      level: undefined,
      target,
    })
  })

  it('a revocation naming no target is unusable', () => {
    expect(feedUpdateOf({ event_type: 'token_revoked', detail: 'revoked at level=token target=' })).toBeNull()
    expect(feedUpdateOf({ event_type: 'token_revoked', detail: 'nonsense' })).toBeNull()
    expect(feedUpdateOf({ event_type: 'token_revoked', agent_id: '', detail: '' })).toBeNull()
  })

  it('token_released names the jti', () => {
    expect(
      feedUpdateOf({
        event_type: 'token_released',
        agent_id: SUB,
        detail: `token released | jti=${'a'.repeat(32)}`,
      }),
    ).toEqual({ kind: 'released', jti: 'a'.repeat(32) })
    expect(feedUpdateOf({ event_type: 'token_released', agent_id: SUB, detail: 'token released' })).toBeNull()
    expect(
      feedUpdateOf({ event_type: 'token_released', agent_id: SUB, detail: 'token released | jti=' }),
    ).toBeNull()
  })

  it('token_renewed names the subject (agent_id, else the detail)', () => {
    const detail = `token renewed for agent=${SUB} new_jti=${'b'.repeat(32)}`
    expect(feedUpdateOf({ event_type: 'token_renewed', agent_id: SUB, detail })).toEqual({
      kind: 'renewed',
      subject: SUB,
    })
    expect(feedUpdateOf({ event_type: 'token_renewed', detail })).toEqual({ kind: 'renewed', subject: SUB })
    expect(feedUpdateOf({ event_type: 'token_renewed', detail: 'renewed' })).toBeNull()
  })

  it('another event type is unusable', () => {
    expect(
      feedUpdateOf({ event_type: 'token_issued', agent_id: SUB, detail: 'Token issued, jti=x, ttl=300' }),
    ).toBeNull()
  })
})
