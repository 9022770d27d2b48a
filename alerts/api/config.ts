import { z } from 'zod'
import { env } from '../../domain/config.ts'

/**
 * Settings of the duty officers' HTTP API. A plain object schema, so an all-in-one entry point can
 * merge it with other services' schemas (`.shape`).
 */
export const ApiConfigSchema = z.object({
  HTTP_PORT: env.port(8080),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  /** Origins allowed to call the API from a browser (comma-separated); unset: same origin only. */
  CORS_ORIGINS: env.list().default([]),
  /** Set when the API sits behind a reverse proxy, so the client address comes from X-Forwarded-For. */
  HTTP_TRUST_PROXY: env.boolean(false),
  /** Largest request body accepted; the API takes small JSON documents only. */
  HTTP_BODY_LIMIT_BYTES: env.positiveInt(256 * 1024),
  /** `/metrics` needs an admin token when true; Prometheus on a private network scrapes it without. */
  METRICS_REQUIRE_AUTH: env.boolean(false),
  /** Largest page a list route returns; `limit` above it is refused with 400. */
  API_MAX_PAGE_SIZE: env.positiveInt(500),
})
export type ApiConfig = z.output<typeof ApiConfigSchema>
