/**
 * `AgentAuthExceptionFilter`: answers an `AgentAuthException` as every adapter answers a refusal,
 * on either platform (through `HttpAdapterHost`).
 */
import { type ArgumentsHost, Catch, type ExceptionFilter, Inject, Injectable, Logger } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { AgentAuthException } from './exception.js'

/**
 * Sends the refusal: its status, `WWW-Authenticate` / `Retry-After` / `Cache-Control: no-store`,
 * `Content-Type: application/problem+json` and the RFC 7807 body; logs a `configuration_error`
 * (a misconfiguration to fix, with its specific message and cause). `AgentWritModule` registers it
 * as a global filter unless `exceptionFilter: false`; it is injectable either way, so an
 * application's own filter can hand refusals to it: `this.agentwrit.catch(exception, host)`.
 */
export class AgentAuthExceptionFilter implements ExceptionFilter<AgentAuthException> {
  static readonly #logger = new Logger('AgentWrit')

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: AgentAuthException, host: ArgumentsHost): void {
    if (exception.error.code === 'configuration_error') {
      AgentAuthExceptionFilter.#logger.error(exception.error)
    }
    const http = host.switchToHttp()
    const response = http.getResponse<unknown>()
    const adapter = this.adapterHost.httpAdapter
    if (adapter.isHeadersSent(response)) {
      adapter.end(response)
      return
    }
    const headers = exception.headers
    for (const name in headers) adapter.setHeader(response, name, headers[name]!)
    adapter.reply(response, JSON.stringify(exception.getResponse()), exception.getStatus())
  }
}

Catch(AgentAuthException)(AgentAuthExceptionFilter)
Injectable()(AgentAuthExceptionFilter)
Inject(HttpAdapterHost)(AgentAuthExceptionFilter, undefined, 0)
