/**
 * The Redis the replicas share: `REDIS_URL` when it is set, else a `redis-server` child started on
 * a free 127.0.0.1 port without persistence, and stopped by `close()`.
 */
import { spawn } from 'node:child_process'
import { type AddressInfo, createServer } from 'node:net'

export interface ExampleRedis {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** `REDIS_URL`, or the redis-server this process started. */
  readonly source: 'REDIS_URL' | 'redis-server'
  /** Stop the redis-server child (nothing for `REDIS_URL`). */
  close(): Promise<void>
}

const READY_TIMEOUT_MS = 5_000

/** `REDIS_URL`, or a fresh `redis-server` child. Rejects with a readable message when neither works. */
export async function exampleRedis(env: NodeJS.ProcessEnv = process.env): Promise<ExampleRedis> {
  if (env.REDIS_URL) return { url: env.REDIS_URL, source: 'REDIS_URL', close: async () => {} }
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const child = spawn('redis-server', [...args, '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  // Should this process die before close(), do not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  let output = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "Ready" within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      )
      const settle = (err?: Error) => {
        clearTimeout(timer)
        if (err) reject(err)
        else resolve()
      }
      child.once('error', (err) => settle(err))
      child.once('exit', (code, signal) => settle(new Error(`exited (code ${code}, signal ${signal})`)))
      for (const stream of [child.stdout, child.stderr]) {
        stream.on('data', (chunk: Buffer) => {
          output = (output + chunk.toString('utf8')).slice(-4_096)
          if (/Ready to accept connections/.test(output)) settle()
        })
      }
    })
  } catch (err) {
    child.kill('SIGKILL')
    process.removeListener('exit', killOnExit)
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw new Error(
      missing
        ? 'redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL'
        : `redis-server on 127.0.0.1:${port} did not start: ${(err as Error).message}\n${output.trim()}`,
    )
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    source: 'redis-server',
    async close() {
      process.removeListener('exit', killOnExit)
      child.kill('SIGTERM')
      await exited
    },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}
