/**
 * The alerts engine, notifications and the duty officers' HTTP API as a process of their own (split
 * deployment: broker, ingest and alerts in separate processes sharing DATA_DIR). Readings arrive over
 * MQTT with a service account; alert changes leave on `alerts/…`.
 *
 *   npm run cli -- service create svc-alerts        # once each: prints the MQTT secret
 *   npm run cli -- service create svc-alerts-pub
 *   MQTT_URL=mqtt://broker:1883 MQTT_PASSWORD=… MQTT_PUBLISHER_PASSWORD=… DATA_DIR=… tsx alerts/main.ts
 *
 * SIGTERM/SIGINT: stop reading and serving, acknowledge what the engine has, finish webhook attempts
 * in flight (they stay queued), close. All in one process instead: platform/main.ts.
 */
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { createLogger } from '../domain/logger.ts'
import { type AlertsProcessConfig, AlertsProcessConfigSchema, createAlertsProcess } from './api/standalone.ts'

function loadConfig(): AlertsProcessConfig {
  try {
    return parseEnv(AlertsProcessConfigSchema, process.env)
  } catch (err) {
    console.error(isDomainError(err) ? err.message : err)
    process.exit(1)
  }
}

const config = loadConfig()
const logger = createLogger({ level: config.LOG_LEVEL, name: 'alerts' })
const log = logger.child({ component: 'alerts-main' })
const service = createAlertsProcess({ config, logger })

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping')
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  })
}

try {
  await service.start()
} catch (err) {
  log.error({ err }, 'alerts process failed to start')
  process.exit(1)
}
