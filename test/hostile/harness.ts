/**
 * Shared harness of the hostile suite: one development broker per test file, the same protected
 * service (test/adapters/apps.ts) on every adapter in remote, local and hybrid mode (nine apps,
 * reused by every case), broker-signed token factories, a raw-socket sender for requests the Node
 * HTTP client refuses to send, and the cases runner (its checks: test/helpers/refusal.ts).
 *
 * Broker-call expectations are stated per (mode, adapter) with {@link Calls}:
 * - `never`     no mode asks the broker (refused before any verification: extraction, syntax);
 * - `remote`    only remote mode asks (hybrid refuses locally first: bad signature, expiry, …);
 * - `verified`  remote and hybrid ask (the token verifies; the answer is decided after);
 * - `route`     like `verified`, but the adapters that fill a route's template scopes before
 *                authenticating (Fastify's route config, Nest's route plans) refuse a bad route
 *                parameter without asking.
 */
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import type { AgentAuthOptions } from '../../src/index.js'
import { type CreatedAgent, type DevBroker, type FaultMode, startDevBroker } from '../../src/testing/index.js'
import { ADAPTERS, type AdapterName, buildApp, type RunningApp } from '../adapters/apps.js'
import { createStandardAgents } from '../helpers/agents.js'
import { type RawRequest, type RawResponse, send } from '../helpers/http.js'
import { MODES, type Mode, optionsFor } from '../helpers/modes.js'
import { type Answer, expectAnswer, INVALID_REQUEST, INVALID_TOKEN, REALM } from '../helpers/refusal.js'
import { jti } from '../helpers/tokens.js'

/** Which (mode, adapter) pairs are expected to call the broker's validate endpoint. */
export type Calls = 'never' | 'remote' | 'verified' | 'route'

/** The adapters that fill a route's template scopes before authentication (see {@link Calls}). */
const PARAMS_BEFORE_AUTH: ReadonlySet<AdapterName> = new Set(['fastify', 'nest-express', 'nest-fastify'])

export function brokerExpected(calls: Calls, mode: Mode, adapter: AdapterName): boolean {
  switch (calls) {
    case 'never':
      return false
    case 'remote':
      return mode === 'remote'
    case 'verified':
      return mode !== 'local'
    case 'route':
      return mode !== 'local' && !PARAMS_BEFORE_AUTH.has(adapter)
  }
}

/** Trust domain of the dev broker; every hostile app is configured with it. */
export const TRUST_DOMAIN = 'agentwrit.local'

/** No caching unless `extra` says so, so broker calls are per request; `extra` wins over the key source. */
function hostileOptions(mode: Mode, broker: DevBroker, extra: Partial<AgentAuthOptions>): AgentAuthOptions {
  const settings = { cacheTtlMs: 0, negativeCacheTtlMs: 0, timeoutMs: 500, trustDomain: TRUST_DOMAIN }
  return optionsFor(mode, broker, { settings, over: extra })
}

/** A separate app (its own verifier and cache) on the environment's broker. Close it yourself. */
export function buildAppFor(
  env: HostileEnv,
  mode: Mode,
  adapter: AdapterName,
  extra: Partial<AgentAuthOptions> = {},
): Promise<RunningApp> {
  return buildApp(adapter, hostileOptions(mode, env.broker, extra))
}

export interface HostileEnv {
  readonly broker: DevBroker
  /** `read:data:customer-7`, `write:data:order-1` (task `process-ord-1`). */
  readonly agent: CreatedAgent
  /** `read:analytics:bank`, `write:reports:bank`. */
  readonly bank: CreatedAgent
  readonly apps: Readonly<Record<Mode, Readonly<Record<AdapterName, RunningApp>>>>
  /** Whole Unix seconds now. */
  now(): number
  /** The standard agent payload (`agent`'s identity, 300 s, a fresh jti), with overrides. */
  claims(over?: Record<string, unknown>): Record<string, unknown>
  /** Broker-signed token for {@link HostileEnv.claims}(over), with the broker's header unless given. */
  sign(over?: Record<string, unknown>, header?: Record<string, unknown> | string): string
  /** The broker's default header with overrides (`undefined` removes a member). */
  header(over?: Record<string, unknown>): Record<string, unknown>
  close(): Promise<void>
}

/** Start a broker, two agents and the nine apps. */
export async function startHostileEnv(extra: Partial<AgentAuthOptions> = {}): Promise<HostileEnv> {
  const broker = await startDevBroker()
  const { agent, bank } = await createStandardAgents(broker)
  const apps = {} as Record<Mode, Record<AdapterName, RunningApp>>
  for (const mode of MODES) {
    apps[mode] = {} as Record<AdapterName, RunningApp>
    for (const adapter of ADAPTERS)
      apps[mode][adapter] = await buildApp(adapter, hostileOptions(mode, broker, extra))
  }
  const now = () => Math.floor(Date.now() / 1000)
  const claims = (over: Record<string, unknown> = {}) => {
    const t = now()
    const base: Record<string, unknown> = {
      iss: '',
      sub: agent.agentId,
      exp: t + 300,
      nbf: t,
      iat: t,
      jti: jti(),
      scope: ['read:data:customer-7', 'write:data:order-1'],
      task_id: 'process-ord-1',
      orch_id: 'order-worker',
    }
    const out: Record<string, unknown> = { ...base }
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete out[k]
      else out[k] = v
    }
    return out
  }
  const header = (over: Record<string, unknown> = {}) => {
    const out: Record<string, unknown> = { alg: 'EdDSA', typ: 'JWT', kid: broker.kid }
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete out[k]
      else out[k] = v
    }
    return out
  }
  return {
    broker,
    agent,
    bank,
    apps,
    now,
    claims,
    header,
    sign: (over, h) => broker.signToken(claims(over), h),
    async close() {
      for (const mode of MODES) for (const adapter of ADAPTERS) await apps[mode][adapter].close()
      await broker.close()
    },
  }
}

/** Shorthands for common refusals. */
export const R = {
  invalidToken: { status: 401, code: 'invalid_token', challenge: INVALID_TOKEN } as Answer,
  missing: { status: 401, code: 'missing_token', challenge: REALM } as Answer,
  badRequest: { status: 400, code: 'invalid_request', challenge: INVALID_REQUEST } as Answer,
  badParam: { status: 400, code: 'invalid_scope_parameter', challenge: INVALID_REQUEST } as Answer,
  forbidden: (scope: string): Answer => ({
    status: 403,
    code: 'insufficient_scope',
    challenge: new RegExp(`error="insufficient_scope".*scope="${escapeRegExp(scope)}"$`),
  }),
  unavailable: { status: 503, code: 'broker_unavailable', challenge: null } as Answer,
  keysUnavailable: { status: 503, code: 'key_source_unavailable', challenge: null } as Answer,
  ok: { status: 200, challenge: null } as Answer,
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * Send bytes on a raw TCP connection and read until the server closes it (or `timeoutMs`).
 * For requests Node's HTTP client refuses to build (NUL bytes, obs-fold, duplicate names in two
 * cases, absolute-form targets). Returns the status code of the first response (0 if none).
 */
export function rawHttp(
  baseUrl: string,
  text: string,
  timeoutMs = 2000,
): Promise<{ status: number; raw: string }> {
  const url = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    const chunks: Buffer[] = []
    const done = () => {
      const raw = Buffer.concat(chunks).toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw)
      resolve({ status: m ? Number(m[1]) : 0, raw })
    }
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      done()
    })
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', done)
    socket.on('close', done)
    socket.on('error', (e) => (chunks.length ? done() : reject(e)))
    socket.write(text, 'latin1')
  })
}

/** One hostile HTTP scenario, run against every (mode, adapter) app. */
export interface Case {
  name: string
  req: (env: HostileEnv) => RawRequest
  /** Expected answer (remote mode; `modes` overrides), or a function of mode and adapter. */
  expect: Answer | ((mode: Mode, adapter: AdapterName) => Answer)
  calls: Calls
  /** What differs per adapter (the comment next to it says why). */
  callsBy?: Partial<Record<AdapterName, Calls>>
  /** What differs per mode, and why. */
  modes?: Partial<Record<Mode, Partial<Answer> & { calls?: Calls; why: string }>>
  /** A broker fault in force while the request is sent. */
  fault?: (env: HostileEnv) => FaultMode
  /** Extra check on the response. */
  check?: (res: RawResponse, env: HostileEnv, mode: Mode, adapter: AdapterName) => void
}

/** Register `cases` × MODES × ADAPTERS as tests against the file's shared environment. */
export function runCases(title: string, getEnv: () => HostileEnv, cases: readonly Case[]): void {
  describe.each(MODES)(`${title} (%s mode)`, (mode) => {
    describe.each(ADAPTERS)('%s', (adapter) => {
      it.each(cases)('$name', async (c) => {
        const env = getEnv()
        const base = typeof c.expect === 'function' ? c.expect(mode, adapter) : c.expect
        const override = c.modes?.[mode]
        // An override naming a status replaces the whole expectation (code and challenge included).
        const exp: Answer =
          override?.status !== undefined
            ? { status: override.status, code: override.code, challenge: override.challenge }
            : { ...base, ...override }
        const calls = override?.calls ?? c.callsBy?.[adapter] ?? c.calls
        const req = c.req(env)
        // A refusal never echoes a token: no part of one (16+ characters) is in its body.
        const secrets = [env.agent.accessToken, env.bank.accessToken, ...tokensIn(req)]
          .flatMap((t) => t.split('.'))
          .filter((part) => part.length >= 16)
        const before = env.broker.stats.validateCalls
        if (c.fault) env.broker.fault(c.fault(env))
        let res: RawResponse
        let brokerCalls: number
        try {
          res = await send(env.apps[mode][adapter].url, req)
          brokerCalls = env.broker.stats.validateCalls - before
        } finally {
          if (c.fault) env.broker.fault(null)
        }
        expectAnswer(req, res, exp, { soft: true, retryAfter: '5', secrets })
        if (brokerExpected(calls, mode, adapter))
          expect.soft(brokerCalls, 'broker validate calls').toBeGreaterThan(0)
        else expect.soft(brokerCalls, 'broker validate calls').toBe(0)
        c.check?.(res, env, mode, adapter)
      })
    })
  })
}

function tokensIn(req: RawRequest): string[] {
  const out: string[] = []
  for (const v of Object.values(req.headers ?? {})) {
    for (const s of Array.isArray(v) ? v : [v]) out.push(...s.split(/\s+/).filter((x) => x.includes('.')))
  }
  return out
}
