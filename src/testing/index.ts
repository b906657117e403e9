/**
 * `agentwrit-verify/testing`: an in-process AgentWrit development broker and token helpers for tests
 * and local development. Never imported by the verifier itself.
 *
 * @packageDocumentation
 */

export { kidOf } from '../core/jwk-thumbprint.js'
export {
  type AuditEvent,
  type AuditEventFilter,
  type AuditEventInput,
  auditEventHash,
  GENESIS_PREV_HASH,
  sanitizeDetail,
} from './audit-log.js'
export {
  type CreateAgentOptions,
  type CreatedAgent,
  type DelegationRecordJson,
  type DelegationResult,
  type DevBroker,
  type DevBrokerOptions,
  type DevBrokerRestartOptions,
  type DevBrokerStats,
  MAX_BODY_BYTES,
  SAMPLE_APP_SCOPES,
  type SampleAppCredentials,
  type SeedRevocationsOptions,
  startDevBroker,
  type ValidateResponse,
} from './dev-broker.js'
export {
  AUDIT_EVENTS_PATH,
  DEFAULT_FAULT_PATHS,
  type FaultMode,
  type FaultPaths,
  type FaultStatus,
} from './faults.js'
export { goJsonStringify } from './go-json.js'
export { formatRfc3339Nano } from './go-time.js'
export { DevBrokerRequestError } from './http-client.js'
export { chainHash } from './jwt.js'
export { type Ed25519PublicJwk, publicJwkFromSigningKey } from './public-jwk.js'
export type { RequestLogLine } from './request-log.js'
export type { RevocationLevel } from './revocation.js'
