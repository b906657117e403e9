/**
 * What every adapter does when it is created: turn its argument (a verifier, or options with an
 * optional `verifier` and `onError`) into a verifier and a refusal handler. Framework-free.
 */
import type { AgentAuthOptions } from './options.js'
import { createVerifier, isVerifier, type Verifier } from './verifier.js'

/** Adapter input: verifier options plus the adapter's own keys, or a ready verifier. */
export type AdapterInput = (AgentAuthOptions & { onError?: unknown; verifier?: Verifier }) | Verifier

export interface AdapterSetup<H> {
  readonly verifier: Verifier
  /** `true` when the adapter created the verifier (and so should close it). */
  readonly owned: boolean
  readonly fail: H
}

/**
 * @param keyword - the `onError` value that hands refusals to the framework (`'next'` or `'throw'`)
 * @param byDefault - the handler that answers with the problem body
 * @param forKeyword - the handler used for `keyword`
 * @param ignoreKeys - keys the framework itself puts into the options (Fastify's `prefix`…)
 */
export function setupAdapter<H>(
  input: AdapterInput,
  keyword: 'next' | 'throw',
  byDefault: H,
  forKeyword: H,
  ignoreKeys: readonly string[] = [],
): AdapterSetup<H> {
  if (isVerifier(input)) return { verifier: input, owned: false, fail: byDefault }
  const {
    onError,
    verifier: given,
    ...rest
  } = (input ?? {}) as AgentAuthOptions & {
    onError?: unknown
    verifier?: unknown
  }
  for (const k of ignoreKeys) delete (rest as Record<string, unknown>)[k]
  let fail: H
  if (onError === undefined) fail = byDefault
  else if (onError === keyword) fail = forKeyword
  else if (typeof onError === 'function') fail = onError as H
  else {
    throw new TypeError(
      `agentwrit-verify: option "onError" must be '${keyword}' or a function (got ${String(onError)})`,
    )
  }
  if (given !== undefined) {
    if (!isVerifier(given)) {
      throw new TypeError('agentwrit-verify: option "verifier" must be a verifier from createVerifier()')
    }
    return { verifier: given, owned: false, fail }
  }
  return { verifier: createVerifier(rest), owned: true, fail }
}
