/**
 * The bench's dev broker and its one agent, shared by every bench script: the issuer, audience
 * and agent (scope `read:data:customer-42`) all scenarios use.
 */
import { randomBytes } from 'node:crypto'
import { startDevBroker } from '../dist/testing/index.js'

export const ISSUER = 'https://broker.bench.invalid/'
export const AUDIENCE = 'bench-api'
export const TOKEN_TTL_S = 3600

/** Start the dev broker and register the agent through the broker's own flow (challenge → register). */
export async function startBenchBroker() {
  const broker = await startDevBroker({ issuer: ISSUER, audience: AUDIENCE })
  const agent = await broker.createAgent({
    orchId: 'bench',
    taskId: 'customers',
    scope: ['read:data:customer-42'],
    maxTtl: TOKEN_TTL_S,
  })
  return { broker, agent }
}

/**
 * A new, valid token's claims: the agent's (`template`, same key order) with a fresh `jti`,
 * `iat` = `nbf` = now and `exp` `ttlS` seconds later.
 */
export function freshClaims(template, ttlS = TOKEN_TTL_S) {
  const now = Math.floor(Date.now() / 1000)
  const out = {}
  for (const [k, v] of Object.entries(template)) out[k] = v
  out.jti = randomBytes(16).toString('hex')
  out.iat = now
  out.nbf = now
  out.exp = now + ttlS
  return out
}
