/**
 * What every adapter does when it is created: turn its argument (a verifier, or options with an
 * optional `verifier`, `onError` and `optional`) into a verifier and the {@link AdapterState} its
 * middleware and guards share. Framework-free.
 */
import { AdapterState } from './adapter-state.js'
import { DEFAULT_REALM } from './errors.js'
import type { AgentAuthOptions } from './options.js'
import { createVerifier, isVerifier, type Verifier } from './verifier.js'

/** Options every adapter takes on top of the verifier options. */
export interface AdapterOptions {
  /**
   * `true`: a request with **no** `Authorization` header (and no `access_token` in its query)
   * passes with no identity (`req.agent` absent); a request that carries a token is verified as
   * usual and refused when the token is bad. Guards still refuse an anonymous request (401
   * `missing_token`). Default `false`: every request must carry a valid token.
   */
  optional?: boolean
}

/** Adapter input: verifier options plus the adapter's own keys, or a ready verifier. */
export type AdapterInput =
  | (AgentAuthOptions & AdapterOptions & { onError?: unknown; verifier?: Verifier })
  | Verifier

export interface AdapterSetup<H> {
  readonly verifier: Verifier
  /** `true` when the adapter created the verifier (and so should close it). */
  readonly owned: boolean
  /** Realm, refusal handler and `optional`, shared by the middleware and its guards. */
  readonly state: AdapterState<H>
}

/** How an adapter answers refusals, by the value of its `onError` option. */
export interface RefusalHandlers<H> {
  /** The `onError` value that hands refusals to the framework (`'next'` or `'throw'`). */
  readonly keyword: 'next' | 'throw'
  /** The handler that answers with the problem body (no `onError`). */
  readonly byDefault: H
  /** The handler used for {@link RefusalHandlers.keyword}. */
  readonly forKeyword: H
}

/**
 * @param handlers - the adapter's refusal handlers, chosen by `onError`
 * @param ignoreKeys - keys the framework itself puts into the options (Fastify's `prefix`…)
 */
export function setupAdapter<H>(
  input: AdapterInput,
  handlers: RefusalHandlers<H>,
  ignoreKeys: readonly string[] = [],
): AdapterSetup<H> {
  if (isVerifier(input)) return setup(input, false, handlers.byDefault, false)
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
  for (const k of ignoreKeys) delete (rest as Record<string, unknown>)[k]
  let fail: H
  if (onError === undefined) fail = handlers.byDefault
  else if (onError === handlers.keyword) fail = handlers.forKeyword
  else if (typeof onError === 'function') fail = onError as H
  else {
    throw new TypeError(
      `agentwrit-verify: option "onError" must be '${handlers.keyword}' or a function (got ${String(onError)})`,
    )
  }
  if (optional !== undefined && typeof optional !== 'boolean') {
    throw new TypeError(`agentwrit-verify: option "optional" must be a boolean (got ${String(optional)})`)
  }
  if (given !== undefined) {
    if (!isVerifier(given)) {
      throw new TypeError('agentwrit-verify: option "verifier" must be a verifier from createVerifier()')
    }
    return setup(given, false, fail, optional === true)
  }
  return setup(createVerifier(rest), true, fail, optional === true)
}

function setup<H>(verifier: Verifier, owned: boolean, fail: H, optional: boolean): AdapterSetup<H> {
  // A hand-written verifier may lack a realm: refusals then use the default one.
  const realm = typeof verifier.options?.realm === 'string' ? verifier.options.realm : DEFAULT_REALM
  return { verifier, owned, state: new AdapterState(realm, fail, optional) }
}
