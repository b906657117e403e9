/**
 * The bench's parent ↔ child IPC, both sides: the child answers `{ id, cmd, args }` messages with
 * `{ id, result | error }` (`serveCommands`) and says `{ ready: true, … }` once; the parent forks it
 * and calls it (`spawnChild`).
 */
import { fork } from 'node:child_process'

/**
 * The child side: answer `{ id, cmd, args }` messages with `commands[cmd](args)`, exit when the
 * parent goes away, and say ready.
 * @param {Record<string, (args: any) => unknown>} commands
 */
export function serveCommands(commands) {
  process.on('message', async ({ id, cmd, args }) => {
    try {
      process.send({ id, result: await commands[cmd](args ?? {}) })
    } catch (err) {
      process.send({ id, error: String(err?.stack ?? err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
}

/** The parent side's running children (each leaves the set when it exits). */
export const children = new Set()
/** The pids of `children`, for the foreign-load probe (bench/foreign-load.mjs). */
export function* childPids() {
  for (const c of children) yield c.pid
}

/**
 * The parent side: fork `file` with `args` (stdout and stderr inherited) and talk to it.
 * `ready`: the child's ready message (rejected if it exits or fails first); `call(cmd, args)`: its
 * answer, matched by id (rejected with its error); `exited`: its exit code.
 * @param {string} file
 * @param {string[]} args
 * @param {{ execArgv?: string[], name?: string }} [options] `execArgv` (default: this process's);
 *   `name` for the error when it exits before it is ready (default: `file`)
 */
export function spawnChild(file, args, { execArgv, name = file } = {}) {
  const child = fork(file, args, {
    ...(execArgv === undefined ? {} : { execArgv }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  let seq = 0
  const pending = new Map()
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)))
    child.on('message', (msg) => {
      if (msg.ready) resolve(msg)
      else if (msg.id !== undefined && pending.has(msg.id)) {
        const { ok, ko } = pending.get(msg.id)
        pending.delete(msg.id)
        if (msg.error) ko(new Error(msg.error))
        else ok(msg.result)
      }
    })
  })
  ready.catch(() => {}) // awaited by callers; a child that never reports ready must not crash us
  const call = (cmd, args) =>
    new Promise((ok, ko) => {
      const id = ++seq
      pending.set(id, { ok, ko })
      child.send({ id, cmd, args })
    })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { child, ready, call, exited }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Stop a child that obeys `{ cmd: 'exit' }` (bench/server.mjs); SIGKILL after 3 s. */
export async function stopChild(c) {
  if (c.child.exitCode !== null) return
  c.child.send({ cmd: 'exit' })
  await Promise.race([c.exited, sleep(3000)])
  if (c.child.exitCode === null) c.child.kill('SIGKILL')
}

/** Stop a broker child (its `close` command, as `serveCommands` children offer); SIGKILL after 3 s. */
export async function stopBroker(b) {
  await b.call('close').catch(() => {})
  await Promise.race([b.exited, sleep(3000)])
  if (b.child.exitCode === null) b.child.kill('SIGKILL')
}
