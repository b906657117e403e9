/**
 * `mcpAuth()`: Express middleware for an MCP endpoint, built on the Express adapter's binding and
 * the adapter kit. It answers refusals like every adapter (400/401/403/503 with the RFC 6750
 * challenge, `Retry-After` on a broker outage, never a 500 for an outage) and, for a verified
 * token, sets `req.agent` (the identity) and `req.auth` (the SDK's `AuthInfo`, which
 * `StreamableHTTPServerTransport.handleRequest()` hands to tools as `extra.authInfo`).
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { RequestHandler } from 'express'
import { createAdapterKit, type KitMiddlewareExtras } from '../core/adapter-kit.js'
import type { AdapterOptions } from '../core/adapter-setup.js'
import { readBearer } from '../core/bearer.js'
import type { AgentAuthOptions } from '../core/options.js'
import { isVerifier, type Verifier } from '../core/verifier.js'
import type { ExpressAuthOptions } from '../express.js'
import { type ExpressBinding, expressBinding, expressProblemRenderer } from '../express-binding.js'
import { authInfoFor } from './auth-info.js'

declare global {
  namespace Express {
    interface Request {
      /**
       * The SDK's `AuthInfo` of the verified token, set by `mcpAuth()` (and by the SDK's
       * `requireBearerAuth()`); `StreamableHTTPServerTransport` hands it to tools as
       * `extra.authInfo`.
       */
      auth?: AuthInfo
    }
  }
}

/** The MCP-specific options of {@link mcpAuth}. */
export interface McpAuthOptions {
  /**
   * The URL of this server's OAuth Protected Resource Metadata (RFC 9728), an absolute http(s)
   * URL: every challenge the default renderer sends then carries
   * `resource_metadata="<url>"` (RFC 9728 §5.1), which MCP clients follow to find the
   * authorization server. Not added when `onError` renders refusals (`'next'` or a function).
   */
  resourceMetadataUrl?: string | URL
}

/** What {@link mcpAuth} takes: the Express adapter's options plus {@link McpAuthOptions}, or a verifier. */
export type McpAuthInput =
  | (AgentAuthOptions & ExpressAuthOptions & AdapterOptions & McpAuthOptions)
  | Verifier

/** The middleware returned by {@link mcpAuth}, with its verifier. */
export interface McpAuthMiddleware extends RequestHandler, KitMiddlewareExtras {}

/** Tokens are read again only after the verifier accepted them: its size cap already applied. */
const NO_CAP = { maxTokenLength: Number.POSITIVE_INFINITY }

/**
 * Authenticate the MCP endpoint: `app.post('/mcp', mcpAuth({ broker }), handler)`. A valid
 * AgentWrit token sets `req.agent` and `req.auth`; anything else is refused before the MCP
 * transport sees the request (the README's error table). Options are validated now: a bad one
 * throws a `TypeError` naming it.
 */
export function mcpAuth(options: McpAuthInput): McpAuthMiddleware {
  let input: Exclude<McpAuthInput, Verifier> | Verifier = options
  let metadata: string | undefined
  if (!isVerifier(options) && options !== null && typeof options === 'object') {
    const { resourceMetadataUrl, ...rest } = options
    metadata = resourceMetadataUrlOption(resourceMetadataUrl)
    input = rest
  }
  const binding: ExpressBinding = {
    ...expressBinding,
    adapter: 'mcp',
    storeAgent(req, agent) {
      req.agent = agent
      req.auth = authInfoFor(agent, bearerOf(req))
    },
    render:
      metadata === undefined
        ? expressBinding.render
        : expressProblemRenderer((headers) => withResourceMetadata(headers, metadata)),
  }
  return createAdapterKit(binding).middleware(input) as McpAuthMiddleware
}

/** The token of a request the verifier accepted (`''` for a hand-written verifier that read it elsewhere). */
function bearerOf(req: Parameters<ExpressBinding['authRequest']>[0]): string {
  try {
    return readBearer(req.headers, req.rawHeaders, NO_CAP)
  } catch {
    return ''
  }
}

function resourceMetadataUrlOption(value: unknown): string | undefined {
  if (value === undefined) return undefined
  let url: URL | undefined
  if (value instanceof URL) url = value
  else if (typeof value === 'string' && URL.canParse(value)) url = new URL(value)
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new TypeError(
      `agentwrit-verify: option "resourceMetadataUrl" must be an absolute http(s) URL (got ${String(value)})`,
    )
  }
  return url.href
}

/** The challenge with RFC 9728's `resource_metadata` parameter (a `href` needs no escaping). */
function withResourceMetadata(
  headers: Readonly<Record<string, string>>,
  url: string,
): Readonly<Record<string, string>> {
  const challenge = headers['WWW-Authenticate']
  if (challenge === undefined) return headers
  return { ...headers, 'WWW-Authenticate': `${challenge}, resource_metadata="${url}"` }
}
