/**
 * A raw HTTP client for e2e tests: real requests on 127.0.0.1 with full control over headers
 * (duplicates included), returning status, headers and the parsed body.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  json: any
}

export interface RawRequest {
  method?: string
  path: string
  /** A string array value sends the header several times. */
  headers?: Record<string, string | string[]>
  body?: string
}

export function send(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, baseUrl)
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: req.method ?? 'GET',
        agent: false,
      },
      (res) => readResponse(res).then(resolve, reject),
    )
    r.on('error', reject)
    for (const [k, v] of Object.entries(req.headers ?? {})) r.setHeader(k, v)
    if (req.body !== undefined) r.write(req.body)
    r.end()
  })
}

/** Read a whole response: status, headers, body text and the body parsed as JSON (if it is). */
export function readResponse(res: IncomingMessage): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try {
        json = text ? JSON.parse(text) : undefined
      } catch {
        json = undefined
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
    })
    res.on('error', reject)
  })
}
