/** What the three profiles share: options, a fresh InfluxDB per run, the platform's environment, CPU figures. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestDatabase, freePort, influxQuery, startInfluxd } from '../../platform/local-influxd.ts'
import type { SecretCost } from '../lib/fleet-cache.ts'
import { type HistogramData, percentiles } from '../lib/histogram.ts'
import { type createProcessWatch, findPid } from '../lib/proc.ts'
import type { ProcessFigures, TargetName, TimelinePoint } from '../lib/report.ts'

export type BenchOptions = {
  runs: number
  secretCost: SecretCost
  cpuProfDir: string | null
  /** Node options of the platform process (e.g. --max-old-space-size=512). */
  platformNodeArgs: string[]
  /** Load generator processes (0: one per 10,000 devices). */
  generators: number
  sourceAddresses: string[]
  cacheRoot: string | undefined
  throughput: { devices: number; messages: number; inflight: number; targets: TargetName[] }
  district: {
    elevators: number
    scales: number
    durationS: number
    warmupS: number
    /** Devices start reporting over this time (their phases spread as in a running district). */
    startSpreadS: number
    trappedEveryS: number
    trappedAfterS: number
    hour: number
  }
  connections: {
    devices: number
    holdS: number
    connectConcurrency: number
    /** 1: the platform as one process (platform/main.ts); N > 1: a split deployment with N brokers. */
    brokers: number
    /** > 0: every device's status period, seconds (a lower or higher reporting rate); 0: the registry's. */
    statusPeriodS: number
    /**
     * Split deployment only. brokers: each broker stores its own devices' readings (BROKER_INGEST=local),
     * the ingest process takes `alerts/…` only. subscriber: one ingest process takes the whole stream
     * through its Redis session (the cluster as it was before stop 12).
     */
    clusterIngest: 'brokers' | 'subscriber'
  }
  seed: string
}

export const READING_MEASUREMENTS = [
  'elevator_status',
  'elevator_event',
  'scale_status',
  'scale_weighing',
  'scale_event',
] as const

export function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`)
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export type RunInflux = { url: string; db: string; pid: number | undefined; stop(): Promise<void> }

/** A fresh InfluxDB 1.x for one run (its memory and CPU are that run's alone) with an empty database. */
export async function startRunInflux(): Promise<RunInflux> {
  const dir = tempDir('bench-influxd-')
  const influxd = await startInfluxd({ dir: dir.dir })
  const db = await createTestDatabase(influxd.url, 'bench')
  return {
    url: influxd.url,
    db,
    pid: findPid('influxd', dir.dir),
    async stop() {
      await influxd.stop()
      dir.remove()
    },
  }
}

/** Readings stored in a database, over the five reading measurements. */
export async function storedReadings(url: string, db: string): Promise<number> {
  const series = await influxQuery(url, `SELECT count(seq) FROM ${READING_MEASUREMENTS.join(', ')}`, db)
  return series.reduce((sum, s) => sum + Number(s.values[0]?.[1] ?? 0), 0)
}

/** The platform's settings for a run (platform/config.ts): loopback, InfluxDB 1.x, quiet logs. */
export async function platformEnv(options: {
  dataDir: string
  influx: RunInflux
  extra?: Record<string, string>
}): Promise<{ env: Record<string, string>; mqttPort: number; metricsUrl: string }> {
  const mqttPort = await freePort()
  const httpPort = await freePort()
  return {
    mqttPort,
    metricsUrl: `http://127.0.0.1:${httpPort}/metrics`,
    env: {
      DATA_DIR: options.dataDir,
      MQTT_HOST: '127.0.0.1',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      INFLUX_URL: options.influx.url,
      INFLUX_API: '1',
      INFLUX_DB: options.influx.db,
      // Preset, so that the platform does not generate and print one.
      ADMIN_TOKEN: `bench-admin-${'x'.repeat(40)}`,
      LOG_LEVEL: 'warn',
      ...options.extra,
    },
  }
}

export function figures(
  watch: ReturnType<typeof createProcessWatch>,
  name: string,
  wallS: number,
): ProcessFigures {
  const r = watch.read(name)
  if (!r) return { cpuS: 0, cpuPct: 0, peakRssMiB: 0 }
  return { cpuS: r.cpuS, cpuPct: wallS > 0 ? (r.cpuS / wallS) * 100 : 0, peakRssMiB: r.peakRssMiB }
}

/** Several processes as one (the generator children): CPU summed, peak RSS summed. */
export function sumFigures(parts: ProcessFigures[]): ProcessFigures {
  return parts.reduce(
    (a, p) => ({
      cpuS: a.cpuS + p.cpuS,
      cpuPct: a.cpuPct + p.cpuPct,
      peakRssMiB: a.peakRssMiB + p.peakRssMiB,
    }),
    { cpuS: 0, cpuPct: 0, peakRssMiB: 0 },
  )
}

export const generatorCount = (options: BenchOptions, devices: number): number =>
  options.generators > 0 ? options.generators : Math.max(1, Math.ceil(devices / 10_000))

/** Latency of each timeline window, for the report (seconds after go, p50/p99 of the acks in it). */
export function timelineOf(windows: HistogramData[], windowS: number): TimelinePoint[] {
  return windows.map((h, i) => ({ s: (i + 1) * windowS, ...percentiles(h) }))
}
