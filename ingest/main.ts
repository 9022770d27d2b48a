/**
 * Ingest as a process of its own (split deployment): subscribes with a service account, QoS 1 and a
 * persistent session to every device uplink and to `alerts/#`, so that the broker keeps what ingest has
 * not yet taken, and acknowledges each message only once it is in InfluxDB, the spool or the
 * dead-letter store.
 *
 *   MQTT_URL=mqtt://broker:1883 MQTT_USERNAME=svc-ingest MQTT_PASSWORD=… INFLUX_URL=… tsx ingest/main.ts
 *
 * The service account comes from the registry CLI (`registry.createServiceAccount`). SIGTERM/SIGINT:
 * stop reading, flush every taken message to InfluxDB or the spool, send the acknowledgements, disconnect.
 */
import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Registry as PromRegistry } from 'prom-client'
import type { z } from 'zod'
import { ACTIVE_ALERTS_TOPIC, ActiveAlertsSnapshotSchema, AlertChangeSchema } from '../domain/alert-change.ts'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { createLogger } from '../domain/logger.ts'
import { createMqttSubscriber, type SubscribedMessage } from '../domain/mqtt-subscriber.ts'
import type { InboundMessage } from '../domain/pipeline.ts'
import { ALERTS_TOPIC_PREFIX, parseTopic, uplinkFilters } from '../domain/topics.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { type IngestMainConfig, IngestMainConfigSchema } from './config.ts'
import { createIngest } from './ingest.ts'

function loadConfig(): IngestMainConfig {
  try {
    return parseEnv(IngestMainConfigSchema, process.env)
  } catch (err) {
    console.error(isDomainError(err) ? err.message : err)
    process.exit(1)
  }
}

const config = loadConfig()
const logger = createLogger({ level: config.LOG_LEVEL, name: 'ingest' })
const log = logger.child({ component: 'ingest-main' })
const metrics = new PromRegistry()
collectDefaultMetrics({ register: metrics })
const registry = createRegistry({ file: registryFile(config.DATA_DIR) })
const ingest = createIngest({ config, logger, registry, metrics })

function toInbound(message: SubscribedMessage): InboundMessage {
  return {
    topic: message.topic,
    payload: message.payload,
    // A subscription does not say who published. The broker lets a device publish on its own topics
    // only, so the topic's device is the publisher.
    clientId: parseTopic(message.topic)?.deviceId ?? '',
    // The broker's receive time does not travel with an MQTT 3.1.1 message: ours is the nearest.
    receivedAt: message.receivedAt,
  }
}

async function take(message: SubscribedMessage): Promise<void> {
  if (!message.topic.startsWith(`${ALERTS_TOPIC_PREFIX}/`)) return ingest.accept(toInbound(message))
  // alerts/active: a part of the alerts service's periodic snapshot (measurement alerts_active).
  if (message.topic === ACTIVE_ALERTS_TOPIC) {
    const snapshot = parseAlertMessage(message, ActiveAlertsSnapshotSchema)
    return snapshot.ok ? ingest.recordActiveAlerts(snapshot.data) : snapshot.rejected
  }
  const change = parseAlertMessage(message, AlertChangeSchema)
  return change.ok ? ingest.recordAlertChange(change.data) : change.rejected
}

/** An alerts service message as `schema` says, or its dead letter (reason invalid_alert_change). */
function parseAlertMessage<T>(
  message: SubscribedMessage,
  schema: z.ZodType<T>,
): { ok: true; data: T } | { ok: false; rejected: Promise<void> } {
  const reject = (detail: string) => ({
    ok: false as const,
    rejected: ingest.reject(toInbound(message), 'invalid_alert_change', detail),
  })
  let json: unknown
  try {
    json = JSON.parse(message.payload.toString('utf8'))
  } catch (err) {
    return reject(`invalid JSON: ${(err as Error).message}`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    return reject(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
  }
  return { ok: true, data: parsed.data }
}

const clientId = config.MQTT_CLIENT_ID ?? config.MQTT_USERNAME
let isStopping = false
let isReconnectScheduled = false
const subscriber = createMqttSubscriber({
  url: config.MQTT_URL,
  clientId,
  username: config.MQTT_USERNAME,
  password: config.MQTT_PASSWORD,
  isCleanSession: false,
  keepaliveS: config.MQTT_KEEPALIVE_S,
  maxUnacked: config.MQTT_MAX_UNACKED,
  subscriptions: [
    ...(config.INGEST_SUBSCRIBE === 'all' ? uplinkFilters() : []),
    `${ALERTS_TOPIC_PREFIX}/#`,
  ].map((topic) => ({ topic, qos: 1 as const })),
  unsubscriptions: config.INGEST_SUBSCRIBE === 'all' ? [] : uplinkFilters(),
  logger,
  onMessage(message, ack) {
    take(message).then(ack, (err: unknown) => {
      if (isStopping) return
      log.error({ err, topic: message.topic }, 'message not taken: reconnecting to have it delivered again')
      if (!isReconnectScheduled) {
        isReconnectScheduled = true
        setTimeout(() => {
          isReconnectScheduled = false
          subscriber.reconnect()
        }, 1000)
      }
    })
  },
})

let metricsServer: Server | null = null

async function shutdown(signal: string): Promise<void> {
  if (isStopping) return
  isStopping = true
  log.info({ signal }, 'stopping: flushing to InfluxDB or the spool')
  subscriber.pause()
  await ingest.stop()
  await subscriber.stop()
  registry.close()
  await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()))
  log.info('stopped')
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  })
}

try {
  await ingest.start()
  metricsServer = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404
      res.end()
      return
    }
    metrics.metrics().then(
      (text) => {
        res.setHeader('content-type', metrics.contentType)
        res.end(text)
      },
      (err: unknown) => {
        res.statusCode = 500
        res.end(String(err))
      },
    )
  })
  await new Promise<void>((resolve) =>
    metricsServer?.listen(config.METRICS_PORT, config.METRICS_HOST, resolve),
  )
  log.info(
    { mqtt: config.MQTT_URL, clientId, subscribe: config.INGEST_SUBSCRIBE },
    'connecting to the broker',
  )
  await subscriber.start()
  log.info('ingest running')
} catch (err) {
  log.error({ err }, 'ingest failed to start')
  process.exit(1)
}
