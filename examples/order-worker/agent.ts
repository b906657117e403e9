/**
 * Scenario 01 — the agent side: one ephemeral agent per order, scoped to one customer and one
 * order, calling the order service with its token, then releasing it.
 * Mirrors shared/scenarios/01-order-worker.md, with a real downstream service instead of local
 * `scope_is_subset()` checks.
 */
import type { DevBroker } from '../../src/testing/index.js'
import { callService } from '../shared.js'

export interface OrderWorkerResult {
  readonly agentId: string
  /** HTTP status of each call, by step name. */
  readonly statuses: Readonly<Record<string, number>>
}

type Log = (line: string) => void

/** The fields of the service's answers (and problem bodies) the worker prints. */
interface Answer {
  name?: string
  tier?: string
  status?: string
  error_code?: string
  detail?: string
}

/**
 * Run the order worker for one order against `serviceUrl`. The agent is created through the
 * broker's real HTTP flow (app auth → launch token → challenge → register).
 * @param waitForCacheMs - how long to wait after release before the last call: the service's
 *   revocation-staleness bound (its `cacheTtlMs`).
 */
export async function runOrderWorker(options: {
  broker: DevBroker
  serviceUrl: string
  customerId: string
  orderId: string
  waitForCacheMs: number
  log?: Log
}): Promise<OrderWorkerResult> {
  const { broker, serviceUrl, customerId, orderId } = options
  const log = options.log ?? (() => {})
  const statuses: Record<string, number> = {}

  const agent = await broker.createAgent({
    orchId: 'order-worker',
    taskId: `process-${orderId}`,
    scope: [`read:data:customer-${customerId}`, `write:data:order-${orderId}`],
  })
  log(`Agent created: ${agent.agentId}`)
  log(`  Scope:   ${JSON.stringify(agent.scope)}`)
  log(`  Expires: ${agent.expiresIn}s`)
  log('')

  try {
    const read = await callService<Answer>(serviceUrl, agent.accessToken, 'GET', `/customers/${customerId}`)
    statuses.readOwnCustomer = read.status
    log(
      read.status === 200
        ? `[READ]    GET /customers/${customerId} → 200: ${read.body?.name}, ${read.body?.tier} tier`
        : `[DENIED]  GET /customers/${customerId} → ${read.status}`,
    )

    const write = await callService<Answer>(serviceUrl, agent.accessToken, 'PUT', `/orders/${orderId}`, {
      customer: customerId,
    })
    statuses.writeOwnOrder = write.status
    log(
      write.status === 200
        ? `[WRITE]   PUT /orders/${orderId} → 200: order ${write.body?.status} for customer ${customerId}`
        : `[DENIED]  PUT /orders/${orderId} → ${write.status}`,
    )

    const other = await callService<Answer>(serviceUrl, agent.accessToken, 'GET', '/customers/cust-9999')
    statuses.readOtherCustomer = other.status
    log(`[BLOCKED] GET /customers/cust-9999 → ${other.status} ${other.body?.error_code ?? ''}`)
    log(`          WWW-Authenticate: ${other.challenge}`)

    const otherOrder = await callService<Answer>(serviceUrl, agent.accessToken, 'PUT', '/orders/ord-0000', {
      customer: customerId,
    })
    statuses.writeOtherOrder = otherOrder.status
    log(`[BLOCKED] PUT /orders/ord-0000 → ${otherOrder.status} ${otherOrder.body?.error_code ?? ''}`)
    log('')
  } finally {
    await broker.release(agent.accessToken)
    log('Agent released. Token is now dead at the broker.')
  }

  if (options.waitForCacheMs > 0) {
    log(`(waiting ${options.waitForCacheMs} ms: the service's revocation-staleness bound, its cacheTtlMs)`)
    await new Promise((r) => setTimeout(r, options.waitForCacheMs))
  }
  const dead = await callService<Answer>(serviceUrl, agent.accessToken, 'GET', `/customers/${customerId}`)
  statuses.afterRelease = dead.status
  log(
    `Confirmed: GET /customers/${customerId} → ${dead.status} ${dead.body?.error_code ?? ''} — "${dead.body?.detail}"`,
  )
  return { agentId: agent.agentId, statuses }
}
