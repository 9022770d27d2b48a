/**
 * `district`: the Qiaokou scale on one node. 10,000 elevators reporting every 5 s (and on every change
 * of door, floor, direction …) and 10,000 market scales (weighings, status every 60 s), the simulators'
 * own device models at the busiest hour of the day, each device on its own connection with its own
 * registry credentials. Trapped-passenger sequences are injected at known times; their alerts are
 * watched on MQTT as a machine consumer sees them. Every run checks that what was acknowledged is in
 * InfluxDB, and how long each alert took from the message that completed its condition.
 */
import { join } from 'node:path'
import { HOUR_MS, shanghaiHour } from '../../simulators/sim-core.ts'
import { startAlertWatch } from '../lib/alert-watch.ts'
import { cachedFleet, prepareDataDir } from '../lib/fleet-cache.ts'
import { percentiles, percentilesOf } from '../lib/histogram.ts'
import { startPlatformProcess } from '../lib/platform-process.ts'
import { createProcessWatch, fileLimits } from '../lib/proc.ts'
import type { Row } from '../lib/report.ts'
import { type SimLoadResult, startSimLoad, type TrappedInjection } from '../lib/sim-load.ts'
import {
  type BenchOptions,
  figures,
  generatorCount,
  log,
  platformEnv,
  sleep,
  startRunInflux,
  storedReadings,
  sumFigures,
  tempDir,
} from './common.ts'

/** Trapped sequences every `everyMs` between the warm-up and the last moment their alert can still come. */
export function planInjections(options: {
  elevatorIds: string[]
  warmupMs: number
  durationMs: number
  everyMs: number
  trappedAfterS: number
}): TrappedInjection[] {
  const first = options.warmupMs + 2000
  const last = options.durationMs - (options.trappedAfterS * 1000 + 10_000)
  if (last < first || options.elevatorIds.length === 0) return []
  const count = Math.min(options.elevatorIds.length, Math.floor((last - first) / options.everyMs) + 1)
  return Array.from({ length: count }, (_, i) => ({
    // Spread over the fleet, hence over every generator process.
    deviceId: options.elevatorIds[Math.floor((i * options.elevatorIds.length) / count)] ?? '',
    atMs: first + i * options.everyMs,
    variant: i % 2 === 0 ? ('derived' as const) : ('event' as const),
    levelled: Math.floor(i / 2) % 2 === 1,
    // The controller says `trapped` well before the derived wait is over.
    eventAfterMs: 1000,
    releaseAfterMs: options.trappedAfterS * 1000 + 15_000,
  }))
}

/** Shifts the simulators' clock so that their day starts at `hour` (Asia/Shanghai) now. */
export function offsetToHour(hour: number, now = Date.now()): number {
  return ((((hour - shanghaiHour(now)) % 24) + 24) % 24) * HOUR_MS
}

export async function runDistrict(o: BenchOptions): Promise<Row[]> {
  const d = o.district
  const total = d.elevators + d.scales
  log(`district: ${d.elevators} elevators + ${d.scales} scales (secrets: ${o.secretCost} scrypt cost)`)
  const fleet = await cachedFleet({
    elevators: d.elevators,
    scales: d.scales,
    seed: o.seed,
    cost: o.secretCost,
    cacheRoot: o.cacheRoot,
  })
  log(`district: fleet ready in ${fleet.provisionS.toFixed(1)} s (cache ${fleet.cacheDir})`)
  const limit = fileLimits()
  if (total + 100 > limit.soft) {
    log(
      `district: ${total} connections need more open files than this process may have (${limit.soft}, hard ${limit.hard}); ` +
        'the platform will refuse connections beyond its limit (raise it with `ulimit -n` or prlimit)',
    )
  }
  const elevatorIds = fleet.devices.filter((x) => x.kind === 'elevator').map((x) => x.id)
  const rows: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    const influx = await startRunInflux()
    const data = tempDir('bench-district-data-')
    const watch = createProcessWatch()
    try {
      const service = await prepareDataDir(fleet, data.dir, o.secretCost)
      const { env, mqttPort } = await platformEnv({
        dataDir: data.dir,
        influx,
        extra: { TRAPPED_AFTER_S: String(d.trappedAfterS) },
      })
      const platform = await startPlatformProcess({
        env,
        mqttPort,
        cpuProfDir: o.cpuProfDir ? join(o.cpuProfDir, `district-run${run}`) : undefined,
      })
      watch.mark('server', platform.pid)
      const alerts = await startAlertWatch({
        url: platform.mqttUrl,
        username: service.serviceUser,
        password: service.servicePassword,
        trappedAfterS: d.trappedAfterS,
      })
      let result: SimLoadResult
      let loginS = 0
      let wallS = 0
      const durationMs = d.durationS * 1000
      const injections = planInjections({
        elevatorIds,
        warmupMs: d.warmupS * 1000,
        durationMs,
        everyMs: d.trappedEveryS * 1000,
        trappedAfterS: d.trappedAfterS,
      })
      let generatorNames: string[] = []
      try {
        const load = startSimLoad(
          {
            host: '127.0.0.1',
            port: mqttPort,
            sourceAddresses: o.sourceAddresses,
            devices: fleet.devices,
            seed: o.seed,
            simOffsetMs: offsetToHour(d.hour),
            // Every device stays connected (offline spells are a fleet behaviour, not load), and the only
            // trapped passengers are the injected ones, so that each alert is matched with its cause.
            elevator: { offlinePerHour: 0, trappedPerHour: 0 },
            scale: { offlinePerHour: 0 },
            tickMs: 500,
            phases: 10,
            keepaliveS: 60,
            connectConcurrency: 32,
            connectTimeoutMs: 60_000,
            connectAttempts: 3,
            giveUpAfterFailures: 1000,
            isReportingOnConnect: false,
            startSpreadMs: 5000,
            warmupMs: d.warmupS * 1000,
            injections,
            processes: generatorCount(o, total),
          },
          {
            onCondition: (times) => alerts.condition(times),
            onError: (e) => log(`district: generator: ${e}`),
          },
        )
        const loginStarted = performance.now()
        const ticker = setInterval(() => {
          const p = load.progress()
          log(`district run ${run}: connecting ${p.connected}/${total} (${p.connectFailed} failed)`)
        }, 10_000)
        let connected: Awaited<typeof load.connected>
        try {
          connected = await load.connected
        } finally {
          clearInterval(ticker)
        }
        loginS = (performance.now() - loginStarted) / 1000
        log(
          `district run ${run}: ${connected.connected}/${total} connected in ${loginS.toFixed(1)} s ` +
            `(${connected.connectFailed} failed); running ${d.durationS} s`,
        )
        generatorNames = load.pids().map((pid, i) => {
          watch.mark(`generator${i}`, pid)
          return `generator${i}`
        })
        watch.mark('server', platform.pid)
        watch.mark('influxd', influx.pid)
        const started = performance.now()
        load.go()
        const progress = setInterval(() => {
          const p = load.progress()
          log(`district run ${run}: ${p.acked} acknowledged of ${p.published} published`)
        }, 15_000)
        await sleep(durationMs)
        clearInterval(progress)
        result = await load.stop()
        wallS = (performance.now() - started) / 1000
      } catch (err) {
        await platform.stop()
        throw err
      }
      // Alerts of the last sequences may still be on their way.
      await sleep(2000)
      const samples = alerts.samples()
      const missing = alerts.missing(performance.timeOrigin + performance.now() - 2000)
      const unexpected = alerts.unexpected()
      await alerts.stop()
      const server = figures(watch, 'server', wallS)
      const influxd = figures(watch, 'influxd', wallS)
      const generator = sumFigures(generatorNames.map((n) => figures(watch, n, wallS)))
      await platform.stop()
      const stored = await storedReadings(influx.url, influx.db)
      const delivered = percentilesOf(samples.map((s) => s.deliveredMs))
      const raised = percentilesOf(samples.map((s) => s.raisedMs))
      const byVariant = (v: 'derived' | 'event') =>
        percentilesOf(samples.filter((s) => s.variant === v).map((s) => s.deliveredMs))
      const row: Row = {
        profile: 'district',
        target: 'platform',
        run,
        size: `${d.elevators} elevators + ${d.scales} scales, ${d.durationS} s`,
        readingsPerS: result.measuredMs > 0 ? result.measuredAcked / (result.measuredMs / 1000) : 0,
        published: result.published,
        acked: result.acked,
        stored,
        lost: Math.max(0, result.acked - stored) + result.unacked + result.publishFailed,
        latencyMs: percentiles(result.latency),
        alertMs: { ...delivered, missed: missing.length, raiseP99: raised.p99 },
        processes: { server, generator, influxd },
        ratio: null,
        measuredS: wallS,
        extra: {
          connected: result.connected,
          connectFailed: result.connectFailed,
          droppedConnections: result.dropped,
          loginS,
          alertRaiseP99Ms: raised.p99,
          alertDerivedP99Ms: byVariant('derived').p99,
          alertEventP99Ms: byVariant('event').p99,
          trappedInjected: injections.length,
        },
        notes: [
          `stored ${stored} of ${result.acked} acknowledged (${result.published} published, ${result.unacked} unacknowledged, ${result.publishFailed} failed)`,
          `by type: ${Object.entries(result.byType)
            .map(([t, c]) => `${t} ${c.acked}`)
            .join(', ')}`,
          `alerts: ${samples.length} of ${injections.length} injected sequences matched, ${missing.length} missing` +
            (missing.length > 0 ? ` (${missing.slice(0, 5).join(', ')})` : '') +
            `; trapped alerts of ${unexpected} other devices (the traffic's own)`,
          ...Object.entries(result.connectErrors).map(([k, v]) => `connect errors: ${v} x ${k}`),
        ],
      }
      rows.push(row)
      log(
        `district run ${run}: ${Math.round(row.readingsPerS)} readings/s, p99 ${row.latencyMs.p99.toFixed(1)} ms, ` +
          `alert p99 ${delivered.p99.toFixed(0)} ms, lost ${row.lost}, platform peak RSS ${Math.round(server.peakRssMiB)} MiB`,
      )
    } finally {
      watch.stop()
      await influx.stop()
      data.remove()
    }
  }
  return rows
}
