/**
 * The replicas example (examples/replicas/): three replicas of the order service sharing one Redis
 * behind a round-robin proxy. Run in-process for its measured facts, and as `npm run
 * example:replicas` does for its exit code and output. Needs Redis: `REDIS_URL`, or `redis-server`
 * on PATH (the example starts it on a free port and stops it).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { replicasScenario } from '../../examples/replicas/scenario.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSX_CLI = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url))
const NAMES = ['replica-1', 'replica-2', 'replica-3']

describe('example: several replicas sharing Redis', () => {
  it('one validate call for the fleet; every replica refuses a revoked token within 3 s; one leader', async () => {
    const lines: string[] = []
    const outcome = await replicasScenario({ log: (l) => lines.push(l) })
    expect(outcome.mismatches).toEqual([])
    expect(outcome.ok).toBe(true)
    // Round robin: each replica served 4 of the 12 requests, and the broker saw one validate call.
    expect(outcome.served).toEqual({ 'replica-1': 4, 'replica-2': 4, 'replica-3': 4 })
    expect(outcome.validateCalls).toBe(1)
    // The refusals came from the feed (the leader's poll, the others from the stream): no broker call.
    expect(outcome.validateCallsAtEnd).toBe(1)
    expect(Object.keys(outcome.refusedAfterMs).sort()).toEqual(NAMES)
    expect(outcome.lastRefusedAfterMs).toBeLessThan(3_000)
    expect(Object.values(outcome.roles).sort()).toEqual(['follower', 'follower', 'leader'])
    const text = lines.join('\n')
    expect(text).toContain('Broker validate calls for the fleet: 1')
    expect(text).toMatch(/Every replica refused the revoked token; the last \d+ ms after the revoke/)
    expect(text).toMatch(/replica-\d {2}leader /)
  })

  it('reports, and does not pass, a replica that still accepts the revoked token past the bound', async () => {
    const outcome = await replicasScenario({ log: () => {}, refuseWithinMs: 1 })
    expect(outcome.ok).toBe(false)
    expect(outcome.lastRefusedAfterMs).toBeUndefined()
    expect(outcome.mismatches).toContainEqual(
      expect.stringMatching(/^replica-\d.* still accepted the revoked token 1 ms after the revoke$/),
    )
  })

  it('npm run example:replicas exits 0 and prints the facts', () => {
    const r = spawnSync(process.execPath, [TSX_CLI, 'examples/replicas/run.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('Broker validate calls for the fleet: 1')
    for (const name of NAMES) expect(r.stdout).toMatch(new RegExp(`${name} refused it after \\d+ ms`))
    expect(
      r.stdout
        .match(/^ {2}replica-\d {2}(leader|follower) /gm)
        ?.map((l) => l.trim().split(/ +/)[1])
        .sort(),
    ).toEqual(['follower', 'follower', 'leader'])
    expect(r.stdout).toContain('replicas: every expectation held')
  })
})
