/**
 * The alerts engine, its notifications and the HTTP API as a process of their own (split deployment):
 * readings arrive over MQTT through the durable subscriber (service account, persistent session, QoS 1,
 * PUBACK once the engine has the reading), alert changes leave on `alerts/…` through an mqtt.js
 * client of the same service account. alerts/main.ts runs this; platform/main.ts wires the same parts
 * in one process without MQTT in between.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { Counter, Registry as MetricsRegistry } from 'prom-client'
import { z } from 'zod'
import { ACTIVE_ALERTS_TOPIC } from '../../domain/alert-change.ts'
import { env } from '../../domain/config.ts'
import type { Logger } from '../../domain/logger.ts'
import {
  createMqttSubscriber,
  type MqttSubscriber,
  type SubscribedMessage,
} from '../../domain/mqtt-subscriber.ts'
import { decodeMessage } from '../../domain/reading.ts'
import { parseTopic, uplinkFilters } from '../../domain/topics.ts'
import { type DeadLetterStore, deadLetterFile, openDeadLetterStore } from '../../ingest/dead-letters.ts'
import { createCertification } from '../../registry/certification.ts'
import { createRegistry, type Registry, registryFile } from '../../registry/registry.ts'
import { createActiveAlertsSnapshotter } from '../active-snapshot.ts'
import { systemClock } from '../clock.ts'
import { AlertsConfigSchema } from '../config.ts'
import { createAlertEngine } from '../engine.ts'
import { NotifyConfigSchema } from '../notify/config.ts'
import { createNotifier, type Notifier } from '../notify/notifier.ts'
import type { AlertEngine } from '../types.ts'
import { buildApp } from './app.ts'
import { ApiConfigSchema } from './config.ts'

export const AlertsProcessConfigSchema = z.object({
  ...AlertsConfigSchema.shape,
  ...NotifyConfigSchema.shape,
  ...ApiConfigSchema.shape,
  DATA_DIR: z.string().min(1).default('./data'),
  MQTT_URL: z.url({ protocol: /^mqtts?$/ }).default('mqtt://127.0.0.1:1883'),
  /**
   * Service account (registry CLI) that reads every device's uplink. It is also the MQTT client id
   * (the broker requires client id = username), fixed, so the broker keeps this session across restarts.
   */
  MQTT_USERNAME: z.string().min(1).default('svc-alerts'),
  MQTT_PASSWORD: z.string().min(1),
  /**
   * A second service account that publishes alert changes on `alerts/…` (one client id per connection,
   * and the subscriber's connection is a plain subscriber). Unset password: no MQTT alert notifications.
   */
  MQTT_PUBLISHER_USERNAME: z.string().min(1).default('svc-alerts-pub'),
  MQTT_PUBLISHER_PASSWORD: z.string().min(1).optional(),
  MQTT_KEEPALIVE_S: env.positiveInt(30),
  /** Readings taken but not yet acknowledged at most; beyond it the socket is not read. */
  MQTT_MAX_UNACKED: env.positiveInt(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Folder of the built web console, served at `/`. */
  CONSOLE_DIR: z.string().min(1).optional(),
})
export type AlertsProcessConfig = z.output<typeof AlertsProcessConfigSchema>

export type AlertsProcessDeps = {
  config: AlertsProcessConfig
  logger: Logger
  metrics?: MetricsRegistry
}

export type AlertsProcess = {
  start(): Promise<void>
  stop(): Promise<void>
  /** The HTTP address listened on, once started. */
  address(): string
  readonly engine: AlertEngine
  readonly notifier: Notifier
}

export function createAlertsProcess(deps: AlertsProcessDeps): AlertsProcess {
  const { config, logger } = deps
  const log = logger.child({ component: 'alerts-process' })
  const metrics = deps.metrics ?? new MetricsRegistry()
  const readingsRefused = new Counter({
    name: 'alerts_subscribed_messages_refused_total',
    help: 'Messages from the MQTT subscription that did not decode (ingest dead-letters them)',
    labelNames: ['reason'] as const,
    registers: [metrics],
  })

  let registry: Registry | null = null
  let deadLetters: DeadLetterStore | null = null
  let engine: AlertEngine | null = null
  let notifier: Notifier | null = null
  let publisher: MqttClient | null = null
  let subscriber: MqttSubscriber | null = null
  let snapshotter: ReturnType<typeof createActiveAlertsSnapshotter> | null = null
  let app: ReturnType<typeof buildApp> | null = null
  let address = ''
  let stopping: Promise<void> | null = null
  // Readings go to the engine one after another, in the order the broker delivered them.
  let tail: Promise<void> = Promise.resolve()
  let isReconnectScheduled = false

  function need<T>(part: T | null, name: string): T {
    if (part === null) throw new Error(`alerts process not started (${name})`)
    return part
  }

  function take(message: SubscribedMessage, ack: () => void): void {
    const target = need(engine, 'engine')
    // A subscription does not say who published; the broker lets a device publish on its own topics only.
    const publisher = parseTopic(message.topic)?.deviceId
    const decoded = decodeMessage(message.topic, message.payload, message.receivedAt, publisher)
    if (!decoded.ok) {
      readingsRefused.inc({ reason: decoded.rejection.reason })
      ack()
      return
    }
    tail = tail
      .then(() => target.handle(decoded.reading))
      .then(ack, (err: unknown) => {
        // handle() never rejects for content; anything else is ours: have the broker deliver it again.
        log.error({ err, topic: message.topic }, 'reading not taken: reconnecting to have it delivered again')
        if (!isReconnectScheduled && subscriber) {
          isReconnectScheduled = true
          setTimeout(() => {
            isReconnectScheduled = false
            subscriber?.reconnect()
          }, 1000).unref()
        }
      })
  }

  async function stopInternal(): Promise<void> {
    // Reverse order: stop reading and serving, let the engine settle, close storage.
    subscriber?.pause()
    await app?.close()
    await tail
    await subscriber?.stop()
    await snapshotter?.stop()
    await notifier?.stop()
    await publisher?.endAsync().catch(() => undefined)
    await engine?.stop()
    deadLetters?.close()
    registry?.close()
    subscriber = null
    snapshotter = null
    app = null
    notifier = null
    publisher = null
    engine = null
    deadLetters = null
    registry = null
    log.info('alerts process stopped')
  }

  return {
    async start(): Promise<void> {
      if (registry) return
      registry = createRegistry({ file: registryFile(config.DATA_DIR) })
      if (!registry.listApiTokens().some((t) => t.role === 'admin' && t.revokedAt === null)) {
        log.warn(
          'no admin API token: create one with `npm run cli -- token create --role admin --name <name>`',
        )
      }
      deadLetters = openDeadLetterStore(deadLetterFile(config.DATA_DIR))
      engine = createAlertEngine({ config, logger, registry, metrics })
      if (config.MQTT_PUBLISHER_PASSWORD) {
        publisher = mqtt.connect(config.MQTT_URL, {
          clientId: config.MQTT_PUBLISHER_USERNAME,
          username: config.MQTT_PUBLISHER_USERNAME,
          password: config.MQTT_PUBLISHER_PASSWORD,
          keepalive: config.MQTT_KEEPALIVE_S,
          reconnectPeriod: 2000,
        })
        publisher.on('error', (err) => log.warn({ err: err.message }, 'alert publisher: MQTT error'))
      } else {
        log.warn('MQTT_PUBLISHER_PASSWORD unset: alert changes are not published on MQTT alerts/…')
      }
      const pub = publisher
      notifier = createNotifier({
        config,
        logger,
        engine,
        registry,
        metrics,
        ...(pub
          ? {
              publish: async (topic: string, payload: string) => {
                await pub.publishAsync(topic, payload, { qos: 1 })
              },
            }
          : {}),
      })
      // Active-alert snapshots for Grafana travel to ingest on alerts/active (split deployment).
      snapshotter = pub
        ? createActiveAlertsSnapshotter({
            engine,
            intervalS: config.ALERTS_SNAPSHOT_INTERVAL_S,
            clock: systemClock(),
            logger,
            sink: async (snapshot) => {
              await pub.publishAsync(ACTIVE_ALERTS_TOPIC, JSON.stringify(snapshot), { qos: 1 })
            },
          })
        : null
      subscriber = createMqttSubscriber({
        url: config.MQTT_URL,
        clientId: config.MQTT_USERNAME,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        isCleanSession: false,
        keepaliveS: config.MQTT_KEEPALIVE_S,
        maxUnacked: config.MQTT_MAX_UNACKED,
        subscriptions: uplinkFilters().map((topic) => ({ topic, qos: 1 as const })),
        logger,
        onMessage: take,
      })
      const sub = subscriber
      app = buildApp({
        config,
        logger,
        registry,
        engine,
        certification: createCertification(registry, {
          verificationPeriodMonths: config.VERIFICATION_PERIOD_MONTHS,
        }),
        deadLetters,
        metrics,
        notifier,
        consoleDir: config.CONSOLE_DIR,
        health: () => ({
          mqtt: { ok: sub.isConnected(), unacked: sub.unacked() },
          ...(pub ? { alertPublisher: { ok: pub.connected } } : {}),
        }),
      })
      try {
        notifier.start()
        await engine.start()
        snapshotter?.start()
        address = await app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST })
        log.info({ mqtt: config.MQTT_URL, username: config.MQTT_USERNAME }, 'connecting to the broker')
        await subscriber.start()
        log.info({ address }, 'alerts process running')
      } catch (err) {
        await stopInternal()
        throw err
      }
    },

    stop(): Promise<void> {
      stopping ??= stopInternal().finally(() => {
        stopping = null
      })
      return stopping
    },

    address: () => address,
    get engine() {
      return need(engine, 'engine')
    },
    get notifier() {
      return need(notifier, 'notifier')
    },
  }
}
