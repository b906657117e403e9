/**
 * `agentwrit-verify audit-token`, run as the real CLI (node + tsx) against dev brokers over real HTTP
 * on 127.0.0.1: the token it prints is an `admin:audit:*`-only delegation from `admin` to a freshly
 * registered watcher agent, valid at the broker, renewable, and good for `GET /v1/audit/events`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUDIT_SCOPE, DEFAULT_AUDIT_TTL, WATCHER_SCOPE } from '../src/cli/audit-token-command.js'
import { type DevBroker, startDevBroker } from '../src/testing/index.js'
import { closedPort, type CliRun as Run, runCli } from './helpers/cli-runner.js'
import { call, decodeJwt } from './testing/support.js'

/** Every CLI run of this file, and every token and secret seen, for the final secrecy check. */
const runs: Run[] = []
const tokens = new Set<string>()
const secrets = new Set<string>()

async function run(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const r = await runCli(args, { env })
  runs.push(r)
  if (args[0] === 'audit-token' && r.code === 0 && !args.includes('--help')) {
    tokens.add(args.includes('--json') ? (JSON.parse(r.stdout).access_token as string) : r.stdout.trim())
  }
  return r
}

/** The token printed by a successful plain run. */
function printed(r: Run): string {
  expect(r).toMatchObject({ code: 0, stderr: '' })
  expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
  return r.stdout.slice(0, -1)
}

function envOf(b: DevBroker): Record<string, string> {
  secrets.add(b.adminSecret)
  return { AGENTWRIT_BROKER_URL: b.url, AGENTWRIT_ADMIN_SECRET: b.adminSecret }
}

const WATCHER_ID = /^spiffe:\/\/agentwrit\.local\/agent\/revocation-feed\/watcher\/[0-9a-f]{16}$/

let broker: DevBroker
let env: Record<string, string>

beforeAll(async () => {
  broker = await startDevBroker({ adminSecret: 'audit-token-test-admin-secret' })
  env = envOf(broker)
  tokens.add(await broker.adminToken())
})
afterAll(async () => {
  await broker?.close()
})

// Each run starts node + tsx: allow for a loaded machine.
describe('agentwrit-verify audit-token', { timeout: 90_000 }, () => {
  it('prints one token: admin:audit:* only, delegated by admin to a registered watcher agent', async () => {
    const token = printed(await run(['audit-token'], env))
    const claims = decodeJwt(token).payload
    expect(claims.scope).toEqual([AUDIT_SCOPE])
    expect(claims.sub).toMatch(WATCHER_ID)
    expect(claims.delegation_chain).toHaveLength(1)
    expect(claims.delegation_chain[0]).toMatchObject({ agent: 'admin' })
    expect(claims.exp - claims.iat).toBe(DEFAULT_AUDIT_TTL)
    // The admin token carries no task/orch, so neither does the delegation (contract §11.3).
    expect(claims.task_id).toBeUndefined()
    // The broker says valid.
    const v = await call(broker.url, 'POST', '/v1/token/validate', { body: { token } })
    expect(v.json).toMatchObject({ valid: true, claims: { sub: claims.sub, scope: [AUDIT_SCOPE] } })
    // sub is an agent registered through the real flow, with the harmless watcher scope, and the
    // watcher's own registration token and the admin token were released.
    const registered = broker.auditEvents({ event_type: 'agent_registered', agent_id: claims.sub })
    expect(registered.map((e) => e.detail)).toEqual([`Agent registered with scope [${WATCHER_SCOPE}]`])
    expect(broker.auditEvents({ event_type: 'token_released', agent_id: claims.sub })).toHaveLength(1)
    expect(
      broker.auditEvents({ event_type: 'delegation_created', agent_id: claims.sub }).map((e) => e.detail),
    ).toEqual([`delegation from admin to ${claims.sub} scope=[${AUDIT_SCOPE}] depth=1`])
  })

  it('reads GET /v1/audit/events (a plain agent token gets 403) and nothing else', async () => {
    const token = printed(await run(['audit-token'], env))
    const agent = await broker.createAgent({ orchId: 'o', taskId: 'plain', scope: ['read:data:x'] })
    tokens.add(agent.accessToken)
    const [events, plain, revoke, launch] = await Promise.all([
      call(broker.url, 'GET', '/v1/audit/events?event_type=token_revoked', { token }),
      call(broker.url, 'GET', '/v1/audit/events', { token: agent.accessToken }),
      call(broker.url, 'POST', '/v1/revoke', { token, body: { level: 'agent', target: 'x' } }),
      call(broker.url, 'POST', '/v1/admin/launch-tokens', {
        token,
        body: { agent_name: 'x', allowed_scope: ['read:data:*'] },
      }),
    ])
    expect(events.status).toBe(200)
    expect(events.json).toMatchObject({ events: expect.any(Array), offset: 0, limit: 100 })
    expect(plain.status).toBe(403)
    expect(plain.json).toMatchObject({
      error_code: 'insufficient_scope',
      detail: 'token lacks required scope: admin:audit:*',
    })
    expect(revoke.status).toBe(403)
    expect(revoke.json.detail).toBe('token lacks required scope: admin:revoke:*')
    expect(launch.status).toBe(403)
    expect(launch.json.detail).toBe('token lacks required scope: admin:launch-tokens:*')
  })

  it('is renewable: POST /v1/token/renew → a new token, same scope and chain, the old one dead', async () => {
    const token = printed(await run(['audit-token', '--ttl', '300'], env))
    const renewed = await call(broker.url, 'POST', '/v1/token/renew', { token })
    expect(renewed.status).toBe(200)
    expect(renewed.json.expires_in).toBe(300)
    const next = renewed.json.access_token as string
    tokens.add(next)
    expect(next).not.toBe(token)
    const before = decodeJwt(token).payload
    const after = decodeJwt(next).payload
    expect(after).toMatchObject({
      sub: before.sub,
      scope: [AUDIT_SCOPE],
      delegation_chain: before.delegation_chain,
      chain_hash: before.chain_hash,
    })
    expect(after.exp - after.iat).toBe(300)
    expect((await broker.validate(token)).valid).toBe(false)
    expect((await call(broker.url, 'GET', '/v1/audit/events', { token: next })).status).toBe(200)
  })

  it('--json prints access_token, agent_id, scope, expires_in, expires_at, renewable', async () => {
    const r = await run(['audit-token', '--json', '--ttl', '90'], env)
    expect(r).toMatchObject({ code: 0, stderr: '' })
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out)).toEqual([
      'access_token',
      'agent_id',
      'scope',
      'expires_in',
      'expires_at',
      'renewable',
    ])
    const claims = decodeJwt(out.access_token).payload
    expect(out).toMatchObject({ agent_id: claims.sub, scope: [AUDIT_SCOPE], expires_in: 90, renewable: true })
    expect(out.agent_id).toMatch(WATCHER_ID)
    expect(claims.exp - claims.iat).toBe(90)
    expect(out.expires_at).toBe(new Date(claims.exp * 1000).toISOString())
    expect((await broker.validate(out.access_token)).valid).toBe(true)
  })

  it('--ttl, --orch-id, --task-id and flags over the environment; the broker clamps to AA_MAX_TTL', async () => {
    const capped = await startDevBroker({ maxTtl: 600, adminSecret: 'capped-broker-secret' })
    try {
      const port = await closedPort()
      // Every env value is wrong; the flags are right.
      const r = await run(
        [
          'audit-token',
          '--json',
          '--ttl',
          '7200',
          '--orch-id',
          'feed-1',
          '--task-id',
          'poller.a',
          '--broker',
          capped.url,
          '--admin-secret',
          capped.adminSecret,
        ],
        { AGENTWRIT_BROKER_URL: `http://127.0.0.1:${port}`, AGENTWRIT_ADMIN_SECRET: 'wrong-from-env' },
      )
      secrets.add(capped.adminSecret)
      expect(r).toMatchObject({ code: 0, stderr: '' })
      const out = JSON.parse(r.stdout)
      expect(out.expires_in).toBe(600)
      expect(out.agent_id).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/feed-1\/poller\.a\/[0-9a-f]{16}$/)
      const claims = decodeJwt(out.access_token).payload
      expect(claims.exp - claims.iat).toBe(600)
      expect((await capped.validate(out.access_token)).valid).toBe(true)
    } finally {
      await capped.close()
    }
  })

  it('an agent revocation of the watcher or a chain revocation of admin kills it (the latter for good)', async () => {
    const own = await startDevBroker({ adminSecret: 'revocation-broker-secret' })
    try {
      const ownEnv = envOf(own)
      const [a, b] = await Promise.all([run(['audit-token', '--json'], ownEnv), run(['audit-token'], ownEnv)])
      const first = JSON.parse(a.stdout) as { access_token: string; agent_id: string }
      const second = printed(b)
      await own.revoke('agent', first.agent_id)
      expect((await own.validate(first.access_token)).valid).toBe(false)
      expect((await own.validate(second)).valid).toBe(true)
      await own.revoke('chain', 'admin')
      expect((await own.validate(second)).valid).toBe(false)
      // Revocations are permanent predicates: a token minted afterwards is dead on arrival.
      const later = printed(await run(['audit-token'], ownEnv))
      expect((await own.validate(later)).valid).toBe(false)
    } finally {
      await own.close()
    }
  })

  it('missing configuration or bad flags: exit 2 naming the variable and its flag', async () => {
    const [none, noSecret, emptyBroker, badTtl, badTask, ftp] = await Promise.all([
      run(['audit-token']),
      run(['audit-token'], { AGENTWRIT_BROKER_URL: broker.url }),
      run(['audit-token'], { ...env, AGENTWRIT_BROKER_URL: '' }),
      run(['audit-token', '--ttl', '0'], env),
      run(['audit-token', '--task-id', 'a/b'], env),
      run(['audit-token', '--broker', 'ftp://127.0.0.1/'], env),
    ])
    for (const r of [none, noSecret, emptyBroker, badTtl, badTask, ftp]) {
      expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toMatch(/^agentwrit-verify: [^\n]+\n$/)
    }
    expect(none.stderr).toBe(
      'agentwrit-verify: missing AGENTWRIT_BROKER_URL (or --broker <url>), AGENTWRIT_ADMIN_SECRET (or --admin-secret <secret>); "agentwrit-verify dev-broker" prints export lines for both\n',
    )
    expect(noSecret.stderr).toContain('missing AGENTWRIT_ADMIN_SECRET (or --admin-secret <secret>);')
    expect(noSecret.stderr).not.toContain('AGENTWRIT_BROKER_URL')
    expect(emptyBroker.stderr).toContain('missing AGENTWRIT_BROKER_URL (or --broker <url>);')
    expect(badTtl.stderr).toContain('--ttl: expected a whole number of seconds ≥ 1, got "0"')
    expect(badTask.stderr).toContain('--task-id: expected a SPIFFE path segment')
    expect(ftp.stderr).toContain('--broker: expected an http:// or https:// URL, got a ftp: URL')
  })

  it('a wrong admin secret: exit 2 with the broker reason, the secret not echoed', async () => {
    const r = await run(['audit-token'], { ...env, AGENTWRIT_ADMIN_SECRET: 'not-the-admin-secret-42' })
    expect(r).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `agentwrit-verify: the broker at ${broker.url} refused the admin secret (401 unauthorized: invalid credentials); check AGENTWRIT_ADMIN_SECRET (--admin-secret)\n`,
    })
    expect(r.stderr).not.toContain('not-the-admin-secret-42')
  })

  it('an unreachable broker or a timeout: exit 2 naming the URL', async () => {
    const port = await closedPort()
    broker.fault({ kind: 'hang', paths: ['/v1/admin/auth'] })
    try {
      const [closed, hung] = await Promise.all([
        run(['audit-token'], { ...env, AGENTWRIT_BROKER_URL: `http://127.0.0.1:${port}` }),
        run(['audit-token', '--timeout', '1'], env),
      ])
      expect(closed).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `agentwrit-verify: cannot reach the broker at http://127.0.0.1:${port} (ECONNREFUSED)\n`,
      })
      expect(hung).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `agentwrit-verify: the broker at ${broker.url} did not answer POST /v1/admin/auth within 1 s\n`,
      })
    } finally {
      broker.fault(null)
    }
  })

  it("the broker refusing the delegation: exit 2 with the broker's detail, no token in it", async () => {
    const detail = 'delegated scope exceeds delegator scope'
    broker.fault({
      kind: 'raw',
      status: 403,
      contentType: 'application/problem+json',
      body: JSON.stringify({ status: 403, detail, error_code: 'scope_violation' }),
      paths: ['/v1/delegate'],
    })
    const releasedByAdmin = () => broker.auditEvents({ event_type: 'token_released', agent_id: 'admin' })
    const adminReleasesBefore = releasedByAdmin().length
    const registeredBefore = broker.auditEvents({ event_type: 'agent_registered' }).length
    try {
      const r = await run(['audit-token'], env)
      expect(r).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `agentwrit-verify: the broker at ${broker.url} refused the delegation (POST /v1/delegate: 403 scope_violation: ${detail})\n`,
      })
      // The admin token and the watcher's registration token were released all the same.
      expect(releasedByAdmin()).toHaveLength(adminReleasesBefore + 1)
      const watcher = broker.auditEvents({ event_type: 'agent_registered' }).slice(registeredBefore)
      expect(watcher).toHaveLength(1)
      const agentId = watcher[0]?.agent_id as string
      expect(broker.auditEvents({ event_type: 'token_released', agent_id: agentId })).toHaveLength(1)
    } finally {
      broker.fault(null)
    }
  })

  it("the broker's admin-auth rate limit: exit 2 with the retry delay", async () => {
    // A broker whose clock stands still: the admin-auth bucket (burst 10) never refills.
    const frozen = Date.now()
    const still = await startDevBroker({ now: () => frozen, adminSecret: 'frozen-broker-secret' })
    try {
      const stillEnv = envOf(still)
      for (let i = 0; i < 10; i++) {
        const r = await call(still.url, 'POST', '/v1/admin/auth', { body: { secret: still.adminSecret } })
        expect(r.status).toBe(200)
        tokens.add(r.json.access_token)
      }
      const r = await run(['audit-token'], stillEnv)
      expect(r).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `agentwrit-verify: the broker at ${still.url} rate-limited admin authentication (429); retry in 1 s\n`,
      })
    } finally {
      await still.close()
    }
  })

  it('--help explains what the token can do, renewal, revocation and the admin-secret alternative', async () => {
    const [help, main] = await Promise.all([run(['audit-token', '--help']), run(['--help'])])
    expect(help).toMatchObject({ code: 0, stderr: '' })
    expect(help.stdout).toMatch(/^Usage: agentwrit-verify audit-token \[options\]\n/)
    for (const s of [
      'AUDIT_TOKEN=$(agentwrit-verify audit-token)',
      "read the broker's audit log (scope admin:audit:*)",
      'POST /v1/token/renew',
      '"agent" revocation of the watcher',
      '"chain" revocation of "admin"',
      'give the service the admin secret',
      'revoke any token or agent',
      'issue launch tokens',
      WATCHER_SCOPE,
      'AGENTWRIT_BROKER_URL',
      'AGENTWRIT_ADMIN_SECRET',
      `default ${DEFAULT_AUDIT_TTL}`,
      'Exit codes',
    ])
      expect(help.stdout).toContain(s)
    expect(main.stdout).toMatch(
      /\n {2}audit-token {2}Mint a renewable token that can only read the audit log/,
    )
  })
})

describe('secrecy', () => {
  it('no stderr carries a token, its signature or a secret; stdout is the one token', () => {
    expect(runs.length).toBeGreaterThan(20)
    expect(tokens.size).toBeGreaterThan(8)
    for (const r of runs) {
      for (const t of tokens) {
        expect(r.stderr.includes(t), `${r.args.join(' ')} printed a token`).toBe(false)
        expect(r.stderr.includes(t.split('.')[2] as string)).toBe(false)
      }
      for (const s of secrets) {
        expect(r.stderr.includes(s), `${r.args.join(' ')} printed a secret`).toBe(false)
        expect(r.stdout.includes(s), `${r.args.join(' ')} printed a secret`).toBe(false)
      }
      if (r.code === 0 && r.args[0] === 'audit-token' && !r.args.includes('--help')) {
        const t = r.args.includes('--json') ? JSON.parse(r.stdout).access_token : r.stdout.trim()
        const rest = r.stdout.split(t).join('')
        for (const other of tokens) expect(rest.includes(other.split('.')[2] as string)).toBe(false)
      } else {
        for (const t of tokens) expect(r.stdout.includes(t)).toBe(false)
      }
    }
  })
})
