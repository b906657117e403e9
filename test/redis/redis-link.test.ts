/**
 * The store's one way to Redis (src/redis/redis-link.ts) with fake clients: a deadline on every
 * command, a back-off after a failure during which nothing is sent, both client shapes.
 */
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createRedisLink, isRedisClient } from '../../src/redis/redis-link.js'

function clock(start = 1000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('redis link', () => {
  it('speaks to node-redis (sendCommand) and ioredis (call, even though it has a sendCommand too)', async () => {
    const nodeRedis = { sendCommand: async (args: string[]) => `node:${args.join(' ')}` }
    const ioredis = {
      sendCommand: () => {
        throw new TypeError('ioredis sendCommand takes a Command object')
      },
      call: async (command: string, ...args: string[]) => `io:${command} ${args.join(' ')}`,
    }
    const c = clock()
    const options = { timeoutMs: 50, retryMs: 1000, now: c.now }
    expect(await createRedisLink(nodeRedis, options).send(['GET', 'k'])).toBe('node:GET k')
    expect(await createRedisLink(ioredis, options).send(['GET', 'k'])).toBe('io:GET k')
    expect(isRedisClient({})).toBe(false)
    expect(isRedisClient(null)).toBe(false)
  })

  it('a command past its deadline fails; Redis is then left alone for retryMs; then tried again', async () => {
    let sent = 0
    let answer = false
    const client = {
      sendCommand: () => {
        sent++
        return answer ? Promise.resolve('PONG') : new Promise(() => {})
      },
    }
    const c = clock()
    const link = createRedisLink(client, { timeoutMs: 20, retryMs: 1000, now: c.now })
    await expect(link.send(['PING'])).rejects.toMatchObject({ name: 'RedisUnavailable', reason: 'timeout' })
    expect(link.up).toBe(false)
    await expect(link.send(['PING'])).rejects.toMatchObject({ reason: 'down' })
    expect(sent).toBe(1)
    c.advance(1000)
    answer = true
    expect(await link.send(['PING'])).toBe('PONG')
    expect(link.stats()).toMatchObject({ commands: 2, failures: 1, timeouts: 1, skipped: 1, state: 'up' })
  })

  it('an error reply or a throw is a failure too, and no error event can end the process', async () => {
    const client = Object.assign(new EventEmitter(), {
      sendCommand: () => Promise.reject(Object.assign(new Error('READONLY'), { code: 'READONLY' })),
    })
    const c = clock()
    const link = createRedisLink(client, { timeoutMs: 50, retryMs: 500, now: c.now })
    await expect(link.send(['SET', 'k', 'v'])).rejects.toMatchObject({ reason: 'READONLY' })
    expect(() => client.emit('error', new Error('ECONNREFUSED'))).not.toThrow()
    expect(link.stats()).toMatchObject({ failures: 1, state: 'down' })
  })
})
