/**
 * The real-redis-server harness (test/helpers/redis-server.ts) that the Redis cache tests stand on:
 * start, node-redis round trips, pause/resume, kill, restart on the same port, flush, close.
 */
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'

type ReconnectStrategy = false | number | ((retries: number, cause: Error) => false | Error | number)

const newClient = (url: string, reconnectStrategy: ReconnectStrategy) =>
  createClient({ url, socket: { reconnectStrategy, connectTimeout: 1_000 } })
type Client = ReturnType<typeof newClient>

const servers: RedisServer[] = []
const clients: Client[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) if (client.isOpen) client.destroy()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function start(): Promise<RedisServer> {
  const server = await startRedisServer()
  servers.push(server)
  return server
}

async function connectClient(
  server: RedisServer,
  reconnectStrategy: ReconnectStrategy,
): Promise<{ client: Client; errors: Error[] }> {
  const client = newClient(server.url, reconnectStrategy)
  const errors: Error[] = []
  // An unhandled 'error' event would crash the worker.
  client.on('error', (err: Error) => errors.push(err))
  clients.push(client)
  await client.connect()
  return { client, errors }
}

const TIMED_OUT = Symbol('timed out')
function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('redis-server harness', () => {
  it('starts redis-server on a free port on 127.0.0.1 and answers PING, SET and GET through node-redis', async () => {
    const server = await start()
    expect(server.port).toBeGreaterThan(0)
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    expect(isAlive(server.pid)).toBe(true)
    const { client, errors } = await connectClient(server, false)
    expect(await client.ping()).toBe('PONG')
    await client.set('k', 'v')
    expect(await client.get('k')).toBe('v')
    expect(errors).toEqual([])
  })

  it('flushAll() empties the server', async () => {
    const server = await start()
    const { client } = await connectClient(server, false)
    await client.set('k', 'v')
    await server.flushAll()
    expect(await client.get('k')).toBeNull()
  })

  it('pause() leaves commands unanswered, resume() lets them through', async () => {
    const server = await start()
    const { client } = await connectClient(server, false)
    server.pause()
    const pending = client.ping()
    expect(await within(pending, 200)).toBe(TIMED_OUT)
    server.resume()
    expect(await within(pending, 1_000)).toBe('PONG')
    expect(await within(client.ping(), 1_000)).toBe('PONG')
  })

  it('kill() makes the connection fail', async () => {
    const server = await start()
    const { client, errors } = await connectClient(server, false)
    const pid = server.pid
    await server.kill()
    expect(isAlive(pid)).toBe(false)
    await expect(client.ping()).rejects.toThrow()
    await expect.poll(() => errors.length, { timeout: 1_000 }).toBeGreaterThan(0)
  })

  it('restart() serves the same port again with the data gone', async () => {
    const server = await start()
    const { client } = await connectClient(server, () => 20)
    await client.set('k', 'v')
    const { port, pid } = server
    await server.restart()
    expect(server.port).toBe(port)
    expect(server.pid).not.toBe(pid)
    expect(isAlive(pid)).toBe(false)
    // The reconnecting client reaches the new process on the same port: an empty one.
    expect(await within(client.get('k'), 2_000)).toBeNull()
    expect(await client.ping()).toBe('PONG')
  })

  it('close() is idempotent, also on a paused server, and leaves no process behind', async () => {
    const server = await start()
    const pid = server.pid
    server.pause()
    await Promise.all([server.close(), server.close()])
    await server.close()
    expect(isAlive(pid)).toBe(false)
    await expect(server.restart()).rejects.toThrow(/closed/)
  })
})
