/**
 * Small helpers shared by the example scenarios: serve an app on 127.0.0.1, call a service as an
 * agent, and compare the statuses a scenario got with the ones it expected.
 */
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type DevBroker, startDevBroker } from '../src/testing/index.js'

/** Prints one line of a scenario's trace. */
export type Log = (line: string) => void

/** A service listening on 127.0.0.1. */
export interface Listening {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  close(): Promise<void>
}

/** Serve a Node request listener (an Express app, `koa.callback()`…) on a random 127.0.0.1 port. */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A service an example builds: its Node request listener, and `close()` for its verifier. */
export interface ExampleService {
  readonly listener: RequestListener
  close(): Promise<void>
}

/**
 * Run `body` against a service served on a fresh development broker (127.0.0.1, random ports),
 * then close the server, the service and the broker, whatever `body` did.
 */
export async function onDevBroker<T>(
  build: (broker: DevBroker) => ExampleService,
  body: (broker: DevBroker, serviceUrl: string) => Promise<T>,
): Promise<T> {
  const broker = await startDevBroker()
  try {
    const service = build(broker)
    try {
      const server = await listen(service.listener)
      try {
        return await body(broker, server.url)
      } finally {
        await server.close()
      }
    } finally {
      await service.close()
    }
  } finally {
    await broker.close()
  }
}

/** The fields of a service's answers (and RFC 7807 problem bodies) the agent scripts print. */
export interface ServiceAnswer<T> {
  readonly status: number
  /** The JSON body: the service's answer on success, a problem document on refusal. */
  readonly body: (T & { error_code?: string; detail?: string }) | null
  /** The `WWW-Authenticate` header, if any. */
  readonly challenge: string | null
}

/** Call a service with `Authorization: Bearer <token>`. */
export async function callService<T = Record<string, unknown>>(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ServiceAnswer<T>> {
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as ServiceAnswer<T>['body'],
    challenge: res.headers.get('www-authenticate'),
  }
}

/** The `scope="…"` of an `insufficient_scope` challenge, or `null`. */
export function challengedScope(challenge: string | null): string | null {
  return /scope="([^"]*)"/.exec(challenge ?? '')?.[1] ?? null
}

/** `403 insufficient_scope, scope="read:analytics:bank"` — a refusal in one line. */
export function describeRefusal(answer: ServiceAnswer<unknown>): string {
  const scope = challengedScope(answer.challenge)
  return `${answer.status} ${answer.body?.error_code ?? ''}${scope === null ? '' : `, scope="${scope}"`}`
}

/** What a scenario reports to the demo. */
export interface ScenarioOutcome {
  /** Every expected status was matched. */
  readonly ok: boolean
  /** `step: expected X, got Y` for each mismatch. */
  readonly mismatches: readonly string[]
}

/** Compare statuses by step name: every expected step must be present with that status. */
export function compareStatuses(
  expected: Readonly<Record<string, number>>,
  actual: Readonly<Record<string, number>>,
): ScenarioOutcome {
  const mismatches = Object.entries(expected)
    .filter(([step, status]) => actual[step] !== status)
    .map(([step, status]) => `${step}: expected ${status}, got ${actual[step] ?? 'nothing'}`)
  return { ok: mismatches.length === 0, mismatches }
}

/** `setTimeout` as a promise. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
