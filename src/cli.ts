#!/usr/bin/env node
/**
 * `agentwrit-verify` command line.
 *
 * - `agentwrit-verify dev-broker [options]`: run the development broker on 127.0.0.1 until SIGINT/SIGTERM
 *   and print ready-to-paste `export` lines for its URL and credentials; `--verbose` logs one line per
 *   request on stderr (text, or JSON with `--log-format json`).
 * - `agentwrit-verify jwk --signing-key <path> [--jwks]`: print the public JWK (or a JWKS) of a broker
 *   signing key, with `kid` equal to the broker's token header `kid`.
 * - `agentwrit-verify token --scope <s>…`: register an agent at any broker over HTTP, as the app from
 *   `AGENTWRIT_BROKER_URL` / `AGENTWRIT_CLIENT_ID` / `AGENTWRIT_CLIENT_SECRET` (the lines `dev-broker`
 *   prints) or the matching flags, and print its access token alone (`src/cli/token-command.ts`).
 * - `agentwrit-verify audit-token`: as the admin from `AGENTWRIT_BROKER_URL` / `AGENTWRIT_ADMIN_SECRET`
 *   (or the flags), register a watcher agent and delegate it `admin:audit:*` alone, and print that
 *   token: the credential of a revocation feed (`src/cli/audit-token-command.ts`).
 * - `agentwrit-verify inspect [token|-]`: decode a token's header and claims without verification and
 *   print a summary, optionally asking a broker whether it is valid (`src/cli/inspect-command.ts`).
 *
 * Exit codes: 0 success, 2 usage or input error (message on stderr); `inspect --broker` exits 1 when the
 * broker says the token is invalid. No message ever carries a token or a secret.
 */
import { readFileSync } from 'node:fs'
import { parse, UsageError } from './cli/args.js'
import { auditTokenCommand } from './cli/audit-token-command.js'
import { inspectCommand } from './cli/inspect-command.js'
import { tokenCommand } from './cli/token-command.js'
import { startDevBroker } from './testing/dev-broker.js'
import { publicJwkFromSigningKey } from './testing/public-jwk.js'
import { formatRequestLogLine, type RequestLogLine } from './testing/request-log.js'

const MAIN_HELP = `Usage: agentwrit-verify <command> [options]

Commands:
  dev-broker   Run an in-process AgentWrit development broker on 127.0.0.1
  token        Register an agent at a broker and print its access token
               (env AGENTWRIT_BROKER_URL, AGENTWRIT_CLIENT_ID, AGENTWRIT_CLIENT_SECRET)
  audit-token  Mint a renewable token that can only read the audit log, for a revocation
               feed, so the admin secret stays out of it
               (env AGENTWRIT_BROKER_URL, AGENTWRIT_ADMIN_SECRET)
  inspect      Decode a token (header, kind, scopes, times, delegation chain) without
               verifying it; --broker <url> also asks the broker whether it is valid
  jwk          Print the public JWK / JWKS of a broker signing key (PKCS#8 PEM)

Quick start:
  agentwrit-verify dev-broker          # then paste the export lines it prints
  TOKEN=$(agentwrit-verify token --scope read:data:customer-7291)
  agentwrit-verify inspect "$TOKEN"

Run "agentwrit-verify <command> --help" for the options of a command.
`

const DEV_BROKER_HELP = `Usage: agentwrit-verify dev-broker [options]

Runs a development AgentWrit broker on 127.0.0.1 until interrupted (Ctrl-C / SIGTERM),
and prints shell lines to point clients at it.

Options:
  --port <n>            TCP port on 127.0.0.1; 0 picks a free port (default 8080)
  --admin-secret <s>    admin secret for POST /v1/admin/auth (default dev-secret)
  --issuer <s>          token issuer (iss), checked on verification (default: empty)
  --audience <s>        token audience (aud), required by Bearer endpoints (default: none)
  --trust-domain <s>    SPIFFE trust domain of agent ids (default agentwrit.local)
  --signing-key <path>  PKCS#8 PEM Ed25519 signing key to use (default: a fresh random key)
  -v, --verbose         log one line per request on stderr (stdout keeps the export lines):
                        time, request id, method, path, status, duration, bytes, fault, and
                        valid/invalid (validate) or the level (revoke) — never a token,
                        header, body, secret or query string
  --log-format <f>      text (default) or json: one JSON object per line
                        {time,requestId,method,path,status,durationMs,bytes?,fault?,event?};
                        implies --verbose
  -h, --help            show this help

The broker also serves GET /v1/jwks, an extension the real broker does not have.
The export lines are what "agentwrit-verify token" reads: paste them, then
  TOKEN=$(agentwrit-verify token --scope read:data:customer-7291)
`

const JWK_HELP = `Usage: agentwrit-verify jwk --signing-key <path> [--jwks]

Reads the broker's signing key (the PKCS#8 PEM file at AA_SIGNING_KEY_PATH) and prints its
public key as a JWK: {"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"alg":"EdDSA","use":"sig"}.
The kid is the RFC 7638 thumbprint, identical to the kid in the broker's token headers.

Options:
  --signing-key <path>  the broker's signing key file (required)
  --jwks                print a JWKS ({"keys":[jwk]}) instead of a single JWK
  -h, --help            show this help
`

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new UsageError(`cannot read signing key ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`)
  }
}

/** `--verbose` / `--log-format`: the dev broker's request log on stderr, or none. */
function requestLogger(
  verbose: boolean,
  format: string | undefined,
): ((line: RequestLogLine) => void) | undefined {
  if (format !== undefined && format !== 'text' && format !== 'json') {
    throw new UsageError(`--log-format: expected text or json, got ${JSON.stringify(format)}`)
  }
  if (!verbose && format === undefined) return undefined
  const toText = format === 'json' ? (line: RequestLogLine) => JSON.stringify(line) : formatRequestLogLine
  return (line) => {
    process.stderr.write(`${toText(line)}\n`)
  }
}

async function devBroker(args: string[]): Promise<void> {
  const { values } = parse(args, {
    port: { type: 'string' },
    'admin-secret': { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    'trust-domain': { type: 'string' },
    'signing-key': { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    process.stdout.write(DEV_BROKER_HELP)
    return
  }
  const requestLog = requestLogger(values.verbose === true, values['log-format'] as string | undefined)
  const portText = (values.port as string | undefined) ?? '8080'
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`--port: expected an integer between 0 and 65535, got ${JSON.stringify(portText)}`)
  }
  const signingKeyPath = values['signing-key'] as string | undefined
  let broker: Awaited<ReturnType<typeof startDevBroker>>
  try {
    broker = await startDevBroker({
      port: Number(portText),
      adminSecret: values['admin-secret'] as string | undefined,
      issuer: values.issuer as string | undefined,
      audience: values.audience as string | undefined,
      trustDomain: values['trust-domain'] as string | undefined,
      signingKeyPem: signingKeyPath === undefined ? undefined : readKeyFile(signingKeyPath),
      requestLog,
    })
  } catch (e) {
    if (e instanceof UsageError) throw e
    const code = (e as NodeJS.ErrnoException).code
    throw new UsageError(
      code === 'EADDRINUSE' ? `port ${portText} on 127.0.0.1 is already in use` : (e as Error).message,
    )
  }
  const app = broker.sampleApp
  process.stdout.write(
    [
      `# AgentWrit development broker (not for production) — kid ${broker.kid}`,
      `export AGENTWRIT_BROKER_URL=${broker.url}`,
      `export AGENTWRIT_CLIENT_ID=${app?.clientId ?? ''}`,
      `export AGENTWRIT_CLIENT_SECRET=${app?.clientSecret ?? ''}`,
      `export AGENTWRIT_ADMIN_SECRET=${broker.adminSecret}`,
      `# JWKS (dev-broker extension): ${broker.jwksUrl}`,
      `# sample app scopes: ${app?.scopes.join(' ') ?? ''}`,
      '# agent token: TOKEN=$(npx agentwrit-verify token --scope read:data:customer-7291)',
      '',
    ].join('\n'),
  )
  process.stderr.write('dev broker running; press Ctrl-C to stop\n')
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await broker.close()
}

function jwk(args: string[]): void {
  const { values } = parse(args, {
    'signing-key': { type: 'string' },
    jwks: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    process.stdout.write(JWK_HELP)
    return
  }
  const path = values['signing-key'] as string | undefined
  if (path === undefined) throw new UsageError('--signing-key <path> is required')
  let key: ReturnType<typeof publicJwkFromSigningKey>
  try {
    key = publicJwkFromSigningKey(readKeyFile(path))
  } catch (e) {
    if (e instanceof UsageError) throw e
    throw new UsageError(`${path}: ${(e as Error).message}`)
  }
  process.stdout.write(`${JSON.stringify(values.jwks ? { keys: [key] } : key, null, 2)}\n`)
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'dev-broker':
        await devBroker(rest)
        return 0
      case 'jwk':
        jwk(rest)
        return 0
      case 'token':
        await tokenCommand(rest, process.env)
        return 0
      case 'audit-token':
        await auditTokenCommand(rest, process.env)
        return 0
      case 'inspect':
        return await inspectCommand(rest)
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(MAIN_HELP)
        return 0
      case undefined:
        process.stderr.write(MAIN_HELP)
        return 2
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`agentwrit-verify: ${e.message}\n`)
      return 2
    }
    throw e
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`agentwrit-verify: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 2
  },
)
