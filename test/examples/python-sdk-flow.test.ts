/**
 * The AgentWrit Python SDK's HTTP calls, reproduced, against the dev broker started by the CLI exactly
 * as a user would (`agentwrit-verify dev-broker --port 0`), configured from its printed `export` lines.
 * The SDK cannot be installed here (no PyPI), so this replays what it sends, request by request.
 *
 * Followed, in devonartis/agentwrit-python v0.3.0 (commit 75c25e6 / 215f686):
 * - src/agentwrit/_transport.py  `AgentWritTransport`: ONE `httpx.Client` per app, header
 *   `User-Agent: agentwrit-python/0.3.0`, URL `broker_url.rstrip('/') + '/' + path.lstrip('/')`,
 *   non-2xx → 401 AuthenticationError, 403 AuthorizationError, 429 RateLimitError, else ProblemResponseError.
 * - src/agentwrit/app.py  `AgentWritApp`: lazy `POST /v1/app/auth {"client_id","client_secret"}`,
 *   re-done only within 60 s of the app token's expiry; `validate()` delegates to scope.validate.
 * - src/agentwrit/orchestrator.py  `create_agent`: `POST /v1/app/launch-tokens` (Bearer app token)
 *   `{"agent_name": f"{orch_id}/{task_id}", "allowed_scope", "max_ttl": 300, "single_use": true}`,
 *   `GET /v1/challenge`, `POST /v1/register {"launch_token","nonce","public_key","signature",
 *   "orch_id","task_id","requested_scope"}`; `Agent.scope` is the REQUESTED scope.
 * - src/agentwrit/crypto.py  the nonce is hex-decoded and signed with Ed25519; the raw 32-byte public
 *   key and the 64-byte signature are sent in standard base64 (with padding).
 * - src/agentwrit/scope.py  `validate(broker_url, token)`: a NEW `httpx.Client` per call (so the
 *   default `User-Agent: python-httpx/<version>`), `POST /v1/token/validate {"token"}`,
 *   `raise_for_status()`, then `claims_data["iss"|"sub"|"exp"|"nbf"|"iat"|"jti"|"scope"|"task_id"|
 *   "orch_id"]` (KeyError if absent), `.get()` for aud, sid, delegation_chain, chain_hash.
 * - src/agentwrit/agent.py  `release()`: `POST /v1/token/release`, Bearer, no body, 204; a second
 *   call sends nothing. `delegate(delegate_to, scope, ttl=None)`: `POST /v1/delegate`, Bearer = the
 *   agent's OWN token, body `{"delegate_to","scope"}` plus `"ttl"` only when given.
 * - The sample apps (shared/scenarios/*.md) read AGENTWRIT_BROKER_URL, AGENTWRIT_CLIENT_ID,
 *   AGENTWRIT_CLIENT_SECRET and AGENTWRIT_ADMIN_SECRET (default "dev-secret"), and use top-level
 *   `httpx.post` for admin auth, revoke and the deploy runner's second hop.
 *
 * httpx (>= 0.28) sends `json=` bodies as compact JSON (`separators=(",", ":")`, `ensure_ascii=False`,
 * dict order kept) with `Content-Length` then `Content-Type: application/json` after the client
 * headers `Accept: *\/*`, `Accept-Encoding: gzip, deflate`, `Connection: keep-alive`, `User-Agent`;
 * a POST without a body carries `Content-Length: 0` and no `Content-Type`. Bodies are compared byte
 * for byte; header order is reproduced but the broker does not depend on it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { generateKeyPairSync, sign } from 'node:crypto'
import { Agent as HttpAgent, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOrderService } from '../../examples/order-worker/service.js'
import { listen } from '../../examples/shared.js'
import { readResponse } from '../helpers/http.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSX_CLI = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url))
const SDK_USER_AGENT = 'agentwrit-python/0.3.0'
const HTTPX_USER_AGENT = 'python-httpx/0.28.1'

/** One request as it went out. */
interface Sent {
  readonly method: string
  readonly path: string
  /** Header names in the order they were written, with their values. */
  readonly headers: readonly (readonly [string, string])[]
  readonly body: string
}

interface Received {
  readonly status: number
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: the SDK reads arbitrary JSON answers
  readonly json: any
}

/** The SDK's exception classes (agentwrit/errors.py), as `_transport._raise_for_status` picks them. */
class SdkError extends Error {
  constructor(
    readonly kind: 'AuthenticationError' | 'AuthorizationError' | 'RateLimitError' | 'ProblemResponseError',
    readonly status: number,
    readonly problem: { detail?: string; error_code?: string },
  ) {
    super(`${kind} (${status}): ${problem.detail}`)
  }
}

/** `httpx.Client(headers={"User-Agent": ua})`: a keep-alive pool, and a log of what was sent. */
class HttpxClient {
  readonly sent: Sent[] = []
  readonly #agent = new HttpAgent({ keepAlive: true })
  constructor(readonly userAgent: string) {}

  request(
    method: string,
    url: string,
    opts: { json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Received> {
    const u = new URL(url)
    // httpx encodes json= with json.dumps(..., separators=(",", ":"), ensure_ascii=False).
    const body = opts.json === undefined ? '' : JSON.stringify(opts.json)
    const headers: [string, string][] = [['Host', u.host]]
    if (opts.json === undefined && ['POST', 'PUT', 'PATCH'].includes(method))
      headers.push(['Content-Length', '0'])
    headers.push(
      ['Accept', '*/*'],
      ['Accept-Encoding', 'gzip, deflate'],
      ['Connection', 'keep-alive'],
      ['User-Agent', this.userAgent],
    )
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers.push([k, v])
    if (opts.json !== undefined) {
      headers.push(['Content-Length', String(Buffer.byteLength(body))], ['Content-Type', 'application/json'])
    }
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, agent: this.#agent })
      for (const [k, v] of headers) req.setHeader(k, v)
      this.sent.push({
        method,
        path: u.pathname,
        headers: req.getRawHeaderNames().map((n) => [n, String(req.getHeader(n))] as const),
        body,
      })
      req.on('response', (res) => {
        readResponse(res).then(({ status, text, json }) => resolve({ status, text, json }), reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

/** `agentwrit._transport.AgentWritTransport`. */
class Transport {
  readonly client = new HttpxClient(SDK_USER_AGENT)
  constructor(readonly brokerUrl: string) {}

  async request(
    method: string,
    path: string,
    opts: { json?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ): Promise<Received> {
    const res = await this.client.request(method, `${this.brokerUrl}/${path.replace(/^\/+/, '')}`, opts)
    if (res.status >= 200 && res.status < 300) return res
    const problem = (res.json ?? { detail: res.text }) as { detail?: string; error_code?: string }
    const kind =
      res.status === 401
        ? 'AuthenticationError'
        : res.status === 403
          ? 'AuthorizationError'
          : res.status === 429
            ? 'RateLimitError'
            : 'ProblemResponseError'
    throw new SdkError(kind, res.status, problem)
  }
}

/** agentwrit/models.py `DelegationRecord`. */
interface DelegationRecord {
  agent: string
  scope: string[]
  delegated_at: string
}

/** agentwrit/models.py `AgentClaims`. */
interface AgentClaims {
  iss: string
  sub: string
  aud: string[]
  exp: number
  nbf: number
  iat: number
  jti: string
  scope: string[]
  task_id: string
  orch_id: string
  sid: string | undefined
  delegation_chain: DelegationRecord[] | null
  chain_hash: string | undefined
}

/** `agentwrit.validate(broker_url, token)` (scope.py): a fresh httpx.Client per call. */
async function validate(brokerUrl: string, token: string) {
  const client = new HttpxClient(HTTPX_USER_AGENT)
  try {
    const res = await client.request('POST', `${brokerUrl.replace(/\/+$/, '')}/v1/token/validate`, {
      json: { token },
    })
    if (res.status < 200 || res.status >= 300) throw new Error(`httpx.HTTPStatusError ${res.status}`)
    const data = res.json as { valid?: boolean; error?: string; claims?: Record<string, unknown> }
    if (!data.valid) return { valid: false as const, error: data.error, sent: client.sent }
    const c = data.claims
    if (!c) return { valid: false as const, error: 'Missing claims in valid response', sent: client.sent }
    // claims_data[key] for the required fields: a missing one is a KeyError in the SDK.
    for (const key of ['iss', 'sub', 'exp', 'nbf', 'iat', 'jti', 'scope', 'task_id', 'orch_id']) {
      if (!(key in c)) throw new Error(`KeyError: '${key}'`)
    }
    // DelegationRecord(agent, scope, delegated_at): the SDK drops each record's signature.
    const records = (c.delegation_chain ?? []) as DelegationRecord[]
    const claims: AgentClaims = {
      iss: c.iss as string,
      sub: c.sub as string,
      aud: (c.aud as string[] | undefined) ?? [],
      exp: c.exp as number,
      nbf: c.nbf as number,
      iat: c.iat as number,
      jti: c.jti as string,
      scope: c.scope as string[],
      task_id: c.task_id as string,
      orch_id: c.orch_id as string,
      sid: c.sid as string | undefined,
      delegation_chain: records.length
        ? records.map((d) => ({ agent: d.agent, scope: d.scope, delegated_at: d.delegated_at }))
        : null,
      chain_hash: c.chain_hash as string | undefined,
    }
    return {
      valid: true as const,
      claims,
      sent: client.sent,
    }
  } finally {
    client.close()
  }
}

/** `agentwrit.Agent`. */
class SdkAgent {
  #released = false
  constructor(
    readonly app: AgentWritApp,
    readonly agentId: string,
    public accessToken: string,
    public expiresIn: number,
    readonly scope: string[],
    readonly taskId: string,
    readonly orchId: string,
  ) {}

  async release(): Promise<void> {
    if (this.#released) return
    await this.app.transport.request('POST', '/v1/token/release', {
      headers: { Authorization: `Bearer ${this.accessToken}` },
    })
    this.#released = true
  }

  async delegate(delegateTo: string, scope: string[], ttl?: number) {
    const payload: Record<string, unknown> = { delegate_to: delegateTo, scope }
    if (ttl !== undefined) payload.ttl = ttl
    const res = await this.app.transport.request('POST', '/v1/delegate', {
      json: payload,
      headers: { Authorization: `Bearer ${this.accessToken}` },
    })
    const data = res.json as {
      access_token: string
      expires_in: number
      delegation_chain?: { agent: string; scope: string[]; delegated_at: string }[]
    }
    return {
      accessToken: data.access_token,
      expiresIn: data.expires_in,
      delegationChain: (data.delegation_chain ?? []).map((d) => ({
        agent: d.agent,
        scope: d.scope,
        delegated_at: d.delegated_at,
      })),
    }
  }
}

/** `agentwrit.AgentWritApp`. */
class AgentWritApp {
  readonly brokerUrl: string
  readonly transport: Transport
  #session: { accessToken: string; expiresAt: number } | null = null

  constructor(
    brokerUrl: string,
    readonly clientId: string,
    readonly clientSecret: string,
  ) {
    this.brokerUrl = brokerUrl.replace(/\/+$/, '')
    this.transport = new Transport(this.brokerUrl)
  }

  async #ensureAppAuthenticated(): Promise<string> {
    if (this.#session === null || this.#session.expiresAt - Date.now() / 1000 < 60) {
      const res = await this.transport.request('POST', '/v1/app/auth', {
        json: { client_id: this.clientId, client_secret: this.clientSecret },
      })
      const data = res.json as { access_token: string; expires_in: number }
      this.#session = { accessToken: data.access_token, expiresAt: Date.now() / 1000 + data.expires_in }
    }
    return this.#session.accessToken
  }

  async createAgent(
    orchId: string,
    taskId: string,
    requestedScope: string[],
    maxTtl = 300,
  ): Promise<SdkAgent> {
    const appToken = await this.#ensureAppAuthenticated()
    const lt = await this.transport.request('POST', '/v1/app/launch-tokens', {
      json: {
        agent_name: `${orchId}/${taskId}`,
        allowed_scope: requestedScope,
        max_ttl: maxTtl,
        single_use: true,
      },
      headers: { Authorization: `Bearer ${appToken}` },
    })
    const challenge = await this.transport.request('GET', '/v1/challenge')
    const nonce = (challenge.json as { nonce: string }).nonce
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const rawPublic = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
    const reg = await this.transport.request('POST', '/v1/register', {
      json: {
        launch_token: (lt.json as { launch_token: string }).launch_token,
        nonce,
        public_key: rawPublic.toString('base64'),
        signature: sign(null, Buffer.from(nonce, 'hex'), privateKey).toString('base64'),
        orch_id: orchId,
        task_id: taskId,
        requested_scope: requestedScope,
      },
    })
    const data = reg.json as { agent_id: string; access_token: string; expires_in: number }
    return new SdkAgent(
      this,
      data.agent_id,
      data.access_token,
      data.expires_in,
      requestedScope,
      taskId,
      orchId,
    )
  }

  validate(token: string) {
    return validate(this.brokerUrl, token)
  }

  close(): void {
    this.transport.client.close()
  }
}

/** Top-level `httpx.post(url, json=..., headers=...)`: a throwaway client. */
async function httpxPost(url: string, json: Record<string, unknown>, headers?: Record<string, string>) {
  const client = new HttpxClient(HTTPX_USER_AGENT)
  try {
    const res = await client.request('POST', url, { json, ...(headers ? { headers } : {}) })
    return { ...res, sent: client.sent[0]! }
  } finally {
    client.close()
  }
}

/** Start `agentwrit-verify dev-broker --port 0` through tsx, as `npx agentwrit-verify` would run. */
function startCliBroker(): Promise<{ child: ChildProcess; env: Record<string, string> }> {
  const child = spawn(process.execPath, [TSX_CLI, 'src/cli.ts', 'dev-broker', '--port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`dev-broker printed nothing; stderr: ${err}`)), 15_000)
    child.stderr?.on('data', (c) => {
      err += c
    })
    child.stdout?.on('data', (c) => {
      out += c
      const env: Record<string, string> = {}
      for (const m of out.matchAll(/^export (AGENTWRIT_[A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!
      if (env.AGENTWRIT_ADMIN_SECRET !== undefined) {
        clearTimeout(timer)
        resolve({ child, env })
      }
    })
    child.on('exit', (code) => reject(new Error(`dev-broker exited ${code}: ${err}`)))
  })
}

describe('the Python SDK flow against `agentwrit-verify dev-broker` (real HTTP, CLI process)', () => {
  let child: ChildProcess
  let env: Record<string, string>
  let app: AgentWritApp

  beforeAll(async () => {
    ;({ child, env } = await startCliBroker())
    // app = AgentWritApp(broker_url=os.environ["AGENTWRIT_BROKER_URL"], client_id=..., client_secret=...)
    app = new AgentWritApp(env.AGENTWRIT_BROKER_URL!, env.AGENTWRIT_CLIENT_ID!, env.AGENTWRIT_CLIENT_SECRET!)
  })
  afterAll(async () => {
    app?.close()
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
  })

  it('prints the export lines the sample apps read', () => {
    expect(env.AGENTWRIT_BROKER_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(env.AGENTWRIT_CLIENT_ID).toMatch(/^[a-z]{2,3}-[0-9a-f]{12}$/)
    expect(env.AGENTWRIT_CLIENT_SECRET).toMatch(/^[0-9a-f]{64}$/)
    expect(env.AGENTWRIT_ADMIN_SECRET).toBe('dev-secret')
  })

  it('order_worker.py: create_agent → validate → use → release → validate, and a service built with this package agrees', async () => {
    const service = buildOrderService({ broker: env.AGENTWRIT_BROKER_URL!, cacheTtlMs: 0 })
    const server = await listen(service.listener)
    try {
      const scope = ['read:data:customer-cust-7291', 'write:data:order-ord-4823']
      const agent = await app.createAgent('order-worker', 'process-ord-4823', scope)

      // The four requests of the first create_agent(), as the SDK sends them.
      const sent = app.transport.client.sent
      expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
        'POST /v1/app/auth',
        'POST /v1/app/launch-tokens',
        'GET /v1/challenge',
        'POST /v1/register',
      ])
      expect(sent[0]!.body).toBe(
        `{"client_id":"${env.AGENTWRIT_CLIENT_ID}","client_secret":"${env.AGENTWRIT_CLIENT_SECRET}"}`,
      )
      expect(sent[1]!.body).toBe(
        '{"agent_name":"order-worker/process-ord-4823","allowed_scope":["read:data:customer-cust-7291","write:data:order-ord-4823"],"max_ttl":300,"single_use":true}',
      )
      expect(sent[1]!.headers.map(([n]) => n)).toEqual([
        'Host',
        'Accept',
        'Accept-Encoding',
        'Connection',
        'User-Agent',
        'Authorization',
        'Content-Length',
        'Content-Type',
      ])
      expect(Object.fromEntries(sent[1]!.headers)).toMatchObject({
        'User-Agent': SDK_USER_AGENT,
        'Content-Type': 'application/json',
        Authorization: expect.stringMatching(/^Bearer ey/),
      })
      expect(sent[2]!.body).toBe('')
      expect(sent[3]!.body).toMatch(
        /^\{"launch_token":"[0-9a-f]{64}","nonce":"[0-9a-f]{64}","public_key":"[A-Za-z0-9+/]{43}=","signature":"[A-Za-z0-9+/]{86}==","orch_id":"order-worker","task_id":"process-ord-4823","requested_scope":\["read:data:customer-cust-7291","write:data:order-ord-4823"\]\}$/,
      )
      expect(agent.agentId).toMatch(
        /^spiffe:\/\/agentwrit\.local\/agent\/order-worker\/process-ord-4823\/[0-9a-f]{16}$/,
      )
      expect(agent.expiresIn).toBe(300)

      // result = validate(app.broker_url, agent.access_token)
      const result = await validate(app.brokerUrl, agent.accessToken)
      expect(result.valid).toBe(true)
      if (!result.valid) return
      expect(result.sent[0]!.headers).toContainEqual(['User-Agent', HTTPX_USER_AGENT])
      expect(result.sent[0]!.body).toBe(`{"token":"${agent.accessToken}"}`)
      expect(result.claims.sub).toBe(agent.agentId)
      expect(result.claims.scope).toEqual(scope)
      expect(result.claims.task_id).toBe('process-ord-4823')
      expect(result.claims.orch_id).toBe('order-worker')
      expect(result.claims.iss).toBe('') // the scenario shows "agentwrit": only with AA_ISSUER set (§15.3)

      // The token, used against a downstream service built with agentwrit-verify.
      const h = { authorization: `Bearer ${agent.accessToken}` }
      expect((await fetch(`${server.url}/customers/cust-7291`, { headers: h })).status).toBe(200)
      expect((await fetch(`${server.url}/customers/cust-9999`, { headers: h })).status).toBe(403)

      // agent.release(): POST with no body, Content-Length: 0, 204; the second call sends nothing.
      const before = sent.length
      await agent.release()
      await agent.release()
      expect(sent.length).toBe(before + 1)
      const release = sent[before]!
      expect(`${release.method} ${release.path}`).toBe('POST /v1/token/release')
      expect(release.headers.map(([n]) => n)).toEqual([
        'Host',
        'Content-Length',
        'Accept',
        'Accept-Encoding',
        'Connection',
        'User-Agent',
        'Authorization',
      ])
      expect(Object.fromEntries(release.headers)['Content-Length']).toBe('0')
      expect(release.body).toBe('')

      const dead = await validate(app.brokerUrl, agent.accessToken)
      expect(dead).toMatchObject({ valid: false, error: 'token is invalid or expired' })
      expect((await fetch(`${server.url}/customers/cust-7291`, { headers: h })).status).toBe(401)
    } finally {
      await server.close()
      await service.close()
    }
  })

  it('a second create_agent reuses the app session (no second /v1/app/auth)', async () => {
    const before = app.transport.client.sent.length
    const agent = await app.createAgent('nightly-pipeline', 'etl-hospital-1', [
      'read:analytics:hospital',
      'write:reports:hospital',
    ])
    expect(app.transport.client.sent.slice(before).map((s) => s.path)).toEqual([
      '/v1/app/launch-tokens',
      '/v1/challenge',
      '/v1/register',
    ])
    await agent.release()
  })

  it('delegate(): single hop with the agent’s own token; the deploy runner’s raw second hop; widening → AuthorizationError', async () => {
    const orchestrator = await app.createAgent('deploy-pipeline', 'release-v2.4.1', [
      'read:config:*',
      'read:deploy:*',
      'write:deploy:*',
    ])
    const analyst = await app.createAgent('deploy-pipeline', 'review-v2.4.1', [
      'read:config:*',
      'read:deploy:*',
    ])
    const deployer = await app.createAgent('deploy-pipeline', 'push-v2.4.1', ['write:deploy:*'])

    // orchestrator.delegate(delegate_to=analyst.agent_id, scope=[...], ttl=120)
    const hop1 = await orchestrator.delegate(
      analyst.agentId,
      ['read:config:production', 'read:deploy:web-service', 'write:deploy:web-service'],
      120,
    )
    const sent = app.transport.client.sent.at(-1)!
    expect(sent.body).toBe(
      `{"delegate_to":"${analyst.agentId}","scope":["read:config:production","read:deploy:web-service","write:deploy:web-service"],"ttl":120}`,
    )
    expect(Object.fromEntries(sent.headers).Authorization).toBe(`Bearer ${orchestrator.accessToken}`)
    expect(hop1.expiresIn).toBe(120)
    expect(hop1.delegationChain).toEqual([
      { agent: orchestrator.agentId, scope: orchestrator.scope, delegated_at: expect.any(String) },
    ])

    // Without ttl the key is absent and the broker's default (60 s) applies.
    const noTtl = await orchestrator.delegate(analyst.agentId, ['read:config:production'])
    expect(app.transport.client.sent.at(-1)!.body).toBe(
      `{"delegate_to":"${analyst.agentId}","scope":["read:config:production"]}`,
    )
    expect(noTtl.expiresIn).toBe(60)

    // deploy_runner.py as published: its hop 1 drops write:deploy, so its hop 2
    // (write:deploy:web-service) is a widening — refused, by the real broker's rules too (§11.1).
    const published = await orchestrator.delegate(
      analyst.agentId,
      ['read:config:production', 'read:deploy:web-service'],
      120,
    )
    const refused = await httpxPost(
      `${app.brokerUrl}/v1/delegate`,
      { delegate_to: deployer.agentId, scope: ['write:deploy:web-service'], ttl: 60 },
      { Authorization: `Bearer ${published.accessToken}` },
    )
    expect(refused.status).toBe(403)
    expect(refused.json.detail).toBe('delegated scope exceeds delegator scope')

    // Hop 2 as deploy_runner.py does it: httpx.post with the DELEGATED token as Bearer.
    const hop2 = await httpxPost(
      `${app.brokerUrl}/v1/delegate`,
      { delegate_to: deployer.agentId, scope: ['write:deploy:web-service'], ttl: 60 },
      { Authorization: `Bearer ${hop1.accessToken}` },
    )
    expect(hop2.status).toBe(200)
    expect(hop2.json.delegation_chain.map((e: { agent: string }) => e.agent)).toEqual([
      orchestrator.agentId,
      analyst.agentId,
    ])
    const hop2Claims = await validate(app.brokerUrl, hop2.json.access_token)
    expect(hop2Claims.valid && hop2Claims.claims.scope).toEqual(['write:deploy:web-service'])
    expect(hop2Claims.valid && hop2Claims.claims.delegation_chain?.length).toBe(2)

    // analyst.delegate() would use the analyst's OWN token (read-only): a widening, 403.
    const widen = await analyst.delegate(deployer.agentId, ['write:deploy:web-service']).catch((e) => e)
    expect(widen).toBeInstanceOf(SdkError)
    expect(widen).toMatchObject({
      kind: 'AuthorizationError',
      status: 403,
      problem: { error_code: 'scope_violation', detail: 'delegated scope exceeds delegator scope' },
    })

    for (const a of [orchestrator, analyst, deployer]) await a.release()
  })

  it('incident_response.py: admin auth and revoke with httpx.post; a revoked token fails validate and release', async () => {
    const victim = await app.createAgent('incident-response', 'incident-demo', ['read:data:partition-1'])
    // admin_auth(broker_url, os.environ.get("AGENTWRIT_ADMIN_SECRET", "dev-secret"))
    const auth = await httpxPost(`${app.brokerUrl}/v1/admin/auth`, {
      secret: env.AGENTWRIT_ADMIN_SECRET ?? 'dev-secret',
    })
    expect(auth.status).toBe(200)
    expect(auth.sent.body).toBe(`{"secret":"${env.AGENTWRIT_ADMIN_SECRET}"}`)
    const revoke = await httpxPost(
      `${app.brokerUrl}/v1/revoke`,
      { level: 'task', target: 'incident-demo' },
      { Authorization: `Bearer ${auth.json.access_token}` },
    )
    expect(revoke.status).toBe(200)
    expect(revoke.json).toEqual({ revoked: true, level: 'task', target: 'incident-demo', count: 1 })
    expect(await validate(app.brokerUrl, victim.accessToken)).toMatchObject({ valid: false })
    // The SDK documents 403 for a revoked token; the broker answers 401 (contract §15.2).
    await expect(victim.release()).rejects.toMatchObject({ kind: 'AuthenticationError', status: 401 })
  })
})
