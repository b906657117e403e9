/**
 * `npm run example:replicas`: three replicas of the order service sharing one Redis
 * (`agentwrit-verify/redis`) behind a round-robin proxy, on the embedded development broker — one
 * validate call for the fleet, and a revoke refused by every replica about a second later.
 *
 * Needs Redis: `REDIS_URL`, or `redis-server` on PATH (started on a free 127.0.0.1 port and
 * stopped at the end). Not part of `npm run demo`, which runs without Redis.
 *
 * Exit code 0 when every expectation held, 1 otherwise (the reason is printed).
 */
import { replicasScenario } from './scenario.js'

async function main(): Promise<number> {
  const started = performance.now()
  const outcome = await replicasScenario({ log: (line) => console.log(line) })
  console.log('')
  if (outcome.ok) {
    console.log(`replicas: every expectation held (${((performance.now() - started) / 1000).toFixed(1)} s).`)
    return 0
  }
  console.log('replicas: UNEXPECTED')
  for (const m of outcome.mismatches) console.log(`  ${m}`)
  return 1
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
