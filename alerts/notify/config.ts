import { z } from 'zod'
import { env } from '../../domain/config.ts'

/**
 * Settings of the notifications (SSE stream, webhooks, MQTT alert topics). A plain object schema, so
 * an all-in-one entry point can merge it with other services' schemas (`.shape`).
 */
export const NotifyConfigSchema = z.object({
  /** The queue of webhook deliveries lives in DATA_DIR/notifications.db. */
  DATA_DIR: z.string().min(1).default('data'),
  /** Where the duty officers' console is reached; links in webhook messages point here. */
  PUBLIC_URL: env.url().default('http://localhost:8080'),
  /** A receiver that has not answered within this time counts as a failed attempt. */
  WEBHOOK_TIMEOUT_MS: env.positiveInt(5_000),
  /** Attempts per delivery before it is given up and marked failed. */
  WEBHOOK_MAX_ATTEMPTS: env.positiveInt(12),
  /** A delivery older than this is given up even with attempts left: a day-old alarm helps nobody. */
  WEBHOOK_MAX_AGE_MS: env.positiveInt(6 * 3600_000),
  /** First retry after about this long; each further retry waits twice as long, with jitter. */
  WEBHOOK_BACKOFF_BASE_MS: env.positiveInt(2_000),
  /** Longest wait between two attempts. */
  WEBHOOK_BACKOFF_MAX_MS: env.positiveInt(10 * 60_000),
  /** Requests in flight at once, over all receivers. */
  WEBHOOK_CONCURRENCY: env.positiveInt(4),
  /**
   * Requests in flight at once to one receiver. 1 keeps a receiver's messages in order (raised before
   * dispatched) and a receiver that hangs from taking every slot; robots allow 20 messages a minute.
   */
  WEBHOOK_PER_RECEIVER_CONCURRENCY: env.positiveInt(1),
  /** Delivered and failed deliveries (and their attempt log) are kept this long. */
  WEBHOOK_LOG_RETENTION_DAYS: env.positiveInt(30),
  /** Comment line written to idle SSE streams so proxies and browsers keep them open. */
  SSE_HEARTBEAT_MS: env.positiveInt(15_000),
  /** Changes kept in memory so a reconnecting SSE client catches up via Last-Event-ID. */
  SSE_REPLAY_SIZE: env.nonNegativeInt(1_000),
  /** A stream whose unsent output grows past this is closed (the client reconnects and replays). */
  SSE_MAX_BUFFER_BYTES: env.positiveInt(1024 * 1024),
})
export type NotifyConfig = z.output<typeof NotifyConfigSchema>
