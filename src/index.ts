/**
 * agentwrit-verify — verify AgentWrit agent tokens (framework-free core).
 *
 * Framework adapters live in `agentwrit-verify/express`, `agentwrit-verify/koa`,
 * `agentwrit-verify/fastify`, `agentwrit-verify/hono` and `agentwrit-verify/nest`; any other Fetch
 * API runtime uses `authenticateFetchRequest`; the development broker is in
 * `agentwrit-verify/testing`.
 * @module
 */

export type { FeedUpdate } from './core/audit-events.js'
export type { BrokerStats } from './core/broker-client.js'
export type { CacheStats } from './core/cache.js'
export type { CircuitState } from './core/circuit-breaker.js'
export type {
  AgentIdentity,
  AgentWritClaims,
  DelegationRecord,
  TokenKind,
  VerificationSource,
} from './core/claims.js'
export { parseClaims, tokenKindOf } from './core/claims.js'
export type { DelegationGuard, DelegationRootMatcher } from './core/delegation.js'
export { BROKER_MAX_DELEGATION_DEPTH, chainAttenuates, compileDelegationGuard } from './core/delegation.js'
export type {
  AdapterName,
  BrokerMessage,
  CacheMessage,
  FeedMessage,
  GuardMessage,
  KeysMessage,
  VerifyMessage,
} from './core/diagnostics.js'
export { DIAGNOSTICS_CHANNELS } from './core/diagnostics.js'
export type { DiagnosticMessages, SettledVerifyMessage } from './core/diagnostics-subscribe.js'
export { subscribeDiagnostics, subscribeVerifications } from './core/diagnostics-subscribe.js'
export type {
  AgentAuthErrorCode,
  AgentAuthErrorOptions,
  BearerErrorValue,
  ProblemDetails,
  ProblemResponse,
} from './core/errors.js'
export {
  AgentAuthError,
  isAgentAuthError,
  PROBLEM_CONTENT_TYPE,
  problemResponse,
} from './core/errors.js'
export type { FeedTokenSource } from './core/feed-credential.js'
export type { RevocationFeedOptions } from './core/feed-options.js'
export { FEED_DEFAULTS } from './core/feed-options.js'
export type { FetchAuthentication } from './core/fetch-request.js'
export { authenticateFetchRequest, fetchAuthRequest, refusalResponse } from './core/fetch-request.js'
export type { GuardMode, ScopeGuard, ScopeRequirement } from './core/guard.js'
export { compileScopeGuard } from './core/guard.js'
export type { KeySourceKind, KeySourceStats, KeysReadiness } from './core/key-source.js'
export type { LatencySummary } from './core/latency-window.js'
export type { AgentAuthOptions, ResolvedOptions, VerificationMode } from './core/options.js'
export { DEFAULTS, resolveOptions } from './core/options.js'
export type { BrokerReadiness, FeedReadiness, Readiness } from './core/readiness.js'
export type { RevocationFeedStats } from './core/revocation-feed.js'
export type { PredicateCounts, RevocationLevel } from './core/revocation-predicates.js'
export type { ParsedScope } from './core/scope.js'
export { parseScope, scopeCovers, scopeIsSubset } from './core/scope.js'
export type { ScopeTemplate } from './core/scope-template.js'
export { compileScopeTemplate } from './core/scope-template.js'
export type {
  FeedLink,
  PollListener,
  RevocationFanout,
  SharedCache,
  SharedComputed,
  SharedResolution,
} from './core/shared-cache.js'
export type { RefusalStats, VerificationStats } from './core/verification-counters.js'
export type { AuthRequest, Verifier, VerifierStats } from './core/verifier.js'
export { createVerifier } from './core/verifier.js'
