/**
 * All services in one process, the default deployment: broker, ingest, alerts engine, notifications
 * and the HTTP API share one registry connection and hand readings over in memory:
 *
 *   device --MQTT--> broker --accept()--> ingest --> InfluxDB (or the fsync'd spool)
 *                                            \--handle()--> alerts engine --> SSE, webhooks, MQTT alerts/…
 *
 * The device's PUBACK waits for ingest's promise, so a reading acknowledged is a reading kept.
 * Split across processes, broker/main.ts, ingest/main.ts and alerts/main.ts do the same over MQTT.
 */
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Registry as MetricsRegistry } from 'prom-client'
import { createActiveAlertsSnapshotter } from '../alerts/active-snapshot.ts'
import { buildApp } from '../alerts/api/app.ts'
import { systemClock } from '../alerts/clock.ts'
import { createAlertEngine } from '../alerts/engine.ts'
import { createNotifier, type Notifier } from '../alerts/notify/notifier.ts'
import type { AlertEngine, Clock } from '../alerts/types.ts'
import { type Broker, createBroker } from '../broker/broker.ts'
import type { Logger } from '../domain/logger.ts'
import { createIngest, type Ingest } from '../ingest/ingest.ts'
import { createCertification } from '../registry/certification.ts'
import { createRegistry, type Registry, registryFile } from '../registry/registry.ts'
import type { PlatformConfig } from './config.ts'

export type PlatformDeps = {
  config: PlatformConfig
  logger: Logger
  /** One metrics registry for every service of the process (served at /metrics). */
  metrics?: MetricsRegistry
  clock?: Clock
  /** Where a freshly generated admin token is shown (once). Default: nowhere. */
  announceAdminToken?: (token: string) => void
}

export type Platform = {
  start(): Promise<void>
  stop(): Promise<void>
  /** Parts, for the demo and tests; they throw before start(). */
  readonly registry: Registry
  readonly broker: Broker
  readonly ingest: Ingest
  readonly engine: AlertEngine
  readonly notifier: Notifier
  readonly app: FastifyInstance
  mqttPort(): number
  httpPort(): number
}

type Parts = {
  registry: Registry
  broker: Broker
  ingest: Ingest
  engine: AlertEngine
  notifier: Notifier
  app: FastifyInstance
  unsubscribe: () => void
  stopSnapshots: () => Promise<void>
}

/** Defaults to the console bundle next to the sources, when it has been built. */
function consoleDirFor(config: PlatformConfig): string | undefined {
  if (config.CONSOLE_DIR) return config.CONSOLE_DIR
  const built = join(import.meta.dirname, '..', 'console', 'dist')
  return existsSync(join(built, 'index.html')) ? built : undefined
}

export function createPlatform(deps: PlatformDeps): Platform {
  const { config, logger } = deps
  const metrics = deps.metrics ?? new MetricsRegistry()
  const log = logger.child({ component: 'platform' })
  let parts: Parts | null = null
  let stopping: Promise<void> | null = null

  function need(): Parts {
    if (!parts) throw new Error('platform not started')
    return parts
  }

  /** ADMIN_TOKEN registered, or a first admin token generated, so the API is never open nor locked. */
  function ensureAdminToken(registry: Registry): void {
    if (config.ADMIN_TOKEN !== undefined) {
      if (!registry.hasApiToken(config.ADMIN_TOKEN)) {
        registry.createApiToken({ name: 'admin (ADMIN_TOKEN)', role: 'admin' }, config.ADMIN_TOKEN)
        log.info('ADMIN_TOKEN registered as an admin API token')
      }
      return
    }
    const hasAdmin = registry.listApiTokens().some((t) => t.role === 'admin' && t.revokedAt === null)
    if (hasAdmin) return
    const { token } = registry.createApiToken({ name: 'first admin (generated)', role: 'admin' })
    log.warn('no admin API token existed: one was generated and is shown once on the console')
    deps.announceAdminToken?.(token)
  }

  async function start(): Promise<void> {
    if (parts) return
    const registry = createRegistry({ file: registryFile(config.DATA_DIR) })
    try {
      ensureAdminToken(registry)
      const engine = createAlertEngine({ config, logger, registry, metrics, clock: deps.clock })
      const ingest = createIngest({ config, logger, registry, metrics, onReading: (r) => engine.handle(r) })
      let broker: Broker | null = null
      // Escalations of deadlines missed while the platform was down come out of engine.start(),
      // before the broker listens: their MQTT copies wait for it.
      let brokerStarted: () => void = () => undefined
      const brokerReady = new Promise<void>((resolve) => {
        brokerStarted = resolve
      })
      const notifier = createNotifier({
        config,
        logger,
        engine,
        registry,
        metrics,
        // Alert changes for machine consumers, published as the platform itself (no loopback client).
        publish: (topic, payload) => brokerReady.then(() => broker?.publish(topic, payload, 1)),
      })
      broker = createBroker({ config, logger, registry, metrics, onDeviceMessage: (m) => ingest.accept(m) })
      const app = buildApp({
        config,
        logger,
        registry,
        engine,
        certification: createCertification(registry, {
          verificationPeriodMonths: config.VERIFICATION_PERIOD_MONTHS,
        }),
        deadLetters: ingest.deadLetters,
        metrics,
        notifier,
        consoleDir: consoleDirFor(config),
        health: () => {
          const s = ingest.stats()
          return {
            ingest: {
              ok: s.influx !== 'down',
              influx: s.influx,
              spoolDepthLines: s.spoolDepthLines,
              spoolAgeS: s.spoolAgeS,
              pendingLines: s.pendingLines,
            },
            broker: { ok: true, clients: broker?.aedes.connectedClients ?? 0 },
          }
        },
      })
      const snapshotter = createActiveAlertsSnapshotter({
        engine,
        intervalS: config.ALERTS_SNAPSHOT_INTERVAL_S,
        clock: deps.clock ?? systemClock(),
        logger,
        sink: (snapshot) => ingest.recordActiveAlerts(snapshot),
      })
      // Alert history for Grafana goes through ingest's lossless path like any reading.
      const unsubscribe = engine.onChange(({ change }) => {
        ingest
          .recordAlertChange(change)
          .catch((err: unknown) => log.error({ err }, 'alert change not stored'))
      })

      // Started parts, so that a failure half-way (a port in use) stops what already runs.
      const started: Array<() => Promise<void> | void> = [unsubscribe]
      try {
        // Listeners subscribe, and ingest runs, before the engine starts: escalations of deadlines missed
        // while down come out of engine.start() and must reach the stream, webhooks and InfluxDB. In
        // reverse at stop, the engine's last changes are stored before ingest flushes.
        notifier.start()
        started.push(() => notifier.stop())
        await ingest.start()
        started.push(() => ingest.stop())
        await engine.start()
        started.push(() => engine.stop())
        snapshotter.start()
        started.push(() => snapshotter.stop())
        await broker.start()
        started.push(() => broker?.stop())
        brokerStarted()
        await app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST })
      } catch (err) {
        for (const stopPart of started.reverse()) await stopPart()
        await app.close()
        throw err
      }
      parts = {
        registry,
        broker,
        ingest,
        engine,
        notifier,
        app,
        unsubscribe,
        stopSnapshots: () => snapshotter.stop(),
      }
      log.info({ mqttPort: broker.port(), httpPort: httpPortOf(app) }, 'platform started')
    } catch (err) {
      registry.close()
      throw err
    }
  }

  async function stopInternal(): Promise<void> {
    const p = parts
    if (!p) return
    // Reverse order: stop taking requests and readings first, then flush, then close storage.
    await p.app.close()
    await p.broker.stop()
    await p.stopSnapshots()
    await p.engine.stop()
    await p.ingest.stop()
    p.unsubscribe()
    await p.notifier.stop()
    p.registry.close()
    parts = null
    log.info('platform stopped')
  }

  return {
    start,
    stop(): Promise<void> {
      stopping ??= stopInternal().finally(() => {
        stopping = null
      })
      return stopping
    },
    get registry() {
      return need().registry
    },
    get broker() {
      return need().broker
    },
    get ingest() {
      return need().ingest
    },
    get engine() {
      return need().engine
    },
    get notifier() {
      return need().notifier
    },
    get app() {
      return need().app
    },
    mqttPort: () => need().broker.port(),
    httpPort: () => httpPortOf(need().app),
  }
}

function httpPortOf(app: FastifyInstance): number {
  const address = app.server.address() as AddressInfo | string | null
  return address !== null && typeof address === 'object' ? address.port : 0
}
