/**
 * `connections`: how many simulated devices one node holds connected and reporting. Half elevators,
 * half scales (the Qiaokou mix), each with its own credentials, connecting from several 127.0.0.x
 * source addresses (one address has ~28,000 ephemeral ports) and from several generator processes
 * (each process has its own open-files limit). Devices start reporting as soon as they are connected;
 * connecting stops after a run of failures (the node is full). Then every device that got in keeps
 * reporting for `holdS`, and the platform's resident memory is read per thousand connections.
 *
 * `brokers` > 1 runs the platform as a split deployment on this node instead of one process
 * (split-platform.ts: Redis, N brokers, ingest, alerts), devices spread over the brokers' ports: each
 * process has its own open-files limit. Each broker stores its own devices' readings (BROKER_INGEST=local)
 * unless `clusterIngest` is 'subscriber', where a PUBACK means "in Redis": publish -> stored is taken
 * from a traced sample of devices (influx-proxy.ts) either way. `statusPeriodS` > 0 overrides every device's
 * status period (a lower reporting rate).
 */
import { join } from 'node:path'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'
import { type CachedFleet, cachedFleet, prepareDataDir } from '../lib/fleet-cache.ts'
import { createHistogram, type HistogramData, percentiles } from '../lib/histogram.ts'
import { startInfluxProxy } from '../lib/influx-proxy.ts'
import { startPlatformProcess } from '../lib/platform-process.ts'
import {
  cpuTimelineText,
  createCpuTimeline,
  createProcessWatch,
  fileLimits,
  memory,
  openFiles,
} from '../lib/proc.ts'
import { type ProcessFigures, type Row, timelineText } from '../lib/report.ts'
import { describeWindow, scrapeMetrics } from '../lib/scrape.ts'
import { type SimLoad, startSimLoad } from '../lib/sim-load.ts'
import { createServiceAccounts, type SplitPlatform, startSplitPlatform } from '../lib/split-platform.ts'
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
import { offsetToHour } from './district.ts'

const WINDOW_MS = 5000

export async function runConnections(o: BenchOptions): Promise<Row[]> {
  const c = o.connections
  const elevators = Math.ceil(c.devices / 2)
  const scales = c.devices - elevators
  log(`connections: up to ${c.devices} devices (secrets: ${o.secretCost}, --secret-cost)`)
  const fleet = await cachedFleet({
    elevators,
    scales,
    seed: o.seed,
    cost: o.secretCost,
    cacheRoot: o.cacheRoot,
  })
  log(`connections: fleet ready in ${fleet.provisionS.toFixed(1)} s (cache ${fleet.cacheDir})`)
  // Alternate kinds, so that wherever connecting stops the devices held are half of each.
  const els = fleet.devices.filter((x) => x.kind === 'elevator')
  const scs = fleet.devices.filter((x) => x.kind === 'scale')
  const devices = Array.from({ length: Math.max(els.length, scs.length) }, (_, i) => [els[i], scs[i]])
    .flat()
    .filter((x) => x !== undefined)
    .map((d) => (c.statusPeriodS > 0 ? { ...d, statusPeriodS: c.statusPeriodS } : d))
  const rows: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    const influx = await startRunInflux()
    const data = tempDir('bench-connections-data-')
    try {
      rows.push(
        c.brokers > 1
          ? await clusterRun(o, run, fleet, devices, influx, data.dir)
          : await connectionsRun(o, run, fleet, devices, influx, data.dir),
      )
    } finally {
      await influx.stop()
      data.remove()
    }
  }
  return rows
}

async function connectionsRun(
  o: BenchOptions,
  run: number,
  fleet: CachedFleet,
  devices: SimulatedDeviceSpec[],
  influx: RunInflux,
  dataDir: string,
): Promise<Row> {
  const c = o.connections
  const limit = fileLimits()
  await prepareDataDir(fleet, dataDir, o.secretCost)
  const { env, mqttPort, metricsUrl } = await platformEnv({ dataDir, influx })
  const platform = await startPlatformProcess({
    env,
    mqttPort,
    cpuProfDir: o.cpuProfDir ? join(o.cpuProfDir, `connections-run${run}`) : undefined,
    nodeArgs: o.platformNodeArgs,
  })
  const watch = createProcessWatch()
  let load: SimLoad | null = null
  try {
    watch.mark('server', platform.pid)
    await sleep(2000)
    const rss0 = memory(platform.pid)?.rssMiB ?? 0
    load = startSimLoad({
      host: '127.0.0.1',
      port: mqttPort,
      ...deviceLoad(o, devices),
      nodeArgs: o.cpuProfDir
        ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `connections-run${run}-generators`)}`]
        : [],
    })
    const running = load
    const loginStarted = performance.now()
    const ticker = setInterval(() => {
      const p = running.progress()
      log(
        `connections run ${run}: ${p.connected} connected, ${p.connectFailed} failed of ${p.attempted} tried; ` +
          `platform RSS ${Math.round(memory(platform.pid)?.rssMiB ?? 0)} MiB, ${openFiles(platform.pid)} open files`,
      )
    }, 10_000)
    await running.connected.finally(() => clearInterval(ticker))
    const loginS = (performance.now() - loginStarted) / 1000
    // Settle: the last logins' scrypt buffers and the first messages' garbage collected.
    await sleep(3000)
    const p = running.progress()
    const rssFull = memory(platform.pid)?.rssMiB ?? 0
    const fdsFull = openFiles(platform.pid) ?? 0
    log(
      `connections run ${run}: ${p.connected} held, ${p.connectFailed} failed, after ${loginS.toFixed(1)} s; ` +
        `platform RSS ${Math.round(rss0)} -> ${Math.round(rssFull)} MiB, ${fdsFull} open files (limit ${limit.soft}); holding ${c.holdS} s`,
    )
    const generatorNames = running.pids().map((pid, i) => {
      watch.mark(`generator${i}`, pid)
      return `generator${i}`
    })
    watch.mark('server', platform.pid)
    watch.mark('influxd', influx.pid)
    const before = await scrapeMetrics(metricsUrl)
    const started = performance.now()
    running.go()
    await sleep(c.holdS * 1000)
    if (!platform.isRunning()) throw new Error(`the platform exited during the run:\n${platform.output()}`)
    const loadEnd = await scrapeMetrics(metricsUrl)
    const result = await running.stop()
    const wallS = (performance.now() - started) / 1000
    const after = await scrapeMetrics(metricsUrl)
    const server = figures(watch, 'server', wallS)
    const influxd = figures(watch, 'influxd', wallS)
    const generator = sumFigures(generatorNames.map((n) => figures(watch, n, wallS)))
    await platform.stop()
    const stored = await storedReadings(influx.url, influx.db)
    const held = result.connected
    const windowStats = describeWindow(before, after, loadEnd)
    const timeline = timelineOf(running.timeline(), WINDOW_MS / 1000)
    // Since the platform started, logins included (the window above starts after them).
    const overCap = after.get('mqtt_sockets_over_cap_total') ?? 0
    const cap = after.get('mqtt_connection_cap') ?? -1
    const row: Row = {
      profile: 'connections',
      target: 'platform',
      run,
      size: `${c.devices} devices tried, ${c.holdS} s held${c.statusPeriodS > 0 ? `, status every ${c.statusPeriodS} s` : ''}`,
      readingsPerS: result.measuredMs > 0 ? result.measuredAcked / (result.measuredMs / 1000) : 0,
      published: result.published,
      acked: result.acked,
      stored,
      lost: Math.max(0, result.acked - stored),
      unacknowledged: result.unacked + result.publishFailed,
      latencyMs: percentiles(result.latency),
      alertMs: null,
      processes: { server, generator, influxd },
      ratio: null,
      measuredS: wallS,
      extra: {
        held,
        connectFailed: result.connectFailed,
        notTried: devices.length - result.attempted,
        droppedConnections: result.dropped,
        loginS,
        platformRssMiB: rssFull,
        rssPerThousandMiB: held > 0 ? (rssFull - rss0) / (held / 1000) : 0,
        platformOpenFiles: fdsFull,
        socketsOverCap: overCap,
        ...windowStats.figures,
      },
      notes: [
        `stored ${stored} of ${result.acked} acknowledged (${result.published} published, ${result.unacked} unacknowledged, ${result.publishFailed} failed when their connection dropped)`,
        `open files: platform ${fdsFull} at full, limit ${limit.soft} (hard ${limit.hard}); its connection cap ${cap < 0 ? 'none' : cap}, ${overCap} sockets turned away at it`,
        windowStats.text,
        `latency by ${WINDOW_MS / 1000} s window of the hold (acks, p50/p99 ms): ${timelineText(timeline)}`,
        ...Object.entries(result.connectErrors).map(([k, v]) => `connect errors: ${v} x ${k}`),
        ...Object.entries(result.dropReasons).map(([k, v]) => `connections dropped: ${v} x ${k}`),
      ],
      timeline,
    }
    log(
      `connections run ${run}: ${held} held, ${Math.round(row.readingsPerS)} readings/s, ` +
        `${((rssFull - rss0) / Math.max(1, held / 1000)).toFixed(1)} MiB per 1000 connections, lost ${row.lost}`,
    )
    return row
  } finally {
    watch.stop()
    load?.kill()
    await platform.stop()
  }
}

/** About one device in this many is traced for publish -> stored (influx-proxy.ts). */
const TRACE_EVERY = 10

/**
 * One run against a split deployment: Redis, `brokers` brokers, ingest and alerts, each its own
 * process; devices spread over the brokers. Figures per process, and publish -> stored from the
 * traced sample (a device's PUBACK means "in Redis" here).
 */
async function clusterRun(
  o: BenchOptions,
  run: number,
  fleet: CachedFleet,
  devices: SimulatedDeviceSpec[],
  influx: RunInflux,
  dataDir: string,
): Promise<Row> {
  const c = o.connections
  const limit = fileLimits()
  await prepareDataDir(fleet, dataDir, o.secretCost)
  const passwords = await createServiceAccounts(dataDir, o.secretCost)
  const proxy = await startInfluxProxy(influx.url, TRACE_EVERY)
  const redisDir = tempDir('bench-connections-redis-')
  let platform: SplitPlatform | null = null
  const watch = createProcessWatch()
  let load: SimLoad | null = null
  try {
    platform = await startSplitPlatform({
      brokers: c.brokers,
      dataDir,
      redisDir: redisDir.dir,
      influxUrl: proxy.url,
      influxDb: influx.db,
      passwords,
      ingestInBrokers: c.clusterIngest === 'brokers',
      nodeArgs: o.platformNodeArgs,
    })
    const split = platform
    const names = Object.keys(split.pids)
    const brokerNames = names.filter((n) => n.startsWith('broker'))
    const rssOf = (name: string): number => memory(split.pids[name])?.rssMiB ?? 0
    const totalRss = (): number => names.reduce((a, n) => a + rssOf(n), 0)
    for (const n of names) watch.mark(n, split.pids[n])
    await sleep(2000)
    const rss0 = Object.fromEntries(names.map((n) => [n, rssOf(n)]))
    const total0 = totalRss()
    const influxRss0 = memory(influx.pid)?.rssMiB ?? 0
    log(
      `connections run ${run}: split deployment up (${names.join(', ')}), brokers on ports ${split.brokerPorts.join(', ')}; ` +
        `RSS ${Math.round(total0)} MiB in all`,
    )
    const brokerState = (): string =>
      brokerNames
        .map((n) => `${n} ${Math.round(rssOf(n))} MiB ${openFiles(split.pids[n]) ?? '?'} files`)
        .join(', ')
    load = startSimLoad({
      host: '127.0.0.1',
      port: split.brokerPorts[0] ?? 0,
      ports: split.brokerPorts,
      traceEvery: TRACE_EVERY,
      ...deviceLoad(o, devices),
    })
    const running = load
    const loginStarted = performance.now()
    const ticker = setInterval(() => {
      const p = running.progress()
      log(
        `connections run ${run}: ${p.connected} connected, ${p.connectFailed} failed of ${p.attempted} tried; ${brokerState()}`,
      )
    }, 10_000)
    await running.connected.finally(() => clearInterval(ticker))
    const loginS = (performance.now() - loginStarted) / 1000
    await sleep(3000)
    const p = running.progress()
    const rssFull = Object.fromEntries(names.map((n) => [n, rssOf(n)]))
    const totalFull = totalRss()
    const influxRssFull = memory(influx.pid)?.rssMiB ?? 0
    const fdsFull = Object.fromEntries(brokerNames.map((n) => [n, openFiles(split.pids[n]) ?? 0]))
    log(
      `connections run ${run}: ${p.connected} held, ${p.connectFailed} failed, after ${loginS.toFixed(1)} s; ` +
        `RSS ${Math.round(total0)} -> ${Math.round(totalFull)} MiB (platform processes); ${brokerState()} (limit ${limit.soft}); holding ${c.holdS} s`,
    )
    const generatorNames = running.pids().map((pid, i) => {
      watch.mark(`generator${i}`, pid)
      return `generator${i}`
    })
    for (const n of names) watch.mark(n, split.pids[n])
    watch.mark('influxd', influx.pid)
    const cpuTimeline = createCpuTimeline(
      { ...split.pids, influxd: influx.pid, gen: running.pids()[0] },
      WINDOW_MS,
    )
    const writtenNow = async (): Promise<number> => {
      let sum = 0
      for (const url of split.storingMetricsUrls)
        sum += (await scrapeMetrics(url)).get('ingest_written_total') ?? 0
      return sum
    }
    const writtenBefore = await writtenNow()
    const publishedAtGo = running.progress().published
    const started = performance.now()
    const goAt = Date.now()
    running.go()
    await sleep(c.holdS * 1000)
    const gone = split.exited()
    if (gone !== null) throw new Error(`${gone} exited during the run:\n${split.output(gone)}`)
    const publishedAtEnd = running.progress().published
    const writtenAfter = await writtenNow()
    const holdS = (performance.now() - started) / 1000
    const result = await running.stop()
    const wallS = (performance.now() - started) / 1000
    cpuTimeline.stop()
    const perProcess: Record<string, ProcessFigures> = Object.fromEntries(
      names.map((n) => [n, figures(watch, n, wallS)]),
    )
    const influxd = figures(watch, 'influxd', wallS)
    const generator = sumFigures(generatorNames.map((n) => figures(watch, n, wallS)))
    const written = writtenAfter - writtenBefore
    const ackMeans = split.ingestInBrokers ? "in InfluxDB or a broker's spool" : 'in Redis'
    // Acknowledged means "in Redis": wait until InfluxDB holds as many, or nothing moves for 60 s, or
    // 5 minutes passed (a cluster that fell behind: what is missing then is reported as lost).
    const drainStarted = performance.now()
    let stored = await storedReadings(influx.url, influx.db)
    let lastMove = performance.now()
    while (
      stored < result.acked &&
      performance.now() - lastMove < 60_000 &&
      performance.now() - drainStarted < 300_000
    ) {
      await sleep(2000)
      const now = await storedReadings(influx.url, influx.db)
      if (now > stored) lastMove = performance.now()
      stored = now
    }
    const drainS = (performance.now() - drainStarted) / 1000
    // What is still in the subscribers' sessions in Redis (not delivered to them, or not acknowledged).
    const queued = await split.sessionQueues()
    await split.stop()
    stored = await storedReadings(influx.url, influx.db)
    // Publish -> stored of the traced readings, overall and per window of the hold.
    const latency = createHistogram()
    const windows: ReturnType<typeof createHistogram>[] = []
    let notSeen = 0
    for (const [key, publishedAt] of result.traced ?? []) {
      const storedAt = proxy.storedAt.get(key)
      if (storedAt === undefined) {
        notSeen++
        continue
      }
      const ms = Math.max(0, storedAt - publishedAt)
      latency.record(ms)
      const w = Math.max(0, Math.floor((publishedAt - goAt) / WINDOW_MS))
      windows[w] ??= createHistogram()
      windows[w]?.record(ms)
    }
    const storedTimeline = timelineOf(
      Array.from({ length: windows.length }, (_, i): HistogramData => {
        return windows[i]?.data() ?? createHistogram().data()
      }),
      WINDOW_MS / 1000,
    )
    const puback = percentiles(result.latency)
    const held = result.connected
    const perThousand = (mib: number): number => (held > 0 ? mib / (held / 1000) : 0)
    const server = sumFigures(Object.values(perProcess))
    const processExtra: Record<string, number> = {}
    for (const n of names) {
      processExtra[`${n}CpuPct`] = perProcess[n]?.cpuPct ?? 0
      processExtra[`${n}PeakRssMiB`] = perProcess[n]?.peakRssMiB ?? 0
      processExtra[`${n}RssFullMiB`] = rssFull[n] ?? 0
    }
    for (const n of brokerNames) processExtra[`${n}OpenFiles`] = fdsFull[n] ?? 0
    const row: Row = {
      profile: 'connections',
      target: 'platform',
      run,
      size:
        `${c.devices} devices tried, ${c.brokers} brokers (${split.ingestInBrokers ? 'each storing its devices' : 'one ingest subscriber'}), ${c.holdS} s held` +
        (c.statusPeriodS > 0 ? `, status every ${c.statusPeriodS} s` : ''),
      readingsPerS: written / holdS,
      published: result.published,
      acked: result.acked,
      stored,
      lost: Math.max(0, result.acked - stored),
      unacknowledged: result.unacked + result.publishFailed,
      latencyMs: percentiles(latency.data()),
      alertMs: null,
      processes: { server, generator, influxd },
      ratio: null,
      measuredS: wallS,
      extra: {
        held,
        connectFailed: result.connectFailed,
        notTried: devices.length - result.attempted,
        droppedConnections: result.dropped,
        loginS,
        offeredPerS: (publishedAtEnd - publishedAtGo) / holdS,
        storedPerS: written / holdS,
        pubackP50Ms: puback.p50,
        pubackP99Ms: puback.p99,
        tracedReadings: latency.data().total,
        tracedNotSeen: notSeen,
        drainS,
        queuedForIngest: queued['svc-ingest'] ?? -1,
        queuedForAlerts: queued['svc-alerts'] ?? -1,
        platformRssBeforeMiB: total0,
        platformRssMiB: totalFull,
        rssPerThousandMiB: perThousand(totalFull - total0),
        rssPerThousandWithInfluxMiB: perThousand(totalFull - total0 + influxRssFull - influxRss0),
        influxdRssFullMiB: influxRssFull,
        ...processExtra,
      },
      notes: [
        `stored ${stored} of ${result.acked} acknowledged (${ackMeans}) (${result.published} published, ${result.unacked} unacknowledged, ${result.publishFailed} failed when their connection dropped); InfluxDB caught up ${drainS.toFixed(1)} s after the load stopped`,
        `still queued in Redis for the subscribers' sessions once InfluxDB stopped moving: ${
          Object.entries(queued)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || 'unknown'
        }`,
        `offered ${Math.round((publishedAtEnd - publishedAtGo) / holdS)} readings/s, stored ${Math.round(written / holdS)} lines/s (ingest_written_total, ${split.ingestInBrokers ? "the brokers' and ingest's" : "ingest's"}) over the ${Math.round(holdS)} s hold`,
        `publish -> stored of ${latency.data().total} traced readings (1 device in ${TRACE_EVERY}; ${notSeen} not seen at the InfluxDB proxy); publish -> PUBACK (${ackMeans}) p50 ${puback.p50.toFixed(1)} ms, p99 ${puback.p99.toFixed(1)} ms`,
        `per process (CPU over the hold, peak RSS, RSS when all were connected): ${names
          .map(
            (n) =>
              `${n} ${Math.round(perProcess[n]?.cpuPct ?? 0)}% ${Math.round(perProcess[n]?.peakRssMiB ?? 0)} MiB (${Math.round(rss0[n] ?? 0)} -> ${Math.round(rssFull[n] ?? 0)})`,
          )
          .join(
            ', ',
          )}; influxd ${Math.round(influxd.cpuPct)}% ${Math.round(influxd.peakRssMiB)} MiB (${Math.round(influxRss0)} -> ${Math.round(influxRssFull)}); generators ${Math.round(generator.cpuPct)}%`,
        `open files at full: ${brokerNames.map((n) => `${n} ${fdsFull[n]}`).join(', ')}; limit ${limit.soft} (hard ${limit.hard}) per process`,
        `publish -> stored by ${WINDOW_MS / 1000} s window of the hold (traced, p50/p99 ms): ${timelineText(storedTimeline)}`,
        `CPU by ${WINDOW_MS / 1000} s window (gen: the first generator): ${cpuTimelineText(cpuTimeline.windows())}`,
        ...Object.entries(result.connectErrors).map(([k, v]) => `connect errors: ${v} x ${k}`),
        ...Object.entries(result.dropReasons).map(([k, v]) => `connections dropped: ${v} x ${k}`),
      ],
      timeline: storedTimeline,
    }
    log(
      `connections run ${run}: ${held} held over ${c.brokers} brokers, offered ${Math.round(row.extra.offeredPerS as number)}/s, ` +
        `stored ${Math.round(row.readingsPerS)}/s, p50/p99 publish->stored ${row.latencyMs.p50.toFixed(0)}/${row.latencyMs.p99.toFixed(0)} ms, ` +
        `${perThousand(totalFull - total0).toFixed(1)} MiB per 1000 connections, lost ${row.lost}`,
    )
    return row
  } finally {
    watch.stop()
    load?.kill()
    await platform?.stop()
    await proxy.close()
    redisDir.remove()
  }
}

/**
 * The generators' settings shared by both deployments: devices connect (after a run of failures the
 * node counts as full) and report as soon as they are in, with no faults and no offline spells.
 */
function deviceLoad(o: BenchOptions, devices: SimulatedDeviceSpec[]) {
  return {
    sourceAddresses: o.sourceAddresses,
    devices,
    seed: o.seed,
    simOffsetMs: offsetToHour(o.district.hour),
    elevator: { offlinePerHour: 0 },
    scale: { offlinePerHour: 0 },
    tickMs: 500,
    phases: 10,
    keepaliveS: 60,
    connectConcurrency: o.connections.connectConcurrency,
    connectTimeoutMs: 60_000,
    connectAttempts: 2,
    giveUpAfterFailures: 300,
    isReportingOnConnect: true,
    startSpreadMs: 0,
    windowMs: WINDOW_MS,
    warmupMs: 0,
    injections: [],
    processes: generatorCount(o, devices.length),
  }
}
