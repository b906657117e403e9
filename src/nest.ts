/**
 * NestJS adapter (Nest 10.2 – 12, `@nestjs/platform-express` or `@nestjs/platform-fastify`):
 * `AgentWritModule.forRoot()` registers a global guard that authenticates every route unless
 * `@Public()`, and a global exception filter that answers refusals as every adapter does;
 * `@RequireScope()`, `@RequireAnyScope()` and `@RequireDelegatedFrom()` on handlers or
 * controllers; `@Agent()` for the identity. It only translates between Nest and the core.
 *
 * @example
 * ```ts
 * import { Controller, Get, Module, Param } from '@nestjs/common'
 * import { Agent, AgentWritModule, RequireScope } from 'agentwrit-verify/nest'
 *
 * @Controller('customers')
 * class CustomersController {
 *   @Get(':id')
 *   @RequireScope('read:data:customer-:id')
 *   get(@Param('id') id: string, @Agent('id') by: string) {
 *     return { customer: id, by }
 *   }
 * }
 *
 * @Module({
 *   imports: [AgentWritModule.forRoot({ broker: 'http://127.0.0.1:8080' })],
 *   controllers: [CustomersController],
 * })
 * export class AppModule {}
 * ```
 * @module
 */
import type { AdapterOptions } from './core/adapter-setup.js'
import type { AgentIdentity } from './core/claims.js'
import type { DelegationRootMatcher } from './core/delegation.js'
import { AgentAuthError, type ProblemDetails } from './core/errors.js'
import type { AgentAuthOptions } from './core/options.js'
import type { Verifier } from './core/verifier.js'

export { Agent, type AgentParamOptions } from './nest/agent-param.js'
export {
  type ClassOrMethodDecorator,
  type NestScopeRequirement,
  Public,
  RequireAnyScope,
  RequireDelegatedFrom,
  RequireScope,
} from './nest/decorators.js'
export { AgentAuthException } from './nest/exception.js'
export { AgentAuthExceptionFilter } from './nest/exception-filter.js'
export { AgentAuthGuard } from './nest/guard.js'
export type { AgentWritRequest } from './nest/http-request.js'
export { AGENTWRIT_VERIFIER, AgentWritModule } from './nest/module.js'
export type {
  AgentWritAuthOptions,
  AgentWritModuleAsyncOptions,
  AgentWritModuleOptions,
  AgentWritModuleSettings,
} from './nest/options.js'

export type {
  AdapterOptions,
  AgentAuthOptions,
  AgentIdentity,
  DelegationRootMatcher,
  ProblemDetails,
  Verifier,
}
export { AgentAuthError }
