/**
 * Summarise a V8 .cpuprofile (from `BENCH_CPU_PROF=<regexp>` runs, or `node --cpu-prof`):
 * self time by package and by function, and inclusive time of agentwrit-verify's functions.
 *
 *   node bench/analyze-profile.mjs bench/results/profiles/<name>.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bench/analyze-profile.mjs <file.cpuprofile> [top]')
  process.exit(2)
}
const top = Number(topArg ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

const self = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const idle = [...self.entries()]
  .filter(([id]) => nodes.get(id).callFrame.functionName === '(idle)')
  .reduce((a, [, t]) => a + t, 0)
const busy = total - idle

/** The package's own build output (dist/ outside node_modules). */
const isOurs = (url) => /\/dist\//.test(url) && !/node_modules/.test(url)

function packageOf(url, fn) {
  if (!url) return fn.startsWith('(') ? fn : '(native)'
  if (url.startsWith('node:')) return 'node core'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]
  if (isOurs(url)) return 'agentwrit-verify (dist)'
  if (/\/bench\//.test(url)) return 'bench app'
  return url
}
const keyOf = (n) => {
  const { functionName, url, lineNumber } = n.callFrame
  return `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist|bench)\//, '$1/')}:${lineNumber + 1}`
}

const byPackage = new Map()
const byFunction = new Map()
for (const [id, t] of self) {
  const n = nodes.get(id)
  const pkg = packageOf(n.callFrame.url, n.callFrame.functionName)
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + t)
  const k = keyOf(n)
  byFunction.set(k, (byFunction.get(k) ?? 0) + t)
}

// Inclusive time of every function defined in dist/ (counted once per sample even if recursive).
const inclusive = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  const seen = new Set()
  let id = profile.samples[i]
  while (id !== undefined) {
    const n = nodes.get(id)
    if (isOurs(n.callFrame.url)) {
      const k = keyOf(n)
      if (!seen.has(k)) {
        seen.add(k)
        inclusive.set(k, (inclusive.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0))
      }
    }
    id = parent.get(id)
  }
}

const pct = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`
const ms = (t) => `${(t / 1000).toFixed(0).padStart(6)} ms`
const print = (title, map, n) => {
  console.log(`\n${title}`)
  for (const [k, t] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${pct(t)} ${ms(t)}  ${k}`)
  }
}
console.log(
  `${file}\nsampled ${ms(total)}, idle ${ms(idle)}, busy ${ms(busy)} (percentages are of busy time)`,
)
print('self time by package', byPackage, 20)
print('self time by function', byFunction, top)
print('inclusive time, agentwrit-verify functions', inclusive, top)
