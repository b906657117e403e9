/**
 * The adapters under test and their apps, listening on 127.0.0.1: the same protected service on
 * each (the conformance, hostile, outage and revocation suites run one table against all of them)
 * and the misuse suite's wirings. A new adapter is one file like express-apps.ts (the two builders
 * of {@link AdapterKit}) and one entry in KITS below; every cross-adapter suite then runs it.
 */
import type { AgentAuthOptions, Verifier } from '../../src/index.js'
import { createVerifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import * as express from './express-apps.js'
import * as fastify from './fastify-apps.js'
import * as hono from './hono-apps.js'
import type { AdapterKit, MisuseApp, RunningServer, Setup } from './kit.js'
import * as koa from './koa-apps.js'
import { nestExpress, nestFastify } from './nest-apps.js'

const KITS = {
  express,
  koa,
  fastify,
  hono,
  'nest-express': nestExpress,
  'nest-fastify': nestFastify,
} satisfies Record<string, AdapterKit>

export type AdapterName = keyof typeof KITS
export const ADAPTERS = Object.keys(KITS) as readonly AdapterName[]

export interface RunningApp extends RunningServer {
  readonly verifier: Verifier
}

/** Build one adapter's protected service around a verifier (shared options → identical behaviour expected). */
export async function buildApp(
  adapter: AdapterName,
  options: AgentAuthOptions | Verifier,
): Promise<RunningApp> {
  const verifier =
    'authenticate' in options ? (options as Verifier) : createVerifier(options as AgentAuthOptions)
  const app = await KITS[adapter].service(verifier)
  return {
    url: app.url,
    verifier,
    async close() {
      await app.close()
      await verifier.close()
    },
  }
}

/** Build one adapter's misuse app: `/things/:id` and `/open`, wired as `setup` says. */
export function buildMisuseApp(
  adapter: AdapterName,
  setup: Setup,
  broker: DevBroker,
  real: Verifier,
): Promise<MisuseApp> {
  return KITS[adapter].misuse(setup, broker, real)
}
