/**
 * Fans every alert change out: to the SSE stream, to the webhook queue, and to MQTT `alerts/…` for
 * machine consumers. It listens to the engine synchronously and never makes the engine wait: the
 * stream writes to sockets, the queue is one SQLite insert, the MQTT publish is not awaited.
 */
import { join } from 'node:path'
import { Counter, type Registry } from 'prom-client'
import { alertTopic } from '../../domain/alert-change.ts'
import type { Logger } from '../../domain/logger.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import type { Alert, AlertChangeEvent, AlertEngine, NamedAlert } from '../types.ts'
import type { NotifyConfig } from './config.ts'
import type { AlertMessage, MessageExtra } from './formats.ts'
import { createSseHub, type SseHub } from './sse.ts'
import { createWebhookService, type WebhookService } from './webhooks.ts'

export type NotifierDeps = {
  config: NotifyConfig
  logger: Logger
  engine: Pick<AlertEngine, 'onChange'>
  /** Device, site and tenant of an alert, for the webhook messages and the names on the stream. */
  registry: { getDeviceContext(deviceId: string): DeviceContext | null }
  metrics: Registry
  /** The queue's SQLite file; DATA_DIR/notifications.db unless given. */
  file?: string
  /**
   * Publishes an MQTT message at QoS 1. One process: the broker's own publish; split: an MQTT
   * client of a service account. Unset: no MQTT notifications.
   */
  publish?: (topic: string, payload: string) => Promise<void>
  fetch?: typeof fetch
  now?: () => number
}

export type Notifier = {
  start(): void
  stop(): Promise<void>
  sse: SseHub
  webhooks: WebhookService
}

// A broker that stops acknowledging must not make us hold every change in memory.
const MAX_MQTT_IN_FLIGHT = 1000

/** The console page of an alert. */
export function alertLink(publicUrl: string, alertId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/alerts/${encodeURIComponent(alertId)}`
}

export function messageExtra(alert: Alert): MessageExtra {
  return { title: alert.title.zh, arriveDeadline: alert.rescue?.arriveDeadline ?? null }
}

/**
 * The alert as the HTTP API and its live stream show it: with its device's and site's names. The site
 * is named only while the device is still there (an alert keeps the site it was raised at).
 */
export function withNames(alert: Alert, context: DeviceContext | null): NamedAlert {
  return {
    ...alert,
    deviceName: context?.device.name ?? null,
    siteName: context && context.site.id === alert.siteId ? context.site.name : null,
  }
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const { config } = deps
  const log = deps.logger.child({ component: 'notifier' })
  const file = deps.file ?? join(config.DATA_DIR, 'notifications.db')

  const sse = createSseHub({ config, logger: deps.logger, metrics: deps.metrics, now: deps.now })
  const webhooks = createWebhookService({
    config,
    logger: deps.logger,
    metrics: deps.metrics,
    file,
    fetch: deps.fetch,
    now: deps.now,
    describe: (change, extra): AlertMessage => ({
      change,
      extra,
      context: deps.registry.getDeviceContext(change.deviceId),
      link: alertLink(config.PUBLIC_URL, change.alertId),
    }),
  })

  const mqttPublished = new Counter({
    name: 'mqtt_alert_publish_total',
    help: 'Alert changes published on MQTT alerts/… by result (ok, error, dropped)',
    labelNames: ['result'] as const,
    registers: [deps.metrics],
  })
  const listenerErrors = new Counter({
    name: 'notifier_errors_total',
    help: 'Alert changes a notification channel failed to take, by channel',
    labelNames: ['channel'] as const,
    registers: [deps.metrics],
  })

  let mqttInFlight = 0
  let unsubscribe: (() => void) | null = null

  function publishMqtt(event: AlertChangeEvent): void {
    const { publish } = deps
    if (!publish) return
    if (mqttInFlight >= MAX_MQTT_IN_FLIGHT) {
      mqttPublished.inc({ result: 'dropped' })
      return
    }
    mqttInFlight += 1
    publish(alertTopic(event.change), JSON.stringify(event.change))
      .then(
        () => mqttPublished.inc({ result: 'ok' }),
        (err: unknown) => {
          mqttPublished.inc({ result: 'error' })
          log.warn({ err, alertId: event.change.alertId }, 'alert change not published on MQTT')
        },
      )
      .finally(() => {
        mqttInFlight -= 1
      })
  }

  function onChange(event: AlertChangeEvent): void {
    // Each channel on its own: a failure of one never keeps a change from the others or the engine.
    try {
      // The stream carries the alert as the API shows it; the change stays the AlertChange message.
      const context = deps.registry.getDeviceContext(event.alert.deviceId)
      sse.publish({ change: event.change, alert: withNames(event.alert, context) })
    } catch (err) {
      listenerErrors.inc({ channel: 'sse' })
      log.error({ err, alertId: event.change.alertId }, 'SSE publish failed')
    }
    webhooks.enqueue(event.change, messageExtra(event.alert))
    try {
      publishMqtt(event)
    } catch (err) {
      listenerErrors.inc({ channel: 'mqtt' })
      log.error({ err, alertId: event.change.alertId }, 'MQTT publish failed')
    }
  }

  return {
    sse,
    webhooks,
    start(): void {
      if (unsubscribe) return
      webhooks.start()
      sse.start()
      unsubscribe = deps.engine.onChange(onChange)
      log.info({ mqtt: deps.publish !== undefined }, 'notifications started')
    },
    async stop(): Promise<void> {
      unsubscribe?.()
      unsubscribe = null
      sse.stop()
      await webhooks.stop()
    },
  }
}
