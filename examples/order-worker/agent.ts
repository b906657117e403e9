/**
 * Scenario 01 — the agent side: one ephemeral agent per order, scoped to one customer and one
 * order, calling the order service with its token, then releasing it.
 * Mirrors shared/scenarios/01-order-worker.md, with a real downstream service instead of local
 * `scope_is_subset()` checks.
 */
import type { DevBroker } from '../../src/testing/index.js'

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

async function call(
  serviceUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Answer | null; challenge: string | null }> {
  const res = await fetch(new URL(path, serviceUrl), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {
    status: res.status,
    json: (await res.json().catch(() => null)) as Answer | null,
    challenge: res.headers.get('www-authenticate'),
  }
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
    const read = await call(serviceUrl, agent.accessToken, 'GET', `/customers/${customerId}`)
    statuses.readOwnCustomer = read.status
    log(
      read.status === 200
        ? `[READ]    GET /customers/${customerId} → 200: ${read.json?.name}, ${read.json?.tier} tier`
        : `[DENIED]  GET /customers/${customerId} → ${read.status}`,
    )

    const write = await call(serviceUrl, agent.accessToken, 'PUT', `/orders/${orderId}`, {
      customer: customerId,
    })
    statuses.writeOwnOrder = write.status
    log(
      write.status === 200
        ? `[WRITE]   PUT /orders/${orderId} → 200: order ${write.json?.status} for customer ${customerId}`
        : `[DENIED]  PUT /orders/${orderId} → ${write.status}`,
    )

    const other = await call(serviceUrl, agent.accessToken, 'GET', '/customers/cust-9999')
    statuses.readOtherCustomer = other.status
    log(`[BLOCKED] GET /customers/cust-9999 → ${other.status} ${other.json?.error_code ?? ''}`)
    log(`          WWW-Authenticate: ${other.challenge}`)

    const otherOrder = await call(serviceUrl, agent.accessToken, 'PUT', '/orders/ord-0000', {
      customer: customerId,
    })
    statuses.writeOtherOrder = otherOrder.status
    log(`[BLOCKED] PUT /orders/ord-0000 → ${otherOrder.status} ${otherOrder.json?.error_code ?? ''}`)
    log('')
  } finally {
    await broker.release(agent.accessToken)
    log('Agent released. Token is now dead at the broker.')
  }

  if (options.waitForCacheMs > 0) {
    log(`(waiting ${options.waitForCacheMs} ms: the service's revocation-staleness bound, its cacheTtlMs)`)
    await new Promise((r) => setTimeout(r, options.waitForCacheMs))
  }
  const dead = await call(serviceUrl, agent.accessToken, 'GET', `/customers/${customerId}`)
  statuses.afterRelease = dead.status
  log(
    `Confirmed: GET /customers/${customerId} → ${dead.status} ${dead.json?.error_code ?? ''} — "${dead.json?.detail}"`,
  )
  return { agentId: agent.agentId, statuses }
}
