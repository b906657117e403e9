/**
 * An example's service served on a fresh development broker for one test file: started in
 * `beforeAll`, the server, the service and the broker closed in `afterAll`.
 */
import { afterAll, beforeAll } from 'vitest'
import { type ExampleService, type Listening, listen } from '../../examples/shared.js'
import { type DevBroker, startDevBroker } from '../../src/testing/index.js'

/** What the tests read once `beforeAll` has run. */
export interface ServedExample {
  readonly broker: DevBroker
  /** `http://127.0.0.1:PORT` */
  readonly url: string
}

export function serveExampleOnDevBroker(build: (broker: DevBroker) => ExampleService): ServedExample {
  const served = {} as { broker: DevBroker; url: string }
  let service: ExampleService | undefined
  let server: Listening | undefined
  beforeAll(async () => {
    served.broker = await startDevBroker()
    service = build(served.broker)
    server = await listen(service.listener)
    served.url = server.url
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
    await served.broker?.close()
  })
  return served
}
