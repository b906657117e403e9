import { inspect } from 'node:util'
import express from 'express'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AgentAuthError,
  type AgentIdentity,
  agentAuth,
  requireDelegatedFrom,
  requireScope,
} from '../../src/express.js'
import { createVerifier, type Verifier } from '../../src/index.js'
import type { DevBroker } from '../../src/testing/index.js'
import { startBrokerWithAgent } from '../helpers/agents.js'

let broker: DevBroker
let token: string

beforeAll(async () => {
  ;({ broker, token } = await startBrokerWithAgent())
})
afterAll(async () => broker?.close())

describe('express adapter', () => {
  it('puts the identity on req.agent (supertest)', async () => {
    const auth = agentAuth({ broker: broker.url })
    const app = express()
      .use(auth)
      .get('/customers/:id', requireScope('read:data:customer-:id'), (req, res) => {
        res.json({ id: req.agent?.id, scope: req.agent?.scope, jti: req.agent?.jti })
      })
    const res = await request(app).get('/customers/7').set('Authorization', `Bearer ${token}`).expect(200)
    expect(res.body.id).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/o\/t\/[0-9a-f]{16}$/)
    expect(res.body.scope).toEqual(['read:data:customer-7'])
    await auth.close()
  })

  it("onError 'next' hands the error to the app's error middleware", async () => {
    const auth = agentAuth({ broker: broker.url, onError: 'next' })
    const app = express()
      .use(auth)
      .get('/x', (_req, res) => {
        res.json({})
      })
      .use(
        (err: AgentAuthError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
          res.status(err.status).set(err.headers).json({ mine: true, code: err.code })
        },
      )
    const res = await request(app).get('/x').expect(401)
    expect(res.body).toEqual({ mine: true, code: 'missing_token' })
    expect(res.headers['www-authenticate']).toBe('Bearer realm="agentwrit"')
    await auth.close()
  })

  it('a custom renderer receives the error', async () => {
    const auth = agentAuth({
      broker: broker.url,
      realm: 'orders',
      onError: (err, _req, res) => {
        res.status(err.status).json({ custom: err.code })
      },
    })
    const app = express()
      .use(auth)
      .get('/x', (_req, res) => {
        res.json({})
      })
    const res = await request(app).get('/x').set('Authorization', 'Bearer a.b.c').expect(401)
    expect(res.body).toEqual({ custom: 'invalid_token' })
    await auth.close()
  })

  it('without onError, Express error handling still gets the status when headers were sent', async () => {
    expect(new AgentAuthError('invalid_token').statusCode).toBe(401)
  })

  it('a placeholder that is not a route param is a 500 configuration error, never an acceptance', async () => {
    const auth = agentAuth({ broker: broker.url })
    const seen: unknown[] = []
    const app = express()
      .use(auth)
      .get('/customers/:id', requireScope('read:data:customer-:cid'), (_req, res) => {
        res.json({ reached: true })
      })
      .use(
        (err: AgentAuthError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
          seen.push(err)
          res.status(err.status).end()
        },
      )
    await request(app).get('/customers/7').set('Authorization', `Bearer ${token}`).expect(500)
    expect((seen[0] as AgentAuthError).code).toBe('configuration_error')
    expect((seen[0] as AgentAuthError).message).toContain(':cid')
    await auth.close()
  })

  it('a guard without agentAuth in front is a 500, never an acceptance', async () => {
    const app = express().get('/customers/:id', requireScope('read:data:customer-:id'), (_req, res) => {
      res.json({ reached: true })
    })
    const res = await request(app).get('/customers/7').set('Authorization', `Bearer ${token}`)
    expect(res.status).toBe(500)
    expect(res.text).not.toContain('reached')
  })

  it('the identity is a frozen AgentIdentity with only the documented fields', async () => {
    const auth = agentAuth({ broker: broker.url })
    let seen: unknown
    const app = express()
      .use(auth)
      .get('/x', (req, res) => {
        seen = req.agent
        res.end()
      })
    await request(app).get('/x').set('Authorization', `Bearer ${token}`).expect(200)
    await auth.close()
    expect(Object.isFrozen(seen)).toBe(true)
    expect(inspect(seen)).toMatch(/^AgentIdentity \{/)
    expect(Object.keys(seen as object).sort()).toEqual(
      [
        'audience',
        'claims',
        'delegated',
        'delegatedBy',
        'delegationChain',
        'delegationDepth',
        'expiresAt',
        'id',
        'issuedAt',
        'issuer',
        'jti',
        'kind',
        'orchId',
        'rootAgent',
        'scope',
        'taskId',
        'trustDomain',
        'verification',
      ].sort(),
    )
    expect(Object.getOwnPropertySymbols(seen)).toEqual([])
  })

  it("each agentAuth's guards refuse with that agentAuth's realm and onError", async () => {
    const render = (name: string) => (err: AgentAuthError, _req: express.Request, res: express.Response) => {
      res.status(err.status).set(err.headers).json({ by: name, code: err.code })
    }
    const a = agentAuth({ broker: broker.url, realm: 'a', onError: render('a') })
    const b = agentAuth({ broker: broker.url, realm: 'b', onError: render('b') })
    const app = express()
      .get('/a/:id', a, requireScope('read:data:order-:id'), (_req, res) => {
        res.end()
      })
      .get('/b/:id', b, requireScope('read:data:order-:id'), (_req, res) => {
        res.end()
      })
    for (const name of ['a', 'b']) {
      const res = await request(app).get(`/${name}/7`).set('Authorization', `Bearer ${token}`).expect(403)
      expect(res.body).toEqual({ by: name, code: 'insufficient_scope' })
      expect(res.headers['www-authenticate']).toContain(`realm="${name}"`)
    }
    await Promise.all([a.close(), b.close()])
  })

  it('guards work behind a hand-written verifier (identities without an origin)', async () => {
    const real = createVerifier({ broker: broker.url, realm: 'wrapped' })
    const wrapped: Verifier = {
      options: real.options,
      authenticate: (req) => real.authenticate(req),
      verifyToken: (t) => real.verifyToken(t),
      stats: () => real.stats(),
      ready: () => real.ready(),
      close: () => real.close(),
    }
    const app = express()
      .use(agentAuth(wrapped))
      .get('/customers/:id', requireScope('read:data:customer-:id'), (req, res) => {
        res.json({ id: req.agent?.id })
      })
    await request(app).get('/customers/7').set('Authorization', `Bearer ${token}`).expect(200)
    const res = await request(app).get('/customers/8').set('Authorization', `Bearer ${token}`).expect(403)
    expect(res.headers['www-authenticate']).toContain('realm="wrapped"')
    await real.close()
  })

  it('a guard refuses (500) an identity replaced after agentAuth, never accepts it', async () => {
    const auth = agentAuth({ broker: broker.url })
    const errors: AgentAuthError[] = []
    const app = express()
      .use(auth)
      .use((req, _res, next) => {
        req.agent = { ...(req.agent as AgentIdentity), scope: ['read:data:*'] }
        next()
      })
      .get('/customers/:id', requireScope('read:data:customer-:id'), (_req, res) => {
        res.json({ reached: true })
      })
      .get(
        '/delegated',
        requireDelegatedFrom(() => true),
        (_req, res) => {
          res.json({ reached: true })
        },
      )
      .use(
        (err: AgentAuthError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
          errors.push(err)
          res.status(err.status).end()
        },
      )
    for (const path of ['/customers/8', '/delegated']) {
      const res = await request(app).get(path).set('Authorization', `Bearer ${token}`)
      expect(res.status).toBe(500)
      expect(res.text).not.toContain('reached')
    }
    expect(errors.map((e) => e.code)).toEqual(['configuration_error', 'configuration_error'])
    expect(errors[0]!.message).toMatch(/replaced/)
    await auth.close()
  })

  it('malformed templates and bad options throw at definition', () => {
    expect(() => requireScope('read:data')).toThrow(TypeError)
    expect(() => requireScope()).toThrow(TypeError)
    expect(() => agentAuth({ broker: 'nope' })).toThrow(/"broker"/)
    expect(() => agentAuth({ broker: broker.url, onError: 'later' as never })).toThrow(/"onError"/)
  })
})
