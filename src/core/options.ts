/**
 * Options shared by every adapter, their defaults, and their eager validation.
 * A bad option is a `TypeError` naming the option, thrown when the middleware is created.
 */

import type { JSONWebKeySet, JWK } from 'jose'
import type { Dispatcher } from 'undici'
import { DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECONDS } from './errors.js'
import { type RevocationFeedOptions, resolveFeedOptions } from './feed-options.js'
import { bool, fail, httpUrl, intIn, nonEmptyString } from './option-checks.js'
import type { ResolvedFeedOptions } from './revocation-feed.js'
import type { SharedCache } from './shared-cache.js'

/** Verification mode. */
export type VerificationMode = 'remote' | 'local' | 'hybrid'

/** Options for `createVerifier` and every adapter's `agentAuth` / plugin. */
export interface AgentAuthOptions {
  /**
   * Broker base URL, e.g. `http://127.0.0.1:8080`. Tokens are checked with
   * `POST {broker}/v1/token/validate`, which also sees revocation and release.
   * Required for `remote` and `hybrid` modes.
   */
  broker?: string | URL

  /**
   * `remote` (ask the broker, cached), `local` (verify the signature with a key; cannot see
   * revocation) or `hybrid` (local signature check first, then the cached broker check).
   * Default: `hybrid` when both `broker` and a key source are given, `local` when only a key source
   * is given, else `remote`.
   */
  mode?: VerificationMode

  /** JWKS URL for local/hybrid verification (e.g. the dev broker's `/v1/jwks`). */
  jwksUri?: string | URL
  /**
   * A key for local/hybrid verification, given inline: a JWK object, a JWKS object (`{ keys }`),
   * a PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`), or a raw 32-byte Ed25519 public key
   * as base64/base64url text or a `Uint8Array`.
   */
  publicKey?: JWK | JSONWebKeySet | string | Uint8Array

  /** `realm` in `WWW-Authenticate` challenges. Default `"agentwrit"`. */
  realm?: string

  /**
   * How long a positive broker answer is reused, in milliseconds. Also the **revocation staleness
   * bound**: a token revoked or released at the broker can be accepted for at most this long.
   * An entry never outlives the token's `exp`. `0` = ask the broker on every request.
   * Default `5000` (5 s).
   */
  cacheTtlMs?: number
  /**
   * How long a negative broker answer (`valid: false`) is reused, in milliseconds. Invalid is
   * permanent at the broker; this only bounds memory. `0` disables negative caching. Default `30000`.
   */
  negativeCacheTtlMs?: number
  /** Maximum number of cached verification results (positive and negative). Default `10000`. */
  cacheMaxEntries?: number

  /**
   * Broker (and JWKS) request timeout in milliseconds (connect + response headers + body).
   * Default `2000`. For a validate call it covers both attempts when a pooled keep-alive
   * connection turns out to be closed and the call is retried once on a new connection.
   */
  timeoutMs?: number
  /** `Retry-After` value, in seconds, on 503 answers. Default `5`. */
  retryAfterSeconds?: number
  /**
   * After the broker fails for a token (down, timeout, 5xx, unreadable answer), answer 503 for that
   * token without asking again for this long, in milliseconds, so an outage does not turn every
   * request into a broker call. Never longer than `retryAfterSeconds`. `0` = off. Default `1000`.
   */
  brokerFailureMemoMs?: number
  /**
   * Circuit breaker of the broker's validate endpoint (remote and hybrid modes): after this many
   * consecutive failed validate calls (down, timeout, non-200, unreadable answer — a `valid: false`
   * answer is a success), every verification that needs the broker is answered 503 at once, with no
   * broker call, for `breakerCooldownMs`; then one probe call decides. Cached answers keep being
   * served. An integer count of calls; `0` = no breaker. Default `5`.
   */
  breakerThreshold?: number
  /**
   * How long an open circuit breaker refuses broker calls before it lets one probe through, in
   * milliseconds (`100` to `600000`). Its 503s carry `Retry-After` = the rest of this cooldown in whole
   * seconds, rounded up, at least 1. Default `2000`.
   */
  breakerCooldownMs?: number

  /** Required `iss` claim. Default: not checked (the core broker issues `iss: ""` unless `AA_ISSUER` is set). */
  issuer?: string
  /** Required audience: the token's `aud` array must contain (one of) these. Default: not checked. */
  audience?: string | readonly string[]
  /** Only accept agent ids in this SPIFFE trust domain (e.g. `agentwrit.local`). Default: any. */
  trustDomain?: string
  /** Accept the broker's admin tokens (`sub: "admin"`). Default `false`. */
  allowAdminTokens?: boolean
  /** Accept app tokens (`sub: "app:<id>"`). Default `false`. */
  allowAppTokens?: boolean
  /**
   * Refuse a token whose JOSE header has no `kid` (401 `invalid_token`, before any key lookup or
   * broker call), in every mode. Default `true`. The broker accepts a header without `kid` (it only
   * checks a `kid` that is present, contract §7) but always writes one, the thumbprint of its key
   * (§6.1): a token without it was not issued by a broker, so the default is stricter than the
   * broker. `false` accepts it as the broker does (local mode then tries every configured key).
   * The rest of the header is checked either way: exactly `alg` `"EdDSA"`, `typ` `"JWT"` and, when
   * present, a non-empty string `kid`, nothing else.
   */
  requireKid?: boolean

  /**
   * Refuse delegated tokens whose chain has more hops than this (403 `delegation_not_allowed`).
   * `0` refuses every delegated token. Default: no limit beyond the broker's own (5 hops).
   */
  maxDelegationDepth?: number

  /** Longest accepted token, in bytes (characters). Longer → 400 `invalid_request`. Default `8192`. */
  maxTokenLength?: number
  /** Allowed clock skew for local `exp`/`nbf` checks, in whole seconds. Default `0` (as the broker). */
  clockToleranceSeconds?: number
  /** JWKS: minimum time between refetches (e.g. on an unknown `kid`), in ms. Default `30000`. */
  jwksCooldownMs?: number
  /** JWKS: maximum age of a fetched key set before it is refreshed, in ms. Default `600000` (10 min). */
  jwksMaxAgeMs?: number

  /**
   * A revocation feed from the broker's audit log: revocations and releases refused about a second
   * after the broker records them, in every mode, with cached answers kept `cacheTtlMs`. Default:
   * none (a revocation is seen within `cacheTtlMs` in remote/hybrid mode, never in local mode).
   * @see RevocationFeedOptions
   */
  revocationFeed?: RevocationFeedOptions

  /**
   * A cache level shared by the replicas of a service, below this process's own cache (remote and
   * hybrid modes): `redisStore({ client, secret })` from `agentwrit-verify/redis`. The fleet then
   * asks the broker once per token per `cacheTtlMs`, and with `revocationFeed` one replica polls
   * the audit log for all. Every shared answer is checked as the broker's is (claims exactly the
   * token's, the feed's predicates), and the warm path never waits for it. One store per
   * verifier; `verifier.close()` does not close it (nor its Redis client): call `store.close()`.
   * Default: none.
   */
  sharedCache?: SharedCache

  /** undici dispatcher for broker and JWKS requests. Default: a keep-alive pool owned by the verifier. */
  dispatcher?: Dispatcher
  /** Clock in milliseconds since the epoch. Default `Date.now`. Inject for tests. */
  now?: () => number
}

/** Options after defaults and validation. Frozen. */
export interface ResolvedOptions {
  readonly mode: VerificationMode
  readonly broker: URL | undefined
  readonly jwksUri: URL | undefined
  readonly publicKey: AgentAuthOptions['publicKey']
  readonly realm: string
  readonly cacheTtlMs: number
  readonly negativeCacheTtlMs: number
  readonly cacheMaxEntries: number
  readonly timeoutMs: number
  readonly retryAfterSeconds: number
  readonly brokerFailureMemoMs: number
  readonly breakerThreshold: number
  readonly breakerCooldownMs: number
  readonly issuer: string | undefined
  readonly audience: readonly string[] | undefined
  readonly trustDomain: string | undefined
  readonly allowAdminTokens: boolean
  readonly allowAppTokens: boolean
  readonly requireKid: boolean
  readonly maxDelegationDepth: number | undefined
  readonly maxTokenLength: number
  readonly clockToleranceSeconds: number
  readonly jwksCooldownMs: number
  readonly jwksMaxAgeMs: number
  readonly revocationFeed: ResolvedFeedOptions | undefined
  readonly sharedCache: SharedCache | undefined
  readonly dispatcher: Dispatcher | undefined
  readonly now: () => number
}

/** Documented defaults. */
export const DEFAULTS = Object.freeze({
  realm: DEFAULT_REALM,
  cacheTtlMs: 5_000,
  negativeCacheTtlMs: 30_000,
  cacheMaxEntries: 10_000,
  timeoutMs: 2_000,
  retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS,
  brokerFailureMemoMs: 1_000,
  requireKid: true,
  breakerThreshold: 5,
  breakerCooldownMs: 2_000,
  maxTokenLength: 8_192,
  clockToleranceSeconds: 0,
  jwksCooldownMs: 30_000,
  jwksMaxAgeMs: 600_000,
})

const KNOWN = new Set<string>([
  'broker',
  'mode',
  'jwksUri',
  'publicKey',
  'realm',
  'cacheTtlMs',
  'negativeCacheTtlMs',
  'cacheMaxEntries',
  'timeoutMs',
  'retryAfterSeconds',
  'brokerFailureMemoMs',
  'breakerThreshold',
  'breakerCooldownMs',
  'issuer',
  'audience',
  'trustDomain',
  'allowAdminTokens',
  'allowAppTokens',
  'requireKid',
  'maxDelegationDepth',
  'maxTokenLength',
  'clockToleranceSeconds',
  'jwksCooldownMs',
  'jwksMaxAgeMs',
  'revocationFeed',
  'sharedCache',
  'dispatcher',
  'now',
])

const DAY_MS = 86_400_000

/** Validate options eagerly and fill in defaults. Throws a `TypeError` naming the first bad option. */
export function resolveOptions(input: AgentAuthOptions | undefined): ResolvedOptions {
  if (input === undefined || input === null || typeof input !== 'object') {
    fail('options', 'an object', input)
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN.has(key)) throw new TypeError(`agentwrit-verify: unknown option "${key}"`)
  }
  const broker = input.broker === undefined ? undefined : httpUrl('broker', input.broker)
  const jwksUri = input.jwksUri === undefined ? undefined : httpUrl('jwksUri', input.jwksUri)
  const pk = input.publicKey
  if (
    pk !== undefined &&
    typeof pk !== 'string' &&
    !(pk instanceof Uint8Array) &&
    (typeof pk !== 'object' || pk === null)
  ) {
    fail('publicKey', 'a JWK, a JWKS, a PEM string, or a raw Ed25519 key (base64 string or Uint8Array)', pk)
  }
  if (jwksUri && pk !== undefined) {
    throw new TypeError(
      'agentwrit-verify: options "jwksUri" and "publicKey" are exclusive; give one key source',
    )
  }
  const hasKey = jwksUri !== undefined || pk !== undefined
  let mode: VerificationMode
  if (input.mode === undefined) {
    mode = broker && hasKey ? 'hybrid' : hasKey ? 'local' : 'remote'
  } else if (input.mode === 'remote' || input.mode === 'local' || input.mode === 'hybrid') {
    mode = input.mode
  } else {
    fail('mode', '"remote", "local" or "hybrid"', input.mode)
  }
  if ((mode === 'remote' || mode === 'hybrid') && !broker) {
    fail('broker', `a broker URL in ${mode} mode`, input.broker)
  }
  if ((mode === 'local' || mode === 'hybrid') && !hasKey) {
    fail('jwksUri', `given (or "publicKey") in ${mode} mode`, undefined)
  }
  const realm = input.realm === undefined ? DEFAULTS.realm : input.realm
  if (typeof realm !== 'string' || realm.length === 0 || /["\\\r\n]/.test(realm)) {
    fail('realm', 'a non-empty string without quotes, backslashes or newlines', realm)
  }
  let audience: readonly string[] | undefined
  if (input.audience !== undefined) {
    const list = typeof input.audience === 'string' ? [input.audience] : input.audience
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every((a) => typeof a === 'string' && a.length > 0)
    ) {
      fail('audience', 'a non-empty string or a non-empty array of them', input.audience)
    }
    audience = Object.freeze([...list])
  }
  const trustDomain = nonEmptyString('trustDomain', input.trustDomain)
  if (trustDomain !== undefined && !/^[a-z0-9._-]+$/.test(trustDomain)) {
    fail('trustDomain', 'a SPIFFE trust domain ([a-z0-9._-]+)', trustDomain)
  }
  if (input.issuer !== undefined && typeof input.issuer !== 'string') fail('issuer', 'a string', input.issuer)
  if (input.now !== undefined && typeof input.now !== 'function')
    fail('now', 'a function returning ms', input.now)
  const dispatcher = input.dispatcher
  if (
    dispatcher !== undefined &&
    (typeof dispatcher !== 'object' || typeof dispatcher.dispatch !== 'function')
  ) {
    fail('dispatcher', 'an undici Dispatcher', dispatcher)
  }
  const sharedCache = sharedCacheOption(input.sharedCache, mode)
  return Object.freeze({
    mode,
    broker,
    jwksUri,
    publicKey: pk,
    realm,
    cacheTtlMs: intIn('cacheTtlMs', input.cacheTtlMs, DEFAULTS.cacheTtlMs, 0, DAY_MS),
    negativeCacheTtlMs: intIn(
      'negativeCacheTtlMs',
      input.negativeCacheTtlMs,
      DEFAULTS.negativeCacheTtlMs,
      0,
      DAY_MS,
    ),
    cacheMaxEntries: intIn('cacheMaxEntries', input.cacheMaxEntries, DEFAULTS.cacheMaxEntries, 1, 10_000_000),
    timeoutMs: intIn('timeoutMs', input.timeoutMs, DEFAULTS.timeoutMs, 1, 600_000),
    retryAfterSeconds: intIn(
      'retryAfterSeconds',
      input.retryAfterSeconds,
      DEFAULTS.retryAfterSeconds,
      0,
      86_400,
    ),
    brokerFailureMemoMs: intIn(
      'brokerFailureMemoMs',
      input.brokerFailureMemoMs,
      DEFAULTS.brokerFailureMemoMs,
      0,
      60_000,
    ),
    breakerThreshold: intIn(
      'breakerThreshold',
      input.breakerThreshold,
      DEFAULTS.breakerThreshold,
      0,
      1_000_000,
    ),
    breakerCooldownMs: intIn(
      'breakerCooldownMs',
      input.breakerCooldownMs,
      DEFAULTS.breakerCooldownMs,
      100,
      600_000,
    ),
    issuer: input.issuer,
    audience,
    trustDomain,
    allowAdminTokens: bool('allowAdminTokens', input.allowAdminTokens),
    allowAppTokens: bool('allowAppTokens', input.allowAppTokens),
    requireKid: bool('requireKid', input.requireKid, DEFAULTS.requireKid),
    maxDelegationDepth:
      input.maxDelegationDepth === undefined
        ? undefined
        : intIn('maxDelegationDepth', input.maxDelegationDepth, 0, 0, 1_000),
    maxTokenLength: intIn('maxTokenLength', input.maxTokenLength, DEFAULTS.maxTokenLength, 64, 1_048_576),
    clockToleranceSeconds: intIn(
      'clockToleranceSeconds',
      input.clockToleranceSeconds,
      DEFAULTS.clockToleranceSeconds,
      0,
      3_600,
    ),
    jwksCooldownMs: intIn('jwksCooldownMs', input.jwksCooldownMs, DEFAULTS.jwksCooldownMs, 0, DAY_MS),
    jwksMaxAgeMs: intIn('jwksMaxAgeMs', input.jwksMaxAgeMs, DEFAULTS.jwksMaxAgeMs, 1_000, 7 * DAY_MS),
    revocationFeed: resolveFeedOptions(input.revocationFeed, broker),
    sharedCache,
    dispatcher,
    now: input.now ?? Date.now,
  })
}

/** `sharedCache`: a {@link SharedCache} (e.g. `redisStore()`), only where a broker is asked. */
function sharedCacheOption(value: unknown, mode: VerificationMode): SharedCache | undefined {
  if (value === undefined) return undefined
  const v = value as Partial<SharedCache> | null
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.resolve !== 'function' ||
    typeof v.discard !== 'function' ||
    typeof v.stats !== 'function' ||
    typeof v.close !== 'function'
  ) {
    fail('sharedCache', 'a shared cache such as redisStore() from agentwrit-verify/redis', value)
  }
  if (mode === 'local')
    fail('sharedCache', 'used with a broker (remote or hybrid mode), not in local mode', 'local')
  return v as SharedCache
}
