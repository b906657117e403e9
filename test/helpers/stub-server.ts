/**
 * A tiny scriptable HTTP server on 127.0.0.1 for unit tests of the broker client:
 * every request goes to `handler`, and requests are counted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StubServer {
  readonly url: string
  readonly requests: { method: string; url: string; body: string; headers: IncomingMessage['headers'] }[]
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void
  close(): Promise<void>
}

export async function startStubServer(
  handler: StubServer['handler'] = (_req, _b, res) => res.end(),
): Promise<StubServer> {
  const requests: StubServer['requests'] = []
  const stub = { handler } as StubServer & { server: Server }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      requests.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers })
      stub.handler(req, body, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  return stub
}

/** Write a JSON answer. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(`${JSON.stringify(body)}\n`)
}
