/**
 * The published shape: build dist/ with tsup, then load every subpath export by the package's
 * own name, with `import` and with `require()` (require(esm), Node ≥ 20.19), and run the bin.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string
  exports: Record<string, { types: string; default: string } | string>
  bin: Record<string, string>
}

const EXPECTED: Record<string, string[]> = {
  '.': [
    'AgentAuthError',
    'createVerifier',
    'parseScope',
    'scopeCovers',
    'scopeIsSubset',
    'compileScopeTemplate',
    'authenticateFetchRequest',
    'refusalResponse',
  ],
  './express': ['agentAuth', 'agentOf', 'requireScope', 'requireAnyScope', 'AgentAuthError'],
  './koa': ['agentAuth', 'agentOf', 'requireScope', 'requireAnyScope', 'AgentAuthError'],
  './fastify': ['default', 'agentwrit', 'agentOf', 'AgentAuthError'],
  './hono': [
    'agentAuth',
    'agentOf',
    'requireScope',
    'requireAnyScope',
    'requireDelegatedFrom',
    'AgentAuthError',
  ],
  './nest': [
    'AgentWritModule',
    'AgentAuthGuard',
    'AgentAuthException',
    'AgentAuthExceptionFilter',
    'Agent',
    'Public',
    'RequireScope',
    'RequireAnyScope',
    'RequireDelegatedFrom',
    'AGENTWRIT_VERIFIER',
    'AgentAuthError',
  ],
  './mcp': [
    'mcpAuth',
    'agentwritTokenVerifier',
    'requireToolScope',
    'requireAnyToolScope',
    'requireToolDelegatedFrom',
    'registerGuardedTool',
    'toolAgentOf',
    'AgentAuthError',
  ],
  './redis': ['redisStore'],
  './testing': ['startDevBroker', 'publicJwkFromSigningKey'],
}

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], {
    cwd: root,
    stdio: 'pipe',
  })
}, 180_000)

describe('package exports', () => {
  it('ships the LICENSE the license field names', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
    })
    const [{ files }] = JSON.parse(out) as [{ files: { path: string }[] }]
    const paths = files.map((f) => f.path)
    expect(paths).toContain('LICENSE')
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/)
    expect(paths.some((p) => p.startsWith('src/') || p.startsWith('test/'))).toBe(false)
  })

  it('lists types first for every subpath, and every file exists', () => {
    for (const [sub, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      expect(Object.keys(target)[0], sub).toBe('types')
      expect(existsSync(join(root, target.types)), target.types).toBe(true)
      expect(existsSync(join(root, target.default)), target.default).toBe(true)
    }
    expect(Object.keys(EXPECTED).sort()).toEqual(
      Object.keys(pkg.exports)
        .filter((k) => k !== './package.json')
        .sort(),
    )
  })

  it.each(Object.entries(EXPECTED))('%s loads with import and with require()', (sub, names) => {
    const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`
    const viaImport = run([
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(m).sort()))`,
    ])
    expect(viaImport.code, viaImport.err).toBe(0)
    const viaRequire = run([
      '-e',
      `const m = require(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(m).filter(k => k !== '__esModule' && k !== 'module.exports').sort()))`,
    ])
    expect(viaRequire.code, viaRequire.err).toBe(0)
    const imported = JSON.parse(viaImport.out) as string[]
    expect(JSON.parse(viaRequire.out)).toEqual(imported)
    for (const n of names) expect(imported).toContain(n)
  })

  it('each integration is a cost only to its own subpath: no built file imports another framework', () => {
    const frameworks = ['express', 'koa', 'fastify', 'fastify-plugin', 'hono', '@hono/node-server']
    const nest = ['rxjs', 'reflect-metadata']
    const mcpSdk = '@modelcontextprotocol/sdk'
    const redisClients = ['redis', 'ioredis', '@redis/client']
    const isFramework = (name: string) =>
      frameworks.includes(name) ||
      redisClients.includes(name) ||
      nest.includes(name) ||
      name.startsWith('@nestjs/') ||
      name === mcpSdk ||
      name.startsWith(`${mcpSdk}/`)
    // Three integrations load framework packages at run time: Fastify's (fastify-plugin), Nest's
    // (Nest's decorators, tokens and services, from @nestjs/common and @nestjs/core only) and
    // MCP's (the SDK's OAuth error classes, which its requireBearerAuth() answers by class); the
    // others import their framework's types only.
    const RUNTIME: Record<string, string[]> = {
      'fastify.js': ['fastify-plugin'],
      'nest.js': ['@nestjs/common', '@nestjs/common/constants.js', '@nestjs/core'],
      'mcp.js': ['@modelcontextprotocol/sdk/server/auth/errors.js'],
    }
    const dist = join(root, 'dist')
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.js'))) {
      const source = readFileSync(join(dist, file), 'utf8')
      const imported = [
        ...source.matchAll(/\bfrom\s*["']([^"'.][^"']*)["']|\bimport\s*\(?\s*["']([^"'.][^"']*)["']/g),
      ]
        .map((m) => (m[1] ?? m[2])!)
        .filter(isFramework)
      expect([...new Set(imported)].sort(), file).toEqual(RUNTIME[file] ?? [])
    }
  })

  it('the bin prints its help', () => {
    const bin = Object.values(pkg.bin)[0]!
    const r = run([join(root, bin), '--help'])
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('dev-broker')
    expect(r.out).toContain('jwk')
  })
})
