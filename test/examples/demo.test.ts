import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { dataPipelineScenario } from '../../examples/data-pipeline/scenario.js'
import { deployRunnerScenario } from '../../examples/deploy-runner/scenario.js'
import { orderWorkerScenario } from '../../examples/order-worker/scenario.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSX_CLI = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url))

function demo(...args: string[]) {
  return spawnSync(process.execPath, [TSX_CLI, 'examples/demo.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 15_000,
  })
}

describe('npm run demo', () => {
  it('an unknown scenario prints the usage and exits 2', () => {
    const r = demo('no-such-scenario')
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('Unknown scenario: no-such-scenario')
    for (const name of [
      'order-worker',
      'data-pipeline',
      'deploy-runner',
      'incident-response',
      'mcp-orders',
    ]) {
      expect(r.stderr).toContain(name)
    }
    expect(r.stdout).toBe('')
  })

  it('the scenario harnesses the demo runs report success', async () => {
    const log = () => {}
    expect(await orderWorkerScenario({ log, cacheTtlMs: 200 })).toEqual({ ok: true, mismatches: [] })
    expect(await dataPipelineScenario({ log })).toEqual({ ok: true, mismatches: [] })
    expect(await deployRunnerScenario({ log })).toEqual({ ok: true, mismatches: [] })
  })
})
