/**
 * Revocation at the broker's four levels, seen through protected services: after each revoke,
 * exactly the tokens the broker would reject are refused (once the cache bound has passed) and
 * the others keep being served. The verifier's clock is injected, so "the cache bound has passed"
 * is a clock step, not a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, buildApp, type RunningApp } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { bearer, payloadOf } from '../helpers/tokens.js'

const CACHE_TTL_MS = 2_000

describe.each(ADAPTERS)('revocation through %s (remote mode, cacheTtlMs %d)', (adapter) => {
  let broker: DevBroker
  let app: RunningApp
  let t = Date.now()
  const tokens: Record<string, string> = {}
  const ids: Record<string, string> = {}

  async function status(name: string): Promise<{ status: number; source?: string }> {
    const res = await send(app.url, { path: '/me', headers: bearer(tokens[name]!) })
    return { status: res.status, source: res.json?.source }
  }
  async function statuses(names: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const n of names) out[n] = (await status(n)).status
    return out
  }
  /** Step the verifier's clock past the positive-cache bound. */
  function passCacheBound() {
    t += CACHE_TTL_MS + 1
  }

  beforeAll(async () => {
    broker = await startDevBroker()
    app = await buildApp(adapter, { broker: broker.url, cacheTtlMs: CACHE_TTL_MS, now: () => t })
    const mk = async (name: string, taskId: string, scope: string[]) => {
      const a = await broker.createAgent({ orchId: 'incident-response', taskId, scope })
      tokens[name] = a.accessToken
      ids[name] = a.agentId
    }
    await mk('reader', 'incident-demo', ['read:data:partition-1'])
    await mk('writer', 'incident-demo', ['write:data:partition-1'])
    await mk('analyzer', 'incident-demo', ['read:data:partition-2'])
    await mk('archiver', 'other-task', ['write:data:partition-3'])
    await mk('root', 'chain-demo', ['read:data:*', 'write:data:*'])
    await mk('child', 'chain-demo', ['read:data:*'])
    tokens.delegated = (
      await broker.delegate(tokens.root!, { to: ids.child!, scope: ['read:data:partition-1'] })
    ).accessToken
  })
  afterAll(async () => {
    await app?.close()
    await broker?.close()
  })

  it('everything is alive at first', async () => {
    expect(await statuses(Object.keys(tokens))).toEqual(
      Object.fromEntries(Object.keys(tokens).map((k) => [k, 200])),
    )
  })

  it('token level: only that jti dies (served from cache until the bound passes)', async () => {
    const jti = payloadOf(tokens.reader!).jti as string
    await broker.revoke('token', jti)
    // Within the bound the cached answer is still used: that is the documented staleness.
    expect(await status('reader')).toEqual({ status: 200, source: 'cache' })
    passCacheBound()
    expect(await statuses(['reader', 'writer', 'analyzer', 'archiver'])).toEqual({
      reader: 401,
      writer: 200,
      analyzer: 200,
      archiver: 200,
    })
  })

  it('agent level: every token of that SPIFFE id dies', async () => {
    await broker.revoke('agent', ids.writer!)
    passCacheBound()
    expect(await statuses(['reader', 'writer', 'analyzer', 'archiver'])).toEqual({
      reader: 401,
      writer: 401,
      analyzer: 200,
      archiver: 200,
    })
  })

  it('task level: every token with that task_id dies; another task survives', async () => {
    await broker.revoke('task', 'incident-demo')
    passCacheBound()
    expect(await statuses(['reader', 'writer', 'analyzer', 'archiver'])).toEqual({
      reader: 401,
      writer: 401,
      analyzer: 401,
      archiver: 200,
    })
  })

  it("chain level: delegated tokens rooted at the agent die; the root's own token lives (as the broker)", async () => {
    await broker.revoke('chain', ids.root!)
    passCacheBound()
    expect(await statuses(['delegated', 'root', 'child', 'archiver'])).toEqual({
      delegated: 401,
      root: 200,
      child: 200,
      archiver: 200,
    })
  })

  it('100 concurrent requests with one fresh token → exactly one validate call', async () => {
    const fresh = await broker.createAgent({ orchId: 'o', taskId: 'burst', scope: ['read:data:customer-7'] })
    broker.resetStats()
    const all = await Promise.all(
      Array.from({ length: 100 }, () =>
        send(app.url, { path: '/customers/7', headers: bearer(fresh.accessToken) }),
      ),
    )
    expect(all.map((r) => r.status)).toEqual(Array(100).fill(200))
    expect(broker.stats.validateCalls).toBe(1)
  })
})
