/**
 * What the replicas write to Redis, authenticated: broker answers keyed by a keyed hash of the
 * verifier's token key (never the token), and revocation fan-out messages. Both are HMAC-SHA256'd
 * with a key derived from the secret the replicas share (HKDF-SHA256, one key per purpose), so
 * someone who can write to Redis but does not hold the secret cannot make a replica accept a
 * token: an entry that does not authenticate is ignored. An entry binds its Redis key, its
 * verdict and its expiry time, so it cannot be moved to another token or kept alive past its TTL.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { BrokerVerdict } from '../core/broker-client.js'
import { parseClaims } from '../core/claims.js'

/** The keys of one secret. */
export interface SecretKeys {
  /** Names Redis keys: HMAC of the verifier's token key. */
  readonly naming: Buffer
  /** Authenticates broker answers. */
  readonly answers: Buffer
  /** Authenticates revocation fan-out messages. */
  readonly revocations: Buffer
}

export function deriveKeys(secret: Buffer): SecretKeys {
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', secret, 'agentwrit-verify/redis', `agentwrit-verify ${info} v1`, 32))
  return { naming: derive('key naming'), answers: derive('answers'), revocations: derive('revocations') }
}

function mac(key: Buffer, ...parts: string[]): string {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p).update('\n')
  return h.digest('base64url')
}

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The name under which a token key's answer is stored: a keyed hash, so Redis never sees the token key either. */
export function entryName(keys: SecretKeys, tokenKey: string): string {
  return createHmac('sha256', keys.naming).update(tokenKey).digest('base64url')
}

/**
 * A stored answer: `valid` and the claims, or a refusal; when the broker gave it (`at`) and when
 * it stops being usable (`until`), ms since the epoch on the writer's clock.
 */
interface AnswerBody {
  readonly valid: boolean
  readonly claims?: unknown
  readonly at: number
  readonly until: number
}

/** `<mac>.<json>` of an answer the broker gave at `at`, usable until `until`, bound to its entry name. */
export function encodeAnswer(
  keys: SecretKeys,
  name: string,
  verdict: BrokerVerdict,
  until: number,
  at: number = until,
): string {
  const body: AnswerBody = verdict.valid
    ? { valid: true, claims: verdict.claims, at, until }
    : { valid: false, at, until }
  const json = JSON.stringify(body)
  return `${mac(keys.answers, 'answer', name, json)}.${json}`
}

/** A decoded answer, how long it stands and how old it is, ms. */
export interface DecodedAnswer {
  readonly verdict: BrokerVerdict
  readonly ttlMs: number
  /** Since the broker gave it (0 when the writer's clock is ahead of ours). */
  readonly ageMs: number
}

/**
 * The answer stored under `name`, when it authenticates, reads as the broker's, and has not
 * expired by this replica's clock; `undefined` otherwise.
 */
export function decodeAnswer(
  keys: SecretKeys,
  name: string,
  raw: unknown,
  now: number,
): DecodedAnswer | undefined {
  if (typeof raw !== 'string') return undefined
  const dot = raw.indexOf('.')
  if (dot <= 0) return undefined
  const json = raw.slice(dot + 1)
  if (!sameMac(raw.slice(0, dot), mac(keys.answers, 'answer', name, json))) return undefined
  let body: AnswerBody
  try {
    body = JSON.parse(json) as AnswerBody
  } catch {
    return undefined
  }
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof body.until !== 'number' ||
    typeof body.at !== 'number'
  )
    return undefined
  const ttlMs = body.until - now
  if (!(ttlMs > 0)) return undefined
  const ageMs = Math.max(0, now - body.at)
  if (body.valid === false) return { verdict: { valid: false }, ttlMs, ageMs }
  if (body.valid !== true) return undefined
  const claims = parseClaims(body.claims)
  return claims === null ? undefined : { verdict: { valid: true, claims }, ttlMs, ageMs }
}

/** `<mac>.<json>` of a fan-out message body. */
export function signMessage(keys: SecretKeys, json: string): string {
  return `${mac(keys.revocations, 'revocations', json)}.${json}`
}

/** The JSON body of a fan-out message when it authenticates, else `undefined`. */
export function openMessage(keys: SecretKeys, raw: unknown): unknown {
  if (typeof raw !== 'string') return undefined
  const dot = raw.indexOf('.')
  if (dot <= 0) return undefined
  const json = raw.slice(dot + 1)
  if (!sameMac(raw.slice(0, dot), mac(keys.revocations, 'revocations', json))) return undefined
  try {
    return JSON.parse(json)
  } catch {
    return undefined
  }
}
