/**
 * Scenario 02 — the same tenant-isolated analytics API as service.ts, as a NestJS app
 * (`agentwrit-verify/nest`): a global guard from `AgentWritModule.forRoot()`, `@RequireScope()`
 * on the handlers with the tenant filled from the route, `@Agent('id')` for who called, and a
 * `@Public()` health check. Runs on `@nestjs/platform-express` or `@nestjs/platform-fastify`.
 */
import 'reflect-metadata'
import { Body, Controller, Get, HttpCode, Module, NotFoundException, Param, Post } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import type { AgentAuthOptions } from '../../src/index.js'
import { Agent, AgentWritModule, Public, RequireScope } from '../../src/nest.js'
import type { Listening } from '../shared.js'
import { ANALYTICS, isTenant } from './service.js'

/** The report store, shared by the controller (a database in a real system). */
const REPORTS = new Map<string, { metrics: unknown; writtenBy: string; at: string }>()

@Controller()
class HealthController {
  @Public()
  @Get('health')
  health() {
    return { ok: true }
  }
}

@Controller('tenants/:tenant')
class TenantsController {
  // read:analytics:<tenant> — the whole identifier is the route parameter.
  @Get('analytics')
  @RequireScope('read:analytics::tenant')
  analytics(@Param('tenant') tenant: string, @Agent('id') readBy: string) {
    if (!isTenant(tenant)) throw new NotFoundException('no such tenant')
    return { tenant, metrics: ANALYTICS[tenant], readBy }
  }

  // write:reports:<tenant>
  @Post('reports')
  @HttpCode(201)
  @RequireScope('write:reports::tenant')
  report(
    @Param('tenant') tenant: string,
    @Body() body: { metrics?: unknown },
    @Agent('id') writtenBy: string,
  ) {
    if (!isTenant(tenant)) throw new NotFoundException('no such tenant')
    const path = `reports/${tenant}/latest.json`
    REPORTS.set(path, { metrics: body?.metrics ?? null, writtenBy, at: new Date().toISOString() })
    return { tenant, path, writtenBy }
  }
}

/**
 * Start the Nest analytics API on 127.0.0.1 (a random port). `options` are agentwrit-verify's,
 * the same object every adapter takes.
 */
export async function startNestAnalyticsService(
  options: AgentAuthOptions,
  platform: 'express' | 'fastify' = 'express',
): Promise<Listening> {
  @Module({ imports: [AgentWritModule.forRoot(options)], controllers: [HealthController, TenantsController] })
  class AnalyticsModule {}

  const app =
    platform === 'fastify'
      ? await NestFactory.create(AnalyticsModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(AnalyticsModule, { logger: false })
  await app.listen(0, '127.0.0.1')
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1')
  return { url, close: () => app.close() }
}
