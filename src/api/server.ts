import Fastify, { type FastifyInstance, type FastifyError, type FastifyBaseLogger } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import { OcsError } from '../lib/errors.js'
import type { ApiKeyGuard } from './auth.js'
import { registerRoutes, type ApiDeps } from './routes.js'
import { registerCdrRoutes } from '../cdr/routes.js'
import { registerRatingRoutes } from './rating-routes.js'

/** The REST management API: provisioning for the operator's back office. */
export class ApiServer implements Component {
  readonly name = 'rest-api'
  readonly app: FastifyInstance
  port = 0

  constructor(
    private readonly host: string,
    private readonly wantPort: number,
    guard: ApiKeyGuard,
    deps: ApiDeps,
    private readonly log: Logger,
  ) {
    this.app = Fastify({ loggerInstance: log.child({ component: 'api' }) as unknown as FastifyBaseLogger,
      // Each request is logged with its id (fastify's default label, reqId); the default serializers
      // never include headers, so no API key reaches the log.
      bodyLimit: 1 << 20,
      // Strict input: unknown fields are refused (not silently dropped) and money never arrives as a JSON number.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    })
    const app = this.app
    app.register(swagger, {
      openapi: {
        info: { title: 'OCS provisioning API', version: '1' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    })
    app.register(swaggerUi, { routePrefix: '/docs' })
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0]
      if (path === '/openapi.json' || path.startsWith('/docs')) return
      if (!guard.check(req.headers.authorization)) {
        return reply.code(401).send({ error: 'OCS_ERR_UNAUTHORIZED', message: 'missing or wrong API key (Authorization: Bearer <key>)' })
      }
    })
    app.setErrorHandler((err: FastifyError | OcsError, _req, reply) => {
      if (err instanceof OcsError) {
        const status = err.code === 'OCS_ERR_NOT_FOUND' ? 404 : err.code === 'OCS_ERR_CONFLICT' ? 409 : err.code === 'OCS_ERR_VALIDATION' ? 400 : 503
        return reply.code(status).send({ error: err.code, message: err.message, field: err.field })
      }
      const fe = err as FastifyError
      if (fe.validation) {
        const v = fe.validation[0]
        const field = (v.instancePath || '').replace(/^\//, '').replace(/\//g, '.') || (v.params as { missingProperty?: string; additionalProperty?: string }).missingProperty || (v.params as { additionalProperty?: string }).additionalProperty
        return reply.code(400).send({ error: 'OCS_ERR_VALIDATION', message: `${field ?? fe.validationContext}: ${v.message}`, field })
      }
      if (fe.statusCode && fe.statusCode < 500) return reply.code(fe.statusCode).send({ error: fe.code ?? 'OCS_ERR_REQUEST', message: fe.message })
      this.log.error({ err: fe.message }, 'API request failed')
      return reply.code(503).send({ error: 'OCS_ERR_UNAVAILABLE', message: 'the store is unavailable; retry' })
    })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
    app.register(async (scope) => registerRoutes(scope, deps))
    app.register(async (scope) => registerRatingRoutes(scope, { store: deps.store, plans: deps.plans, ...(deps.billing ? { billing: deps.billing } : {}) }))
    if (deps.billing) {
      const billing = deps.billing
      app.register(async (scope) => registerCdrRoutes(scope, { store: billing }))
    }
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.host, port: this.wantPort })
    const addr = this.app.server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : this.wantPort
    this.log.info({ host: this.host, port: this.port }, 'REST API listening')
  }

  async stop(): Promise<void> {
    await this.app.close()
  }
}
