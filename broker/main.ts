/**
 * The MQTT broker on its own, for a split deployment (ingest and alerts subscribe over MQTT with
 * service accounts). The all-in-one entry point is platform/main.ts.
 *
 *   DATA_DIR=./data MQTT_PORT=1883 npx tsx broker/main.ts
 *
 * Env: the BrokerConfig settings (broker/config.ts), DATA_DIR (registry at DATA_DIR/registry.db,
 * default ./data), LOG_LEVEL (default info), METRICS_PORT (optional: Prometheus text at /metrics),
 * REDIS_URL (optional: several brokers share sessions and messages through this Redis, broker/cluster.ts;
 * each process is a broker with its own id, each polls the registry for revocations), BROKER_INGEST
 * (off: ingest subscribes over MQTT; local: this broker stores its own devices' readings in InfluxDB
 * with the ingest settings, INFLUX_URL …, and a device's PUBACK waits for InfluxDB or this broker's
 * spool, as in the one-process platform; give each broker its own INGEST_SPOOL_DIR).
 * SIGTERM / SIGINT stop it cleanly (exit 0); a configuration error prints every problem and exits 1.
 */
import { mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Registry as MetricsRegistry } from 'prom-client'
import { z } from 'zod'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { createLogger } from '../domain/logger.ts'
import { IngestConfigSchema } from '../ingest/config.ts'
import { createIngest, type Ingest } from '../ingest/ingest.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { createBroker } from './broker.ts'
import { createRedisCluster, type RedisCluster } from './cluster.ts'
import { BrokerClusterConfigSchema, BrokerConfigSchema, brokerTls } from './config.ts'

const MainSchema = BrokerConfigSchema.extend({
  ...BrokerClusterConfigSchema.shape,
  ...IngestConfigSchema.shape,
  /**
   * local: the readings of the devices connected here go to InfluxDB from this process, handed over
   * in memory; the stream does not have to reach one ingest subscriber through a session in Redis.
   */
  BROKER_INGEST: z.enum(['off', 'local']).default('off'),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
})

function readConfig(): z.output<typeof MainSchema> | null {
  try {
    const config = parseEnv(MainSchema, process.env)
    brokerTls(config)
    return config
  } catch (err) {
    if (!isDomainError(err, 'CONFIG_INVALID')) throw err
    process.stderr.write(`${err.message}\n`)
    return null
  }
}

async function main(): Promise<number> {
  const config = readConfig()
  if (config === null) return 1
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'liftscale-broker' })
  mkdirSync(config.DATA_DIR, { recursive: true })
  const registry = createRegistry({ file: registryFile(config.DATA_DIR) })
  const metrics = new MetricsRegistry()
  collectDefaultMetrics({ register: metrics })
  const cluster: RedisCluster | null =
    config.REDIS_URL === undefined ? null : createRedisCluster({ url: config.REDIS_URL, logger })
  const ingest: Ingest | null =
    config.BROKER_INGEST === 'local' ? createIngest({ config, logger, registry, metrics }) : null
  const broker = createBroker({
    config,
    logger,
    registry,
    metrics,
    cluster: cluster?.options,
    onDeviceMessage: ingest === null ? undefined : (message) => ingest.accept(message),
  })

  let metricsServer: Server | null = null
  let stopping: Promise<void> | null = null
  const shutdown = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ signal }, 'stopping')
      metricsServer?.close()
      await broker.stop()
      // Every reading taken is in InfluxDB or the spool before the process goes.
      await ingest?.stop()
      await cluster?.close()
      registry.close()
    })()
    return stopping
  }

  try {
    if (ingest !== null) {
      await ingest.start()
      logger.info(
        { influx: config.INFLUX_URL ?? null, spool: config.INGEST_SPOOL_DIR ?? null },
        "broker storing its devices' readings (BROKER_INGEST=local)",
      )
    }
    await broker.start()
    if (cluster !== null) logger.info({ brokerId: cluster.id }, 'broker sharing Redis with its cluster')
    if (config.METRICS_PORT !== undefined) {
      const server = createServer((req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end()
          return
        }
        metrics.metrics().then(
          (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
          () => res.writeHead(500).end(),
        )
      })
      metricsServer = server
      await new Promise<void>((resolve) => server.listen(config.METRICS_PORT, config.MQTT_HOST, resolve))
      logger.info({ port: config.METRICS_PORT }, 'metrics listening')
    }
  } catch (err) {
    logger.fatal({ err }, 'broker failed to start')
    await shutdown('startup-failure')
    return 1
  }

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      shutdown(signal).then(resolve, (err: unknown) => {
        logger.error({ err }, 'error while stopping')
        resolve()
      })
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`broker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
