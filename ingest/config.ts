/**
 * Settings of the ingest service, read from the environment once at start (docs/storage.md lists them).
 */
import { z } from 'zod'
import { env } from '../domain/config.ts'

export const IngestConfigSchema = z.object({
  DATA_DIR: z.string().default('./data'),
  /** Unset: readings wait in the spool until a URL is configured (and the service restarted). */
  INFLUX_URL: env.url().optional(),
  /** 2: the client as it is (InfluxDB 2.x, 3.x, 1.8+). 1: `POST /write` for older 1.x servers. */
  INFLUX_API: z.enum(['1', '2']).default('2'),
  /** 1.x database. */
  INFLUX_DB: z.string().min(1).default('liftscale'),
  /** 1.x retention policy; unset = the database's default. */
  INFLUX_RP: z.string().min(1).optional(),
  /** 2.x bucket; default = INFLUX_DB (`db/rp` in 1.8's compatibility API). */
  INFLUX_BUCKET: z.string().min(1).optional(),
  /** 2.x organisation (ignored by 1.8+ and 3.x). */
  INFLUX_ORG: z.string().default(''),
  /** 2.x token; for INFLUX_API=1 `user:password` (basic auth). */
  INFLUX_TOKEN: z.string().min(1).optional(),
  /** INFLUX_API=1 only: CREATE DATABASE at start when it is missing. Off: a typo must not silently grow a database. */
  INFLUX_CREATE_DB: env.boolean(false),
  INFLUX_TIMEOUT_MS: env.positiveInt(10_000),
  /** Bodies larger than this are gzipped; 0 = never (InfluxDB on the same host or LAN: CPU matters more). */
  INFLUX_GZIP_THRESHOLD_BYTES: env.nonNegativeInt(0),

  /** Lines per write request at most. */
  INGEST_BATCH_SIZE: env.positiveInt(5000),
  /** How long the first line of a batch may wait for company before the batch is sent. */
  INGEST_FLUSH_INTERVAL_MS: env.nonNegativeInt(10),
  /** Write requests to InfluxDB in flight at once; while they are busy the next batch grows (group commit). */
  INGEST_MAX_CONCURRENT_WRITES: env.positiveInt(2),
  /** Lines per request when the spool is replayed. */
  INGEST_REPLAY_BATCH_SIZE: env.positiveInt(10_000),
  /** Backoff between attempts while InfluxDB does not answer. */
  INGEST_RETRY_MIN_MS: env.positiveInt(500),
  INGEST_RETRY_MAX_MS: env.positiveInt(10_000),
  /**
   * Where readings wait while InfluxDB does not take them; default DATA_DIR/ingest/spool. One process
   * per folder (it refuses a folder a live process holds): each broker with BROKER_INGEST=local needs
   * its own, and the same one again after a restart, or its spool waits unreplayed.
   */
  INGEST_SPOOL_DIR: z.string().min(1).optional(),
  /** Full spool: acknowledgements stop (backpressure); nothing is dropped. */
  INGEST_SPOOL_MAX_BYTES: env.positiveInt(2 * 1024 ** 3),
  INGEST_SPOOL_SEGMENT_BYTES: env.positiveInt(64 * 1024 ** 2),
  /** Period of the `platform_ingest` health point; 0 = off. */
  INGEST_HEALTH_INTERVAL_MS: env.nonNegativeInt(10_000),

  DEAD_LETTER_MAX_ROWS: env.positiveInt(100_000),
  /** Raw payloads are kept up to this size (the original size is recorded). */
  DEAD_LETTER_MAX_PAYLOAD_BYTES: env.positiveInt(8192),
})
export type IngestConfig = z.output<typeof IngestConfigSchema>

/** Split deployment (ingest/main.ts): the MQTT side. */
export const IngestMainConfigSchema = IngestConfigSchema.extend({
  MQTT_URL: z.url({ protocol: /^mqtts?$/ }).default('mqtt://127.0.0.1:1883'),
  MQTT_USERNAME: z.string().min(1).default('svc-ingest'),
  MQTT_PASSWORD: z.string().min(1),
  /**
   * Fixed, so that the broker keeps this session (and what it has not yet delivered) across restarts.
   * Default: MQTT_USERNAME (the broker wants client id = username for service accounts too).
   */
  MQTT_CLIENT_ID: z.string().min(1).optional(),
  MQTT_KEEPALIVE_S: env.positiveInt(30),
  /** Messages taken but not yet acknowledged at most; beyond it the socket is not read (backpressure). */
  MQTT_MAX_UNACKED: env.positiveInt(20_000),
  /**
   * all: every device uplink and the alerts service's messages. alerts: only `alerts/…`, for brokers
   * that store their own devices' readings (BROKER_INGEST=local); the uplink subscriptions an earlier
   * `all` left in the session are dropped.
   */
  INGEST_SUBSCRIBE: z.enum(['all', 'alerts']).default('all'),
  METRICS_PORT: env.port(9465),
  METRICS_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.string().default('info'),
})
export type IngestMainConfig = z.output<typeof IngestMainConfigSchema>
