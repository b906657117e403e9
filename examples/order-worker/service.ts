/**
 * Scenario 01 — the downstream "order database" service (shared/scenarios/01-order-worker.md).
 *
 * An Express API in front of mock customer and order data. Every route is protected by
 * agentwrit-verify: an agent may read only the customer its scope names and write only its order.
 */
import express, { type Express } from 'express'
import { type AgentAuthOptions, agentAuth, agentOf, requireScope } from '../../src/express.js'

/** Mock data: in a real service these are database rows. */
const CUSTOMERS: Record<string, { name: string; tier: string }> = {
  'cust-7291': { name: 'John Doe', tier: 'Premium' },
  'cust-9999': { name: 'Jane Roe', tier: 'Standard' },
}

/** Build the order service. `options` are agentwrit-verify's (broker URL, cache TTL…). */
export function buildOrderService(options: AgentAuthOptions): Express & { close(): Promise<void> } {
  const orders = new Map<string, { customer: string; status: string; by: string }>()
  const auth = agentAuth(options)
  const app = express()
  app.use(express.json())
  app.use(auth)

  // read:data:customer-<id> — filled from the route parameter, exactly as the broker matches scopes.
  app.get('/customers/:id', requireScope('read:data:customer-:id'), (req, res) => {
    const customer = CUSTOMERS[req.params.id as string]
    if (!customer) {
      res.status(404).json({ error: 'no such customer' })
      return
    }
    res.json({ id: req.params.id, ...customer, readBy: agentOf(req).id })
  })

  // write:data:order-<id>
  app.put('/orders/:id', requireScope('write:data:order-:id'), (req, res) => {
    const order = { customer: String(req.body?.customer ?? ''), status: 'confirmed', by: agentOf(req).id }
    orders.set(req.params.id as string, order)
    res.json({ id: req.params.id, ...order })
  })

  return Object.assign(app, { close: () => auth.close() })
}
