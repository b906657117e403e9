/**
 * A real `redis-server` (Debian's package, `apt-get install redis-server`) started by the test
 * suite itself on a free port on 127.0.0.1, without persistence, with fault injection: stop,
 * kill, restart on the same port (data gone), pause (SIGSTOP) and resume (SIGCONT).
 *
 * The harness speaks raw RESP over `node:net` (PING, INFO, FLUSHALL) and depends on no Redis
 * client package. Every child is registered in a module-level set and SIGKILLed when the
 * process exits (or dies of SIGINT/SIGTERM/SIGHUP), so no redis-server outlives the test run.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** The pid of the current redis-server process (a new one after `restart()`). */
  readonly pid: number
  /** SIGTERM, and wait for the process to exit (SIGKILL after 5 s). Resumes a paused server first. */
  stop(): Promise<void>
  /** SIGKILL, and wait for the process to exit. */
  kill(): Promise<void>
  /** Kill the process if it runs, then start a new one on the same port: the data is gone. */
  restart(): Promise<void>
  /** SIGSTOP: the socket stays open, commands go unanswered. */
  pause(): void
  /** SIGCONT: the commands sent meanwhile are answered. */
  resume(): void
  /** FLUSHALL over a raw socket. */
  flushAll(): Promise<void>
  /** Resume if paused, stop, remove the temporary directory. Idempotent; the server is unusable after. */
  close(): Promise<void>
}

export interface RedisServerOptions {
  /** The port to listen on; a free one by default. */
  port?: number
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 5_000
const STOP_TIMEOUT_MS = 5_000
const COMMAND_TIMEOUT_MS = 2_000
const BIND_ATTEMPTS = 5
const OUTPUT_LIMIT = 8_192

interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  hasExited: boolean
  paused: boolean
  output: string
}

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooksInstalled = false

function killAllNow(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  children.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', killAllNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow()
      process.removeListener(signal, onSignal)
      // Keep the default behaviour (die of the signal) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

function findRedisServer(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, 'redis-server')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  throw new Error(
    'redis-server is not on PATH: the Redis tests need a real Redis server. ' +
      'Install it (Debian/Ubuntu: `sudo apt-get install redis-server`) and run the tests again.',
  )
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One RESP reply (simple string, error, integer or bulk string) from the start of `buf`, or undefined if incomplete. */
function parseReply(buf: Buffer): { value: string | null; error?: string } | undefined {
  const eol = buf.indexOf('\r\n')
  if (eol < 0) return undefined
  const line = buf.subarray(1, eol).toString('utf8')
  switch (buf[0]) {
    case 0x2b /* + */:
    case 0x3a /* : */:
      return { value: line }
    case 0x2d /* - */:
      return { value: null, error: line }
    case 0x24 /* $ */:
      {
        const length = Number(line)
        if (length < 0) return { value: null }
        if (buf.length < eol + 2 + length + 2) return undefined
        return { value: buf.subarray(eol + 2, eol + 2 + length).toString('utf8') }
      }
    default:
      return { value: null, error: `unexpected RESP reply ${JSON.stringify(buf.toString('utf8', 0, 64))}` }
  }
}

/** Send one command over a fresh raw socket and read its reply. */
function rawCommand(port: number, args: readonly string[], timeoutMs: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    let settled = false
    const socket = connect({ host: HOST, port })
    const finish = (err: Error | undefined, value?: string | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(value ?? null)
    }
    const timer = setTimeout(
      () => finish(new Error(`redis ${args[0]} on ${HOST}:${port}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
    })
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const reply = parseReply(buf)
      if (!reply) return
      if (reply.error !== undefined) finish(new Error(`redis ${args[0]}: ${reply.error}`))
      else finish(undefined, reply.value)
    })
    socket.on('error', (err) => finish(err))
    socket.on('close', () => finish(new Error(`redis ${args[0]} on ${HOST}:${port}: connection closed`)))
  })
}

function spawnRedis(binary: string, port: number, dir: string): Running {
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.add(child)
  let markExited = (): void => {}
  const exited = new Promise<void>((resolve) => {
    markExited = resolve
  })
  const running: Running = { child, exited, hasExited: false, paused: false, output: '' }
  const collect = (chunk: Buffer): void => {
    running.output = (running.output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT)
  }
  // redis-server logs to stdout; stderr carries the rest (bad arguments, exec failures).
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const done = (): void => {
    running.hasExited = true
    children.delete(child)
    markExited()
  }
  // 'close', not 'exit': the output (a bind failure, say) has been read by then.
  child.once('close', done)
  child.once('error', (err) => {
    collect(Buffer.from(`spawn error: ${err.message}\n`))
    done()
  })
  // A server a test forgot to close must not keep the worker alive: the exit hook kills it.
  child.unref()
  for (const stream of [child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.()
  return running
}

/**
 * Wait for the process to exit (SIGKILL after `killAfterMs`). The child and its pipes are unref'd,
 * so a ref'd timer keeps the event loop alive meanwhile.
 */
async function waitExit(running: Running, killAfterMs?: number): Promise<void> {
  const keepAlive = setInterval(() => {}, 1_000)
  const escalate =
    killAfterMs === undefined ? undefined : setTimeout(() => running.child.kill('SIGKILL'), killAfterMs)
  try {
    await running.exited
  } finally {
    clearInterval(keepAlive)
    clearTimeout(escalate)
  }
}

/** Wait until `running` answers PING on `port` and is the process that answers (not another server). */
async function waitReady(running: Running, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let lastError: unknown
  while (Date.now() < deadline) {
    if (running.hasExited) {
      throw new Error(
        `redis-server exited (code ${running.child.exitCode}, signal ${running.child.signalCode}) ` +
          `before answering PING on ${HOST}:${port}. Its output:\n${running.output.trim() || '(none)'}`,
      )
    }
    try {
      const pong = await rawCommand(port, ['PING'], Math.max(50, Math.min(500, deadline - Date.now())))
      if (pong === 'PONG') {
        const info = (await rawCommand(port, ['INFO', 'server'], COMMAND_TIMEOUT_MS)) ?? ''
        if (new RegExp(`^process_id:${running.child.pid}\\r?$`, 'm').test(info)) return
        lastError = new Error(`another server answers on ${HOST}:${port}`)
      }
    } catch (err) {
      lastError = err
    }
    await sleep(20)
  }
  running.child.kill('SIGKILL')
  await waitExit(running)
  throw new Error(
    `redis-server did not answer PING with +PONG on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms ` +
      `(last error: ${lastError instanceof Error ? lastError.message : String(lastError)}). ` +
      `Its output:\n${running.output.trim() || '(none)'}`,
  )
}

const bindFailed = (running: Running): boolean =>
  running.hasExited && /Address already in use|Failed listening on port/i.test(running.output)

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findRedisServer()
  installHooks()
  const dir = mkdtempSync(join(tmpdir(), 'agentwrit-redis-'))
  tempDirs.add(dir)

  let port = 0
  let current: Running | undefined
  for (let attempt = 1; ; attempt++) {
    port = options.port ?? (await freePort())
    const running = spawnRedis(binary, port, dir)
    try {
      await waitReady(running, port)
      current = running
      break
    } catch (err) {
      // The free port was taken meanwhile (another worker's server, say): try another one.
      if (options.port === undefined && attempt < BIND_ATTEMPTS && bindFailed(running)) continue
      rmSync(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
      throw err
    }
  }

  let closed = false
  const live = (): Running | undefined => (current && !current.hasExited ? current : undefined)

  async function signalAndWait(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const running = live()
    if (!running) return
    running.child.kill(signal)
    // A stopped process does not act on SIGTERM until it continues.
    if (running.paused) {
      running.child.kill('SIGCONT')
      running.paused = false
    }
    await waitExit(running, signal === 'SIGTERM' ? STOP_TIMEOUT_MS : undefined)
  }

  const server: RedisServer = {
    port,
    url: `redis://${HOST}:${port}`,
    get pid(): number {
      return current?.child.pid ?? -1
    },
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    async restart() {
      if (closed) throw new Error('restart(): this redis-server was closed')
      await signalAndWait('SIGKILL')
      const deadline = Date.now() + READY_TIMEOUT_MS
      for (;;) {
        const running = spawnRedis(binary, port, dir)
        try {
          await waitReady(running, port)
          current = running
          return
        } catch (err) {
          // The old socket can linger for a moment: retry the same port until the deadline.
          if (bindFailed(running) && Date.now() < deadline) {
            await sleep(50)
            continue
          }
          throw err
        }
      }
    },
    pause() {
      const running = live()
      if (!running) throw new Error('pause(): redis-server is not running')
      if (running.paused) return
      running.child.kill('SIGSTOP')
      running.paused = true
    },
    resume() {
      const running = live()
      if (!running?.paused) return
      running.child.kill('SIGCONT')
      running.paused = false
    },
    async flushAll() {
      const running = live()
      if (!running) throw new Error('flushAll(): redis-server is not running')
      if (running.paused) throw new Error('flushAll(): redis-server is paused')
      const reply = await rawCommand(port, ['FLUSHALL'], COMMAND_TIMEOUT_MS)
      if (reply !== 'OK') throw new Error(`redis FLUSHALL answered ${JSON.stringify(reply)}`)
    },
    async close() {
      if (closed) return
      closed = true
      server.resume()
      await signalAndWait('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    },
  }
  return server
}
