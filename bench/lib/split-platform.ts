/**
 * The platform as a split deployment on one node (docs/deployment.md, "Split deployment"): one
 * redis-server (loopback, a temporary folder, stopped by its PID), N brokers (broker/main.ts with the
 * same REDIS_URL and DATA_DIR, each on its own MQTT port), and ingest and alerts as processes of their
 * own (ingest/main.ts, alerts/main.ts) subscribing over MQTT with their service accounts. Each is a
 * process of its own, so each one's CPU, memory and open files are its own. With `ingestInBrokers` each
 * broker stores its own devices' readings and the ingest process only the alerts service's messages.
 * Everything writes to InfluxDB through `influxUrl` (the benchmark's recording proxy).
 */

import { join } from 'node:path'
import { Redis } from 'ioredis'
import { type LocalRedis, startLocalRedis } from '../../broker/local-redis.ts'
import { freePort } from '../../platform/local-influxd.ts'
import { createRegistry, registryFile } from '../../registry/registry.ts'
import { type SecretCost, scryptFor } from './fleet-cache.ts'
import { type PlatformProcess, startPlatformProcess } from './platform-process.ts'

export type SplitPlatform = {
  brokerPorts: number[]
  /** Every process by name: broker1 … brokerN, ingest, alerts, redis. */
  pids: Record<string, number | undefined>
  ingestMetricsUrl: string
  brokerMetricsUrls: string[]
  /** Every process that writes readings to InfluxDB (sum their ingest_written_total). */
  storingMetricsUrls: string[]
  /** True when the brokers store their devices' readings (a device's PUBACK means stored). */
  ingestInBrokers: boolean
  /**
   * Messages queued in Redis for each service account's session (aedes-persistence-redis's
   * `outgoing:{clientId}` list): sent and not yet acknowledged, or never delivered to it.
   */
  sessionQueues(): Promise<Record<string, number>>
  /** The name of a process that has exited, or null. */
  exited(): string | null
  /** Its last output lines. */
  output(name: string): string
  /** Devices' side first: brokers, then ingest and alerts (they flush), then Redis. Safe twice. */
  stop(): Promise<void>
}

/** The service accounts of a split deployment, created in `dataDir`'s registry; their passwords. */
export async function createServiceAccounts(
  dataDir: string,
  cost: SecretCost,
): Promise<{ ingest: string; alerts: string; alertsPub: string }> {
  const registry = createRegistry({ file: registryFile(dataDir), scrypt: scryptFor(cost) })
  try {
    return {
      ingest: await registry.createServiceAccount('svc-ingest'),
      alerts: await registry.createServiceAccount('svc-alerts'),
      alertsPub: await registry.createServiceAccount('svc-alerts-pub'),
    }
  } finally {
    registry.close()
  }
}

export async function startSplitPlatform(options: {
  brokers: number
  dataDir: string
  redisDir: string
  influxUrl: string
  influxDb: string
  passwords: { ingest: string; alerts: string; alertsPub: string }
  /**
   * Each broker stores its own devices' readings (BROKER_INGEST=local, a spool of its own) and the
   * ingest process takes `alerts/…` only; false: ingest takes the whole stream over MQTT.
   */
  ingestInBrokers: boolean
  /** Environment every service gets on top (LOG_LEVEL …). */
  env?: Record<string, string>
  nodeArgs?: string[]
}): Promise<SplitPlatform> {
  const processes = new Map<string, PlatformProcess>()
  let redis: LocalRedis | null = null
  let stopping: Promise<void> | null = null
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      const brokers = [...processes].filter(([name]) => name.startsWith('broker')).map(([, p]) => p)
      const services = [...processes].filter(([name]) => !name.startsWith('broker')).map(([, p]) => p)
      // Subscribers first: they flush what they took and acknowledge it while their broker is up.
      await Promise.all(services.map((p) => p.stop()))
      await Promise.all(brokers.map((p) => p.stop()))
      await redis?.stop()
    })()
    return stopping
  }
  try {
    redis = await startLocalRedis({ dir: options.redisDir, maxClients: 10_000 })
    const common = {
      DATA_DIR: options.dataDir,
      LOG_LEVEL: 'info',
      ...options.env,
    }
    const influx = {
      INFLUX_URL: options.influxUrl,
      INFLUX_API: '1',
      INFLUX_DB: options.influxDb,
    }
    const brokerPorts: number[] = []
    const brokerMetricsUrls: string[] = []
    const started: PlatformProcess[] = []
    await Promise.all(
      Array.from({ length: Math.max(1, options.brokers) }, async (_, i) => {
        const port = await freePort()
        const metricsPort = await freePort()
        brokerPorts[i] = port
        brokerMetricsUrls[i] = `http://127.0.0.1:${metricsPort}/metrics`
        const p = await startPlatformProcess({
          script: 'broker/main.ts',
          readyText: 'broker listening',
          mqttPort: port,
          nodeArgs: options.nodeArgs,
          env: {
            ...common,
            MQTT_HOST: '127.0.0.1',
            METRICS_PORT: String(metricsPort),
            REDIS_URL: redis?.url ?? '',
            ...(options.ingestInBrokers
              ? {
                  ...influx,
                  BROKER_INGEST: 'local',
                  INGEST_SPOOL_DIR: join(options.dataDir, 'ingest', `spool-broker${i + 1}`),
                }
              : {}),
          },
        })
        started[i] = p
        processes.set(`broker${i + 1}`, p)
      }),
    )
    // In order (broker1 … brokerN) for the report; they started in parallel.
    for (const [i, p] of started.entries()) {
      processes.delete(`broker${i + 1}`)
      processes.set(`broker${i + 1}`, p)
    }
    const mqttUrl = (i: number): string => `mqtt://127.0.0.1:${brokerPorts[i % brokerPorts.length]}`
    const ingestMetricsPort = await freePort()
    // Ingest on the first broker, alerts on the second: messages cross brokers over Redis.
    const ingest = await startPlatformProcess({
      script: 'ingest/main.ts',
      readyText: 'ingest running',
      mqttPort: 0,
      nodeArgs: options.nodeArgs,
      env: {
        ...common,
        MQTT_URL: mqttUrl(0),
        MQTT_USERNAME: 'svc-ingest',
        MQTT_PASSWORD: options.passwords.ingest,
        ...influx,
        INGEST_SUBSCRIBE: options.ingestInBrokers ? 'alerts' : 'all',
        METRICS_PORT: String(ingestMetricsPort),
        METRICS_HOST: '127.0.0.1',
      },
    })
    processes.set('ingest', ingest)
    const alerts = await startPlatformProcess({
      script: 'alerts/main.ts',
      readyText: 'alerts process running',
      mqttPort: 0,
      nodeArgs: options.nodeArgs,
      env: {
        ...common,
        MQTT_URL: mqttUrl(1),
        MQTT_USERNAME: 'svc-alerts',
        MQTT_PASSWORD: options.passwords.alerts,
        MQTT_PUBLISHER_USERNAME: 'svc-alerts-pub',
        MQTT_PUBLISHER_PASSWORD: options.passwords.alertsPub,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(await freePort()),
      },
    })
    processes.set('alerts', alerts)
    const redisUrl = redis.url
    const pids: Record<string, number | undefined> = {}
    for (const [name, p] of processes) pids[name] = p.pid
    pids.redis = redis.pid
    return {
      brokerPorts,
      pids,
      ingestMetricsUrl: `http://127.0.0.1:${ingestMetricsPort}/metrics`,
      brokerMetricsUrls,
      storingMetricsUrls: options.ingestInBrokers
        ? [...brokerMetricsUrls, `http://127.0.0.1:${ingestMetricsPort}/metrics`]
        : [`http://127.0.0.1:${ingestMetricsPort}/metrics`],
      ingestInBrokers: options.ingestInBrokers,
      exited() {
        for (const [name, p] of processes) if (!p.isRunning()) return name
        return redis?.isRunning() === false ? 'redis' : null
      },
      output: (name) => processes.get(name)?.output() ?? '',
      async sessionQueues() {
        const conn = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
        try {
          await conn.connect()
          const out: Record<string, number> = {}
          for (const id of ['svc-ingest', 'svc-alerts']) out[id] = await conn.llen(`outgoing:${id}`)
          return out
        } catch {
          return {}
        } finally {
          conn.disconnect()
        }
      },
      stop,
    }
  } catch (err) {
    const outputs = [...processes].map(([name, p]) => `--- ${name}:\n${p.output().slice(-2000)}`).join('\n')
    await stop()
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${outputs}`, { cause: err })
  }
}
