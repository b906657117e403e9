/**
 * `agentwrit-verify/mcp` end to end: the SDK's own McpServer behind Express on 127.0.0.1 (a
 * stateless StreamableHTTPServerTransport per request, as the SDK documents for a simple server),
 * the SDK's own Client over Streamable HTTP, the development broker, in every verification mode.
 * Every refusal is checked twice: what the client sees, and that the tool did not run.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import express, { type RequestHandler } from 'express'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { type Listening, listen } from '../../examples/shared.js'
import type { AgentAuthOptions } from '../../src/index.js'
import {
  type AgentWritAuthInfo,
  agentwritTokenVerifier,
  mcpAuth,
  registerGuardedTool,
  requireAnyToolScope,
  requireToolDelegatedFrom,
  requireToolScope,
  toolAgentOf,
} from '../../src/mcp.js'
import { type CreatedAgent, type DevBroker, startDevBroker } from '../../src/testing/index.js'
import { createStandardAgents } from '../helpers/agents.js'
import { type RawResponse, send } from '../helpers/http.js'
import { MODES, type Mode, optionsFor } from '../helpers/modes.js'

let broker: DevBroker
let agent: CreatedAgent
const servers: Listening[] = []
const closers: (() => Promise<void>)[] = []

beforeAll(async () => {
  broker = await startDevBroker()
  agent = (await createStandardAgents(broker)).agent
})
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
  await Promise.all(closers.map((c) => c()))
  await broker?.close()
})

/** The tools that ran, with what they saw. */
const ran: { tool: string; args: unknown; agent: string; clientId: string | undefined }[] = []

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] })

/** The order "database" as an MCP server: one per request (stateless). */
function buildServer(): McpServer {
  const server = new McpServer({ name: 'orders-test', version: '1.0.0' })
  const record =
    (tool: string) =>
    (args: unknown, extra: { authInfo?: AuthInfo }): CallToolResult => {
      const who = toolAgentOf(extra)
      ran.push({ tool, args, agent: who.id, clientId: extra.authInfo?.clientId })
      return text(`${tool} ok for ${who.id}`)
    }
  registerGuardedTool(
    server,
    'read_customer',
    { inputSchema: { customer_id: z.string() } },
    { scope: 'read:data:customer-:customer_id' },
    (args, extra) => record('read_customer')(args, extra),
  )
  registerGuardedTool(
    server,
    'write_order',
    { inputSchema: { order_id: z.string(), note: z.string().optional() } },
    { scope: ['write:data:order-:order_id'] },
    (args, extra) => record('write_order')(args, extra),
  )
  registerGuardedTool(
    server,
    'list_orders',
    { inputSchema: {} },
    { scope: 'read:data:orders' },
    (_a, extra) => record('list_orders')({}, extra),
  )
  // The plain form over an argument of any type: the hostile-argument table goes through it.
  server.registerTool(
    'read_any',
    { inputSchema: { customer_id: z.unknown().optional() } },
    requireToolScope('read:data:customer-:customer_id')((args, extra) => record('read_any')(args, extra)),
  )
  server.registerTool(
    'read_either',
    { inputSchema: { customer_id: z.string() } },
    requireAnyToolScope(
      'read:data:customer-:customer_id',
      'read:data:customers',
    )((args, extra) => record('read_either')(args, extra)),
  )
  server.registerTool(
    'delegated_only',
    { inputSchema: {} },
    requireToolDelegatedFrom(/orchestrator/)((_args, extra) => record('delegated_only')({}, extra)),
  )
  return server
}

/** The MCP endpoint's handler: a fresh server and stateless transport per request. */
const mcpHandler: RequestHandler = async (req, res) => {
  const server = buildServer()
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  })
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
}

async function serve(...before: RequestHandler[]): Promise<string> {
  const app = express()
  app.post('/mcp', express.json(), ...before, mcpHandler)
  const server = await listen(app)
  servers.push(server)
  return `${server.url}/mcp`
}

async function connect(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } },
  })
  await client.connect(transport)
  closers.push(() => client.close())
  return client
}

/** A raw `tools/call` over HTTP: the status and headers the MCP endpoint answers with. */
function rawCall(url: string, token: string | undefined, name: string, args: unknown): Promise<RawResponse> {
  const u = new URL(url)
  return send(u.origin, {
    method: 'POST',
    path: u.pathname,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  })
}

/** A tool call that must be refused without running: the tool error and its structured content. */
async function refused(client: Client, name: string, args: Record<string, unknown>) {
  const before = ran.length
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult
  expect(result.isError, JSON.stringify(result)).toBe(true)
  expect(ran.length, `${name} ran`).toBe(before)
  return {
    text: (result.content[0] as { text: string }).text,
    structured: result.structuredContent as { error_code: string; status: number; required_scope?: string[] },
  }
}

async function ranOnce(client: Client, name: string, args: Record<string, unknown>) {
  const before = ran.length
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult
  expect(result.isError ?? false, JSON.stringify(result)).toBe(false)
  expect(ran.length).toBe(before + 1)
  return ran[ran.length - 1]!
}

function settingsFor(mode: Mode, over: Partial<AgentAuthOptions> = {}): AgentAuthOptions {
  // Local mode sees a release only through a revocation feed.
  const feed: Partial<AgentAuthOptions> =
    mode === 'local'
      ? {
          mode: 'local',
          broker: broker.url,
          revocationFeed: { adminSecret: broker.adminSecret, pollIntervalMs: 100 },
        }
      : {}
  return optionsFor(mode, broker, {
    settings: { cacheTtlMs: 0, timeoutMs: 1_000 },
    over: { ...feed, ...over },
  })
}

describe.each(MODES)('mcp in %s mode', (mode) => {
  let url: string
  let client: Client

  beforeAll(async () => {
    const auth = mcpAuth(settingsFor(mode))
    closers.push(() => auth.close())
    url = await serve(auth)
    client = await connect(url, agent.accessToken)
  })

  it('own customer: the tool runs, with the identity in extra.authInfo', async () => {
    const call = await ranOnce(client, 'read_customer', { customer_id: '7' })
    expect(call).toEqual({
      tool: 'read_customer',
      args: { customer_id: '7' },
      agent: agent.agentId,
      clientId: agent.agentId,
    })
    expect((await ranOnce(client, 'write_order', { order_id: '1', note: 'x' })).tool).toBe('write_order')
    expect((await ranOnce(client, 'read_either', { customer_id: '7' })).tool).toBe('read_either')
  })

  it('another customer: a tool error naming the scope, the tool not run', async () => {
    const r = await refused(client, 'read_customer', { customer_id: '8' })
    expect(r.structured).toEqual({
      error_code: 'insufficient_scope',
      status: 403,
      detail: 'token lacks required scope: read:data:customer-8',
      required_scope: ['read:data:customer-8'],
    })
    expect(r.text).toBe('403 insufficient_scope: token lacks required scope: read:data:customer-8')
    expect((await refused(client, 'write_order', { order_id: '2' })).structured.error_code).toBe(
      'insufficient_scope',
    )
    expect((await refused(client, 'read_either', { customer_id: '8' })).structured.required_scope).toEqual([
      'read:data:customer-8',
      'read:data:customers',
    ])
  })

  it('a tool outside its scope, and a delegation-only tool: refused, not run', async () => {
    expect((await refused(client, 'list_orders', {})).structured).toMatchObject({
      error_code: 'insufficient_scope',
      required_scope: ['read:data:orders'],
    })
    expect((await refused(client, 'delegated_only', {})).structured.error_code).toBe('delegation_not_allowed')
  })

  it('hostile arguments are refused (400) or literal (403), exactly as route params are', async () => {
    const cases: [unknown, number][] = [
      [7, 400],
      [7.5, 400],
      [{ id: '7' }, 400],
      [['7'], 400],
      [null, 400],
      [true, 400],
      ['7'.repeat(300), 400],
      ['', 400],
      ['7:x', 400],
      ['*', 400],
      ['7 ', 400],
      ['7\u0000', 400],
      ['７', 403],
      ['7：x', 403],
      ['＊', 403],
      ['7\uff0a', 403],
    ]
    for (const [value, status] of cases) {
      const r = await refused(client, 'read_any', { customer_id: value })
      expect(r.structured.status, JSON.stringify(value)).toBe(status)
      expect(r.structured.error_code).toBe(status === 400 ? 'invalid_scope_parameter' : 'insufficient_scope')
    }
    // An absent argument the template needs: refused, never run.
    expect((await refused(client, 'read_any', {})).structured.error_code).toBe('invalid_scope_parameter')
    expect((await ranOnce(client, 'read_any', { customer_id: '7' })).args).toEqual({ customer_id: '7' })
  })

  it('no token → 401 with the bare challenge; a bad token → 401 invalid_token; the client sees an error', async () => {
    const none = await rawCall(url, undefined, 'read_customer', { customer_id: '7' })
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer realm="agentwrit"')
    const bad = await rawCall(url, 'a.b.c', 'read_customer', { customer_id: '7' })
    expect(bad.status).toBe(401)
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"')
    expect(bad.json).toMatchObject({ error_code: 'invalid_token' })
    const before = ran.length
    await expect(connect(url)).rejects.toThrow()
    await expect(connect(url, 'a.b.c')).rejects.toThrow()
    expect(ran.length).toBe(before)
  })

  it('after release → 401, and the tool does not run', async () => {
    const doomed = await broker.createAgent({
      orchId: 'mcp',
      taskId: `doomed-${mode}`,
      scope: ['read:data:customer-7'],
    })
    const c = await connect(url, doomed.accessToken)
    await ranOnce(c, 'read_customer', { customer_id: '7' })
    await broker.release(doomed.accessToken)
    await vi.waitFor(
      async () =>
        expect((await rawCall(url, doomed.accessToken, 'read_customer', { customer_id: '7' })).status).toBe(
          401,
        ),
      { timeout: 10_000, interval: 50 },
    )
    const before = ran.length
    await expect(c.callTool({ name: 'read_customer', arguments: { customer_id: '7' } })).rejects.toThrow()
    expect(ran.length).toBe(before)
  })

  it('a broker outage during a tool call → 503 with Retry-After at the HTTP layer, no tool run', async () => {
    // A verifier of its own that has read nothing yet: in local mode the outage is the key source's.
    const auth = mcpAuth(optionsFor(mode, broker, { settings: { cacheTtlMs: 0, timeoutMs: 500 } }))
    closers.push(() => auth.close())
    const outageUrl = await serve(auth)
    const before = ran.length
    broker.fault({ kind: 'status', status: 502, paths: '*' })
    try {
      const res = await rawCall(outageUrl, agent.accessToken, 'read_customer', { customer_id: '7' })
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toMatch(/^\d+$/)
      expect(res.json?.error_code).toMatch(/^(broker|key_source)_unavailable$/)
    } finally {
      broker.fault(null)
    }
    expect(ran.length).toBe(before)
  })
})

describe('mcpAuth', () => {
  it('adds resource_metadata to the challenge when resourceMetadataUrl is set', async () => {
    const auth = mcpAuth({
      broker: broker.url,
      cacheTtlMs: 0,
      resourceMetadataUrl: 'https://mcp.example/.well-known/oauth-protected-resource',
    })
    closers.push(() => auth.close())
    const url = await serve(auth)
    const none = await rawCall(url, undefined, 'read_customer', { customer_id: '7' })
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe(
      'Bearer realm="agentwrit", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"',
    )
    const bad = await rawCall(url, 'a.b.c', 'read_customer', { customer_id: '7' })
    expect(bad.headers['www-authenticate']).toMatch(
      /^Bearer realm="agentwrit", error="invalid_token", .*, resource_metadata="https:\/\/mcp\.example\//,
    )
    // A malformed header: 400 with the challenge too.
    const malformed = await send(new URL(url).origin, {
      method: 'POST',
      path: '/mcp',
      headers: { authorization: ['Bearer a.b.c', 'Bearer d.e.f'], 'content-type': 'application/json' },
      body: '{}',
    })
    expect(malformed.status).toBe(400)
    expect(malformed.headers['www-authenticate']).toContain('resource_metadata=')
  })

  it('validates its options eagerly, naming the option', () => {
    expect(() => mcpAuth({ broker: broker.url, resourceMetadataUrl: 'not a url' })).toThrow(
      /option "resourceMetadataUrl" must be an absolute http\(s\) URL/,
    )
    expect(() => mcpAuth({ broker: broker.url, resourceMetadataUrl: 'ftp://x/y' })).toThrow(
      /resourceMetadataUrl/,
    )
    expect(() => mcpAuth({ broker: broker.url, resourceMetadataUrl: 7 as never })).toThrow(
      /resourceMetadataUrl/,
    )
    expect(() => mcpAuth({ broker: broker.url, onError: 'throw' as never })).toThrow(/option "onError"/)
    expect(() => mcpAuth({ broker: broker.url, nope: 1 } as never)).toThrow(/unknown option "nope"/)
  })

  it('sets req.auth (frozen, the identity under extra.agent) and req.agent', async () => {
    const auth = mcpAuth({ broker: broker.url, cacheTtlMs: 0 })
    closers.push(() => auth.close())
    const app = express()
    app.get('/who', auth, (req, res) => {
      const info = req.auth as AgentWritAuthInfo
      res.json({
        frozen: Object.isFrozen(info) && Object.isFrozen(info.extra),
        same: info.extra.agent === req.agent,
        token: info.token === agent.accessToken,
        clientId: info.clientId,
        scopes: info.scopes,
        expiresAt: info.expiresAt === Math.floor(req.agent!.expiresAt.getTime() / 1000),
      })
    })
    const server = await listen(app)
    servers.push(server)
    const res = await send(server.url, {
      path: '/who',
      headers: { authorization: `Bearer ${agent.accessToken}` },
    })
    expect(res.json).toEqual({
      frozen: true,
      same: true,
      token: true,
      clientId: agent.agentId,
      scopes: ['read:data:customer-7', 'write:data:order-1'],
      expiresAt: true,
    })
  })
})

describe('misuse: a guarded tool on a server without mcpAuth never runs', () => {
  it('no authInfo at all', async () => {
    const url = await serve()
    const client = await connect(url)
    const r = await refused(client, 'read_customer', { customer_id: '7' })
    expect(r.structured).toMatchObject({ error_code: 'configuration_error', status: 500 })
    expect((await refused(client, 'read_any', { customer_id: '7' })).structured.error_code).toBe(
      'configuration_error',
    )
  })

  it('a forged authInfo, and a copy of a genuine one', async () => {
    const v = agentwritTokenVerifier({ broker: broker.url })
    closers.push(() => v.close())
    const genuine = await v.verifyAccessToken(agent.accessToken)
    const forgeries: AuthInfo[] = [
      {
        token: agent.accessToken,
        clientId: agent.agentId,
        scopes: ['read:data:customer-7'],
        expiresAt: Math.floor(Date.now() / 1000) + 600,
        extra: { agent: { ...genuine.extra.agent } },
      },
      { ...genuine },
      { ...genuine, extra: { ...genuine.extra } },
    ]
    for (const forged of forgeries) {
      const url = await serve((req, _res, next) => {
        req.auth = forged
        next()
      })
      const client = await connect(url)
      const r = await refused(client, 'read_customer', { customer_id: '7' })
      expect(r.structured).toMatchObject({ error_code: 'configuration_error', status: 500 })
    }
  })
})

describe('agentwritTokenVerifier with the SDK requireBearerAuth', () => {
  it('200 for a good token (the guards trust its AuthInfo), 401 for a bad one, 500 on an outage', async () => {
    const verifier = agentwritTokenVerifier({ broker: broker.url, cacheTtlMs: 0, timeoutMs: 500 })
    closers.push(() => verifier.close())
    const url = await serve(requireBearerAuth({ verifier }))
    const client = await connect(url, agent.accessToken)
    expect((await ranOnce(client, 'read_customer', { customer_id: '7' })).agent).toBe(agent.agentId)
    await refused(client, 'read_customer', { customer_id: '8' })

    const none = await rawCall(url, undefined, 'read_customer', { customer_id: '7' })
    expect(none.status).toBe(401)
    const bad = await rawCall(url, 'a.b.c', 'read_customer', { customer_id: '7' })
    expect(bad.status).toBe(401)
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"')

    const before = ran.length
    broker.fault({ kind: 'status', status: 502 })
    try {
      // The SDK answers every non-OAuth-4xx error with 500 (it has no 503): mcpAuth keeps the 503.
      const down = await rawCall(url, agent.accessToken, 'read_customer', { customer_id: '7' })
      expect(down.status).toBe(500)
      expect(down.json).toMatchObject({ error: 'server_error' })
    } finally {
      broker.fault(null)
    }
    expect(ran.length).toBe(before)
  })

  it('maps refusals to the SDK error classes, the AgentAuthError as cause', async () => {
    const verifier = agentwritTokenVerifier({ broker: broker.url, maxTokenLength: 64 })
    closers.push(() => verifier.close())
    const tooLong = await verifier.verifyAccessToken('a'.repeat(65)).catch((e: unknown) => e)
    expect(tooLong).toMatchObject({ errorCode: 'invalid_request', cause: { code: 'invalid_request' } })
    const bad = await verifier.verifyAccessToken('a.b.c').catch((e: unknown) => e)
    expect(bad).toMatchObject({ errorCode: 'invalid_token', cause: { code: 'invalid_token' } })
  })

  it('validates its options eagerly', () => {
    expect(() => agentwritTokenVerifier({ broker: 'nope' } as never)).toThrow(TypeError)
  })
})

describe('tool guards at registration', () => {
  it('a malformed template throws when the callback is wrapped', () => {
    expect(() => requireToolScope('read:data')).toThrow(/invalid scope template/)
    expect(() => requireToolScope()).toThrow(/at least one scope/)
    expect(() => requireToolScope('read:data:x')(7 as never)).toThrow(/wraps a tool callback/)
  })

  it('registerGuardedTool names the tool and the placeholder that is not an argument', () => {
    const server = new McpServer({ name: 't', version: '1' })
    const cb = () => text('')
    expect(() =>
      registerGuardedTool(
        server,
        'read',
        { inputSchema: { id: z.string() } },
        { scope: 'read:data:c-:customer_id' },
        cb,
      ),
    ).toThrow('registerGuardedTool("read"): scope placeholder ":customer_id" is not an argument of the tool')
    expect(() =>
      registerGuardedTool(
        server,
        'read2',
        { inputSchema: z.object({ id: z.string() }) },
        { scope: 'read:data:c-:nope' },
        cb,
      ),
    ).toThrow(/":nope" is not an argument/)
    expect(() => registerGuardedTool(server, 'read3', {}, { scope: 'read:data:c-:id' }, cb)).toThrow(
      /needs an object inputSchema/,
    )
    expect(() => registerGuardedTool(server, 'read4', {}, {}, cb)).toThrow(/no requirement given/)
    expect(() => registerGuardedTool(server, 'read5', {}, { scopes: ['x:y:z'] } as never, cb)).toThrow(
      /unknown requirement "scopes"/,
    )
    registerGuardedTool(
      server,
      'ok',
      { inputSchema: z.object({ id: z.string() }) },
      { scope: 'read:data:c-:id' },
      cb,
    )
    registerGuardedTool(server, 'literal', {}, { anyScope: ['read:data:a', 'read:data:b'] }, () => text(''))
  })
})
