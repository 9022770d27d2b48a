/**
 * The duty officers' HTTP API (fastify): devices, sites, tenants, tokens, alerts and their live
 * stream, maintenance, certification, accidents, compliance, dead letters, webhooks; `/docs`
 * (OpenAPI), `/healthz`, `/metrics`. Tests use `app.inject()`; only an entry point calls `listen`.
 */
import { join, resolve } from 'node:path'
import fastifyStatic from '@fastify/static'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import { Histogram, type Registry as MetricsRegistry } from 'prom-client'
import type { Logger } from '../../domain/logger.ts'
import type { DeadLetterStore } from '../../ingest/dead-letters.ts'
import type { Certification } from '../../registry/certification.ts'
import type { Registry } from '../../registry/registry.ts'
import type { Notifier } from '../notify/notifier.ts'
import type { AlertEngine } from '../types.ts'
import { bearerToken } from './auth.ts'
import type { ApiConfig } from './config.ts'
import { errorBody, installErrorHandling } from './errors.ts'
import { alertRoutes } from './routes/alerts.ts'
import { opsRoutes } from './routes/ops.ts'
import { recordRoutes } from './routes/records.ts'
import { registryRoutes } from './routes/registry.ts'
import { webhookRoutes } from './routes/webhooks.ts'
import { apiSchemas } from './schemas.ts'

/** One named check of `/healthz`; `ok: false` on any makes the answer 503. */
export type HealthCheck = { ok: boolean } & Record<string, unknown>

export type ApiDeps = {
  config: ApiConfig
  logger: Logger
  registry: Registry
  engine: AlertEngine
  certification?: Certification
  deadLetters?: Pick<DeadLetterStore, 'list' | 'countByReason'>
  metrics: MetricsRegistry
  notifier: Pick<Notifier, 'sse' | 'webhooks'>
  /** Static files of the web console, served at `/`; unknown non-API paths get its index.html. */
  consoleDir?: string
  /** Extra checks for `/healthz` (ingest spool, InfluxDB, broker…), from the entry point. */
  health?: () => Record<string, HealthCheck> | Promise<Record<string, HealthCheck>>
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes no token (health, docs, metrics unless configured otherwise). */
    isPublic?: boolean
    /** The route also accepts `?access_token=` (EventSource cannot send headers). */
    allowsQueryToken?: boolean
  }
}

export const API_VERSION = '1.0.0'

export function buildApp(deps: ApiDeps): FastifyInstance {
  const { config } = deps
  // Typed as fastify's logger so the instance is a plain FastifyInstance, not one generic over pino.
  const loggerInstance: FastifyBaseLogger = deps.logger.child({ component: 'api' })
  const app = Fastify({
    loggerInstance,
    // Request lines are logged by our onResponse hook without the query string (it may hold a token).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.HTTP_BODY_LIMIT_BYTES,
    trustProxy: config.HTTP_TRUST_PROXY,
    routerOptions: { ignoreTrailingSlash: true },
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  const consoleDir = deps.consoleDir ? resolve(deps.consoleDir) : null
  installErrorHandling(app, consoleDir ? { fallbackPage: join(consoleDir, 'index.html') } : {})

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP API request duration by method, route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.metrics],
  })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    requestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    request.log.debug(
      { method: request.method, route, status: reply.statusCode, ms: reply.elapsedTime },
      'request',
    )
    done()
  })

  // CORS for the origins configured; the console served from here is same-origin and needs none.
  const corsOrigins = new Set(config.CORS_ORIGINS)
  if (corsOrigins.size > 0) {
    app.addHook('onRequest', (request, reply, done) => {
      const origin = request.headers.origin
      if (origin && (corsOrigins.has(origin) || corsOrigins.has('*'))) {
        reply.header('access-control-allow-origin', origin)
        reply.header('vary', 'Origin')
        reply.header('access-control-allow-headers', 'authorization, content-type, last-event-id')
        reply.header('access-control-allow-methods', 'GET, POST, PUT, DELETE, OPTIONS')
        reply.header('access-control-max-age', '600')
        if (request.method === 'OPTIONS') {
          reply.code(204).send()
          return
        }
      }
      done()
    })
  }

  app.decorateRequest('principal', null)
  app.addHook('onRequest', (request, reply, done) => {
    const routeConfig = request.routeOptions.config
    // The matched route as well as the raw URL: the router decodes `/%61pi/…` to an /api route, which
    // must not skip this check (a route that forgot principalOf would then be open).
    const isApi = request.url.startsWith('/api/') || request.routeOptions.url?.startsWith('/api/') === true
    if (routeConfig.isPublic || !isApi) return done()
    const token = bearerToken(request, routeConfig.allowsQueryToken === true)
    const principal = token ? deps.registry.authenticateToken(token) : null
    if (!principal) {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="liftscale"')
        .send(errorBody('UNAUTHORIZED', token ? 'unknown or revoked token' : 'a bearer token is required'))
      return
    }
    request.principal = principal
    done()
  })

  app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'liftscale duty officers API',
        description:
          'Alerts, rescues, devices and compliance of the elevator and market-scale supervision platform. ' +
          'Every /api route takes `Authorization: Bearer <token>`; the alert stream also takes `?access_token=`.',
        version: API_VERSION,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: createJsonSchemaTransform({
      schemaRegistry: apiSchemas,
      skipList: ['/docs', '/docs/', '/docs/*', '/docs/json', '/docs/yaml', '/docs/static/*'],
    }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: apiSchemas }),
  })
  app.register(fastifySwaggerUi, { routePrefix: '/docs', logLevel: 'warn' })

  app.register(async (instance) => {
    const api = instance.withTypeProvider<ZodTypeProvider>()
    await api.register(opsRoutes, { deps })
    await api.register(registryRoutes, { deps, prefix: '/api' })
    await api.register(alertRoutes, { deps, prefix: '/api' })
    await api.register(recordRoutes, { deps, prefix: '/api' })
    await api.register(webhookRoutes, { deps, prefix: '/api' })
  })

  // The web console's static files at `/`; unknown page paths get its index.html (see errors.ts).
  if (consoleDir)
    app.register(fastifyStatic, { root: consoleDir, prefix: '/', wildcard: true, index: ['index.html'] })
  return app
}
