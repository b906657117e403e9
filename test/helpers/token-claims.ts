/** The agent claim set the strategy and verifier unit tests start from. */

export const TEST_AGENT = 'spiffe://agentwrit.local/agent/o/t/0123456789abcdef'

/** Claims issued at `nowMs` (whole seconds), valid 300 s, one scope; `over` replaces fields. */
export function agentClaims(nowMs: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: '',
    sub: TEST_AGENT,
    exp: nowMs / 1000 + 300,
    nbf: nowMs / 1000,
    iat: nowMs / 1000,
    jti: 'a'.repeat(32),
    scope: ['read:data:x'],
    ...over,
  }
}
