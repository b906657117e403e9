/**
 * `npm run demo [-- <scenario>]`: the reference scenarios end to end, each on its own embedded
 * development broker (127.0.0.1, random port) with a real service protected by agentwrit-verify:
 *
 *   order-worker       (01) Hono order service;  one agent per order; 403 elsewhere; 401 after release
 *   data-pipeline      (02) Fastify, then NestJS, analytics API; one agent per tenant; every cross-tenant call 403
 *   deploy-runner      (05) Koa deploy service; orchestrator → analyst → deployer; depth limit 5
 *   incident-response  (07) Express partition service; revocation at four levels, within the cache bound
 *   mcp-orders              MCP server (Express, Streamable HTTP); tools guarded by scope; 401 after release
 *
 * Exit code 0 when every step got its expected status, 1 otherwise, 2 for an unknown scenario.
 */
import { dataPipelineScenario } from './data-pipeline/scenario.js'
import { deployRunnerScenario } from './deploy-runner/scenario.js'
import { incidentResponseScenario } from './incident-response/scenario.js'
import { mcpOrdersScenario } from './mcp-orders/scenario.js'
import { orderWorkerScenario } from './order-worker/scenario.js'
import type { Log, ScenarioOutcome } from './shared.js'

const SCENARIOS: Readonly<Record<string, { title: string; run: (log: Log) => Promise<ScenarioOutcome> }>> = {
  'order-worker': {
    title: '01 — E-Commerce Order Worker (Hono)',
    run: (log) => orderWorkerScenario({ log }),
  },
  'data-pipeline': {
    title: '02 — Multi-Tenant Data Pipeline (Fastify, then NestJS)',
    run: (log) => dataPipelineScenario({ log }),
  },
  'deploy-runner': {
    title: '05 — CI/CD Deployment Runner (Koa)',
    run: (log) => deployRunnerScenario({ log }),
  },
  'incident-response': {
    title: '07 — Incident Response System (Express)',
    run: (log) => incidentResponseScenario({ log }),
  },
  'mcp-orders': {
    title: 'MCP order database: guarded tools (Express, Streamable HTTP)',
    run: (log) => mcpOrdersScenario({ log }),
  },
}

const USAGE = `Usage: npm run demo [-- <scenario>]      (or: npx tsx examples/demo.ts [scenario])

Runs the reference scenarios on the embedded development broker; with no argument, all of them.

Scenarios:
${Object.entries(SCENARIOS)
  .map(([name, s]) => `  ${name.padEnd(19)}${s.title}`)
  .join('\n')}
`

async function main(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '-h' || args[0] === '--help')) {
    process.stdout.write(USAGE)
    return 0
  }
  if (args.length > 1 || (args.length === 1 && !Object.hasOwn(SCENARIOS, args[0]!))) {
    process.stderr.write(
      `${args.length > 1 ? 'Too many arguments' : `Unknown scenario: ${args[0]}`}\n\n${USAGE}`,
    )
    return 2
  }
  const names = args.length === 1 ? [args[0]!] : Object.keys(SCENARIOS)
  const log: Log = (line) => console.log(line)
  const summary: { name: string; ok: boolean; ms: number }[] = []
  for (const name of names) {
    const scenario = SCENARIOS[name]!
    console.log('')
    console.log('#'.repeat(72))
    console.log(`#  Scenario ${scenario.title}  [npm run demo -- ${name}]`)
    console.log('#'.repeat(72))
    console.log('')
    const started = performance.now()
    let outcome: ScenarioOutcome
    try {
      outcome = await scenario.run(log)
    } catch (err) {
      console.error(err)
      outcome = { ok: false, mismatches: [`failed: ${(err as Error).message}`] }
    }
    const ms = performance.now() - started
    summary.push({ name, ok: outcome.ok, ms })
    console.log('')
    if (outcome.ok) {
      console.log(`${name}: every step got its expected status.`)
    } else {
      console.log(`${name}: UNEXPECTED`)
      for (const m of outcome.mismatches) console.log(`  ${m}`)
    }
  }
  console.log('')
  console.log('Summary')
  for (const s of summary) {
    console.log(`  ${s.name.padEnd(19)}${s.ok ? 'ok        ' : 'UNEXPECTED'}  ${(s.ms / 1000).toFixed(1)} s`)
  }
  const ok = summary.every((s) => s.ok)
  console.log('')
  console.log(ok ? 'Every expected status matched.' : 'Some steps did NOT get their expected status.')
  return ok ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
