/**
 * The three verification modes the e2e and hostile suites run every scenario in, and the verifier
 * options of one mode against the development broker. What differs between suites (cache, timeout,
 * breaker, trust domain, …) is the suite's own `settings`, passed explicitly: nothing is defaulted here.
 */
import type { AgentAuthOptions } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'

export type Mode = 'remote' | 'local' | 'hybrid'
export const MODES: readonly Mode[] = ['remote', 'local', 'hybrid']

export interface ModeOptions {
  /** The suite's settings (cache TTLs, timeout, breaker, …), under the mode's key source. */
  readonly settings: Partial<AgentAuthOptions>
  /** One test's own options, over the key source too (a stub broker's URL, a cache TTL, …). */
  readonly over?: Partial<AgentAuthOptions>
  /** How hybrid mode gets the broker's key: its JWKS URL (`jwksUri`, default) or the JWK itself (`publicKey`). */
  readonly hybridKey?: 'jwksUri' | 'publicKey'
  /** Also pass `mode` itself, instead of letting the verifier infer it from `broker` / `jwksUri`. */
  readonly stateMode?: boolean
}

/**
 * `{ ...settings, mode?, <key source>, ...over }`: remote asks `broker.url`, local reads
 * `broker.jwksUrl`, hybrid does both (or pins `broker.publicJwk`, with `hybridKey: 'publicKey'`).
 */
export function optionsFor(mode: Mode, broker: DevBroker, o: ModeOptions): AgentAuthOptions {
  const source: Partial<AgentAuthOptions> =
    mode === 'remote'
      ? { broker: broker.url }
      : mode === 'local'
        ? { jwksUri: broker.jwksUrl }
        : o.hybridKey === 'publicKey'
          ? { broker: broker.url, publicKey: broker.publicJwk }
          : { broker: broker.url, jwksUri: broker.jwksUrl }
  return { ...o.settings, ...(o.stateMode ? { mode } : {}), ...source, ...o.over }
}
