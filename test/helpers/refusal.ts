/**
 * Refusal assertions shared by the suites: the HTTP answer of a protected route (status, challenge,
 * RFC 9457 problem body, what a refusal must never carry) and the `AgentAuthError` a call throws.
 */
import { expect } from 'vitest'
import { AgentAuthError } from '../../src/index.js'
import type { RawRequest, RawResponse } from './http.js'

export const REALM = 'Bearer realm="agentwrit"'
export const INVALID_TOKEN = `${REALM}, error="invalid_token", error_description="token is invalid or expired"`
export const INVALID_REQUEST = /^Bearer realm="agentwrit", error="invalid_request"/

/** What one request must get. */
export interface Answer {
  status: number
  /** Problem `error_code`: set for a refusal, whose body is then checked. */
  code?: string
  /** Exact challenge, a pattern, `null` for "no WWW-Authenticate header", `undefined` for "not checked". */
  challenge?: string | RegExp | null
}

/** What a suite checks beyond status, challenge and problem `status` / `error_code`. */
export interface AnswerChecks {
  /** `expect.soft`: every mismatch of the answer is reported, not only the first. */
  readonly soft?: boolean
  /** The problem's `type` is `urn:agentwrit:error:<code>` and its `instance` the request path. */
  readonly instance?: boolean
  /** A refusal carries `Cache-Control: no-store`. */
  readonly noStore?: boolean
  /** A 503 refusal carries this `Retry-After`. */
  readonly retryAfter?: string
  /** Strings (token parts) the body of any answer ≥ 400 must not contain. */
  readonly secrets?: readonly string[]
}

/** Check the answer `res` to `req` against `exp`. */
export function expectAnswer(
  req: RawRequest,
  res: RawResponse,
  exp: Answer,
  checks: AnswerChecks = {},
): void {
  const e = checks.soft ? expect.soft : expect
  e(res.status, `status of ${req.method ?? 'GET'} ${req.path}`).toBe(exp.status)
  const challenge = res.headers['www-authenticate']
  if (exp.challenge === null) e(challenge).toBeUndefined()
  else if (typeof exp.challenge === 'string') e(challenge).toBe(exp.challenge)
  else if (exp.challenge instanceof RegExp) e(challenge).toMatch(exp.challenge)
  if (exp.code !== undefined) {
    e(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    e(res.json).toMatchObject({
      status: exp.status,
      error_code: exp.code,
      ...(checks.instance
        ? { type: `urn:agentwrit:error:${exp.code}`, instance: req.path.split('?')[0] }
        : {}),
    })
    if (checks.retryAfter !== undefined && exp.status === 503)
      e(res.headers['retry-after']).toBe(checks.retryAfter)
    if (exp.status >= 400 && exp.status < 500) e(challenge).toBeDefined()
    if (checks.noStore) e(res.headers['cache-control']).toBe('no-store')
  }
  if (res.status >= 400) for (const s of checks.secrets ?? []) e(res.text).not.toContain(s)
}

/** The `AgentAuthError` that `fn` throws, or that `p` rejects with (anything else fails the test). */
export function refusal(fn: () => unknown): AgentAuthError
export function refusal(p: Promise<unknown>): Promise<AgentAuthError>
export function refusal(x: (() => unknown) | Promise<unknown>): AgentAuthError | Promise<AgentAuthError> {
  const check = (err: unknown) => {
    expect(err).toBeInstanceOf(AgentAuthError)
    return err as AgentAuthError
  }
  if (typeof x !== 'function')
    return x.then(
      () => check(undefined),
      (err: unknown) => check(err),
    )
  try {
    x()
  } catch (err) {
    return check(err)
  }
  throw new Error('expected an AgentAuthError')
}
