/** Shared helpers for the dev broker tests (plain fetch against 127.0.0.1). */
import { createPrivateKey } from 'node:crypto'

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  readonly json: any
}

/** Send a request; `body` objects are JSON-encoded, strings/Buffers sent verbatim. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; token?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`
  let body: string | Buffer | undefined
  if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) body = opts.body
  else if (opts.body !== undefined) body = JSON.stringify(opts.body)
  const res = await fetch(base + path, { method, headers, body })
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** Decode a compact JWS without verifying it. */
export function decodeJwt(token: string): {
  headerText: string
  payloadText: string
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  payload: any
} {
  const [h, p] = token.split('.') as [string, string]
  const payloadText = Buffer.from(p, 'base64url').toString('utf8')
  return {
    headerText: Buffer.from(h, 'base64url').toString('utf8'),
    payloadText,
    payload: JSON.parse(payloadText),
  }
}

/** A controllable millisecond clock. */
export function manualClock(startMs = Date.UTC(2026, 3, 14, 20, 26, 15, 0)) {
  let t = startMs
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
    get ms() {
      return t
    },
    get seconds() {
      return Math.floor(t / 1000)
    },
  }
}

/** RFC 8037 Appendix A.1 Ed25519 key (private `d`, public `x`). */
export const RFC8037_JWK = {
  kty: 'OKP',
  crv: 'Ed25519',
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
} as const

/** RFC 8037 Appendix A.3 thumbprint of that key. */
export const RFC8037_KID = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'

/** The RFC 8037 key as the broker stores it: PKCS#8 PEM. */
export const RFC8037_PEM = createPrivateKey({ key: RFC8037_JWK, format: 'jwk' })
  .export({ format: 'pem', type: 'pkcs8' })
  .toString()

/** Problem body fields, in order, as the broker emits them. */
export const PROBLEM_FIELDS = ['type', 'title', 'status', 'detail', 'instance', 'error_code', 'request_id']
