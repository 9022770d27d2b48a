/**
 * `district`: the Qiaokou scale on one node. 10,000 elevators reporting every 5 s (and on every change
 * of door, floor, direction …) and 10,000 market scales (weighings, status every 60 s), the simulators'
 * own device models at the busiest hour of the day, each device on its own connection with its own
 * registry credentials. Trapped-passenger sequences are injected at known times; their alerts are
 * watched on MQTT as a machine consumer sees them. Every run checks that what was acknowledged is in
 * InfluxDB, and how long each alert took from the message that completed its condition.
 */
import { join } from 'node:path'
import { descriptorReserve } from '../../broker/connection-cap.ts'
import { influxQuery } from '../../platform/local-influxd.ts'
import { HOUR_MS, shanghaiHour } from '../../simulators/sim-core.ts'
import { type AlertWatch, brokerReceiveTimes, startAlertWatch } from '../lib/alert-watch.ts'
import { type CachedFleet, cachedFleet, prepareDataDir } from '../lib/fleet-cache.ts'
import { type Percentiles, percentile, percentiles, percentilesOf } from '../lib/histogram.ts'
import { startPlatformProcess } from '../lib/platform-process.ts'
import { cpuTimelineText, createCpuTimeline, createProcessWatch, fileLimits } from '../lib/proc.ts'
import { type Row, timelineText } from '../lib/report.ts'
import { describeWindow, scrapeMetrics } from '../lib/scrape.ts'
import { type SimLoad, startSimLoad, type TrappedInjection } from '../lib/sim-load.ts'
import {
  type BenchOptions,
  figures,
  generatorCount,
  log,
  platformEnv,
  type RunInflux,
  sleep,
  startRunInflux,
  storedReadings,
  sumFigures,
  tempDir,
  timelineOf,
} from './common.ts'

const WINDOW_MS = 5000
/** The bench's own MQTT connections to the platform: the alert watcher. */
const ALERT_WATCH_CONNECTIONS = 1
const fmtP = (p: Percentiles): string => `${p.p50.toFixed(0)}/${p.p99.toFixed(0)}/${p.max.toFixed(0)}`

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
  log(`district: ${d.elevators} elevators + ${d.scales} scales (secrets: ${o.secretCost}, --secret-cost)`)
  const fleet = await cachedFleet({
    elevators: d.elevators,
    scales: d.scales,
    seed: o.seed,
    cost: o.secretCost,
    cacheRoot: o.cacheRoot,
  })
  log(`district: fleet ready in ${fleet.provisionS.toFixed(1)} s (cache ${fleet.cacheDir})`)
  // The platform takes device sockets up to its open-files limit less the descriptors it keeps for
  // itself (broker/connection-cap.ts), and the bench's alert watcher takes one of them: devices
  // beyond would be refused. They stay registered but absent (scales first: least load).
  const limit = fileLimits()
  const absent = Math.max(0, total + ALERT_WATCH_CONNECTIONS + descriptorReserve(limit.soft) - limit.soft)
  if (absent > 0) {
    log(
      `district: the open-files limit (${limit.soft}, hard ${limit.hard}) leaves room for ${total - absent} connections: ` +
        `${absent} registered scales stay absent (raise it with \`ulimit -n\` for the full fleet)`,
    )
  }
  const scaleIds = fleet.devices.filter((x) => x.kind === 'scale').map((x) => x.id)
  const absentIds = new Set(absent > 0 ? scaleIds.slice(Math.max(0, scaleIds.length - absent)) : [])
  const present = { ...fleet, devices: fleet.devices.filter((x) => !absentIds.has(x.id)) }
  const elevatorIds = fleet.devices.filter((x) => x.kind === 'elevator').map((x) => x.id)
  const rows: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    const influx = await startRunInflux()
    const data = tempDir('bench-district-data-')
    try {
      rows.push(await districtRun(o, run, present, absent, elevatorIds, influx, data.dir))
    } finally {
      await influx.stop()
      data.remove()
    }
  }
  return rows
}

async function districtRun(
  o: BenchOptions,
  run: number,
  fleet: CachedFleet,
  absent: number,
  elevatorIds: string[],
  influx: RunInflux,
  dataDir: string,
): Promise<Row> {
  const d = o.district
  const total = fleet.devices.length
  const service = await prepareDataDir(fleet, dataDir, o.secretCost)
  const { env, mqttPort, metricsUrl } = await platformEnv({
    dataDir,
    influx,
    extra: { TRAPPED_AFTER_S: String(d.trappedAfterS) },
  })
  const platform = await startPlatformProcess({
    env,
    mqttPort,
    cpuProfDir: o.cpuProfDir ? join(o.cpuProfDir, `district-run${run}`) : undefined,
    nodeArgs: o.platformNodeArgs,
  })
  const watch = createProcessWatch()
  let load: SimLoad | null = null
  let alerts: AlertWatch | null = null
  try {
    watch.mark('server', platform.pid)
    alerts = await startAlertWatch({
      url: platform.mqttUrl,
      username: service.serviceUser,
      password: service.servicePassword,
      trappedAfterS: d.trappedAfterS,
    })
    const watcher = alerts
    const durationMs = d.durationS * 1000
    const injections = planInjections({
      elevatorIds,
      warmupMs: d.warmupS * 1000,
      durationMs,
      everyMs: d.trappedEveryS * 1000,
      trappedAfterS: d.trappedAfterS,
    })
    load = startSimLoad(
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
        startSpreadMs: d.startSpreadS * 1000,
        windowMs: WINDOW_MS,
        warmupMs: d.warmupS * 1000,
        injections,
        processes: generatorCount(o, total),
        nodeArgs: o.cpuProfDir
          ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `district-run${run}-generators`)}`]
          : [],
      },
      { onCondition: (times) => watcher.condition(times), onError: (e) => log(`district: generator: ${e}`) },
    )
    const running = load
    const loginStarted = performance.now()
    const ticker = setInterval(() => {
      const p = running.progress()
      log(`district run ${run}: connecting ${p.connected}/${total} (${p.connectFailed} failed)`)
    }, 10_000)
    const connected = await running.connected.finally(() => clearInterval(ticker))
    const loginS = (performance.now() - loginStarted) / 1000
    log(
      `district run ${run}: ${connected.connected}/${total} connected in ${loginS.toFixed(1)} s ` +
        `(${connected.connectFailed} failed); running ${d.durationS} s`,
    )
    const generatorNames = running.pids().map((pid, i) => {
      watch.mark(`generator${i}`, pid)
      return `generator${i}`
    })
    watch.mark('server', platform.pid)
    watch.mark('influxd', influx.pid)
    const before = await scrapeMetrics(metricsUrl)
    const cpuTimeline = createCpuTimeline(
      { platform: platform.pid, influxd: influx.pid, generators: running.pids()[0] },
      WINDOW_MS,
    )
    const started = performance.now()
    running.go()
    const progress = setInterval(() => {
      const p = running.progress()
      const last = running.timeline().at(-1)
      log(
        `district run ${run}: ${p.acked} acknowledged of ${p.published} published` +
          (last
            ? `; last ${WINDOW_MS / 1000} s: p50 ${percentile(last, 0.5).toFixed(0)} ms, p99 ${percentile(last, 0.99).toFixed(0)} ms`
            : ''),
      )
    }, 15_000)
    await sleep(durationMs)
    clearInterval(progress)
    if (!platform.isRunning()) throw new Error(`the platform exited during the run:\n${platform.output()}`)
    const loadEnd = await scrapeMetrics(metricsUrl)
    const result = await running.stop()
    const wallS = (performance.now() - started) / 1000
    cpuTimeline.stop()
    const after = await scrapeMetrics(metricsUrl)
    // Alerts of the last sequences may still be on their way.
    await sleep(2000)
    const samples = watcher.samples()
    const missing = watcher.missing(performance.timeOrigin + performance.now() - 2000)
    const unexpected = watcher.unexpected()
    const server = figures(watch, 'server', wallS)
    const influxd = figures(watch, 'influxd', wallS)
    const generator = sumFigures(generatorNames.map((n) => figures(watch, n, wallS)))
    await platform.stop()
    const stored = await storedReadings(influx.url, influx.db)
    // From the broker's receive time of the completing message, as the engine sees the condition.
    const received = await brokerReceiveTimes(
      samples,
      (q) => influxQuery(influx.url, q, influx.db),
      d.trappedAfterS,
    )
    const delivered = percentilesOf(received.map((s) => s.deliveredMs))
    const raised = percentilesOf(received.map((s) => s.raisedMs))
    const transit = percentilesOf(received.map((s) => s.transitMs))
    const fromPublish = percentilesOf(samples.map((s) => s.deliveredMs))
    const byVariant = (v: 'derived' | 'event') =>
      percentilesOf(received.filter((s) => s.variant === v).map((s) => s.deliveredMs))
    const windowStats = describeWindow(before, after, loadEnd)
    const timeline = timelineOf(running.timeline(), WINDOW_MS / 1000)
    const row: Row = {
      profile: 'district',
      target: 'platform',
      run,
      size: `${d.elevators} elevators + ${d.scales} scales${absent > 0 ? ` (${absent} absent)` : ''}, ${d.durationS} s`,
      readingsPerS: result.measuredMs > 0 ? result.measuredAcked / (result.measuredMs / 1000) : 0,
      published: result.published,
      acked: result.acked,
      stored,
      lost: Math.max(0, result.acked - stored),
      unacknowledged: result.unacked + result.publishFailed,
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
        alertFromPublishP99Ms: fromPublish.p99,
        publishToReceiveP99Ms: transit.p99,
        alertDerivedP99Ms: byVariant('derived').p99,
        alertEventP99Ms: byVariant('event').p99,
        trappedInjected: injections.length,
        cpuUsPerReading: result.acked > 0 ? (server.cpuS / result.acked) * 1e6 : 0,
        ...windowStats.figures,
      },
      notes: [
        `stored ${stored} of ${result.acked} acknowledged (${result.published} published, ${result.unacked} unacknowledged, ${result.publishFailed} failed when their connection dropped)`,
        `by type: ${Object.entries(result.byType)
          .map(([t, c]) => `${t} ${c.acked}`)
          .join(', ')}`,
        `alerts: ${samples.length} of ${injections.length} injected sequences matched (${received.length} with their broker receive time), ${missing.length} missing` +
          (missing.length > 0 ? ` (${missing.slice(0, 5).join(', ')})` : '') +
          `; trapped alerts of ${unexpected} other devices (the traffic's own)`,
        `alert latency (ms, p50/p99/max) from the broker's receive of the completing message: delivered ${fmtP(delivered)}, raised ${fmtP(raised)}; ` +
          `from the generator's publish: delivered ${fmtP(fromPublish)}; publish -> broker receive ${fmtP(transit)}`,
        windowStats.text,
        `latency by ${WINDOW_MS / 1000} s window (acks, p50/p99 ms): ${timelineText(timeline)}`,
        `CPU by ${WINDOW_MS / 1000} s window (generators: the first process): ${cpuTimelineText(cpuTimeline.windows())}`,
        ...Object.entries(result.connectErrors).map(([k, v]) => `connect errors: ${v} x ${k}`),
        ...Object.entries(result.dropReasons).map(([k, v]) => `connections dropped: ${v} x ${k}`),
      ],
      timeline,
    }
    log(
      `district run ${run}: ${Math.round(row.readingsPerS)} readings/s, p99 ${row.latencyMs.p99.toFixed(1)} ms, ` +
        `alert p99 ${delivered.p99.toFixed(0)} ms, lost ${row.lost}, platform peak RSS ${Math.round(server.peakRssMiB)} MiB`,
    )
    return row
  } finally {
    watch.stop()
    load?.kill()
    await alerts?.stop()
    await platform.stop()
  }
}
