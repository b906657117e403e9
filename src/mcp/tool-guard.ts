/**
 * Tool guards: `requireToolScope(...)(callback)` and friends wrap an MCP tool callback
 * `(args, extra)` so it runs only for a verified AgentWrit identity that holds the required
 * scopes. Templates are compiled when the callback is wrapped (a malformed one throws then) and
 * filled from the tool's arguments with exactly the route-param rules (`scope-template.ts`).
 *
 * - The identity is `extra.authInfo.extra.agent`, trusted only when `extra.authInfo` was made by
 *   `mcpAuth()` or `agentwritTokenVerifier()` (`auth-info.ts`): a tool on a server without our
 *   middleware, or with an `authInfo` from anywhere else, never runs.
 * - Argument values are used as route params are: a string, non-empty, at most 256 UTF-16 code
 *   units, without `:`, `*`, whitespace or control characters. Anything else (a number, a
 *   boolean, an object, an array, `null`, an absent argument) is refused as
 *   `invalid_scope_parameter`, never converted. Unicode look-alikes (`：`, `＊`, `７`) are literal
 *   text, so they name a scope nobody holds.
 * - A refusal is a tool error result (`isError: true`), which MCP clients show to the model, and
 *   the tool callback does not run: `content` is one text item (`403 insufficient_scope: …`),
 *   `structuredContent` is `{ error_code, status, detail, required_scope? }` (left out for a tool
 *   with an `outputSchema`, which the SDK's client would validate it against).
 */
import type { McpServer, RegisteredTool, ToolCallback } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { AnySchema, ZodRawShapeCompat } from '@modelcontextprotocol/sdk/server/zod-compat.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import { asRefusal } from '../core/adapter-state.js'
import type { AgentIdentity } from '../core/claims.js'
import { compileDelegationGuard, type DelegationRootMatcher } from '../core/delegation.js'
import type { AgentAuthError } from '../core/errors.js'
import { compileScopeGuard, type GuardMode } from '../core/guard.js'
import { toolAgentOf } from './auth-info.js'

/** A tool call's arguments, as the scope templates read them. */
export type ToolArguments = Readonly<Record<string, unknown>>

/** The second argument of a tool callback. */
export type McpToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>

/**
 * One required scope: a template whose `:name` placeholders are filled from the tool's arguments
 * (`'read:data:customer-:customer_id'`), or a function computing concrete scope(s).
 */
export type ToolScopeRequirement =
  | string
  | ((args: ToolArguments, agent: AgentIdentity) => string | readonly string[])

/** A tool callback a guard can wrap. */
export type GuardableToolCallback<Args> = (
  args: Args,
  extra: McpToolExtra,
) => CallToolResult | Promise<CallToolResult>

/** What `requireToolScope(...)` returns: wrap a tool callback, keeping its type. */
export type ToolGuard = <Args extends ToolArguments>(
  callback: GuardableToolCallback<Args>,
) => (args: Args, extra: McpToolExtra) => Promise<CallToolResult>

/** One compiled check of a tool call. */
interface ToolCheck {
  /** Argument names the templates read. */
  readonly placeholders: readonly string[]
  /** Throw the refusal unless `agent` may make this call. */
  check(agent: AgentIdentity, args: ToolArguments): void
}

function scopeCheck(
  mode: GuardMode,
  requirements: readonly ToolScopeRequirement[],
  caller: string,
): ToolCheck {
  const guard = compileScopeGuard<ToolArguments>(mode, requirements, caller)
  return { placeholders: guard.placeholders, check: (agent, args) => guard.check(agent, args, args) }
}

function delegationCheck(roots: readonly DelegationRootMatcher[]): ToolCheck {
  const guard = compileDelegationGuard(roots)
  return { placeholders: [], check: (agent) => guard.check(agent) }
}

/** The tool error result of a refusal (see the module documentation). */
export function toolRefusal(err: AgentAuthError, options: { structured?: boolean } = {}): CallToolResult {
  const result: CallToolResult = {
    isError: true,
    content: [{ type: 'text', text: `${err.status} ${err.code}: ${err.message}` }],
  }
  if (options.structured === false) return result
  const problem = err.toProblem()
  result.structuredContent = {
    error_code: problem.error_code,
    status: problem.status,
    detail: problem.detail,
    ...(problem.required_scope === undefined ? {} : { required_scope: problem.required_scope }),
  }
  return result
}

/**
 * Run `callback` only when every check passes. The SDK calls a tool with an input schema as
 * `(args, extra)` and one without as `(extra)`: both are read.
 */
function guarded<Args extends ToolArguments>(
  checks: readonly ToolCheck[],
  callback: GuardableToolCallback<Args>,
  structured: boolean,
  caller: string,
): (args: Args, extra: McpToolExtra) => Promise<CallToolResult> {
  if (typeof callback !== 'function') {
    throw new TypeError(`agentwrit-verify: ${caller}(...) wraps a tool callback (got ${typeof callback})`)
  }
  return async function agentwritToolGuard(this: unknown, ...call: unknown[]): Promise<CallToolResult> {
    const [args, extra] = call.length >= 2 ? call : [undefined, call[0]]
    try {
      const agent = toolAgentOf(extra)
      const params: ToolArguments = typeof args === 'object' && args !== null ? (args as ToolArguments) : {}
      for (const c of checks) c.check(agent, params)
    } catch (err) {
      return toolRefusal(asRefusal(err), { structured })
    }
    return (callback as (...a: unknown[]) => CallToolResult | Promise<CallToolResult>).apply(this, call)
  }
}

function toolGuard(checks: readonly ToolCheck[], caller: string): ToolGuard {
  return (callback) => guarded(checks, callback, true, caller)
}

/**
 * Run the tool only when the caller's token holds every listed scope. Templates are filled from
 * the tool's arguments (`requireToolScope('read:data:customer-:customer_id')(cb)`); an argument a
 * template needs that the call lacks is refused as `invalid_scope_parameter`. A malformed template
 * throws here. To have placeholders checked against the tool's input schema at registration, use
 * {@link registerGuardedTool}.
 */
export function requireToolScope(...requirements: ToolScopeRequirement[]): ToolGuard {
  return toolGuard([scopeCheck('all', requirements, 'requireToolScope')], 'requireToolScope')
}

/** Run the tool only when the caller's token holds at least one of the listed scopes. */
export function requireAnyToolScope(...requirements: ToolScopeRequirement[]): ToolGuard {
  return toolGuard([scopeCheck('any', requirements, 'requireAnyToolScope')], 'requireAnyToolScope')
}

/**
 * Run the tool only for delegated tokens whose chain starts at one of these agents (exact SPIFFE
 * id, RegExp, or predicate); anything else is refused as `delegation_not_allowed`.
 */
export function requireToolDelegatedFrom(...roots: DelegationRootMatcher[]): ToolGuard {
  return toolGuard([delegationCheck(roots)], 'requireToolDelegatedFrom')
}

/** What {@link registerGuardedTool} requires of a call; every key given must hold. */
export interface ToolRequirements {
  /** Every one of these scopes (a string is one scope). */
  readonly scope?: ToolScopeRequirement | readonly ToolScopeRequirement[]
  /** At least one of these scopes. */
  readonly anyScope?: ToolScopeRequirement | readonly ToolScopeRequirement[]
  /** A delegated token whose chain starts at one of these agents. */
  readonly delegatedFrom?: DelegationRootMatcher | readonly DelegationRootMatcher[]
}

/** The config `McpServer.registerTool()` takes. */
export interface GuardedToolConfig<InputArgs, OutputArgs> {
  title?: string
  description?: string
  inputSchema?: InputArgs
  outputSchema?: OutputArgs
  annotations?: Parameters<McpServer['registerTool']>[1]['annotations']
  _meta?: Record<string, unknown>
}

const REQUIREMENT_KEYS = new Set(['scope', 'anyScope', 'delegatedFrom'])

/**
 * `server.registerTool(name, config, callback)` with the callback guarded by `requirements`.
 * Checked now, with a `TypeError` naming the tool: an empty or unknown requirement, a malformed
 * template, and a placeholder that is not a key of the tool's `inputSchema` (a raw Zod shape or
 * a Zod object).
 */
export function registerGuardedTool<
  InputArgs extends undefined | ZodRawShapeCompat | AnySchema = undefined,
  OutputArgs extends ZodRawShapeCompat | AnySchema = ZodRawShapeCompat,
>(
  server: McpServer,
  name: string,
  config: GuardedToolConfig<InputArgs, OutputArgs>,
  requirements: ToolRequirements,
  callback: ToolCallback<InputArgs>,
): RegisteredTool {
  const fail = (why: string) => new TypeError(`agentwrit-verify: registerGuardedTool("${name}"): ${why}`)
  if (typeof requirements !== 'object' || requirements === null) throw fail('requirements must be an object')
  const keys = Object.keys(requirements)
  const unknown = keys.find((k) => !REQUIREMENT_KEYS.has(k))
  if (unknown !== undefined) throw fail(`unknown requirement "${unknown}" (scope, anyScope, delegatedFrom)`)
  const checks: ToolCheck[] = []
  const listOf = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...v] : [v as T])
  if (requirements.scope !== undefined) {
    checks.push(scopeCheck('all', listOf(requirements.scope), 'registerGuardedTool'))
  }
  if (requirements.anyScope !== undefined) {
    checks.push(scopeCheck('any', listOf(requirements.anyScope), 'registerGuardedTool'))
  }
  if (requirements.delegatedFrom !== undefined)
    checks.push(delegationCheck(listOf(requirements.delegatedFrom)))
  if (checks.length === 0) throw fail('no requirement given (scope, anyScope or delegatedFrom)')
  const placeholders = checks.flatMap((c) => c.placeholders)
  if (placeholders.length > 0) {
    const argumentNames = shapeKeys(config?.inputSchema)
    if (argumentNames === undefined) {
      throw fail(
        `scope placeholder ":${placeholders[0]}" needs an object inputSchema (a Zod shape or z.object()) naming it`,
      )
    }
    const missing = placeholders.find((p) => !argumentNames.has(p))
    if (missing !== undefined) throw fail(`scope placeholder ":${missing}" is not an argument of the tool`)
  }
  const structured = config?.outputSchema === undefined
  const wrapped = guarded(
    checks,
    callback as unknown as GuardableToolCallback<ToolArguments>,
    structured,
    'registerGuardedTool',
  )
  return server.registerTool(name, config, wrapped as unknown as ToolCallback<InputArgs>)
}

/** The argument names of an input schema: a raw Zod shape, or a Zod 3 / Zod 4 object schema. */
function shapeKeys(schema: unknown): Set<string> | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined
  const s = schema as { _def?: { shape?: unknown }; _zod?: { def?: { shape?: unknown } }; shape?: unknown }
  if (s._zod === undefined && s._def === undefined) return new Set(Object.keys(schema))
  let shape = s._zod?.def?.shape ?? s.shape ?? s._def?.shape
  if (typeof shape === 'function') shape = (shape as () => unknown)()
  return typeof shape === 'object' && shape !== null ? new Set(Object.keys(shape)) : undefined
}
