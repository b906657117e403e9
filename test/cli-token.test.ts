/**
 * `agentwrit-verify token` and `agentwrit-verify inspect`, run as the real CLI (node + tsx, as
 * test/testing/cli.test.ts does) against a dev broker over real HTTP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from '../src/cli/args.js'
import { decodeToken, formatDuration } from '../src/cli/inspect-command.js'
import { type DevBroker, SAMPLE_APP_SCOPES, startDevBroker } from '../src/testing/index.js'
import { closedPort, type CliRun as Run, runCli, startCli } from './helpers/cli-runner.js'
import { call, decodeJwt } from './testing/support.js'

/** Every CLI run of this file, for the final "no token in any output" check. */
const runs: Run[] = []
/** Every token and secret seen in this file. */
const tokens = new Set<string>()
const secrets = new Set<string>()

async function run(
  args: readonly string[],
  opts: { env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<Run> {
  const r = await runCli(args, opts)
  runs.push(r)
  if (args[0] === 'token' && r.code === 0) {
    tokens.add(args.includes('--json') ? (JSON.parse(r.stdout).access_token as string) : r.stdout.trim())
  }
  return r
}

function signatureOf(token: string): string {
  return token.split('.')[2] as string
}

let broker: DevBroker
let appCount = 0

/**
 * A new app with the sample app's ceiling: app auth is rate-limited per client id (burst 3), so
 * each test gets its own credentials.
 */
async function freshApp(): Promise<Record<string, string>> {
  const admin = await broker.adminToken()
  const r = await call(broker.url, 'POST', '/v1/admin/apps', {
    token: admin,
    body: { name: `cli-test-${++appCount}`, scopes: [...SAMPLE_APP_SCOPES] },
  })
  expect(r.status).toBe(201)
  secrets.add(r.json.client_secret)
  return {
    AGENTWRIT_BROKER_URL: broker.url,
    AGENTWRIT_CLIENT_ID: r.json.client_id,
    AGENTWRIT_CLIENT_SECRET: r.json.client_secret,
  }
}

async function agentToken(scope: string[]): Promise<string> {
  const a = await broker.createAgent({ orchId: 'o', taskId: `t-${tokens.size}`, scope })
  tokens.add(a.accessToken)
  return a.accessToken
}

beforeAll(async () => {
  broker = await startDevBroker()
  tokens.add(await broker.adminToken())
  for (const s of [broker.sampleApp?.clientSecret, broker.adminSecret]) if (s) secrets.add(s)
})
afterAll(async () => {
  await broker?.close()
})

// Each run starts node + tsx: allow for a loaded machine.
describe('agentwrit-verify token', { timeout: 90_000 }, () => {
  it('prints the access token alone; it validates at the broker with the requested scope', async () => {
    const env = await freshApp()
    const r = await run(['token', '--scope', 'read:data:customer-7291'], { env })
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
    const token = r.stdout.slice(0, -1)
    const v = await broker.validate(token)
    expect(v.valid).toBe(true)
    if (!v.valid) return
    expect(v.claims.scope).toEqual(['read:data:customer-7291'])
    expect(v.claims.sub).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/cli\/cli-[0-9a-f]{8}\/[0-9a-f]{16}$/)
    expect(v.claims).toMatchObject({ orch_id: 'cli' })
    expect(Number(v.claims.exp) - Number(v.claims.iat)).toBe(300)
  })

  it('--scope repeats; --orch-id, --task-id and --ttl reach the token', async () => {
    const env = await freshApp()
    const r = await run(
      [
        'token',
        '--scope',
        'read:data:customer-7291',
        '--scope',
        'write:deploy:staging',
        '--orch-id',
        'orch-1',
        '--task-id',
        'task.42',
        '--ttl',
        '120',
      ],
      { env },
    )
    expect(r.code).toBe(0)
    const claims = decodeJwt(r.stdout.trim()).payload
    expect(claims).toMatchObject({
      scope: ['read:data:customer-7291', 'write:deploy:staging'],
      orch_id: 'orch-1',
      task_id: 'task.42',
    })
    expect(claims.sub).toMatch(/\/agent\/orch-1\/task\.42\/[0-9a-f]{16}$/)
    expect(claims.exp - claims.iat).toBe(120)
    expect((await broker.validate(r.stdout.trim())).valid).toBe(true)
  })

  it('--json prints access_token, agent_id, scope, expires_in, expires_at', async () => {
    const env = await freshApp()
    const r = await run(['token', '--scope', 'read:analytics:tenant-a', '--json', '--ttl', '90'], { env })
    expect(r).toMatchObject({ code: 0, stderr: '' })
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out)).toEqual(['access_token', 'agent_id', 'scope', 'expires_in', 'expires_at'])
    const claims = decodeJwt(out.access_token).payload
    expect(out).toMatchObject({ agent_id: claims.sub, scope: ['read:analytics:tenant-a'], expires_in: 90 })
    expect(out.expires_at).toBe(new Date(claims.exp * 1000).toISOString())
    expect((await broker.validate(out.access_token)).valid).toBe(true)
  })

  it('flags override the environment', async () => {
    const good = await freshApp()
    const port = await closedPort()
    // Every env value is wrong; the flags are right.
    const viaFlags = await run(
      [
        'token',
        '--scope',
        'read:data:x',
        '--broker',
        good.AGENTWRIT_BROKER_URL as string,
        '--client-id',
        good.AGENTWRIT_CLIENT_ID as string,
        '--client-secret',
        good.AGENTWRIT_CLIENT_SECRET as string,
      ],
      {
        env: {
          AGENTWRIT_BROKER_URL: `http://127.0.0.1:${port}`,
          AGENTWRIT_CLIENT_ID: 'nobody',
          AGENTWRIT_CLIENT_SECRET: 'wrong-secret-from-env',
        },
      },
    )
    expect(viaFlags.code).toBe(0)
    expect((await broker.validate(viaFlags.stdout.trim())).valid).toBe(true)
    // The env is right; a wrong --client-secret flag wins.
    const badFlag = await run(['token', '--scope', 'read:data:x', '--client-secret', 'wrong-secret-flag'], {
      env: good,
    })
    expect(badFlag).toMatchObject({ code: 2, stdout: '' })
    expect(badFlag.stderr).toContain('Authentication failed')
    // --broker wins over a good AGENTWRIT_BROKER_URL.
    const badBroker = await run(['token', '--scope', 'read:data:x', '--broker', `http://127.0.0.1:${port}`], {
      env: good,
    })
    expect(badBroker.code).toBe(2)
    expect(badBroker.stderr).toContain(`http://127.0.0.1:${port}`)
  })

  it('missing configuration: exit 2 naming each missing variable and its flag', async () => {
    const env = await freshApp()
    const [none, noSecret, emptyId, noScope, badScope, badTask, badTtl] = await Promise.all([
      run(['token', '--scope', 'read:data:x']),
      run(['token', '--scope', 'read:data:x'], { env: { ...env, AGENTWRIT_CLIENT_SECRET: undefined } }),
      run(['token', '--scope', 'read:data:x'], { env: { ...env, AGENTWRIT_CLIENT_ID: '' } }),
      run(['token'], { env }),
      run(['token', '--scope', 'read:data'], { env }),
      run(['token', '--scope', 'read:data:x', '--task-id', 'a/b'], { env }),
      run(['token', '--scope', 'read:data:x', '--ttl', '0'], { env }),
    ])
    for (const r of [none, noSecret, emptyId, noScope, badScope, badTask, badTtl]) {
      expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toMatch(/^agentwrit-verify: [^\n]+\n$/)
    }
    expect(none.stderr).toContain('AGENTWRIT_BROKER_URL (or --broker <url>)')
    expect(none.stderr).toContain('AGENTWRIT_CLIENT_ID (or --client-id <id>)')
    expect(none.stderr).toContain('AGENTWRIT_CLIENT_SECRET (or --client-secret <secret>)')
    expect(noSecret.stderr).toContain('missing AGENTWRIT_CLIENT_SECRET (or --client-secret <secret>);')
    expect(noSecret.stderr).not.toContain('AGENTWRIT_CLIENT_ID')
    expect(emptyId.stderr).toContain('missing AGENTWRIT_CLIENT_ID (or --client-id <id>);')
    expect(noScope.stderr).toContain('--scope <scope> is required')
    expect(badScope.stderr).toContain('"read:data" is not a scope')
    expect(badTask.stderr).toContain('--task-id: expected a SPIFFE path segment')
    expect(badTtl.stderr).toContain('--ttl: expected a whole number of seconds')
  })

  it("a scope outside the app's ceiling: exit 2 with the broker's reason", async () => {
    const env = await freshApp()
    const r = await run(['token', '--scope', 'read:data:x', '--scope', 'admin:revoke:*'], { env })
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toMatch(
      /^agentwrit-verify: the broker at http:\/\/127\.0\.0\.1:\d+ refused the scope: 403 forbidden: requested scopes exceed app ceiling; allowed: \[read:data:\* .*\]\n$/,
    )
  })

  it('a wrong client secret: exit 2, the secret is not echoed', async () => {
    const env = await freshApp()
    const r = await run(['token', '--scope', 'read:data:x'], {
      env: { ...env, AGENTWRIT_CLIENT_SECRET: 'deadbeef-not-the-secret' },
    })
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toContain('refused the app credentials (401 unauthorized: Authentication failed)')
    expect(r.stderr).toContain('AGENTWRIT_CLIENT_SECRET')
    expect(r.stderr).not.toContain('deadbeef-not-the-secret')
  })

  it('an unreachable broker, a non-http URL, a timeout: exit 2 naming the URL', async () => {
    const env = await freshApp()
    const port = await closedPort()
    broker.fault({ kind: 'hang', paths: ['/v1/app/auth'] })
    try {
      const [closed, ftp, notUrl, hung] = await Promise.all([
        run(['token', '--scope', 'read:data:x'], {
          env: { ...env, AGENTWRIT_BROKER_URL: `http://127.0.0.1:${port}` },
        }),
        run(['token', '--scope', 'read:data:x'], {
          env: { ...env, AGENTWRIT_BROKER_URL: 'ftp://127.0.0.1/' },
        }),
        run(['token', '--scope', 'read:data:x', '--broker', 'localhost:8080'], { env }),
        run(['token', '--scope', 'read:data:x', '--timeout', '1'], { env }),
      ])
      for (const r of [closed, ftp, notUrl, hung]) expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(closed.stderr).toBe(
        `agentwrit-verify: cannot reach the broker at http://127.0.0.1:${port} (ECONNREFUSED)\n`,
      )
      expect(ftp.stderr).toBe(
        'agentwrit-verify: AGENTWRIT_BROKER_URL: expected an http:// or https:// URL, got a ftp: URL\n',
      )
      expect(notUrl.stderr).toBe(
        'agentwrit-verify: --broker: expected an http:// or https:// URL, got a localhost: URL\n',
      )
      expect(hung.stderr).toBe(
        `agentwrit-verify: the broker at ${broker.url} did not answer POST /v1/app/auth within 1 s\n`,
      )
    } finally {
      broker.fault(null)
    }
  })

  it("the broker's app-auth rate limit: exit 2 with the retry delay", async () => {
    // A broker whose clock stands still: the app-auth bucket (burst 3) never refills.
    const frozen = Date.now()
    const still = await startDevBroker({ now: () => frozen })
    try {
      const app = still.sampleApp!
      secrets.add(app.clientSecret)
      const body = { client_id: app.clientId, client_secret: app.clientSecret }
      for (let i = 0; i < 3; i++) {
        const r = await call(still.url, 'POST', '/v1/app/auth', { body })
        expect(r.status).toBe(200)
        tokens.add(r.json.access_token)
      }
      const r = await run(['token', '--scope', 'read:data:x'], {
        env: {
          AGENTWRIT_BROKER_URL: still.url,
          AGENTWRIT_CLIENT_ID: app.clientId,
          AGENTWRIT_CLIENT_SECRET: app.clientSecret,
        },
      })
      expect(r).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `agentwrit-verify: the broker at ${still.url} rate-limited app authentication (429); retry in 60 s\n`,
      })
    } finally {
      await still.close()
    }
  })

  it('lines up with the export lines of "agentwrit-verify dev-broker"', async () => {
    const child = startCli(['dev-broker', '--port', '0'])
    try {
      const out = await new Promise<string>((resolve, reject) => {
        let text = ''
        const timer = setTimeout(() => reject(new Error('dev-broker printed no export lines')), 10_000)
        child.stdout?.on('data', (c: Buffer) => {
          text += c
          if (text.includes('# agent token:')) {
            clearTimeout(timer)
            resolve(text)
          }
        })
      })
      expect(out).toContain(
        '# agent token: TOKEN=$(npx agentwrit-verify token --scope read:data:customer-7291)',
      )
      const env: Record<string, string> = {}
      for (const m of out.matchAll(/^export (AGENTWRIT_[A-Z_]+)=(.*)$/gm))
        env[m[1] as string] = m[2] as string
      secrets.add(env.AGENTWRIT_CLIENT_SECRET as string)
      const r = await run(['token', '--scope', 'read:data:customer-7291'], { env })
      expect(r).toMatchObject({ code: 0, stderr: '' })
      const v = await call(env.AGENTWRIT_BROKER_URL as string, 'POST', '/v1/token/validate', {
        body: { token: r.stdout.trim() },
      })
      expect(v.json).toMatchObject({ valid: true, claims: { scope: ['read:data:customer-7291'] } })
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  })

  it('--help documents the environment, the sample ceiling and the exit codes', async () => {
    const [help, main] = await Promise.all([run(['token', '--help']), run(['--help'])])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: agentwrit-verify token --scope/)
    for (const s of ['AGENTWRIT_BROKER_URL', 'AGENTWRIT_CLIENT_ID', 'AGENTWRIT_CLIENT_SECRET', 'Exit codes'])
      expect(help.stdout).toContain(s)
    for (const s of SAMPLE_APP_SCOPES) expect(help.stdout).toContain(s)
    expect(main.stdout).toMatch(/\n {2}token {8}Register an agent/)
    expect(main.stdout).toMatch(/\n {2}inspect {6}Decode a token/)
  })
})

describe('agentwrit-verify inspect', { timeout: 90_000 }, () => {
  it('summarises an agent token: header, kind, SPIFFE parts, scopes, times, jti', async () => {
    const token = await agentToken(['read:data:customer-7291'])
    const claims = decodeJwt(token).payload
    const [text, json] = await Promise.all([run(['inspect', token]), run(['inspect', token, '--json'])])
    expect(text).toMatchObject({ code: 0, stderr: '' })
    const lines = text.stdout.split('\n')
    expect(lines[0]).toBe(`header          alg EdDSA  typ JWT  kid ${broker.kid}`)
    expect(text.stdout).toContain('\nkind            agent token\n')
    expect(text.stdout).toContain(`\nsubject         ${claims.sub}\n`)
    expect(text.stdout).toContain('\n  trust domain  agentwrit.local\n')
    expect(text.stdout).toMatch(/\n {2}orch \/ task {3}o \/ t-\d+ {2}\(instance [0-9a-f]{16}\)\n/)
    expect(text.stdout).toContain('\nscope           read:data:customer-7291\n')
    expect(text.stdout).toMatch(
      /\nexpires {9}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(expires in (?:4m(?: \d+s)?|5m)\)\n/,
    )
    expect(text.stdout).toContain(`\njti             ${claims.jti}\n`)
    expect(text.stdout).toContain('64 bytes, NOT verified')
    const s = JSON.parse(json.stdout)
    expect(s).toMatchObject({
      header: { alg: 'EdDSA', typ: 'JWT', kid: broker.kid },
      kind: 'agent',
      delegated: false,
      delegation_depth: 0,
      subject: claims.sub,
      spiffe: { trust_domain: 'agentwrit.local', orch: 'o' },
      orch_id: 'o',
      scope: ['read:data:customer-7291'],
      issuer: '',
      expires_at: new Date(claims.exp * 1000).toISOString(),
      expired: false,
      jti: claims.jti,
      delegation_chain: [],
      warnings: [],
      claims,
    })
    expect(s.expires_in).toBeGreaterThan(290)
    expect(s.expires_in).toBeLessThanOrEqual(300)
  })

  it('shows a delegated token hop by hop, with depth and attenuation', async () => {
    const a = await broker.createAgent({ orchId: 'o', taskId: 'root', scope: ['read:data:*'] })
    const b = await broker.createAgent({ orchId: 'o', taskId: 'mid', scope: ['read:data:*'] })
    const c = await broker.createAgent({ orchId: 'o', taskId: 'leaf', scope: ['read:data:*'] })
    const ab = await broker.delegate(a.accessToken, { to: b.agentId, scope: ['read:data:x', 'read:data:y'] })
    const bc = await broker.delegate(ab.accessToken, { to: c.agentId, scope: ['read:data:x'] })
    for (const t of [a.accessToken, b.accessToken, c.accessToken, ab.accessToken, bc.accessToken])
      tokens.add(t)
    const [text, json] = await Promise.all([
      run(['inspect', bc.accessToken]),
      run(['inspect', bc.accessToken, '--json']),
    ])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('\nkind            delegated agent token, depth 2\n')
    expect(text.stdout).toContain(`\nsubject         ${c.agentId}\n`)
    expect(text.stdout).toContain('\ntask_id         root  (the delegator’s)\n')
    expect(text.stdout).toContain(`\ndelegation chain (2 hops, root ${a.agentId}, attenuates):\n`)
    expect(text.stdout).toContain(`\n  1. ${a.agentId}\n     → ${b.agentId}\n     at `)
    expect(text.stdout).toContain('; delegator held read:data:*\n')
    expect(text.stdout).toContain(`\n  2. ${b.agentId}\n     → ${c.agentId}\n     at `)
    expect(text.stdout).toContain('; delegator held read:data:x read:data:y\n')
    expect(text.stdout).toMatch(/\nchain_hash {6}[0-9a-f]{64}\n/)
    const s = JSON.parse(json.stdout)
    expect(s).toMatchObject({
      kind: 'agent',
      delegated: true,
      delegation_depth: 2,
      subject: c.agentId,
      task_id: 'root',
      scope: ['read:data:x'],
      chain_attenuates: true,
      delegation_chain: [
        { hop: 1, from: a.agentId, to: b.agentId, delegator_scope: ['read:data:*'], record_signed: true },
        { hop: 2, from: b.agentId, to: c.agentId, delegator_scope: ['read:data:x', 'read:data:y'] },
      ],
    })
    expect(s.delegation_chain[0].delegated_at).toBe(bc.delegationChain[0]?.delegated_at)
  })

  it('admin and app tokens', async () => {
    const env = await freshApp()
    const app = await call(broker.url, 'POST', '/v1/app/auth', {
      body: { client_id: env.AGENTWRIT_CLIENT_ID, client_secret: env.AGENTWRIT_CLIENT_SECRET },
    })
    tokens.add(app.json.access_token)
    const [admin, appRun] = await Promise.all([
      run(['inspect', await broker.adminToken(), '--json']),
      run(['inspect', app.json.access_token]),
    ])
    expect(JSON.parse(admin.stdout)).toMatchObject({
      kind: 'admin',
      subject: 'admin',
      spiffe: null,
      scope: ['admin:launch-tokens:*', 'admin:revoke:*', 'admin:audit:*'],
    })
    expect(appRun.code).toBe(0)
    expect(appRun.stdout).toMatch(/\nkind {12}app \(app-cli-test-\d+-[0-9a-f]{6}\) token\n/)
  })

  it('an expired token decodes (exit 0) and says how long ago it expired', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = broker.signToken({
      iss: '',
      sub: 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef',
      exp: now - 185,
      nbf: now - 485,
      iat: now - 485,
      jti: '0123456789abcdef0123456789abcdef',
      scope: ['read:data:x'],
      task_id: 't',
      orch_id: 'o',
    })
    tokens.add(token)
    const [text, json] = await Promise.all([run(['inspect', token]), run(['inspect', token, '--json'])])
    expect(text).toMatchObject({ code: 0, stderr: '' })
    expect(text.stdout).toMatch(/\nexpires {9}\S+Z \(expired 3m(?: \d+s)? ago\)\n/)
    expect(text.stdout).toMatch(/\nissued {10}\S+Z \(8m(?: \d+s)? ago\)\n/)
    expect(JSON.parse(json.stdout)).toMatchObject({ expired: true })
    expect(JSON.parse(json.stdout).expires_in).toBeLessThan(-180)
  })

  it('reads the token from stdin (no argument, or "-"), ignoring whitespace and a Bearer prefix', async () => {
    const token = await agentToken(['read:data:stdin'])
    const [noArg, dash, bearer] = await Promise.all([
      run(['inspect'], { stdin: `${token}\n` }),
      run(['inspect', '-', '--json'], { stdin: `  ${token}\r\n` }),
      run(['inspect'], { stdin: `Bearer ${token}` }),
    ])
    expect(noArg.code).toBe(0)
    expect(noArg.stdout).toContain('\nscope           read:data:stdin\n')
    expect(JSON.parse(dash.stdout).scope).toEqual(['read:data:stdin'])
    expect(bearer.code).toBe(0)
  })

  it('--broker: valid (exit 0), revoked or expired (exit 1, the broker says why), unreachable (exit 2)', async () => {
    const token = await agentToken(['read:data:customer-1'])
    const victim = await agentToken(['read:data:customer-2'])
    await broker.revoke('token', decodeJwt(victim).payload.jti)
    const port = await closedPort()
    const [valid, validJson, revoked, revokedJson, down, ftp] = await Promise.all([
      run(['inspect', token, '--broker', broker.url]),
      run(['inspect', token, '--broker', broker.url, '--json']),
      run(['inspect', victim, '--broker', broker.url]),
      run(['inspect', victim, '--broker', broker.url, '--json']),
      run(['inspect', token, '--broker', `http://127.0.0.1:${port}`]),
      run(['inspect', token, '--broker', 'ftp://127.0.0.1']),
    ])
    expect(valid).toMatchObject({ code: 0, stderr: '' })
    expect(valid.stdout).toContain(`\nbroker          valid at ${broker.url}\n`)
    expect(JSON.parse(validJson.stdout).broker).toEqual({ url: broker.url, valid: true })
    expect(revoked).toMatchObject({ code: 1, stderr: '' })
    expect(revoked.stdout).toContain(
      `\nbroker          INVALID at ${broker.url}: token is invalid or expired\n`,
    )
    expect(JSON.parse(revokedJson.stdout).broker).toEqual({
      url: broker.url,
      valid: false,
      error: 'token is invalid or expired',
    })
    expect(down).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `agentwrit-verify: cannot reach the broker at http://127.0.0.1:${port} (ECONNREFUSED)\n`,
    })
    expect(ftp).toMatchObject({ code: 2, stdout: '' })
    expect(ftp.stderr).toContain('--broker: expected an http:// or https:// URL')
  })

  it('--broker: a broker answering garbage is not "invalid" (exit 2)', async () => {
    const token = await agentToken(['read:data:g'])
    broker.fault({ kind: 'status', status: 503 })
    try {
      const r = await run(['inspect', token, '--broker', broker.url])
      expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toBe(
        `agentwrit-verify: unexpected answer from the broker at ${broker.url} to POST /v1/token/validate: HTTP 503\n`,
      )
    } finally {
      broker.fault(null)
    }
  })

  it('malformed input: exit 2 naming the part that failed to decode', async () => {
    const [oneSegment, notJson, emptyStdin, twoArgs, unknown] = await Promise.all([
      run(['inspect', 'garbage']),
      run(['inspect', `${Buffer.from('not json').toString('base64url')}.e30.c2ln`]),
      run(['inspect'], { stdin: '' }),
      run(['inspect', 'a', 'b']),
      run(['inspect', '--bogus']),
    ])
    const expected = [
      'malformed token: expected 3 dot-separated segments (header.payload.signature), got 1',
      'malformed token: the header is not JSON',
      'no token on stdin',
      'inspect takes one token',
      "'--bogus'",
    ]
    ;[oneSegment, notJson, emptyStdin, twoArgs, unknown].forEach((r, i) => {
      expect(r, expected[i]).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toMatch(/^agentwrit-verify: [^\n]+\n$/)
      expect(r.stderr).toContain(expected[i])
    })
  })

  it('decodeToken names the part that failed (in process)', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url')
    const header = b64('{"alg":"EdDSA","typ":"JWT"}')
    const payload = b64('{"sub":"admin"}')
    const cases: [string, string][] = [
      ['garbage', 'expected 3 dot-separated segments (header.payload.signature), got 1'],
      ['a.b.c.d', 'got 4'],
      ['', 'no token given'],
      [`!!.${payload}.sig`, 'the header segment is not base64url'],
      [`${header}.${payload}=.sig`, 'the payload segment is not base64url'],
      [`${header}.${payload}.s`, 'the signature segment is not base64url'],
      [`${b64('not json')}.${payload}.sig`, 'the header is not JSON'],
      [`${b64('[1]')}.${payload}.sig`, 'the header is not a JSON object'],
      [`${header}.${b64('{"sub":')}.sig`, 'the payload is not JSON'],
      [`${header}.${b64('"str"')}.sig`, 'the payload is not a JSON object'],
      [`${header}.${Buffer.from([0xff, 0xfe]).toString('base64url')}.sig`, 'the payload is not UTF-8'],
      [`.${payload}.sig`, 'the header segment is empty'],
      [`${header}..sig`, 'the payload segment is empty'],
      [`${header}.${payload}.`, 'the signature segment is empty'],
      [`${header}.${payload}.a b`, 'it contains whitespace'],
    ]
    for (const [input, message] of cases) {
      expect(() => decodeToken(input), message).toThrow(UsageError)
      expect(() => decodeToken(input), message).toThrow(message)
    }
    expect(decodeToken(` Bearer ${header}.${payload}.c2ln\n`)).toMatchObject({
      token: `${header}.${payload}.c2ln`,
      header: { alg: 'EdDSA', typ: 'JWT' },
      payload: { sub: 'admin' },
      signatureBytes: 3,
    })
  })

  it('formatDuration: the two largest units', () => {
    expect([0, 45, 60, 180, 252, 3600, 3661, 90061, -185].map(formatDuration)).toEqual([
      '0s',
      '45s',
      '1m',
      '3m',
      '4m 12s',
      '1h',
      '1h 1m',
      '1d 1h',
      '3m 5s',
    ])
  })

  it('--help documents the input, --broker and the exit codes', async () => {
    const r = await run(['inspect', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: agentwrit-verify inspect/)
    expect(r.stdout).toMatch(/Exit codes:\n {2}0 .*\n[\s\S]* {2}1 .*\n[\s\S]* {2}2 /)
  })
})

describe('secrecy', () => {
  it('no output carries a token or its signature segment (except token’s stdout), nor a secret', () => {
    expect(runs.length).toBeGreaterThan(35)
    expect(tokens.size).toBeGreaterThan(10)
    for (const r of runs) {
      const streams = r.args[0] === 'token' ? [r.stderr] : [r.stdout, r.stderr]
      for (const out of streams) {
        for (const t of tokens) {
          expect(out.includes(t), `${r.args.join(' ')} printed a token`).toBe(false)
          expect(out.includes(signatureOf(t)), `${r.args.join(' ')} printed a signature`).toBe(false)
        }
        for (const s of secrets) expect(out.includes(s), `${r.args.join(' ')} printed a secret`).toBe(false)
      }
      if (r.args[0] === 'token' && r.code === 0) {
        // The token command's stdout is that one token, nothing else.
        const t = r.args.includes('--json') ? JSON.parse(r.stdout).access_token : r.stdout.trim()
        const rest = r.stdout.split(t).join('')
        for (const other of tokens) expect(rest.includes(signatureOf(other))).toBe(false)
        for (const s of secrets) expect(r.stdout.includes(s)).toBe(false)
      }
    }
  })
})
