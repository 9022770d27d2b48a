import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { ApiDeps, HealthCheck } from '../app.ts'
import { bearerToken, principalOf } from '../auth.ts'
import { ErrorBodySchema, errorBody } from '../errors.ts'
import { PrincipalSchema } from '../schemas.ts'

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.record(z.string(), z.looseObject({ ok: z.boolean() })),
})

/** `/healthz` (no token), `/metrics` (Prometheus), `/api/me`. */
export const opsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get(
    '/healthz',
    {
      config: { isPublic: true },
      schema: {
        tags: ['ops'],
        summary: 'Liveness and readiness: SQLite answers, plus the checks the entry point adds',
        security: [],
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, HealthCheck> = {}
      try {
        deps.registry.db.prepare('SELECT 1').get()
        checks.sqlite = { ok: true }
      } catch (err) {
        checks.sqlite = { ok: false, error: err instanceof Error ? err.message : String(err) }
      }
      checks.webhooks = { ok: true, pending: deps.notifier.webhooks.queueDepth() }
      checks.sse = { ok: true, clients: deps.notifier.sse.clientCount() }
      if (deps.health) {
        try {
          Object.assign(checks, await deps.health())
        } catch (err) {
          checks.health = { ok: false, error: err instanceof Error ? err.message : String(err) }
        }
      }
      const ok = Object.values(checks).every((c) => c.ok)
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks })
    },
  )

  app.get(
    '/metrics',
    {
      config: { isPublic: true },
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics of this process (an admin token when METRICS_REQUIRE_AUTH is set)',
        security: deps.config.METRICS_REQUIRE_AUTH ? [{ bearer: [] }] : [],
      },
    },
    async (request, reply) => {
      if (deps.config.METRICS_REQUIRE_AUTH) {
        const token = bearerToken(request, false)
        const principal = token ? deps.registry.authenticateToken(token) : null
        if (!principal) return reply.code(401).send(errorBody('UNAUTHORIZED', 'a bearer token is required'))
        if (principal.role !== 'admin') return reply.code(403).send(errorBody('FORBIDDEN', 'admin only'))
      }
      const text = await deps.metrics.metrics()
      return reply.type(deps.metrics.contentType).send(text)
    },
  )

  app.get(
    '/api/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'Who the token is: role and tenant',
        response: { 200: PrincipalSchema, 401: ErrorBodySchema },
      },
    },
    async (request) => principalOf(request),
  )
}
