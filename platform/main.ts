/**
 * `npm start`: the whole platform in one process on embedded defaults (DATA_DIR=./data, no external
 * server needed; without INFLUX_URL readings wait in the spool). Settings: platform/config.ts.
 */
import { collectDefaultMetrics, Registry as MetricsRegistry } from 'prom-client'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { createLogger } from '../domain/logger.ts'
import { PlatformConfigSchema } from './config.ts'
import { createPlatform } from './platform.ts'

let config: ReturnType<typeof parseEnv<typeof PlatformConfigSchema>>
try {
  config = parseEnv(PlatformConfigSchema, process.env)
} catch (err) {
  if (!isDomainError(err, 'CONFIG_INVALID')) throw err
  process.stderr.write(`${err.message}\n`)
  process.exit(1)
}

const logger = createLogger({ level: config.LOG_LEVEL, name: 'liftscale' })
// Process figures on /metrics too (CPU, memory, open files against their limit, event loop lag).
const metrics = new MetricsRegistry()
collectDefaultMetrics({ register: metrics })
const platform = createPlatform({
  config,
  logger,
  metrics,
  announceAdminToken: (token) =>
    process.stdout.write(
      `\n  First admin API token (shown once; keep it, or create another with \`npm run cli -- token create\`):\n\n    ${token}\n\n`,
    ),
})

let isStopping = false
async function shutdown(signal: string): Promise<void> {
  if (isStopping) return
  isStopping = true
  logger.info({ signal }, 'stopping')
  // A second signal while flushing means "now": the spool is fsync'd, nothing acknowledged is lost.
  process.once(signal, () => process.exit(130))
  try {
    await platform.stop()
    process.exit(0)
  } catch (err) {
    logger.error({ err }, 'stop failed')
    process.exit(1)
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

try {
  await platform.start()
  process.stdout.write(
    `liftscale running: MQTT on ${config.MQTT_HOST}:${platform.mqttPort()}, console and API on http://${config.HTTP_HOST === '0.0.0.0' ? 'localhost' : config.HTTP_HOST}:${platform.httpPort()}/ (OpenAPI at /docs)\n`,
  )
} catch (err) {
  logger.fatal({ err }, 'platform did not start')
  process.exit(1)
}
