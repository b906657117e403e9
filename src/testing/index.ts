/**
 * `agentwrit-verify/testing`: an in-process AgentWrit development broker and token helpers for tests
 * and local development. Never imported by the verifier itself.
 *
 * @packageDocumentation
 */

export { type Ed25519PublicJwk, kidOf, publicJwkFromSigningKey } from '../core/public-jwk.js'
export {
  type CreateAgentOptions,
  type CreatedAgent,
  type DelegationRecordJson,
  type DelegationResult,
  type DevBroker,
  type DevBrokerOptions,
  type DevBrokerStats,
  MAX_BODY_BYTES,
  SAMPLE_APP_SCOPES,
  type SampleAppCredentials,
  startDevBroker,
  type ValidateResponse,
} from './dev-broker.js'
export { DEFAULT_FAULT_PATHS, type FaultMode, type FaultPaths } from './faults.js'
export { goJsonStringify } from './go-json.js'
export { formatRfc3339Nano } from './go-time.js'
export { DevBrokerRequestError } from './http-client.js'
export { chainHash } from './jwt.js'
export type { RevocationLevel } from './revocation.js'
