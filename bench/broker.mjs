/**
 * Broker child process: the development broker from dist (`agentwrit-verify/testing`), plus an
 * RS256 JWKS endpoint for the koa-jwt + jwks-rsa anchor (jsonwebtoken cannot verify EdDSA).
 * Driven by the orchestrator over IPC: { id, cmd, args } → { id, result | error }.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { createServer } from 'node:http'
import { AUDIENCE, freshClaims, ISSUER, startBenchBroker } from './bench-broker.mjs'
import { serveCommands } from './child-commands.mjs'

const { broker, agent } = await startBenchBroker()
const template = JSON.parse(Buffer.from(agent.accessToken.split('.')[1], 'base64url').toString('utf8'))

function eddsaToken() {
  return broker.signToken(freshClaims(template))
}

// RS256 issuer for the koa-jwt anchor: same claims, RSA-2048 key published as a JWKS.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsaKid = 'bench-rs256'
const rsaJwks = {
  keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: rsaKid, alg: 'RS256', use: 'sig' }],
}
const rsaHeader = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: rsaKid })).toString('base64url')

function rs256Token() {
  const payload = Buffer.from(JSON.stringify(freshClaims(template))).toString('base64url')
  const input = `${rsaHeader}.${payload}`
  return `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`
}

const jwksServer = createServer((req, res) => {
  if (req.url === '/rs256/jwks') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rsaJwks))
  } else {
    res.writeHead(404).end()
  }
})
await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))

const commands = {
  info: () => ({
    url: broker.url,
    jwksUrl: broker.jwksUrl,
    publicJwk: broker.publicJwk,
    publicKeyPem: broker.publicKeyPem,
    signingKeyPem: broker.signingKeyPem,
    issuer: ISSUER,
    audience: AUDIENCE,
    sub: agent.agentId,
    warmToken: agent.accessToken,
    rsaJwksUrl: `http://127.0.0.1:${jwksServer.address().port}/rs256/jwks`,
    rsaWarmToken: rs256Token(),
  }),
  pool: ({ n, alg }) => {
    const make = alg === 'RS256' ? rs256Token : eddsaToken
    const out = new Array(n)
    for (let i = 0; i < n; i++) out[i] = make()
    return out
  },
  token: () => eddsaToken(),
  validateCalls: () => broker.stats.validateCalls,
  fault: ({ mode }) => {
    broker.fault(mode ?? null)
    return true
  },
  close: async () => {
    await broker.close()
    jwksServer.close()
    setImmediate(() => process.exit(0))
    return true
  },
}

serveCommands(commands)
