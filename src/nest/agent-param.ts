/**
 * `@Agent()`: the verified identity as a handler parameter, the Nest form of the other adapters'
 * `agentOf()`.
 */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common'
import { accessOf, identityFor } from '../core/adapter-state.js'
import type { AgentIdentity } from '../core/claims.js'
import { refusalException } from './exception.js'
import { storedAgentOf } from './http-request.js'
import { unsupportedContext } from './runtime.js'

/** `@Agent({ optional: true })`: `undefined` instead of a refusal on a request without identity. */
export interface AgentParamOptions {
  readonly optional: true
}

interface AgentParamData {
  readonly field: keyof AgentIdentity | undefined
  readonly optional: boolean
}

function agentParam(data: AgentParamData, context: ExecutionContext): unknown {
  const type = context.getType()
  if (type !== 'http') throw unsupportedContext('@Agent()', type)
  const http = context.switchToHttp()
  const request = http.getRequest<object>()
  const stored = storedAgentOf(request)
  const access = accessOf(stored, request)
  let agent = access.agent
  if (agent === undefined) {
    // No identity at all is `undefined` for an optional parameter; anything else on the request
    // (an identity replaced after the guard) is refused all the same.
    if (data.optional && (stored === undefined || stored === null)) return undefined
    try {
      agent = identityFor(access, '@Agent()')
    } catch (err) {
      throw refusalException(err, access.state?.realm, http)
    }
  }
  return data.field === undefined ? agent : agent[data.field]
}

const agentDecorator = createParamDecorator<AgentParamData>(agentParam)

/**
 * The verified identity of the request (`@Agent() agent: AgentIdentity`), or one of its fields
 * (`@Agent('id') id: string`). A request without one is refused exactly as `agentOf()` refuses
 * it in the other adapters: 401 `missing_token` where an `optional: true` module let it through
 * without credentials, 500 `configuration_error` where no authentication ran (a `@Public()`
 * route, a route `AgentAuthGuard` does not guard) or the identity was replaced. With
 * `{ optional: true }` such a request gets `undefined` instead (a replaced identity is still
 * refused).
 */
export function Agent(options?: AgentParamOptions): ParameterDecorator
export function Agent<K extends keyof AgentIdentity>(
  field: K,
  options?: AgentParamOptions,
): ParameterDecorator
export function Agent(
  fieldOrOptions?: keyof AgentIdentity | AgentParamOptions,
  options?: AgentParamOptions,
): ParameterDecorator {
  const field = typeof fieldOrOptions === 'string' ? fieldOrOptions : undefined
  const given = typeof fieldOrOptions === 'object' ? fieldOrOptions : options
  if (fieldOrOptions !== undefined && field === undefined && typeof fieldOrOptions !== 'object') {
    throw new TypeError('agentwrit-verify: @Agent() takes a field name of the identity or { optional: true }')
  }
  if (given !== undefined && (typeof given !== 'object' || given === null || given.optional !== true)) {
    throw new TypeError('agentwrit-verify: @Agent() options must be { optional: true }')
  }
  return agentDecorator(Object.freeze({ field, optional: given !== undefined }))
}
