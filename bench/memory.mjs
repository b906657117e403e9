/**
 * Memory child (`node --expose-gc memory.mjs '<json>'`): verify N distinct valid tokens in local
 * mode with the default cache bound and report heap use and the cache size along the way.
 *
 * Tokens are signed by a dev broker started in this process with the bench broker's signing key
 * (`signToken`), one batch at a time, so nothing but the verifier retains them.
 * The verifier's `stats().cacheEntries` counts the remote cache only, so the local cache's size is
 * read from the lru-cache instances the verifier creates (their `set` is observed, not changed).
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const { n, sampleEvery, signingKeyPem, publicJwk, issuer, audience, template } = JSON.parse(process.argv[2])
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')

// The same module instance dist/ imports: the root's lru-cache, its ESM build for Node.
const rootRequire = createRequire(new URL('../package.json', import.meta.url))
const lruDir = rootRequire.resolve
  .paths('lru-cache')
  .map((p) => join(p, 'lru-cache'))
  .find((p) => existsSync(join(p, 'package.json')))
const lruExports = JSON.parse(readFileSync(join(lruDir, 'package.json'), 'utf8')).exports['.'].import
const { LRUCache } = await import(
  pathToFileURL(join(lruDir, lruExports.node?.default ?? lruExports.default)).href
)
const caches = new Set()
const originalSet = LRUCache.prototype.set
LRUCache.prototype.set = function set(...args) {
  caches.add(this)
  return originalSet.apply(this, args)
}
const cacheSize = () => [...caches].reduce((sum, c) => sum + c.size, 0)

const { createVerifier } = await import('../dist/index.js')
const { startDevBroker } = await import('../dist/testing/index.js')
const { freshClaims } = await import('./bench-broker.mjs')
const broker = await startDevBroker({ signingKeyPem, issuer, audience, sampleApp: false })

const verifier = createVerifier({ publicKey: publicJwk, issuer, audience })
const MB = 1024 * 1024
function heap() {
  globalThis.gc()
  globalThis.gc()
  const m = process.memoryUsage()
  return { heapUsedMB: +(m.heapUsed / MB).toFixed(1), rssMB: +(m.rss / MB).toFixed(1) }
}

function token() {
  return broker.signToken(freshClaims(template))
}

// Warm the code paths, then take the baseline with an empty cache.
for (let i = 0; i < 200; i++) await verifier.verifyToken(token())
await verifier.close()
const v = createVerifier({ publicKey: publicJwk, issuer, audience })
caches.clear()
const before = heap()
const samples = []
const started = performance.now()
const BATCH = 64
let done = 0
while (done < n) {
  const batch = []
  const size = Math.min(BATCH, n - done)
  for (let i = 0; i < size; i++) batch.push(token())
  await Promise.all(batch.map((t) => v.verifyToken(t)))
  done += size
  if (done % sampleEvery < BATCH && done >= sampleEvery) {
    samples.push({ tokens: done, cacheEntries: cacheSize(), ...heap() })
  }
}
const seconds = (performance.now() - started) / 1000
const after = heap()
const result = {
  tokens: n,
  seconds: +seconds.toFixed(1),
  cacheMaxEntries: v.options.cacheMaxEntries,
  cacheEntries: cacheSize(),
  before,
  after,
  samples,
}
await v.close()
await broker.close()
process.send(result, () => process.exit(0))
