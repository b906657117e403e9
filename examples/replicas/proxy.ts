/**
 * A tiny round-robin HTTP proxy, the load balancer in front of the replicas: each request (method,
 * path, headers, body) goes to the next replica in turn over a keep-alive pool, and its answer
 * comes back as it is.
 */
import { Agent, type IncomingHttpHeaders, request } from 'node:http'
import { type Listening, listen } from '../shared.js'

/** Headers that belong to one connection, not to the request (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'])

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)))
}

/** Serve a proxy on a random 127.0.0.1 port that sends request N to `targets[N % targets.length]`. */
export async function roundRobinProxy(targets: readonly string[]): Promise<Listening> {
  const pool = new Agent({ keepAlive: true })
  let next = 0
  const server = await listen((req, res) => {
    const target = new URL(targets[next++ % targets.length]!)
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: endToEnd(req.headers),
        agent: pool,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers))
        answer.pipe(res)
      },
    )
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()))
    req.pipe(upstream)
  })
  return {
    url: server.url,
    async close() {
      await server.close()
      pool.destroy()
    },
  }
}
