/**
 * Running the real CLI (node + tsx on src/cli.ts) in tests: one spawn with a clean environment,
 * optional stdin, and everything it printed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/** The CLI's source file, which tsx runs. */
export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** One finished CLI run. */
export interface CliRun {
  readonly args: readonly string[]
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The parent's environment without any AGENTWRIT_* variable, plus `extra`. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AGENTWRIT_')) env[k] = v
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v
  return env
}

/** Start `agentwrit-verify <args>` (a long-running command: the caller ends it). */
export function startCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  stdin = false,
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  })
}

/** Run `agentwrit-verify <args>` to its end, with `env` over {@link cliEnv} and `stdin` if given. */
export function runCli(
  args: readonly string[],
  opts: { env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, opts.env, opts.stdin !== undefined)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (c) => {
      stdout += c
    })
    child.stderr?.on('data', (c) => {
      stderr += c
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ args, code, stdout, stderr }))
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin)
  })
}

/** A TCP port on 127.0.0.1 with nothing listening. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
