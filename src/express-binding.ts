/**
 * Express for the adapter kit, shared by the Express adapter (`./express`) and the MCP middleware
 * (`./mcp`), which answers on Express too. The identity is the one property added to `req`:
 * Express gives every request its own prototype, after which each added property costs V8 a new
 * hidden class (BENCHMARKS.md). A configuration error, and every refusal with `onError: 'next'`,
 * goes to `next(err)`; so does a refusal that arrives after the response started. `req.agent` is
 * declared in `express.ts`, whose declarations ship with both entries.
 */
import type { NextFunction, Request, Response } from 'express'
import type { FrameworkBinding, KitRenderer } from './core/adapter-kit.js'
import { problemResponse } from './core/errors.js'

/** The Express binding's type. */
export type ExpressBinding = FrameworkBinding<Request, Response, NextFunction, void>

/**
 * The default renderer: status, headers and RFC 7807 body (`next(err)` once headers were sent).
 * @param headersOf - what to send as headers, from the problem answer's (default: those).
 */
export function expressProblemRenderer(
  headersOf: (headers: Readonly<Record<string, string>>) => Readonly<Record<string, string>> = (h) => h,
): KitRenderer<Request, Response, NextFunction> {
  return function renderProblem(err, req, res, next) {
    if (res.headersSent) {
      next(err)
      return
    }
    const answer = problemResponse(err, req.originalUrl ?? req.url)
    res.status(answer.status).set(headersOf(answer.headers)).send(answer.body)
  }
}

export const expressBinding: ExpressBinding = {
  requestName: 'req',
  adapter: 'express',
  escalateKeyword: 'next',
  authRequest: (req) => req,
  storedAgent: (req) => req.agent,
  storeAgent(req, agent) {
    req.agent = agent
  },
  routeParams: (req) => req.params,
  routePath: (req) => String(req.route?.path ?? req.path),
  pass: (_req, _res, next) => next(),
  escalate: (err, _req, _res, next) => next(err),
  render: expressProblemRenderer(),
  rendered: () => undefined,
}
