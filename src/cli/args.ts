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

/** A flag, else a non-empty environment variable, else `undefined`. */
export function setting(flag: string | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined) return flag
  return env === undefined || env === '' ? undefined : env
}

/** A SPIFFE path segment as the broker builds them (contract §5). */
const SEGMENT = /^[A-Za-z0-9._-]+$/

/** `--orch-id` / `--task-id`: a SPIFFE path segment, `[A-Za-z0-9._-]+`, not `.` or `..`. */
export function segment(value: string, flag: string): string {
  if (!SEGMENT.test(value) || value === '.' || value === '..') {
    throw new UsageError(
      `${flag}: expected a SPIFFE path segment ([A-Za-z0-9._-]+), got ${JSON.stringify(value)}`,
    )
  }
  return value
}

/** `--ttl <seconds>`: a whole number of seconds ≥ 1, or `undefined` when absent. */
export function wholeSeconds(value: string | undefined, flag = '--ttl'): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag}: expected a whole number of seconds ≥ 1, got ${JSON.stringify(value)}`)
  }
  return Number(value)
}

/** `message` with every secret of 4 characters or more replaced by `***`. */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  return out
}
