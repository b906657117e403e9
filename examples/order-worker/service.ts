/**
 * Scenario 01 — the downstream "order database" service (shared/scenarios/01-order-worker.md).
 *
 * A Hono API in front of mock customer and order data, served on Node by `@hono/node-server`.
 * Every route is protected by agentwrit-verify: an agent may read only the customer its scope
 * names and write only its order.
 */
import type { RequestListener } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { type AgentAuthEnv, type AgentAuthOptions, agentAuth, agentOf, requireScope } from '../../src/hono.js'

/** Mock data: in a real service these are database rows. */
const CUSTOMERS: Record<string, { name: string; tier: string }> = {
  'cust-7291': { name: 'John Doe', tier: 'Premium' },
  'cust-9999': { name: 'Jane Roe', tier: 'Standard' },
}

/** The order service: the Hono app, its Node request listener, and `close()` for its verifier. */
export interface OrderService {
  readonly app: Hono<AgentAuthEnv>
  /** Serve it with `http.createServer(listener)` (what `@hono/node-server`'s `serve()` does). */
  readonly listener: RequestListener
  close(): Promise<void>
}

/** Build the order service. `options` are agentwrit-verify's (broker URL, cache TTL…). */
export function buildOrderService(options: AgentAuthOptions): OrderService {
  const orders = new Map<string, { customer: string; status: string; by: string }>()
  const auth = agentAuth(options)
  const app = new Hono<AgentAuthEnv>()
  app.use(auth)

  // read:data:customer-<id> — filled from the route parameter, exactly as the broker matches scopes.
  app.get('/customers/:id', requireScope('read:data:customer-:id'), (c) => {
    const id = c.req.param('id')
    const customer = CUSTOMERS[id]
    if (!customer) return c.json({ error: 'no such customer' }, 404)
    return c.json({ id, ...customer, readBy: agentOf(c).id })
  })

  // write:data:order-<id>
  app.put('/orders/:id', requireScope('write:data:order-:id'), async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { customer?: unknown }
    const order = { customer: String(body.customer ?? ''), status: 'confirmed', by: c.get('agent').id }
    orders.set(c.req.param('id'), order)
    return c.json({ id: c.req.param('id'), ...order })
  })

  return { app, listener: getRequestListener(app.fetch), close: () => auth.close() }
}
