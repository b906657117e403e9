/**
 * Recipe — a readiness probe from `verifier.ready()` (README, "Observability"): `GET /readyz`
 * answers 200 while the verifier can answer requests (broker healthy and its circuit breaker not
 * open, keys loaded, revocation feed current — whichever apply), else 503, with the
 * {@link Readiness} object as the JSON body. Mount it before `agentAuth()`: the probe sends no token.
 *
 * @example
 * ```ts
 * const auth = agentAuth({ broker: process.env.AGENTWRIT_BROKER_URL })
 * app.get('/readyz', readinessHandler(auth.verifier))
 * app.use(auth)
 * ```
 */
import type { RequestHandler } from 'express'
import type { Readiness, Verifier } from '../../src/index.js'

/** An Express handler answering `verifier.ready()`: 200 when ready, else 503; never cached. */
export function readinessHandler(verifier: Verifier): RequestHandler {
  return async (_req, res) => {
    const readiness: Readiness = await verifier.ready()
    res
      .status(readiness.ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(readiness)
  }
}
