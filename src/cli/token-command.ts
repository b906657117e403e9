/**
 * `agentwrit-verify token --scope <s>…`: get an agent access token from a broker (the dev broker or
 * a real one) through the registration flow every AgentWrit agent goes through (contract §4.13,
 * §4.11, §4.2, §4.3), over plain HTTP:
 *
 *   POST /v1/app/auth (client id/secret) → app token
 *   POST /v1/app/launch-tokens (Bearer app token) → launch token
 *   GET  /v1/challenge → nonce
 *   POST /v1/register (fresh Ed25519 key, signed nonce) → access token
 *
 * stdout carries the access token alone (or a JSON summary with `--json`), so
 * `TOKEN=$(agentwrit-verify token --scope …)` works. Errors never contain the client secret or a token.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { parseScope } from '../core/scope.js'
import { parse, redact, segment, setting, timeoutMs, UsageError, wholeSeconds } from './args.js'
import {
  type BrokerHttp,
  brokerHttp,
  brokerReason,
  DEFAULT_TIMEOUT_SECONDS,
  parseBrokerUrl,
  unexpectedAnswer,
} from './broker-http.js'

export const TOKEN_HELP = `Usage: agentwrit-verify token --scope <scope> [--scope <scope>…] [options]

Registers a fresh agent at an AgentWrit broker (the dev broker or a real one) and prints its
access token on stdout, alone, followed by a newline:

  TOKEN=$(agentwrit-verify token --scope read:data:customer-7291)

It runs the real flow over HTTP as the app whose credentials it is given: POST /v1/app/auth,
POST /v1/app/launch-tokens (allowed_scope = the scopes), GET /v1/challenge, POST /v1/register
with a new Ed25519 key. The scopes must lie within the app's scope ceiling. The dev broker's
sample app (the credentials "agentwrit-verify dev-broker" prints) has the ceiling
  read:data:*  write:data:*  read:analytics:*  write:reports:*  read:config:*
  read:deploy:*  write:deploy:*
so e.g. read:data:customer-7291 or write:deploy:staging work out of the box.

Options (each flag overrides its environment variable):
  --scope <scope>          a scope to request, action:resource:identifier (required, repeatable)
  --broker <url>           broker URL                     (env AGENTWRIT_BROKER_URL)
  --client-id <id>         app client id                  (env AGENTWRIT_CLIENT_ID)
  --client-secret <s>      app client secret              (env AGENTWRIT_CLIENT_SECRET)
  --orch-id <id>           orch_id of the agent (default cli)
  --task-id <id>           task_id of the agent (default cli-<8 random hex>)
  --ttl <seconds>          token lifetime, the launch token's max_ttl (default: the broker's, 300;
                           the broker clamps it to its AA_MAX_TTL)
  --timeout <seconds>      deadline of each broker call (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                   print {"access_token","agent_id","scope","expires_in","expires_at"}
  -h, --help               show this help

orch_id and task_id become SPIFFE path segments: [A-Za-z0-9._-] only.
The broker rate-limits app authentication per client id (a burst of 3, then about one
every 6 s); each run authenticates once.

Exit codes: 0 token printed; 2 usage error, missing configuration, broker refusal (bad
credentials, scope outside the app's ceiling, rate limit) or broker unreachable — one line
on stderr.
`

/** `exp` and `scope` of a JWT, read without verification (for `--json`); `{}` if unreadable. */
export function claimsOf(token: string): { exp?: number; scope?: string[] } {
  try {
    const c = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown
      scope?: unknown
    }
    return {
      ...(typeof c.exp === 'number' && Number.isSafeInteger(c.exp) ? { exp: c.exp } : {}),
      ...(Array.isArray(c.scope) && c.scope.every((x) => typeof x === 'string') ? { scope: c.scope } : {}),
    }
  } catch {
    return {}
  }
}

/**
 * Print an issued access token: alone on stdout, or (`asJson`) with `agent_id`, `scope` (the
 * token's own, else the fallback), `expires_in`, `expires_at` and any `extra` fields.
 */
export function printIssued(
  asJson: boolean,
  accessToken: string,
  expiresIn: number,
  fields: {
    agent_id: string
    scope: (fromToken: string[] | undefined) => readonly string[]
    extra?: Record<string, unknown>
  },
): void {
  if (!asJson) {
    process.stdout.write(`${accessToken}\n`)
    return
  }
  const { exp, scope } = claimsOf(accessToken)
  const expiresAt = new Date(exp === undefined ? Date.now() + expiresIn * 1000 : exp * 1000)
  const answer = {
    access_token: accessToken,
    agent_id: fields.agent_id,
    scope: fields.scope(scope),
    expires_in: expiresIn,
    expires_at: expiresAt.toISOString(),
    ...fields.extra,
  }
  process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`)
}

/** A non-empty string, else `undefined`. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** Run `agentwrit-verify token`. */
export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parse(args, {
    scope: { type: 'string', multiple: true },
    broker: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'orch-id': { type: 'string' },
    'task-id': { type: 'string' },
    ttl: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    process.stdout.write(TOKEN_HELP)
    return
  }
  const scopes = (values.scope as string[] | undefined) ?? []
  if (scopes.length === 0) {
    throw new UsageError('--scope <scope> is required (repeat it to request several scopes)')
  }
  for (const s of scopes) {
    if (parseScope(s) === null) {
      throw new UsageError(
        `--scope: ${JSON.stringify(s)} is not a scope (expected action:resource:identifier)`,
      )
    }
  }
  const brokerText = setting(values.broker as string | undefined, env.AGENTWRIT_BROKER_URL)
  const clientId = setting(values['client-id'] as string | undefined, env.AGENTWRIT_CLIENT_ID)
  const clientSecret = setting(values['client-secret'] as string | undefined, env.AGENTWRIT_CLIENT_SECRET)
  const missing = [
    brokerText === undefined ? 'AGENTWRIT_BROKER_URL (or --broker <url>)' : undefined,
    clientId === undefined ? 'AGENTWRIT_CLIENT_ID (or --client-id <id>)' : undefined,
    clientSecret === undefined ? 'AGENTWRIT_CLIENT_SECRET (or --client-secret <secret>)' : undefined,
  ].filter((m) => m !== undefined)
  if (missing.length > 0) {
    throw new UsageError(
      `missing ${missing.join(', ')}; "agentwrit-verify dev-broker" prints export lines for all three`,
    )
  }
  const broker = parseBrokerUrl(
    brokerText as string,
    values.broker === undefined ? 'AGENTWRIT_BROKER_URL' : '--broker',
  )
  const orchId = segment((values['orch-id'] as string | undefined) ?? 'cli', '--orch-id')
  const taskId = segment(
    (values['task-id'] as string | undefined) ?? `cli-${randomBytes(4).toString('hex')}`,
    '--task-id',
  )
  const ttl = wholeSeconds(values.ttl as string | undefined)
  const http = brokerHttp(broker, timeoutMs(values.timeout as string | undefined, DEFAULT_TIMEOUT_SECONDS))
  const secrets = [clientSecret as string]
  try {
    const reg = await register(http, {
      clientId: clientId as string,
      clientSecret: clientSecret as string,
      scopes,
      orchId,
      taskId,
      ttl,
      secrets,
    })
    printIssued(Boolean(values.json), reg.accessToken, reg.expiresIn, {
      agent_id: reg.agentId,
      scope: (fallback) => fallback ?? scopes,
    })
  } catch (e) {
    // Belt and braces: no message ever carries the client secret or a token we were given.
    if (e instanceof UsageError) throw new UsageError(redact(e.message, secrets))
    throw e
  } finally {
    await http.close()
  }
}

interface RegisterInput {
  clientId: string
  clientSecret: string
  scopes: string[]
  orchId: string
  taskId: string
  ttl: number | undefined
  /** Grows with every token obtained on the way, for redaction. */
  secrets: string[]
}

async function register(
  http: BrokerHttp,
  input: RegisterInput,
): Promise<{ accessToken: string; agentId: string; expiresIn: number }> {
  // 1. App authentication (contract §4.13).
  const auth = await http.call('POST', '/v1/app/auth', {
    body: { client_id: input.clientId, client_secret: input.clientSecret },
  })
  if (auth.status === 401) {
    throw new UsageError(
      `the broker at ${http.display} refused the app credentials (${brokerReason(auth)}); check AGENTWRIT_CLIENT_ID / AGENTWRIT_CLIENT_SECRET (--client-id / --client-secret)`,
    )
  }
  if (auth.status === 429) {
    const retry = auth.headers['retry-after']
    throw new UsageError(
      `the broker at ${http.display} rate-limited app authentication (429)${typeof retry === 'string' ? `; retry in ${retry} s` : ''}`,
    )
  }
  const appToken = str((auth.json as { access_token?: unknown } | undefined)?.access_token)
  if (auth.status !== 200 || appToken === undefined) throw unexpectedAnswer(http, 'POST /v1/app/auth', auth)
  input.secrets.push(appToken)

  return registerAgent(http, {
    launchTokenPath: '/v1/app/launch-tokens',
    bearer: appToken,
    allowedScope: input.scopes,
    maxTtl: input.ttl,
    orchId: input.orchId,
    taskId: input.taskId,
    secrets: input.secrets,
  })
}

/** What {@link registerAgent} needs. */
export interface RegisterAgentInput {
  /** `/v1/app/launch-tokens` (app token) or `/v1/admin/launch-tokens` (admin token), contract §4.11. */
  launchTokenPath: '/v1/app/launch-tokens' | '/v1/admin/launch-tokens'
  /** The app or admin token that creates the launch token. */
  bearer: string
  /** The launch token's `allowed_scope`, also the agent's `requested_scope`. */
  allowedScope: string[]
  /** The launch token's `max_ttl`, i.e. the agent token's lifetime; `undefined`: the broker's (300 s). */
  maxTtl: number | undefined
  orchId: string
  taskId: string
  /** Grows with every token obtained on the way, for redaction. */
  secrets: string[]
}

/**
 * Register a fresh agent (contract §4.11, §4.2, §4.3): launch token (single use) → challenge →
 * `POST /v1/register` with a new Ed25519 key and the signed nonce.
 * @throws UsageError naming the step the broker refused, never carrying a token
 */
export async function registerAgent(
  http: BrokerHttp,
  input: RegisterAgentInput,
): Promise<{ accessToken: string; agentId: string; expiresIn: number }> {
  // 1. Launch token (contract §4.11); for an app, within its ceiling.
  const ltEndpoint = `POST ${input.launchTokenPath}`
  const lt = await http.call('POST', input.launchTokenPath, {
    bearer: input.bearer,
    body: {
      agent_name: input.taskId,
      allowed_scope: input.allowedScope,
      ...(input.maxTtl === undefined ? {} : { max_ttl: input.maxTtl }),
      single_use: true,
    },
  })
  if (lt.status === 403) {
    throw new UsageError(`the broker at ${http.display} refused the scope: ${brokerReason(lt)}`)
  }
  const launchToken = str((lt.json as { launch_token?: unknown } | undefined)?.launch_token)
  if (lt.status !== 201 || launchToken === undefined) throw unexpectedAnswer(http, ltEndpoint, lt)
  input.secrets.push(launchToken)

  // 2. Challenge nonce (contract §4.2).
  const ch = await http.call('GET', '/v1/challenge')
  const nonce = str((ch.json as { nonce?: unknown } | undefined)?.nonce)
  if (ch.status !== 200 || nonce === undefined) throw unexpectedAnswer(http, 'GET /v1/challenge', ch)

  // 3. Registration with a fresh key: proof of possession over the hex-decoded nonce (contract §4.3).
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const rawPublic = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const nonceBytes = /^(?:[0-9a-fA-F]{2})+$/.test(nonce)
    ? Buffer.from(nonce, 'hex')
    : Buffer.from(nonce, 'utf8')
  const reg = await http.call('POST', '/v1/register', {
    body: {
      launch_token: launchToken,
      nonce,
      public_key: rawPublic.toString('base64'),
      signature: sign(null, nonceBytes, privateKey).toString('base64'),
      orch_id: input.orchId,
      task_id: input.taskId,
      requested_scope: input.allowedScope,
    },
  })
  if (reg.status === 403) {
    throw new UsageError(`the broker at ${http.display} refused the scope: ${brokerReason(reg)}`)
  }
  const r = reg.json as { access_token?: unknown; agent_id?: unknown; expires_in?: unknown } | undefined
  const accessToken = str(r?.access_token)
  const agentId = str(r?.agent_id)
  if (reg.status !== 200 || accessToken === undefined || agentId === undefined) {
    throw new UsageError(
      `the broker at ${http.display} refused the registration (POST /v1/register: ${brokerReason(reg)})`,
    )
  }
  input.secrets.push(accessToken)
  return {
    accessToken,
    agentId,
    expiresIn: typeof r?.expires_in === 'number' ? r.expires_in : 0,
  }
}
