/**
 * What every `agentwrit-verify` command shares: the usage error (exit code 2) and strict option
 * parsing with node:util `parseArgs`.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'

/** A usage or input error: the command prints `agentwrit-verify: <message>` on stderr and exits 2. */
export class UsageError extends Error {}

/**
 * Parse `args` strictly (unknown options are a {@link UsageError}).
 * @param allowPositionals - accept non-option arguments (default `false`)
 */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

/** `--timeout <seconds>`: a positive number of seconds, returned in milliseconds. */
export function timeoutMs(value: string | undefined, defaultSeconds: number): number {
  if (value === undefined) return defaultSeconds * 1000
  const n = Number(value)
  if (!/^\d+(?:\.\d+)?$/.test(value) || !(n > 0) || n > 600) {
    throw new UsageError(
      `--timeout: expected a number of seconds between 0 and 600, got ${JSON.stringify(value)}`,
    )
  }
  return Math.round(n * 1000)
}
