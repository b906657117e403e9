/**
 * What every adapter does when it is created: turn its argument (a verifier, or options with an
 * optional `verifier`, `onError` and `optional`) into a verifier and the {@link AdapterState} its
 * middleware and guards share. Framework-free.
 */
import { AdapterState } from './adapter-state.js'
import type { AdapterName } from './diagnostics.js'
import { DEFAULT_REALM } from './errors.js'
import type { AgentAuthOptions } from './options.js'
import {
  createVerifier,
  isVerifier,
  requestAuthenticator,
  type Verifier,
  verifierCounters,
} from './verifier.js'

/** Options every adapter takes on top of the verifier options. */
export interface AdapterOptions {
  /**
   * `true`: a request with **no** `Authorization` header (and no `access_token` in its query)
   * passes with no identity; a request that carries a token is verified as usual and refused when
   * the token is bad. Guards still refuse an anonymous request (401 `missing_token`). Default
   * `false`: every request must carry a valid token.
   */
  optional?: boolean
}

/**
 * The `onError` option of every adapter, `H` being the framework's renderer type and `K` the
 * keyword that hands refusals to the framework (`'next'` in Express, `'throw'` elsewhere).
 */
export interface OnErrorOption<H, K extends 'next' | 'throw'> {
  /**
   * How refusals are answered. Default: the adapter answers itself with the status, the
   * `WWW-Authenticate` / `Retry-After` / `Cache-Control: no-store` headers and an RFC 7807
   * `application/problem+json` body. The keyword (`'next'` in Express, `'throw'` in Koa, Fastify
   * and Hono): hand the error to the framework's error handling (`next(err)`, or a thrown error),
   * which renders it from `err.status`, `err.headers` and `err.toProblem()`. A function: render it
   * yourself. A misconfigured route (500 `configuration_error`) always goes to the framework's
   * error handling, to be logged, whatever this says.
   */
  onError?: K | H
}

/** Adapter input: verifier options plus the adapter's own keys, or a ready verifier. */
export type AdapterInput =
  | (AgentAuthOptions & AdapterOptions & { onError?: unknown; verifier?: Verifier })
  | Verifier

export interface AdapterSetup<H> {
  readonly verifier: Verifier
  /** `true` when the adapter created the verifier (and so should close it). */
  readonly owned: boolean
  /** Realm, refusal renderer, `optional` and verifier, shared by the middleware and its guards. */
  readonly state: AdapterState<H>
}

/** How an adapter's `onError` is read. */
export interface RefusalConfig<H> {
  /** The adapter, in diagnostics messages (`agentwrit-verify:verify`'s `adapter`). */
  readonly adapter: AdapterName
  /** The `onError` value that hands every refusal to the framework's error handling. */
  readonly escalateKeyword: 'next' | 'throw'
  /** The adapter's default renderer (no `onError`): status, headers and problem body. */
  readonly render: H
  /** Keys the framework itself puts into the options (Fastify's `prefix`…): not ours, ignored. */
  readonly ignoreKeys?: readonly string[]
}

export function setupAdapter<H>(input: AdapterInput, config: RefusalConfig<H>): AdapterSetup<H> {
  if (isVerifier(input)) return setup(input, false, config.render, false, config.adapter)
  const {
    onError,
    verifier: given,
    optional,
    ...rest
  } = (input ?? {}) as AgentAuthOptions & {
    onError?: unknown
    verifier?: unknown
    optional?: unknown
  }
  for (const k of config.ignoreKeys ?? []) delete (rest as Record<string, unknown>)[k]
  let render: H | undefined
  if (onError === undefined) render = config.render
  else if (onError === config.escalateKeyword) render = undefined
  else if (typeof onError === 'function') render = onError as H
  else {
    throw new TypeError(
      `agentwrit-verify: option "onError" must be '${config.escalateKeyword}' or a function (got ${String(onError)})`,
    )
  }
  if (optional !== undefined && typeof optional !== 'boolean') {
    throw new TypeError(`agentwrit-verify: option "optional" must be a boolean (got ${String(optional)})`)
  }
  if (given !== undefined) {
    if (!isVerifier(given)) {
      throw new TypeError('agentwrit-verify: option "verifier" must be a verifier from createVerifier()')
    }
    return setup(given, false, render, optional === true, config.adapter)
  }
  return setup(createVerifier(rest), true, render, optional === true, config.adapter)
}

function setup<H>(
  verifier: Verifier,
  owned: boolean,
  render: H | undefined,
  optional: boolean,
  adapter: AdapterName,
): AdapterSetup<H> {
  // A hand-written verifier may lack a realm: refusals then use the default one.
  const realm = typeof verifier.options?.realm === 'string' ? verifier.options.realm : DEFAULT_REALM
  const authenticate = requestAuthenticator(verifier, adapter)
  const state = new AdapterState(realm, render, optional, authenticate, adapter, verifierCounters(verifier))
  return { verifier, owned, state }
}
