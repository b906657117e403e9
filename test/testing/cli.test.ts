import type { ChildProcess } from 'node:child_process'
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { CLI, runCli, startCli } from '../helpers/cli-runner.js'
import { call, decodeJwt, RFC8037_JWK, RFC8037_KID, RFC8037_PEM } from './support.js'

/** Read stdout until the export lines are there. */
function readyLines(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`no ready output; stderr: ${err}`)), 10_000)
    child.stderr?.on('data', (c) => {
      err += c
    })
    child.stdout?.on('data', (c) => {
      out += c
      if (out.includes('# JWKS')) {
        clearTimeout(timer)
        resolve(out)
      }
    })
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)))
  })
}

function exportsOf(out: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const m of out.matchAll(/^export (AGENTWRIT_[A-Z_]+)=(.*)$/gm)) env[m[1] as string] = m[2] as string
  return env
}

const dir = mkdtempSync(join(tmpdir(), 'agentwrit-cli-'))
const keyFile = join(dir, 'signing.key')
writeFileSync(keyFile, RFC8037_PEM, { mode: 0o600 })
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('agentwrit-verify dev-broker', () => {
  it('prints the four export lines and the JWKS URL; the printed credentials work; SIGTERM exits 0', async () => {
    const child = startCli([
      'dev-broker',
      '--port',
      '0',
      '--admin-secret',
      'cli-secret',
      '--signing-key',
      keyFile,
    ])
    try {
      const out = await readyLines(child)
      const env = exportsOf(out)
      expect(Object.keys(env)).toEqual([
        'AGENTWRIT_BROKER_URL',
        'AGENTWRIT_CLIENT_ID',
        'AGENTWRIT_CLIENT_SECRET',
        'AGENTWRIT_ADMIN_SECRET',
      ])
      expect(env.AGENTWRIT_BROKER_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(env.AGENTWRIT_ADMIN_SECRET).toBe('cli-secret')
      expect(out).toContain(`# JWKS (dev-broker extension): ${env.AGENTWRIT_BROKER_URL}/v1/jwks`)
      const url = env.AGENTWRIT_BROKER_URL as string
      expect((await call(url, 'GET', '/v1/health')).json.status).toBe('ok')
      const admin = await call(url, 'POST', '/v1/admin/auth', { body: { secret: 'cli-secret' } })
      expect(admin.status).toBe(200)
      expect(decodeJwt(admin.json.access_token).headerText).toContain(RFC8037_KID)
      const app = await call(url, 'POST', '/v1/app/auth', {
        body: { client_id: env.AGENTWRIT_CLIENT_ID, client_secret: env.AGENTWRIT_CLIENT_SECRET },
      })
      expect(app.status).toBe(200)
      const jwks = await call(url, 'GET', '/v1/jwks')
      expect(jwks.json.keys[0].kid).toBe(RFC8037_KID)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
  })

  it('--issuer/--audience/--trust-domain reach the tokens; bad options exit 2', async () => {
    const child = startCli([
      'dev-broker',
      '--port',
      '0',
      '--issuer',
      'iss-x',
      '--audience',
      'aud-x',
      '--trust-domain',
      'td.test',
    ])
    try {
      const env = exportsOf(await readyLines(child))
      const url = env.AGENTWRIT_BROKER_URL as string
      const app = await call(url, 'POST', '/v1/app/auth', {
        body: { client_id: env.AGENTWRIT_CLIENT_ID, client_secret: env.AGENTWRIT_CLIENT_SECRET },
      })
      expect(decodeJwt(app.json.access_token).payload).toMatchObject({ iss: 'iss-x', aud: ['aud-x'] })
      const lt = await call(url, 'POST', '/v1/app/launch-tokens', {
        token: app.json.access_token,
        body: { agent_name: 'cli', allowed_scope: ['read:data:*'] },
      })
      const nonce = (await call(url, 'GET', '/v1/challenge')).json.nonce as string
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const reg = await call(url, 'POST', '/v1/register', {
        body: {
          launch_token: lt.json.launch_token,
          nonce,
          public_key: Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString(
            'base64',
          ),
          signature: sign(null, Buffer.from(nonce, 'hex'), privateKey).toString('base64'),
          orch_id: 'o',
          task_id: 't',
          requested_scope: ['read:data:x'],
        },
      })
      expect(reg.json.agent_id).toMatch(/^spiffe:\/\/td\.test\/agent\/o\/t\/[0-9a-f]{16}$/)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      child.kill('SIGINT')
      expect(await exited).toBe(0)
    }
    const [badPort, badTd, unknown, help] = await Promise.all([
      runCli(['dev-broker', '--port', 'abc']),
      runCli(['dev-broker', '--port', '0', '--trust-domain', 'Bad Domain']),
      runCli(['dev-broker', '--bogus']),
      runCli(['dev-broker', '--help']),
    ])
    expect(badPort).toMatchObject({ code: 2, stdout: '' })
    expect(badPort.stderr).toMatch(/^agentwrit-verify: --port: expected an integer/)
    expect(badTd.code).toBe(2)
    expect(badTd.stderr).toContain('trustDomain')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("'--bogus'")
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: agentwrit-verify dev-broker/)
  })

  it('--verbose logs one line per request on stderr (stdout keeps the exports), never the token or a query', async () => {
    const child = startCli(['dev-broker', '--port', '0', '-v'])
    let err = ''
    child.stderr?.on('data', (c) => {
      err += c
    })
    try {
      const out = await readyLines(child)
      const env = exportsOf(out)
      const url = env.AGENTWRIT_BROKER_URL as string
      const app = await call(url, 'POST', '/v1/app/auth', {
        body: { client_id: env.AGENTWRIT_CLIENT_ID, client_secret: env.AGENTWRIT_CLIENT_SECRET },
      })
      const token = app.json.access_token as string
      await call(url, 'POST', `/v1/token/validate?access_token=${token}`, { token, body: { token } })
      await call(url, 'GET', `/v1/health?access_token=${token}`, { token })
      await vi.waitFor(() => expect(err).toMatch(/ GET \/v1\/health 200 /), { timeout: 2000 })
      const lines = err.split('\n').filter((l) => / \/v1\//.test(l))
      expect(lines).toHaveLength(3)
      expect(lines[0]).toMatch(
        /^\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f]{16} POST \/v1\/app\/auth 200 [\d.]+ms \d+B$/,
      )
      expect(lines[1]).toMatch(/ POST \/v1\/token\/validate 200 [\d.]+ms \d+B valid$/)
      for (const s of [token, ...token.split('.'), env.AGENTWRIT_CLIENT_SECRET as string, 'access_token']) {
        expect(err).not.toContain(s)
      }
      expect(err).not.toContain('?')
      expect(out).not.toMatch(/\/v1\/health/)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
  })

  it('--log-format json prints one RequestLogLine per line; a bad --log-format exits 2', async () => {
    const child = startCli(['dev-broker', '--port', '0', '--log-format', 'json'])
    let err = ''
    child.stderr?.on('data', (c) => {
      err += c
    })
    const bad = runCli(['dev-broker', '--port', '0', '--log-format', 'xml'])
    try {
      const url = exportsOf(await readyLines(child)).AGENTWRIT_BROKER_URL as string
      const answer = await call(url, 'GET', '/v1/jwks?x=1', { headers: { 'X-Request-ID': 'cli-req-1' } })
      await vi.waitFor(() => expect(err).toContain('"requestId":"cli-req-1"'), { timeout: 2000 })
      const line = JSON.parse(err.split('\n').find((l) => l.startsWith('{')) as string)
      expect(line).toEqual({
        time: expect.stringMatching(/Z$/),
        requestId: 'cli-req-1',
        method: 'GET',
        path: '/v1/jwks',
        status: 200,
        durationMs: expect.any(Number),
        bytes: Buffer.byteLength(answer.text),
      })
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
    expect(await bad).toMatchObject({ code: 2, stdout: '' })
    expect((await bad).stderr).toMatch(/^agentwrit-verify: --log-format: expected text or json/)
  })
})

describe('agentwrit-verify jwk', () => {
  it('prints the JWK (kid = broker kid) or a JWKS; errors exit 2', async () => {
    const [jwk, jwks, missing, noFile, notKey, help, none, unknownCmd] = await Promise.all([
      runCli(['jwk', '--signing-key', keyFile]),
      runCli(['jwk', '--signing-key', keyFile, '--jwks']),
      runCli(['jwk']),
      runCli(['jwk', '--signing-key', join(dir, 'absent.key')]),
      runCli(['jwk', '--signing-key', CLI]),
      runCli(['jwk', '--help']),
      runCli([]),
      runCli(['frobnicate']),
    ])
    const expected = {
      kty: 'OKP',
      crv: 'Ed25519',
      x: RFC8037_JWK.x,
      kid: RFC8037_KID,
      alg: 'EdDSA',
      use: 'sig',
    }
    expect(jwk.code).toBe(0)
    expect(JSON.stringify(JSON.parse(jwk.stdout))).toBe(JSON.stringify(expected))
    expect(JSON.parse(jwks.stdout)).toEqual({ keys: [expected] })
    expect(missing).toMatchObject({ code: 2, stderr: 'agentwrit-verify: --signing-key <path> is required\n' })
    expect(noFile.code).toBe(2)
    expect(noFile.stderr).toContain('ENOENT')
    expect(notKey.code).toBe(2)
    expect(notKey.stderr).toContain('not a valid PEM key')
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: agentwrit-verify jwk/)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/^Usage: agentwrit-verify <command>/)
    expect(unknownCmd).toMatchObject({ code: 2, stderr: 'agentwrit-verify: unknown command "frobnicate"\n' })
  })
})
