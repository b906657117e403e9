/**
 * `agentwrit-verify audit-token`: mint the least-privilege credential of a revocation feed — a
 * service that polls `GET /v1/audit/events` (contract §4.9) — so the admin secret stays out of that
 * service. Over plain HTTP, as the admin:
 *
 *   POST /v1/admin/auth (admin secret) → admin token (§4.10)
 *   POST /v1/admin/launch-tokens → GET /v1/challenge → POST /v1/register: a fresh "watcher" agent
 *     whose own scope is WATCHER_SCOPE, which no resource server grants anything for (§4.11, §4.2, §4.3)
 *   POST /v1/delegate (Bearer admin token) {delegate_to: watcher, scope: ["admin:audit:*"], ttl}
 *     → the audit token: sub = the watcher, delegation_chain[0].agent = "admin" (§4.7, §11)
 *   POST /v1/token/release the watcher's registration token, then the admin token (§4.6): neither is
 *     needed any more, and releasing a token does not touch what was delegated from it (§9).
 *
 * stdout carries the audit token alone (or a JSON summary with `--json`), so
 * `AUDIT_TOKEN=$(agentwrit-verify audit-token)` works. Errors never contain the secret or a token.
 */
import { parse, redact, segment, setting, timeoutMs, UsageError, wholeSeconds } from './args.js'
import {
  type BrokerHttp,
  BrokerUnreachableError,
  brokerHttp,
  brokerReason,
  DEFAULT_TIMEOUT_SECONDS,
  parseBrokerUrl,
  unexpectedAnswer,
} from './broker-http.js'
import { printIssued, registerAgent, str } from './token-command.js'

/** The one scope the audit token carries: what `GET /v1/audit/events` requires (contract §4.9). */
export const AUDIT_SCOPE = 'admin:audit:*'

/**
 * The watcher agent's own registration scope. Registration needs a non-empty scope within the launch
 * token's `allowed_scope` (contract §4.3); this one is well formed (§10.1) and names this tool as the
 * resource, so no resource server grants anything for it. The registration token is released at once.
 */
export const WATCHER_SCOPE = 'noop:agentwrit-verify:audit-watcher'

/** Default lifetime of the audit token, seconds (see the help text for why). */
export const DEFAULT_AUDIT_TTL = 3600

/** Lifetime of the watcher's own registration token (launch token `max_ttl`); released right away. */
const WATCHER_TTL = 60

export const AUDIT_TOKEN_HELP = `Usage: agentwrit-verify audit-token [options]

Mints the credential of a revocation feed (a service that polls GET /v1/audit/events) and
prints it on stdout, alone, followed by a newline, so the admin secret stays out of that
service:

  AUDIT_TOKEN=$(agentwrit-verify audit-token)

What the token can do: read the broker's audit log (scope ${AUDIT_SCOPE}) and renew itself
(and, like any token, delegate that same scope onward). Nothing else: it cannot revoke, issue
launch tokens or manage apps.

It expires after --ttl seconds (default ${DEFAULT_AUDIT_TTL}) unless renewed before then with
POST /v1/token/renew (Bearer: the token), which returns a new token with the same lifetime
and kills the old one; the verifier's revocation feed does that. Renewal has no upper limit,
so revocation is what ends it: an "agent" revocation of the watcher agent id (--json prints
it) kills it; so does a "chain" revocation of "admin", which also kills every token an admin
delegated, now and in the future (revocations are permanent). One token per feed process: a
renewal revokes the previous token, so two processes sharing one would break each other.

The alternative is to give the service the admin secret itself. That works too (an admin
token carries ${AUDIT_SCOPE}), but the service, and anyone who reads its environment, could
then also revoke any token or agent (admin included) and issue launch tokens that register
agents with any scope: a leak of it is a leak of the whole broker.

How: POST /v1/admin/auth with the admin secret; a watcher agent registered through the real
flow: POST /v1/admin/launch-tokens with allowed_scope
${WATCHER_SCOPE} (a scope no resource server grants anything for),
GET /v1/challenge, POST /v1/register with a new Ed25519 key; then, with the admin token,
POST /v1/delegate {"delegate_to": <watcher>, "scope": ["${AUDIT_SCOPE}"], "ttl": <ttl>};
finally it releases the watcher's own token and the admin token, which are not needed.

Options (each flag overrides its environment variable):
  --broker <url>         broker URL                  (env AGENTWRIT_BROKER_URL)
  --admin-secret <s>     the broker's admin secret   (env AGENTWRIT_ADMIN_SECRET; prefer
                         the environment: a flag shows up in the process list)
  --ttl <seconds>        lifetime of the audit token (default ${DEFAULT_AUDIT_TTL}; the broker's
                         own default would be 60 s; it clamps to its AA_MAX_TTL, 86400 s
                         by default)
  --orch-id <id>         orch_id of the watcher agent (default revocation-feed)
  --task-id <id>         task_id of the watcher agent (default watcher)
  --timeout <seconds>    deadline of each broker call (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                 print {"access_token","agent_id","scope","expires_in","expires_at",
                         "renewable"}; agent_id is the watcher, for an agent revocation
  -h, --help             show this help

Why one hour by default: the broker's 60 s would expire before the token reaches the
service, and any hiccup in the feed's renewals would kill it; an hour leaves time to deploy
it and lets the feed ride out a restart or a broker outage shorter than its remaining
lifetime, while a token minted and forgotten (shell history, a CI log) dies within the hour.
The watcher's agent id is spiffe://<trust domain>/agent/<orch-id>/<task-id>/<random>, new on
every run.

Exit codes: 0 token printed; 2 usage error, missing configuration, broker refusal (wrong
admin secret, rate limit, refused registration or delegation) or broker unreachable; one
line on stderr.
`

/** Run `agentwrit-verify audit-token`. */
export async function auditTokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parse(args, {
    broker: { type: 'string' },
    'admin-secret': { type: 'string' },
    ttl: { type: 'string' },
    'orch-id': { type: 'string' },
    'task-id': { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    process.stdout.write(AUDIT_TOKEN_HELP)
    return
  }
  const brokerText = setting(values.broker as string | undefined, env.AGENTWRIT_BROKER_URL)
  const adminSecret = setting(values['admin-secret'] as string | undefined, env.AGENTWRIT_ADMIN_SECRET)
  const missing = [
    brokerText === undefined ? 'AGENTWRIT_BROKER_URL (or --broker <url>)' : undefined,
    adminSecret === undefined ? 'AGENTWRIT_ADMIN_SECRET (or --admin-secret <secret>)' : undefined,
  ].filter((m) => m !== undefined)
  if (missing.length > 0) {
    throw new UsageError(
      `missing ${missing.join(', ')}; "agentwrit-verify dev-broker" prints export lines for both`,
    )
  }
  const broker = parseBrokerUrl(
    brokerText as string,
    values.broker === undefined ? 'AGENTWRIT_BROKER_URL' : '--broker',
  )
  const ttl = wholeSeconds(values.ttl as string | undefined) ?? DEFAULT_AUDIT_TTL
  const orchId = segment((values['orch-id'] as string | undefined) ?? 'revocation-feed', '--orch-id')
  const taskId = segment((values['task-id'] as string | undefined) ?? 'watcher', '--task-id')
  const http = brokerHttp(broker, timeoutMs(values.timeout as string | undefined, DEFAULT_TIMEOUT_SECONDS))
  const secrets = [adminSecret as string]
  try {
    const minted = await mint(http, { adminSecret: adminSecret as string, ttl, orchId, taskId, secrets })
    printIssued(Boolean(values.json), minted.accessToken, minted.expiresIn, {
      agent_id: minted.agentId,
      scope: (fromToken) => fromToken ?? [AUDIT_SCOPE],
      extra: { renewable: true },
    })
  } catch (e) {
    // Belt and braces: no message ever carries the admin secret or a token obtained on the way.
    if (e instanceof UsageError) throw new UsageError(redact(e.message, secrets))
    throw e
  } finally {
    await http.close()
  }
}

interface MintInput {
  adminSecret: string
  ttl: number
  orchId: string
  taskId: string
  /** Grows with every token obtained on the way, for redaction. */
  secrets: string[]
}

async function mint(
  http: BrokerHttp,
  input: MintInput,
): Promise<{ accessToken: string; agentId: string; expiresIn: number }> {
  // 1. Admin authentication (contract §4.10).
  const auth = await http.call('POST', '/v1/admin/auth', { body: { secret: input.adminSecret } })
  if (auth.status === 401) {
    throw new UsageError(
      `the broker at ${http.display} refused the admin secret (${brokerReason(auth)}); check AGENTWRIT_ADMIN_SECRET (--admin-secret)`,
    )
  }
  if (auth.status === 429) {
    const retry = auth.headers['retry-after']
    throw new UsageError(
      `the broker at ${http.display} rate-limited admin authentication (429)${typeof retry === 'string' ? `; retry in ${retry} s` : ''}`,
    )
  }
  const adminToken = str((auth.json as { access_token?: unknown } | undefined)?.access_token)
  if (auth.status !== 200 || adminToken === undefined) {
    throw unexpectedAnswer(http, 'POST /v1/admin/auth', auth)
  }
  input.secrets.push(adminToken)

  // 2. The watcher agent, registered through the real flow as the admin.
  let watcher: { accessToken: string; agentId: string } | undefined
  let accessToken: string | undefined
  let expiresIn: unknown
  try {
    watcher = await registerAgent(http, {
      launchTokenPath: '/v1/admin/launch-tokens',
      bearer: adminToken,
      allowedScope: [WATCHER_SCOPE],
      maxTtl: WATCHER_TTL,
      orchId: input.orchId,
      taskId: input.taskId,
      secrets: input.secrets,
    })

    // 3. The admin delegates the audit scope, and only it, to the watcher (contract §4.7, §11).
    const del = await http.call('POST', '/v1/delegate', {
      bearer: adminToken,
      body: { delegate_to: watcher.agentId, scope: [AUDIT_SCOPE], ttl: input.ttl },
    })
    const d = del.json as { access_token?: unknown; expires_in?: unknown } | undefined
    accessToken = str(d?.access_token)
    if (del.status !== 200 || accessToken === undefined) {
      throw new UsageError(
        `the broker at ${http.display} refused the delegation (POST /v1/delegate: ${brokerReason(del)})`,
      )
    }
    input.secrets.push(accessToken)
    expiresIn = d?.expires_in
  } catch (e) {
    // A broker that answered gets the tokens back (quietly: the error is the one line to print);
    // an unreachable one would only make each release wait for its own deadline.
    if (!(e instanceof BrokerUnreachableError)) {
      if (watcher !== undefined) await release(http, watcher.accessToken, undefined, input.secrets)
      await release(http, adminToken, undefined, input.secrets)
    }
    throw e
  }

  // 4. Neither the watcher's own token nor the admin token is needed any more (contract §4.6, §9).
  await release(http, watcher.accessToken, "the watcher's registration token", input.secrets)
  await release(http, adminToken, 'the admin token', input.secrets)

  return {
    accessToken,
    agentId: watcher.agentId,
    expiresIn: typeof expiresIn === 'number' ? expiresIn : input.ttl,
  }
}

/**
 * Release `token` (contract §4.6). A failure is only a warning on stderr naming `what` (the token
 * expires anyway), or silent when `what` is `undefined`.
 */
async function release(
  http: BrokerHttp,
  token: string,
  what: string | undefined,
  secrets: readonly string[],
): Promise<void> {
  let reason: string
  try {
    const r = await http.call('POST', '/v1/token/release', { bearer: token })
    if (r.status === 204) return
    reason = brokerReason(r)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    reason = e.message
  }
  if (what === undefined) return
  process.stderr.write(
    `agentwrit-verify: warning: could not release ${what} (${redact(reason, secrets)}); it stays valid until it expires\n`,
  )
}
