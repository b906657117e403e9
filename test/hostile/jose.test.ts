/**
 * Hostile token syntax and JOSE header attacks, on every adapter in every mode.
 *
 * Two kinds of rows:
 * - attacks (signed by an attacker, or not signed at all): refused everywhere, 401;
 * - tokens signed with the broker's own key but carrying a header the broker never writes. The
 *   broker checks only `alg` and `kid` (contract §7), but it always writes exactly
 *   `{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}` (§6.1): every mode refuses any other header with a
 *   401 before any key lookup or broker call (the header allowlist, src/core/token-shape.ts) —
 *   remote mode included. An absent `kid` is accepted only with `requireKid: false`.
 */
import { createHmac, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kidOf } from '../../src/testing/index.js'
import { ADAPTERS } from '../adapters/apps.js'
import { send } from '../helpers/http.js'
import { MODES } from '../helpers/modes.js'
import { b64u, bearer, forgeSignature, segments } from '../helpers/tokens.js'
import { buildAppFor, type Case, type HostileEnv, R, runCases, startHostileEnv } from './harness.js'

let env: HostileEnv
const attacker = generateKeyPairSync('ed25519')
const attackerJwk = attacker.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string }

beforeAll(async () => {
  env = await startHostileEnv()
})
afterAll(async () => {
  await env?.close()
})

/** Compact JWS over exact header/payload texts with an Ed25519 key. */
function edSign(header: unknown, payload: unknown, key: KeyObject = attacker.privateKey): string {
  const h = b64u(typeof header === 'string' ? header : JSON.stringify(header))
  const p = b64u(typeof payload === 'string' ? payload : JSON.stringify(payload))
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), key))}`
}

let brokerPrivateKey: KeyObject | undefined
/** The dev broker's signing key, to sign exact bytes (signToken takes text). */
function brokerKey(e: HostileEnv): KeyObject {
  brokerPrivateKey ??= createPrivateKey(e.broker.signingKeyPem)
  return brokerPrivateKey
}

/** Broker-signed over exact header bytes (`malleate`: flip an unused bit at the end of the segment). */
function signRawHeader(e: HostileEnv, header: Buffer, malleate = false): string {
  let h = b64u(header)
  if (malleate) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    if (h.length % 4 === 0) throw new Error('test bug: no unused bits')
    h = `${h.slice(0, -1)}${alphabet[alphabet.indexOf(h.at(-1)!) | 1]}`
  }
  const p = b64u(JSON.stringify(e.claims()))
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), brokerKey(e)))}`
}

/** Broker-signed over exact payload bytes, with the broker's header. */
function signRawPayload(e: HostileEnv, payload: Buffer): string {
  const h = b64u(JSON.stringify(e.header()))
  const p = b64u(payload)
  return `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), brokerKey(e)))}`
}

/** HS256 with `secret` as the HMAC key. */
function hsSign(header: unknown, payload: unknown, secret: string | Buffer): string {
  const h = b64u(JSON.stringify(header))
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`
}

const brokerPublicRaw = (e: HostileEnv) => Buffer.from(e.broker.publicJwk.x, 'base64url')

/**
 * A header the broker never writes (signed by the broker or not): refused in every mode by the
 * header allowlist, before any key lookup or broker call.
 */
const HEADER_REFUSED = { expect: R.invalidToken, calls: 'never' as const }
/** Same, for a payload the broker never issues (the shape check reads it in every mode). */
const PAYLOAD_REFUSED = HEADER_REFUSED

const CASES: Case[] = [
  // ---- syntax -----------------------------------------------------------------------------------
  {
    name: 'one segment → 401',
    req: () => ({ path: '/me', headers: bearer('abcdef') }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'two segments → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.agent.accessToken.split('.').slice(0, 2).join('.')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'four segments (valid token + ".x") → 401',
    req: (e) => ({ path: '/me', headers: bearer(`${e.agent.accessToken}.x`) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'empty segments ".." → 401',
    req: () => ({ path: '/me', headers: bearer('..') }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'empty payload segment → 401',
    req: (e) => {
      const [h, , s] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`${h}..${s}`) }
    },
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'empty header segment → 401',
    req: (e) => {
      const [, p, s] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`.${p}.${s}`) }
    },
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'empty signature segment → 401',
    req: (e) => {
      const [h, p] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`${h}.${p}.`) }
    },
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'standard-base64 characters (+ /) → 401',
    req: () => ({ path: '/me', headers: bearer('ab+c.de/f.gh+/') }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'a character outside b64token (!) → 400',
    req: () => ({ path: '/me', headers: bearer('abc.def.gh!') }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'padding "=" after a valid signature → 401',
    req: (e) => ({ path: '/me', headers: bearer(`${e.agent.accessToken}==`) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'padding "=" inside the token (padded header) → 400',
    req: (e) => {
      const [h, p, s] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`${h}=.${p}.${s}`) }
    },
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'signature truncated by one character → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.agent.accessToken.slice(0, -1)) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'signature with two extra characters → 401',
    req: (e) => ({ path: '/me', headers: bearer(`${e.agent.accessToken}AA`) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'signature of 64 zero bytes → 401',
    req: (e) => {
      const [h, p] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`${h}.${p}.${b64u(Buffer.alloc(64))}`) }
    },
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'header segment that is not base64url JSON → 401',
    req: (e) => {
      const [, p, s] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`aGVsbG8.${p}.${s}`) }
    },
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, header is not JSON → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken(e.claims(), 'hello')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, header is a JSON array → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken(e.claims(), '["EdDSA"]')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, payload is not JSON → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken('not json')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, payload is JSON null → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken('null')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, payload is a JSON array → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken('[]')) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, payload with trailing garbage → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken(`${JSON.stringify(e.claims())}x`)) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'oversized (10 KiB of valid-looking segments) → 400',
    req: () => ({
      path: '/me',
      headers: bearer(`${'e'.repeat(5000)}.${'e'.repeat(5000)}.${'A'.repeat(86)}`),
    }),
    expect: R.badRequest,
    calls: 'never',
  },
  {
    name: 'forged signature (one character changed) → 401',
    req: (e) => ({ path: '/me', headers: bearer(forgeSignature(e.agent.accessToken)) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'payload of one token with the signature of another → 401',
    req: (e) => {
      const [h, p] = segments(e.bank.accessToken)
      const [, , s] = segments(e.agent.accessToken)
      return { path: '/me', headers: bearer(`${h}.${p}.${s}`) }
    },
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'payload widened (scope read:data:*), original header and signature → 401',
    req: (e) => {
      const [h, p, s] = segments(e.agent.accessToken)
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
      claims.scope = ['read:data:*']
      return { path: '/customers/9', headers: bearer(`${h}.${b64u(JSON.stringify(claims))}.${s}`) }
    },
    expect: R.invalidToken,
    calls: 'remote',
  },
  // ---- alg ----------------------------------------------------------------------------------------
  {
    name: 'alg none, empty signature → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(`${b64u('{"alg":"none","typ":"JWT"}')}.${b64u(JSON.stringify(e.claims()))}.`),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg none, junk signature → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(`${b64u('{"alg":"none","typ":"JWT"}')}.${b64u(JSON.stringify(e.claims()))}.AAAA`),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg "None" with the broker kid, junk signature → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        `${b64u(JSON.stringify({ alg: 'None', kid: e.broker.kid }))}.${b64u(JSON.stringify(e.claims()))}.AAAA`,
      ),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg none, signed by the broker key anyway → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: 'none' }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'HS256 with the raw public key bytes as HMAC secret → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(hsSign(e.header({ alg: 'HS256' }), e.claims(), brokerPublicRaw(e))),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'HS256 with the public key PEM as HMAC secret → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(hsSign(e.header({ alg: 'HS256' }), e.claims(), e.broker.publicKeyPem)),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'HS256 with the public JWK "x" as HMAC secret → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(hsSign(e.header({ alg: 'HS256' }), e.claims(), e.broker.publicJwk.x)),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'HS256 with the public JWK JSON as HMAC secret → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(hsSign(e.header({ alg: 'HS256' }), e.claims(), JSON.stringify(e.broker.publicJwk))),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg "eddsa" (wrong case), broker-signed → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: 'eddsa' }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg "Ed25519" (RFC 9864 name, not the broker’s), broker-signed → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: 'Ed25519' }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg "EdDSA " (trailing space), broker-signed → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: 'EdDSA ' }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg missing, broker-signed → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: undefined }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'alg as an array ["EdDSA"], broker-signed → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ alg: ['EdDSA'] }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  // ---- keys named by the token ---------------------------------------------------------------------
  {
    name: 'attacker-signed, embedded jwk of the attacker key → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(edSign({ alg: 'EdDSA', typ: 'JWT', jwk: attackerJwk }, e.claims())),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'attacker-signed, embedded jwk + kid = attacker thumbprint → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        edSign({ alg: 'EdDSA', typ: 'JWT', kid: kidOf(attackerJwk), jwk: attackerJwk }, e.claims()),
      ),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'attacker-signed, jku pointing at the attacker’s JWKS → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        edSign({ alg: 'EdDSA', typ: 'JWT', jku: 'http://127.0.0.1:1/jwks', kid: 'a' }, e.claims()),
      ),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'attacker-signed, x5u → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(edSign({ alg: 'EdDSA', typ: 'JWT', x5u: 'http://127.0.0.1:1/cert.pem' }, e.claims())),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'attacker-signed with the broker’s kid → 401',
    req: (e) => ({ path: '/me', headers: bearer(edSign(e.header(), e.claims())) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'attacker-signed without kid → 401',
    req: (e) => ({ path: '/me', headers: bearer(edSign(e.header({ kid: undefined }), e.claims())) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, unknown kid → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: 'no-such-key' }))) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'broker-signed, kid of another key (the attacker’s thumbprint) → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: kidOf(attackerJwk) }))) }),
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'broker-signed, kid a number → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: 7 }))) }),
    expect: R.invalidToken,
    calls: 'never',
  },
  {
    name: 'broker-signed, no kid → 401 (the broker accepts it but always writes one; requireKid: false allows it)',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: undefined }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, no typ → 401 (the broker does not check typ but always writes "JWT")',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ typ: undefined }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, kid "" → 401 everywhere (the broker would skip an empty kid)',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: '' }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, jku → 401 everywhere (ignored by the broker)',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ jku: 'http://127.0.0.1:1/jwks' }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, x5u → 401 everywhere',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ x5u: 'http://127.0.0.1:1/c.pem' }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, embedded jwk (the broker’s own) → 401 everywhere',
    req: (e) => ({
      path: '/me',
      headers: bearer(e.sign({}, e.header({ jwk: { kty: 'OKP', crv: 'Ed25519', x: e.broker.publicJwk.x } }))),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, x5c → 401 everywhere',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ x5c: ['MIIB'] }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, crit ["exp"] → 401 everywhere',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ crit: ['exp'], exp: 1 }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, b64:false + crit ["b64"] → 401 everywhere',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ b64: false, crit: ['b64'] }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, b64:false without crit → 401 everywhere',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ b64: false }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'attacker-signed, b64:false + crit → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(edSign({ alg: 'EdDSA', kid: e.broker.kid, b64: false, crit: ['b64'] }, e.claims())),
    }),
    expect: R.invalidToken,
    calls: 'never',
  },
  // ---- the header allowlist: exactly alg, typ, kid, each once (all broker-signed) ------------------
  ...(['crit', 'b64', 'jku', 'x5u', 'jwk', 'x5c', 'zip', 'enc', 'cty', 'x5t', 'nonce', 'foo'] as const).map(
    (member): Case => ({
      name: `broker-signed, extra member ${member} → 401 everywhere, no broker call`,
      req: (e) => ({
        path: '/me',
        headers: bearer(e.sign({}, e.header({ [member]: member === 'b64' ? true : 'x' }))),
      }),
      ...HEADER_REFUSED,
    }),
  ),
  {
    name: 'broker-signed, alg duplicated (none, then EdDSA — JSON.parse and Go keep the last) → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        e.broker.signToken(e.claims(), `{"alg":"none","typ":"JWT","kid":"${e.broker.kid}","alg":"EdDSA"}`),
      ),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, kid duplicated under an escaped name → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        e.broker.signToken(e.claims(), `{"alg":"EdDSA","typ":"JWT","kid":"x","\\u006bid":"${e.broker.kid}"}`),
      ),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, "ALG" beside alg (Go folds the case) → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ ALG: 'EdDSA' }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, members in another order → 200 (order is not checked)',
    req: (e) => ({
      path: '/me',
      headers: bearer(e.broker.signToken(e.claims(), `{"kid":"${e.broker.kid}","alg":"EdDSA","typ":"JWT"}`)),
    }),
    expect: R.ok,
    calls: 'verified',
  },
  ...(['jwt', 'JWS', 'at+jwt', 'JWT ', null, 1] as const).map(
    (typ): Case => ({
      name: `broker-signed, typ ${JSON.stringify(typ)} → 401`,
      req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ typ }))) }),
      ...HEADER_REFUSED,
    }),
  ),
  {
    name: 'broker-signed, kid null → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.sign({}, e.header({ kid: null }))) }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, header with invalid UTF-8 (the broker’s Go decoder would read U+FFFD) → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        signRawHeader(e, Buffer.from(`{"alg":"EdDSA","typ":"JWT\xff","kid":"${e.broker.kid}"}`, 'latin1')),
      ),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, header with a UTF-8 BOM → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        signRawHeader(e, Buffer.from(`\ufeff{"alg":"EdDSA","typ":"JWT","kid":"${e.broker.kid}"}`)),
      ),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, header base64url with non-zero unused bits (Go’s lenient decoder accepts it) → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        signRawHeader(e, Buffer.from(`{"alg":"EdDSA","typ":"JWT","kid":"${e.broker.kid}"}`), true),
      ),
    }),
    ...HEADER_REFUSED,
  },
  {
    name: 'broker-signed, header is JSON null → 401',
    req: (e) => ({ path: '/me', headers: bearer(e.broker.signToken(e.claims(), 'null')) }),
    ...HEADER_REFUSED,
  },
  // ---- payloads the broker never issues ------------------------------------------------------------
  {
    name: 'broker-signed, payload with invalid UTF-8 (the broker reads U+FFFD and says valid) → 401, no broker call',
    req: (e) => ({
      path: '/me',
      headers: bearer(
        signRawPayload(
          e,
          Buffer.from(
            JSON.stringify(e.claims({ task_id: 'process-ord-1\u00ff' })).replace('\u00ff', '\xff'),
            'latin1',
          ),
        ),
      ),
    }),
    ...PAYLOAD_REFUSED,
  },
  {
    name: 'broker-signed, payload with a UTF-8 BOM → 401',
    req: (e) => ({
      path: '/me',
      headers: bearer(signRawPayload(e, Buffer.from(`\ufeff${JSON.stringify(e.claims())}`))),
    }),
    ...PAYLOAD_REFUSED,
  },
  {
    name: 'signed by another broker (its own kid) → 401',
    req: (e) => {
      const other = generateKeyPairSync('ed25519')
      const x = (other.publicKey.export({ format: 'jwk' }) as { x: string }).x
      return {
        path: '/me',
        headers: bearer(
          edSign(
            { alg: 'EdDSA', typ: 'JWT', kid: kidOf({ kty: 'OKP', crv: 'Ed25519', x }) },
            e.claims(),
            other.privateKey,
          ),
        ),
      }
    },
    expect: R.invalidToken,
    calls: 'remote',
  },
  {
    name: 'malleated signature (non-canonical trailing bits): remote 200 (the broker’s base64 is lenient), local refuses',
    req: (e) => {
      const t = e.agent.accessToken
      const last = t.at(-1)!
      // 64 bytes = 85⅓ characters: the last one carries 4 unused bits. Change only those.
      const i = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last)
      const alt = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[i ^ 1]!
      return { path: '/me', headers: bearer(`${t.slice(0, -1)}${alt}`) }
    },
    expect: R.ok,
    calls: 'remote',
    modes: {
      local: { ...R.invalidToken, why: 'only canonical base64url signatures are accepted locally' },
      hybrid: { ...R.invalidToken, why: 'only canonical base64url signatures are accepted locally' },
    },
    check: (res) => {
      if (res.status === 200) expect(res.json.agent).toBeDefined()
    },
  },
]

runCases('syntax and JOSE', () => env, CASES)

describe.each(MODES)('forged tokens never reach a positive answer (%s mode)', (mode) => {
  describe.each(ADAPTERS)('%s', (adapter) => {
    it('every single-character change of a valid token is refused', async () => {
      const app = env.apps[mode][adapter]
      const t = env.agent.accessToken
      const positions = [
        0,
        5,
        t.indexOf('.') - 1,
        t.indexOf('.') + 1,
        t.indexOf('.') + 20,
        t.lastIndexOf('.') - 1,
        t.lastIndexOf('.') + 1,
        t.length - 2,
      ]
      for (const i of positions) {
        const c = t[i] === 'A' ? 'B' : 'A'
        const bad = `${t.slice(0, i)}${c}${t.slice(i + 1)}`
        const res = await send(app.url, { path: '/me', headers: bearer(bad) })
        expect(res.status, `position ${i}`).toBe(401)
      }
    })
  })
})

describe.each(MODES)(
  'requireKid: false accepts a broker header without kid, as the broker does (%s mode)',
  (mode) => {
    it.each(ADAPTERS)('%s', async (adapter) => {
      const app = await buildAppFor(env, mode, adapter, { requireKid: false })
      try {
        const noKid = env.sign({}, env.header({ kid: undefined }))
        const before = env.broker.stats.validateCalls
        expect((await send(app.url, { path: '/me', headers: bearer(noKid) })).status).toBe(200)
        expect(env.broker.stats.validateCalls - before).toBe(mode === 'local' ? 0 : 1)
        // the rest of the allowlist still holds, with no broker call
        for (const header of [
          env.header({ kid: undefined, typ: undefined }),
          env.header({ kid: '' }),
          env.header({ kid: undefined, jku: 'http://127.0.0.1:1/jwks' }),
        ]) {
          const calls = env.broker.stats.validateCalls
          const res = await send(app.url, { path: '/me', headers: bearer(env.sign({}, header)) })
          expect(res.status, JSON.stringify(header)).toBe(401)
          expect(env.broker.stats.validateCalls).toBe(calls)
        }
        // an attacker's key without kid is still a bad signature (local) / invalid at the broker
        const forged = edSign(env.header({ kid: undefined }), env.claims())
        expect((await send(app.url, { path: '/me', headers: bearer(forged) })).status).toBe(401)
      } finally {
        await app.close()
      }
    })
  },
)
