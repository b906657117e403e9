import { describe, expect, it } from 'vitest'
import { parseScope, scopeCovers, scopeIsSubset } from '../../src/core/scope.js'

// Broker semantics: internal/authz/scope.go (shared/broker-contract.md §10.1).

describe('parseScope', () => {
  const valid: [string, string, string, string][] = [
    // Go TestParseScope vectors
    ['read:Customers:12345', 'read', 'Customers', '12345'],
    ['read:Customers:*', 'read', 'Customers', '*'],
    ['admin:launch-tokens:*', 'admin', 'launch-tokens', '*'],
    // SplitN(s, ":", 3): the identifier keeps every further colon
    ['read:data:x:y', 'read', 'data', 'x:y'],
    ['read:data:x:', 'read', 'data', 'x:'],
    ['read:data::', 'read', 'data', ':'],
    ['read:data:::', 'read', 'data', '::'],
    ['a:b:c', 'a', 'b', 'c'],
    ['*:*:*', '*', '*', '*'],
    ['*:data:x', '*', 'data', 'x'],
    // no trimming, case kept, any character
    [' read:data:x ', ' read', 'data', 'x '],
    ['READ:Data:X', 'READ', 'Data', 'X'],
    ['read:data:%3A', 'read', 'data', '%3A'],
    ['read:data:ü', 'read', 'data', 'ü'],
    ['read:data:\n', 'read', 'data', '\n'],
  ]
  it.each(valid)('%j → %j / %j / %j', (scope, action, resource, identifier) => {
    expect(parseScope(scope)).toEqual({ action, resource, identifier })
  })

  const invalid: [string, string][] = [
    // Go TestParseScope vectors
    ['missing parts', 'read:Customers'],
    ['single part', 'read'],
    ['empty string', ''],
    ['empty action', ':Customers:*'],
    ['empty resource', 'read::*'],
    ['empty identifier', 'read:Customers:'],
    // contract §10.1 / §15.2
    ['bare *', '*'],
    ['two parts', 'read:data'],
    ['empty resource (x)', 'read::x'],
    ['empty identifier (data)', 'read:data:'],
    ['all empty', '::'],
    ['three empty', ':::'],
    ['empty action, two parts', ':a:b'],
    ['no colon', 'bad-scope'],
    ['single colon', ':'],
    ['leading colon only', ':read'],
  ]
  it.each(invalid)('%s: %j → null', (_name, scope) => {
    expect(parseScope(scope)).toBeNull()
  })

  it.each([undefined, null, 42, {}, ['read:data:x']])('never throws on non-string %j', (v) => {
    expect(parseScope(v as unknown as string)).toBeNull()
  })
})

describe('scopeCovers(required, held)', () => {
  const cases: [string, string, boolean][] = [
    ['read:data:x', 'read:data:x', true],
    ['read:data:x', 'read:data:*', true],
    ['read:data:*', 'read:data:*', true],
    ['read:data:*', 'read:data:x', false],
    ['read:data:x', 'read:data:y', false],
    ['write:data:x', 'read:data:*', false],
    ['read:other:x', 'read:data:*', false],
    // identifiers containing ':'
    ['read:data:x:y', 'read:data:*', true],
    ['read:data:x:y', 'read:data:x:y', true],
    ['read:data:x:y', 'read:data:x:*', false],
    ['read:data:x:y', 'read:data:x', false],
    ['read:data:x', 'read:data:x:y', false],
    // `*` is a wildcard only as the whole identifier
    ['read:data:customer-1', 'read:data:customer-*', false],
    ['read:data:x', 'read:data:**', false],
    ['read:data:x', 'read:data: *', false],
    // `*` in action/resource is a literal
    ['read:data:x', '*:data:x', false],
    ['read:data:x', 'read:*:x', false],
    ['read:data:x', '*:*:*', false],
    ['*:*:*', '*:*:*', true],
    ['*:*:x', '*:*:*', true],
    ['*:*:x:y', '*:*:*', true],
    ['read:*:x', '*:*:*', false],
    ['*:data:x', '*:*:*', false],
    // case-sensitive, no trimming
    ['read:data:x', 'READ:data:*', false],
    ['read:data:x', 'read:Data:*', false],
    ['read:data:X', 'read:data:x', false],
    ['read:data:x', ' read:data:*', false],
    ['read:data:x ', 'read:data:x', false],
    // malformed never covers and is never covered
    ['*', '*', false],
    ['read:data', 'read:data', false],
    ['read:data', 'read:data:*', false],
    ['read:data:x', '*', false],
    ['read:data:x', 'read:data', false],
    ['read::x', 'read::*', false],
    ['read:data:', 'read:data:*', false],
    ['read:data:', 'read:data:', false],
    ['::', '::', false],
    ['', '', false],
  ]
  it.each(cases)('%j held %j → %s', (required, held, expected) => {
    expect(scopeCovers(required, held)).toBe(expected)
  })
})

describe('scopeIsSubset(requested, allowed)', () => {
  // Go TestScopeIsSubset vectors (internal/authz/scope_test.go)
  const goVectors: [string, string[], string[], boolean][] = [
    ['exact match', ['read:Customers:*'], ['read:Customers:*'], true],
    ['wildcard covers specific', ['read:Customers:12345'], ['read:Customers:*'], true],
    ['specific does not cover wildcard', ['read:Customers:*'], ['read:Customers:12345'], false],
    ['different action', ['write:Customers:*'], ['read:Customers:*'], false],
    ['different resource', ['read:Orders:*'], ['read:Customers:*'], false],
    [
      'multiple requested all covered',
      ['read:Customers:12345', 'read:Customers:67890'],
      ['read:Customers:*'],
      true,
    ],
    [
      'multiple requested one not covered',
      ['read:Customers:12345', 'write:Customers:*'],
      ['read:Customers:*'],
      false,
    ],
    [
      'multiple allowed scopes',
      ['read:Customers:12345', 'write:Orders:*'],
      ['read:Customers:*', 'write:Orders:*'],
      true,
    ],
    ['empty requested is subset', [], ['read:Customers:*'], true],
    [
      'admin scope exact',
      ['admin:launch-tokens:*'],
      ['admin:launch-tokens:*', 'admin:revoke:*', 'admin:audit:*'],
      true,
    ],
  ]
  it.each(goVectors)('Go: %s', (_name, requested, allowed, expected) => {
    expect(scopeIsSubset(requested, allowed)).toBe(expected)
  })

  // Python SDK vectors on which SDK and Go agree (tests/unit/test_scope.py)
  const sdkAgreeing: [string[], string[], boolean][] = [
    [['read:data:customers'], ['read:data:customers'], true],
    [['read:data:customers'], ['read:data:*'], true],
    [['read:data:orders'], ['read:data:*'], true],
    [['write:data:customers'], ['read:data:customers'], false],
    [['read:users:customers'], ['read:data:customers'], false],
    [['read:data:orders'], ['read:data:customers'], false],
    [['read:data:customers', 'write:logs:system'], ['read:data:*', 'write:logs:system'], true],
    [['read:data:customers', 'write:data:users'], ['read:data:*', 'write:logs:system'], false],
    [[], ['read:data:*'], true],
    [['read:data:customers'], [], false],
    [['read:data:customers'], ['*:data:customers'], false],
    [['read:data:customers'], ['*:*:*'], false],
  ]
  it.each(sdkAgreeing)('SDK=Go: %j ⊆ %j → %s', (requested, allowed, expected) => {
    expect(scopeIsSubset(requested, allowed)).toBe(expected)
  })

  // The 7 SDK-vs-Go disagreements (contract §15.2.1): we follow Go.
  const disagreements: [string[], string[], boolean, boolean][] = [
    // requested, allowed, Go (ours), SDK
    [['*'], ['*'], false, true],
    [['read:data'], ['read:data'], false, true],
    [['bad-scope'], ['bad-scope'], false, true],
    [['read::x'], ['read::*'], false, true],
    [['read:data:'], ['read:data:*'], false, true],
    [['::'], ['::'], false, true],
    [['read:data:x:y'], ['read:data:*'], true, false],
  ]
  it.each(disagreements)('SDK≠Go: %j ⊆ %j → Go %s (SDK %s)', (requested, allowed, go) => {
    expect(scopeIsSubset(requested, allowed)).toBe(go)
  })

  it('bare * allowed is not a full wildcard (SDK docstring is wrong, code and Go agree)', () => {
    expect(scopeIsSubset(['read:data:customers'], ['*'])).toBe(false)
  })

  const more: [string, string[], string[], boolean][] = [
    ['empty requested, empty allowed', [], [], true],
    ['empty requested, malformed allowed', [], ['*'], true],
    [
      'malformed requested among valid ones',
      ['read:data:x', 'read:data'],
      ['read:data:*', 'read:data'],
      false,
    ],
    ['malformed allowed ignored', ['read:data:x'], ['read:data', 'read:data:*'], true],
    ['duplicates in requested', ['read:data:x', 'read:data:x'], ['read:data:x'], true],
    ['*:*:* covers only itself and *:*:<id>', ['*:*:*', '*:*:abc'], ['*:*:*'], true],
    ['*:*:* does not grant everything (docs/scope-model.md is wrong)', ['read:data:x'], ['*:*:*'], false],
  ]
  it.each(more)('%s', (_name, requested, allowed, expected) => {
    expect(scopeIsSubset(requested, allowed)).toBe(expected)
  })

  it('treats non-array inputs as holding nothing and never throws', () => {
    expect(scopeIsSubset(undefined as unknown as string[], ['read:data:*'])).toBe(false)
    expect(scopeIsSubset(['read:data:x'], null as unknown as string[])).toBe(false)
    expect(scopeIsSubset(['read:data:x'], 'read:data:*' as unknown as string[])).toBe(false)
    expect(scopeIsSubset([42 as unknown as string], ['read:data:*'])).toBe(false)
  })
})
