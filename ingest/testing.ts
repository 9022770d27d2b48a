/**
 * What ingest's integration tests (and the benchmark) share: a registry with a fleet of devices and
 * their credentials, the real broker with ingest as its sink, and read-back from InfluxDB.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry as PromRegistry } from 'prom-client'
import type { LoadDevice } from '../bench/lib/load-types.ts'
import { type Broker, createBroker } from '../broker/broker.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { parseEnv } from '../domain/config.ts'
import { type Logger, silentLogger } from '../domain/logger.ts'
import type { ReadingListener } from '../domain/pipeline.ts'
import { createRegistry, type Registry, registryFile } from '../registry/registry.ts'
import { influxQuery } from '../test/support/influxd.ts'
import { type IngestConfig, IngestConfigSchema } from './config.ts'
import { createIngest, type Ingest } from './ingest.ts'

export const READING_MEASUREMENTS = [
  'elevator_status',
  'elevator_event',
  'scale_status',
  'scale_weighing',
  'scale_event',
] as const

// Secrets are random 256-bit strings; a cheap hash keeps a 1,000-device fleet quick to set up in tests.
const FAST_SCRYPT = { N: 16, r: 1, p: 1 }

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A registry in `dataDir` holding `count` devices (half elevators, half scales), each with a secret. */
export async function makeFleet(
  dataDir: string,
  count: number,
  prefix = 'dev',
): Promise<{ registry: Registry; devices: LoadDevice[] }> {
  const registry = createRegistry({ file: registryFile(dataDir), scrypt: FAST_SCRYPT })
  const firm = registry.createTenant({ id: `${prefix}-firm`, name: 'Firm', kind: 'maintenance_firm' })
  const market = registry.createTenant({ id: `${prefix}-market`, name: 'Market', kind: 'site_operator' })
  const site = registry.createSite({
    id: `${prefix}-site`,
    name: 'Site',
    category: 'market',
    address: 'Qiaokou',
  })
  const devices: LoadDevice[] = []
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${String(i).padStart(5, '0')}`
    if (i % 2 === 0) {
      registry.createElevator({
        id,
        siteId: site.id,
        tenantId: firm.id,
        registrationCode: String(10_000_000_000_000_000_000n + BigInt(i)),
        ratedSpeedMps: 1.75,
        floors: 30,
      })
    } else {
      registry.createScale({
        id,
        siteId: site.id,
        tenantId: market.id,
        certificateNo: `C-${id}`,
        maxKg: 30,
        eG: 5,
      })
    }
    const password = await registry.issueDeviceSecret(id)
    devices.push({ id, kind: i % 2 === 0 ? 'elevator' : 'scale', username: id, password })
  }
  return { registry, devices }
}

/** Ingest settings for tests: the defaults, a data dir, an InfluxDB 1.x database. */
export function ingestConfig(env: Record<string, string | undefined>): IngestConfig {
  return parseEnv(IngestConfigSchema, { INFLUX_API: '1', INGEST_RETRY_MAX_MS: '2000', ...env })
}

export type Stack = {
  broker: Broker
  ingest: Ingest
  metrics: PromRegistry
  url: string
  stop(): Promise<void>
}

/** The real broker on 127.0.0.1:0 with ingest as its in-process sink (the all-in-one deployment). */
export async function startStack(deps: {
  config: IngestConfig
  registry: Registry
  logger?: Logger
  onReading?: ReadingListener
}): Promise<Stack> {
  const logger = deps.logger ?? silentLogger()
  const metrics = new PromRegistry()
  const ingest = createIngest({
    config: deps.config,
    logger,
    registry: deps.registry,
    metrics,
    onReading: deps.onReading,
  })
  const broker = createBroker({
    config: BrokerConfigSchema.parse({ MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }),
    logger,
    registry: deps.registry,
    metrics,
    onDeviceMessage: ingest.accept,
  })
  await ingest.start()
  await broker.start()
  return {
    broker,
    ingest,
    metrics,
    url: `mqtt://127.0.0.1:${broker.port()}`,
    async stop() {
      await broker.stop()
      await ingest.stop()
    },
  }
}

/** Points per device over the reading measurements, read back with InfluxQL. */
export async function countsByDevice(url: string, db: string): Promise<Map<string, number>> {
  const series = await influxQuery(
    url,
    `SELECT count(seq) FROM ${READING_MEASUREMENTS.join(', ')} GROUP BY device_id`,
    db,
  )
  const counts = new Map<string, number>()
  for (const s of series) {
    const device = s.tags?.device_id
    const n = Number(s.values[0]?.[1] ?? 0)
    if (device !== undefined) counts.set(device, (counts.get(device) ?? 0) + n)
  }
  return counts
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
