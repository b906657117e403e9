/**
 * `agentwrit-verify inspect [token|-]`: decode an AgentWrit JWT's JOSE header and claims WITHOUT
 * verifying it, and print a readable summary (or JSON). With `--broker <url>` it also asks the broker
 * (`POST /v1/token/validate`, contract §4.4) whether the token is valid.
 *
 * It never prints the token, nor its signature segment.
 */
import { type AgentWritClaims, parseClaims, tokenKindOf } from '../core/claims.js'
import { chainAttenuates } from '../core/delegation.js'
import { parse, timeoutMs, UsageError } from './args.js'
import { brokerHttp, brokerReason, DEFAULT_TIMEOUT_SECONDS, parseBrokerUrl } from './broker-http.js'

export const INSPECT_HELP = `Usage: agentwrit-verify inspect [<token> | -] [--json] [--broker <url>]

Decodes an AgentWrit token's JOSE header and claims, WITHOUT verifying the signature, and
prints a summary: header (alg, typ, kid); kind (agent with SPIFFE id, trust domain, orch,
task; admin; app; delegated, with depth); scopes; issued / not-before / expiry times, absolute
and relative; the delegation chain hop by hop; jti. The token and its signature are never
printed.

The token is read from the argument, or from stdin when the argument is "-" or absent:
  agentwrit-verify inspect "$TOKEN"
  printf %s "$TOKEN" | agentwrit-verify inspect
A leading "Bearer " is ignored.

Options:
  --broker <url>       also ask this broker (POST /v1/token/validate) whether the token is
                       valid: signature, expiry, revocation (no environment fallback)
  --timeout <seconds>  deadline of the broker call (default ${DEFAULT_TIMEOUT_SECONDS})
  --json               print one JSON object instead of the summary
  -h, --help           show this help

Exit codes:
  0  the token decoded (even when it has expired); with --broker: and the broker says valid
  1  with --broker: the token decoded but the broker says it is invalid (expired, revoked,
     released, bad signature, another broker's key…)
  2  usage error; input that is not a decodable JWT (the message names the part that failed);
     with --broker: broker unreachable or an unexpected answer
`

/** Largest input read from stdin, bytes. */
const MAX_INPUT_BYTES = 1 << 20

const B64URL = /^[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

type Json = Record<string, unknown>

function decodeSegment(segment: string, part: 'header' | 'payload'): Json {
  if (segment === '') throw new UsageError(`malformed token: the ${part} segment is empty`)
  if (!B64URL.test(segment) || segment.length % 4 === 1) {
    throw new UsageError(`malformed token: the ${part} segment is not base64url (unpadded)`)
  }
  let text: string
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'))
  } catch {
    throw new UsageError(`malformed token: the ${part} is not UTF-8`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError(`malformed token: the ${part} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`malformed token: the ${part} is not a JSON object`)
  }
  return value as Json
}

/** The decoded token; the signature only as a byte count. */
interface Decoded {
  /** The token as sent to the broker (trimmed, without a `Bearer ` prefix). Never printed. */
  token: string
  header: Json
  payload: Json
  signatureBytes: number
}

/** Decode a compact JWS without verification. @throws UsageError naming the part that failed */
export function decodeToken(input: string): Decoded {
  const token = input.trim().replace(/^bearer[ \t]+/i, '')
  if (token === '') throw new UsageError('no token given')
  if (/\s/.test(token)) throw new UsageError('malformed token: it contains whitespace')
  const parts = token.split('.')
  if (parts.length !== 3) {
    throw new UsageError(
      `malformed token: expected 3 dot-separated segments (header.payload.signature), got ${parts.length}`,
    )
  }
  const header = decodeSegment(parts[0] as string, 'header')
  const payload = decodeSegment(parts[1] as string, 'payload')
  const sig = parts[2] as string
  if (sig === '') throw new UsageError('malformed token: the signature segment is empty')
  if (!B64URL.test(sig) || sig.length % 4 === 1) {
    throw new UsageError('malformed token: the signature segment is not base64url (unpadded)')
  }
  return { token, header, payload, signatureBytes: Buffer.from(sig, 'base64url').length }
}

/** `4m 12s`, `2h 5m`, `3d 1h`, `3m`, `45s`: the largest unit and, when not zero, the next one. */
export function formatDuration(totalSeconds: number): string {
  let s = Math.round(Math.abs(totalSeconds))
  const units: [string, number][] = [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  const out: string[] = []
  for (const [name, size] of units) {
    const n = Math.floor(s / size)
    s -= n * size
    if (out.length === 0) {
      if (n > 0) out.push(`${n}${name}`)
    } else {
      if (n > 0) out.push(`${n}${name}`)
      break
    }
  }
  return out.length === 0 ? '0s' : out.join(' ')
}

function isUnix(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v)
}

function iso(v: unknown): string | null {
  return isUnix(v) ? new Date(v * 1000).toISOString() : null
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null
}

function optString(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}

/** `spiffe://<td>/agent/<orch>/<task>/<instance>` → its parts. */
function spiffeParts(
  sub: string,
): { trust_domain: string; orch: string; task: string; instance: string } | null {
  const m = /^spiffe:\/\/([^/]+)\/agent\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(sub)
  return m ? { trust_domain: m[1]!, orch: m[2]!, task: m[3]!, instance: m[4]! } : null
}

interface Hop {
  hop: number
  /** The delegator (the record's `agent`). */
  from: string
  /** Who received the authority: the next record's agent, or the token's subject for the last hop. */
  to: string
  /** The delegator's full scope at the time (contract §11.2). */
  delegator_scope: string[]
  delegated_at: string
  record_signed: boolean
}

/** The machine-readable summary (`--json`). */
export interface InspectSummary {
  header: { alg: unknown; typ: unknown; kid: unknown; [k: string]: unknown }
  kind: 'agent' | 'admin' | 'app' | 'unknown'
  delegated: boolean
  delegation_depth: number
  subject: string | null
  spiffe: { trust_domain: string; orch: string; task: string; instance: string } | null
  app_id: string | null
  orch_id: string | null
  task_id: string | null
  scope: string[]
  issuer: string | null
  audience: string[]
  issued_at: string | null
  not_before: string | null
  expires_at: string | null
  /** Seconds until expiry at inspection time; negative when expired; `null` without a usable `exp`. */
  expires_in: number | null
  expired: boolean | null
  jti: string | null
  delegation_chain: Hop[]
  chain_hash: string | null
  /** Each hop's scope covers the next and the token's scope (`null` when not delegated). */
  chain_attenuates: boolean | null
  signature_bytes: number
  warnings: string[]
  claims: Json
  broker?: { url: string; valid: boolean; error?: string }
}

/** Summarise a decoded token at time `nowSeconds`. */
export function summarize(decoded: Decoded, nowSeconds: number): InspectSummary {
  const { header, payload: c } = decoded
  const warnings: string[] = []
  const sub = typeof c.sub === 'string' ? c.sub : null
  const kindInfo = sub === null ? null : tokenKindOf(sub)
  const chainRaw = Array.isArray(c.delegation_chain) ? (c.delegation_chain as unknown[]) : []
  const records = chainRaw.map((r) => (typeof r === 'object' && r !== null ? (r as Json) : {}))
  const chain: Hop[] = records.map((r, i) => ({
    hop: i + 1,
    from: typeof r.agent === 'string' ? r.agent : '?',
    to: i + 1 < records.length ? String(records[i + 1]?.agent ?? '?') : (sub ?? '?'),
    delegator_scope: strings(r.scope) ?? [],
    delegated_at: typeof r.delegated_at === 'string' ? r.delegated_at : '?',
    record_signed: typeof r.signature === 'string' && r.signature !== '',
  }))
  const claims: AgentWritClaims | null = parseClaims(c)
  if (header.alg !== 'EdDSA')
    warnings.push(`header alg is ${JSON.stringify(header.alg)}; the broker accepts only EdDSA`)
  if (claims === null)
    warnings.push(
      "the claims do not have the broker's shape (contract §6.2); the broker would refuse this token",
    )
  if (sub === null) warnings.push('no sub claim')
  else if (kindInfo === null) warnings.push('sub is neither a SPIFFE agent id, "admin" nor "app:<id>"')
  if (c.exp !== undefined && !isUnix(c.exp)) warnings.push('exp is not a whole number of Unix seconds')
  const exp = isUnix(c.exp) ? c.exp : null
  const attenuates = chain.length === 0 || claims === null ? null : chainAttenuates(claims)
  if (attenuates === false) warnings.push('the delegation chain does not attenuate (a hop widens the scope)')
  if (decoded.signatureBytes !== 64) {
    warnings.push(`the signature is ${decoded.signatureBytes} bytes; an Ed25519 signature has 64`)
  }
  return {
    header: { alg: header.alg, typ: header.typ, kid: header.kid, ...header },
    kind: kindInfo?.kind ?? 'unknown',
    delegated: chain.length > 0,
    delegation_depth: chain.length,
    subject: sub,
    spiffe: kindInfo?.kind === 'agent' && sub !== null ? spiffeParts(sub) : null,
    app_id: kindInfo?.kind === 'app' && sub !== null ? sub.slice(4) : null,
    orch_id: optString(c.orch_id),
    task_id: optString(c.task_id),
    scope: strings(c.scope) ?? [],
    issuer: typeof c.iss === 'string' ? c.iss : null,
    audience: strings(c.aud) ?? [],
    issued_at: iso(c.iat),
    not_before: iso(c.nbf),
    expires_at: iso(c.exp),
    expires_in: exp === null ? null : exp - nowSeconds,
    // The broker treats a token as expired iff now > exp (contract §7).
    expired: exp === null ? null : nowSeconds > exp,
    jti: optString(c.jti),
    delegation_chain: chain,
    chain_hash: optString(c.chain_hash),
    chain_attenuates: attenuates,
    signature_bytes: decoded.signatureBytes,
    warnings,
    claims: c,
  }
}

function relative(unix: unknown, nowSeconds: number): string {
  if (!isUnix(unix)) return ''
  const d = unix - nowSeconds
  return d > 0 ? ` (in ${formatDuration(d)})` : d === 0 ? ' (now)' : ` (${formatDuration(d)} ago)`
}

function list(v: readonly string[]): string {
  return v.length === 0 ? '(none)' : v.join(' ')
}

/** The human-readable summary. */
export function renderSummary(s: InspectSummary, nowSeconds: number): string {
  const lines: string[] = []
  const row = (label: string, value: string) => lines.push(`${label.padEnd(16)}${value}`)
  const time = (t: string | null) => (t === null ? '(none)' : t.replace(/\.000Z$/, 'Z'))
  const { alg, typ, kid, ...otherHeader } = s.header
  const extra = Object.keys(otherHeader).length > 0 ? `  other: ${JSON.stringify(otherHeader)}` : ''
  row(
    'header',
    `alg ${String(alg ?? '(none)')}  typ ${String(typ ?? '(none)')}  kid ${String(kid ?? '(none)')}${extra}`,
  )
  const kind =
    s.kind === 'agent'
      ? 'agent'
      : s.kind === 'admin'
        ? 'admin'
        : s.kind === 'app'
          ? `app (${s.app_id})`
          : 'unknown subject'
  row('kind', s.delegated ? `delegated ${kind} token, depth ${s.delegation_depth}` : `${kind} token`)
  row('subject', s.subject ?? '(none)')
  if (s.spiffe !== null) {
    row('  trust domain', s.spiffe.trust_domain)
    row('  orch / task', `${s.spiffe.orch} / ${s.spiffe.task}  (instance ${s.spiffe.instance})`)
  }
  if (s.orch_id !== null || s.task_id !== null) {
    row('orch_id', `${s.orch_id ?? '(none)'}${s.delegated ? '  (the delegator’s)' : ''}`)
    row('task_id', `${s.task_id ?? '(none)'}${s.delegated ? '  (the delegator’s)' : ''}`)
  }
  row('scope', list(s.scope))
  row('issuer', s.issuer === null ? '(none)' : s.issuer === '' ? '(empty)' : s.issuer)
  if (s.audience.length > 0) row('audience', list(s.audience))
  row('issued', `${time(s.issued_at)}${relative(s.claims.iat, nowSeconds)}`)
  if (s.not_before !== null && s.not_before !== s.issued_at) {
    row('not before', `${time(s.not_before)}${relative(s.claims.nbf, nowSeconds)}`)
  }
  const expiry =
    s.expires_in === null
      ? ''
      : s.expired
        ? ` (expired ${formatDuration(s.expires_in)} ago)`
        : ` (expires in ${formatDuration(s.expires_in)})`
  row('expires', `${time(s.expires_at)}${expiry}`)
  row('jti', s.jti ?? '(none)')
  if (s.delegated) {
    const att =
      s.chain_attenuates === null ? '' : s.chain_attenuates ? ', attenuates' : ', DOES NOT ATTENUATE'
    lines.push(
      `delegation chain (${s.delegation_depth} hop${s.delegation_depth === 1 ? '' : 's'}, root ${s.delegation_chain[0]?.from}${att}):`,
    )
    for (const h of s.delegation_chain) {
      lines.push(`  ${h.hop}. ${h.from}`)
      lines.push(`     → ${h.to}`)
      lines.push(
        `     at ${h.delegated_at}; delegator held ${list(h.delegator_scope)}${h.record_signed ? '' : '; unsigned record'}`,
      )
    }
    if (s.chain_hash !== null) row('chain_hash', s.chain_hash)
  }
  row(
    'signature',
    `${s.signature_bytes} byte${s.signature_bytes === 1 ? '' : 's'}, NOT verified${s.broker === undefined ? ' (use --broker <url> to ask the broker)' : ''}`,
  )
  if (s.broker !== undefined) {
    row(
      'broker',
      s.broker.valid ? `valid at ${s.broker.url}` : `INVALID at ${s.broker.url}: ${s.broker.error}`,
    )
  }
  for (const w of s.warnings) row('warning', w)
  return `${lines.join('\n')}\n`
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError('no token: pass it as an argument, or pipe it on stdin (see --help)')
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > MAX_INPUT_BYTES) throw new UsageError('the input on stdin is larger than 1 MiB: not a token')
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new UsageError('no token on stdin')
  return text
}

/** Ask the broker; `valid` / `error` as it answered. @throws UsageError when it cannot answer */
async function askBroker(
  urlText: string,
  token: string,
  timeout: number,
): Promise<{ url: string; valid: boolean; error?: string }> {
  const http = brokerHttp(parseBrokerUrl(urlText, '--broker'), timeout)
  try {
    const answer = await http.call('POST', '/v1/token/validate', { body: { token } })
    const j = answer.json as { valid?: unknown; error?: unknown } | undefined
    if (answer.status === 200 && j?.valid === true) return { url: http.display, valid: true }
    if (answer.status === 200 && j?.valid === false) {
      return { url: http.display, valid: false, error: typeof j.error === 'string' ? j.error : 'invalid' }
    }
    if (answer.status === 400) {
      // The broker refuses the request itself (contract §4.4) only for an empty or missing token.
      return { url: http.display, valid: false, error: brokerReason(answer) }
    }
    throw new UsageError(
      `unexpected answer from the broker at ${http.display} to POST /v1/token/validate: ${brokerReason(answer)}`,
    )
  } finally {
    await http.close()
  }
}

/** Run `agentwrit-verify inspect`. @returns the exit code */
export async function inspectCommand(args: string[], now: () => number = Date.now): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      broker: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  )
  if (values.help) {
    process.stdout.write(INSPECT_HELP)
    return 0
  }
  if (positionals.length > 1) throw new UsageError('inspect takes one token (or "-" for stdin)')
  const timeout = timeoutMs(values.timeout as string | undefined, DEFAULT_TIMEOUT_SECONDS)
  const brokerUrl = values.broker as string | undefined
  if (brokerUrl !== undefined) parseBrokerUrl(brokerUrl, '--broker')
  const arg = positionals[0]
  const input = arg === undefined || arg === '-' ? await readStdin() : arg
  const decoded = decodeToken(input)
  const nowSeconds = Math.floor(now() / 1000)
  const summary = summarize(decoded, nowSeconds)
  if (brokerUrl !== undefined) {
    summary.broker = await askBroker(brokerUrl, decoded.token, timeout)
  }
  process.stdout.write(
    values.json ? `${JSON.stringify(summary, null, 2)}\n` : renderSummary(summary, nowSeconds),
  )
  return summary.broker !== undefined && !summary.broker.valid ? 1 : 0
}
