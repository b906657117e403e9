/**
 * The tiny HTTP client the dev broker's helpers use to call the broker's real HTTP API: one fresh
 * connection per request (`agent: false`), so helper calls never share sockets with the code under test
 * and are unaffected by connections a fault destroyed.
 */
import { request } from 'node:http'

/** A helper call that got an unexpected answer from the broker. */
export class DevBrokerRequestError extends Error {
  constructor(
    /** `METHOD /path` of the call. */
    readonly endpoint: string,
    /** HTTP status (0 when there was no HTTP answer). */
    readonly status: number,
    /** Response body text (a problem+json document for broker errors). */
    readonly body: string,
    options?: { cause?: unknown },
  ) {
    super(`${endpoint} → ${status === 0 ? 'no response' : status}${body ? `: ${body.trim()}` : ''}`, options)
    this.name = 'DevBrokerRequestError'
  }
}

/** A raw answer. */
export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
}

/**
 * Send one request.
 * @param body - serialised with `JSON.stringify` when not `undefined`
 */
export function sendRequest(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<RawResponse> {
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body))
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, baseUrl),
      {
        method,
        agent: false,
        headers: {
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }
            : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', (e) => reject(new DevBrokerRequestError(`${method} ${path}`, 0, '', { cause: e })))
      },
    )
    req.on('error', (e) => reject(new DevBrokerRequestError(`${method} ${path}`, 0, '', { cause: e })))
    req.end(payload)
  })
}

/**
 * Send one request and require a status.
 * @returns the parsed JSON body (`undefined` for an empty body)
 * @throws DevBrokerRequestError on any other status or an unparseable body
 */
export async function expectJson(
  baseUrl: string,
  method: string,
  path: string,
  expectedStatus: number,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<unknown> {
  const res = await sendRequest(baseUrl, method, path, opts)
  if (res.status !== expectedStatus)
    throw new DevBrokerRequestError(`${method} ${path}`, res.status, res.body)
  if (res.body === '') return undefined
  try {
    return JSON.parse(res.body)
  } catch (e) {
    throw new DevBrokerRequestError(`${method} ${path}`, res.status, res.body, { cause: e })
  }
}
