/**
 * The conformance table: HTTP scenarios with the expected status, challenge, problem
 * `error_code` and whether the broker's validate endpoint was called. Defaults describe remote
 * mode; `local` and `hybrid` hold what differs in those modes (and why).
 */
import { expect } from 'vitest'
import type { FaultMode } from '../../src/testing/index.js'
import type { AdapterName } from '../adapters/apps.js'
import type { RawRequest, RawResponse } from '../helpers/http.js'
import { type Answer, INVALID_REQUEST, INVALID_TOKEN, REALM } from '../helpers/refusal.js'
import { bearer } from '../helpers/tokens.js'
import type { Fixtures } from './fixtures.js'

/** Status, challenge and problem `error_code` (helpers/refusal.ts), and the broker calls. */
export interface Expectation extends Answer {
  /** Was the broker's validate endpoint called? */
  broker: boolean
  /** Per-adapter override of `broker`, where a framework forces a difference. */
  brokerBy?: Partial<Record<AdapterName, boolean>>
  check?: (res: RawResponse, f: Fixtures) => void
}

export interface Row extends Expectation {
  name: string
  req: (f: Fixtures) => RawRequest
  fault?: FaultMode
  /** What differs in local mode. */
  local?: Partial<Expectation> & { why: string }
  /** What differs in hybrid mode. */
  hybrid?: Partial<Expectation> & { why: string }
}

const NO_BROKER_LOCAL = { broker: false, why: 'local mode never calls the broker' }

/**
 * Adapters that know a route's template scopes before authentication and fill them first, so a
 * route parameter that cannot be used in a scope is refused without a broker call: Fastify's route
 * config, and Nest's route plans (compiled at bootstrap, checked in the guard before it verifies).
 */
const PARAMS_BEFORE_AUTH = { fastify: false, 'nest-express': false, 'nest-fastify': false } as const

export const ROWS: Row[] = [
  {
    name: 'valid token, own customer → 200 with typed claims',
    req: (f) => ({ path: '/customers/7', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    check: (res, f) => {
      expect(res.json).toMatchObject({
        customer: '7',
        agent: f.agentId,
        taskId: 'process-ord-1',
        source: 'broker',
      })
    },
    local: {
      ...NO_BROKER_LOCAL,
      check: (res) => expect(res.json).toMatchObject({ customer: '7', source: 'local' }),
    },
  },
  {
    name: 'another customer → 403 naming the concrete scope',
    req: (f) => ({ path: '/customers/cust-9999', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge:
      'Bearer realm="agentwrit", error="insufficient_scope", error_description="token lacks required scope: read:data:customer-cust-9999", scope="read:data:customer-cust-9999"',
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'write own order → 200',
    req: (f) => ({ method: 'PUT', path: '/orders/1', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'write another order → 403',
    req: (f) => ({ method: 'PUT', path: '/orders/ord-0000', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="write:data:order-ord-0000"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'whole-identifier template: own tenant → 200',
    req: (f) => ({ path: '/tenants/bank/analytics', headers: bearer(f.bank) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'whole-identifier template: other tenant → 403',
    req: (f) => ({ path: '/tenants/hospital/analytics', headers: bearer(f.bank) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:analytics:hospital"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'route param "*" never widens → 400',
    req: (f) => ({ path: '/tenants/*/analytics', headers: bearer(f.bank) }),
    status: 400,
    code: 'invalid_scope_parameter',
    challenge: INVALID_REQUEST,
    broker: true,
    brokerBy: PARAMS_BEFORE_AUTH,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'percent-encoded ":" in a route param → 400',
    req: (f) => ({ path: '/tenants/bank%3Ax/analytics', headers: bearer(f.bank) }),
    status: 400,
    code: 'invalid_scope_parameter',
    broker: true,
    brokerBy: PARAMS_BEFORE_AUTH,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'requireAnyScope: one of two held → 200',
    req: (f) => ({ path: '/either', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'requireAnyScope: none held → 403',
    req: (f) => ({ path: '/either', headers: bearer(f.bank) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:data:customer-1 write:data:order-1"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'computed scope (function form) → 200 / 403',
    req: (f) => ({ path: '/computed/7', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'computed scope refused',
    req: (f) => ({ path: '/computed/8', headers: bearer(f.agent) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="read:data:customer-8"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'delegated token from an allowed root, its scope → 200 with the chain',
    req: (f) => ({ method: 'POST', path: '/deploy/web-service', headers: bearer(f.delegated) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
    check: (res, f) =>
      expect(res.json).toMatchObject({ delegated: true, root: f.orchestratorId, service: 'web-service' }),
  },
  {
    name: 'delegated token, another service → 403',
    req: (f) => ({ method: 'POST', path: '/deploy/payment-svc', headers: bearer(f.delegated) }),
    status: 403,
    code: 'insufficient_scope',
    challenge: /scope="write:deploy:payment-svc"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'same scope but not delegated → 403 delegation_not_allowed',
    req: (f) => ({ method: 'POST', path: '/deploy/web-service', headers: bearer(f.deployerOwn) }),
    status: 403,
    code: 'delegation_not_allowed',
    challenge:
      /^Bearer realm="agentwrit", error="insufficient_scope", error_description="token delegation chain is not accepted for this resource"$/,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'no Authorization → 401 with a bare challenge',
    req: () => ({ path: '/me' }),
    status: 401,
    code: 'missing_token',
    challenge: REALM,
    broker: false,
  },
  {
    name: 'another scheme (Basic) → 401 bare challenge',
    req: () => ({ path: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } }),
    status: 401,
    code: 'missing_token',
    challenge: REALM,
    broker: false,
  },
  {
    name: '"Bearer" without a token → 400',
    req: () => ({ path: '/me', headers: { authorization: 'Bearer' } }),
    status: 400,
    code: 'invalid_request',
    challenge: /error="invalid_request"/,
    broker: false,
  },
  {
    name: 'two Authorization headers → 400',
    req: (f) => ({ path: '/me', headers: { authorization: [`Bearer ${f.agent}`, `Bearer ${f.bank}`] } }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'token in the query string → 400',
    req: (f) => ({ path: `/me?access_token=${f.agent}`, headers: bearer(f.agent) }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'oversized token → 400',
    req: () => ({ path: '/me', headers: bearer(`${'a'.repeat(9000)}.b.c`) }),
    status: 400,
    code: 'invalid_request',
    broker: false,
  },
  {
    name: 'not a JWS → 401 without asking the broker',
    req: () => ({ path: '/me', headers: bearer('abc.def') }),
    status: 401,
    code: 'invalid_token',
    challenge: INVALID_TOKEN,
    broker: false,
  },
  {
    name: 'forged signature → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.forged) }),
    status: 401,
    code: 'invalid_token',
    challenge: INVALID_TOKEN,
    broker: true,
    local: NO_BROKER_LOCAL,
    hybrid: { broker: false, why: 'hybrid checks the signature and expiry locally first' },
  },
  {
    name: 'expired → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.expired) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
    local: NO_BROKER_LOCAL,
    hybrid: { broker: false, why: 'hybrid checks the signature and expiry locally first' },
  },
  {
    name: 'released → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.released) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode cannot see release or revocation',
    },
  },
  {
    name: 'signed by another broker → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.foreign) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
    local: NO_BROKER_LOCAL,
    hybrid: { broker: false, why: 'hybrid checks the signature and expiry locally first' },
  },
  {
    name: 'admin token refused by default → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.admin) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'app token refused by default → 401',
    req: (f) => ({ path: '/me', headers: bearer(f.app) }),
    status: 401,
    code: 'invalid_token',
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'public route needs no token',
    req: () => ({ path: '/public' }),
    status: 200,
    broker: false,
  },
  {
    name: 'broker down → 503 with Retry-After, never 401',
    req: (f) => ({ path: '/me', headers: bearer(f.spare[0]!) }),
    fault: { kind: 'down' },
    status: 503,
    code: 'broker_unavailable',
    challenge: null,
    broker: true,
    check: (res) => expect(res.headers['retry-after']).toBe('5'),
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode does not depend on the broker (its key source is the JWKS)',
      check: () => {},
    },
  },
  {
    name: 'broker slower than the timeout → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.spare[1]!) }),
    fault: { kind: 'slow', delayMs: 1_500 },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode does not depend on the broker (its key source is the JWKS)',
      check: () => {},
    },
  },
  {
    name: 'broker 500 → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.spare[2]!) }),
    fault: { kind: 'status', status: 500 },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode does not depend on the broker (its key source is the JWKS)',
      check: () => {},
    },
  },
  {
    name: 'broker answers HTML → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.spare[3]!) }),
    fault: { kind: 'garbage' },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode does not depend on the broker (its key source is the JWKS)',
      check: () => {},
    },
  },
  {
    name: 'broker answers valid:"yes" → 503',
    req: (f) => ({ path: '/me', headers: bearer(f.spare[4]!) }),
    fault: { kind: 'json', body: { valid: 'yes' } },
    status: 503,
    code: 'broker_unavailable',
    broker: true,
    local: {
      status: 200,
      broker: false,
      challenge: undefined,
      code: undefined,
      why: 'local mode does not depend on the broker (its key source is the JWKS)',
      check: () => {},
    },
  },
  {
    name: 'optional route parameter in the scope, present → 200',
    req: (f) => ({ path: '/opt/7', headers: bearer(f.agent) }),
    status: 200,
    broker: true,
    local: NO_BROKER_LOCAL,
  },
  {
    name: 'optional route parameter in the scope, absent → 400 invalid_scope_parameter',
    req: (f) => ({ path: '/opt', headers: bearer(f.agent) }),
    status: 400,
    code: 'invalid_scope_parameter',
    challenge: INVALID_REQUEST,
    broker: true,
    brokerBy: PARAMS_BEFORE_AUTH,
    local: NO_BROKER_LOCAL,
  },
]
