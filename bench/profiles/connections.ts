/**
 * `connections`: how many simulated devices one node holds connected and reporting. Half elevators,
 * half scales (the Qiaokou mix), each with its own credentials, connecting from several 127.0.0.x
 * source addresses (one address has ~28,000 ephemeral ports) and from several generator processes
 * (each process has its own open-files limit). Devices start reporting as soon as they are connected;
 * connecting stops after a run of failures (the node is full). Then every device that got in keeps
 * reporting for `holdS`, and the platform's resident memory is read per thousand connections.
 */
import { join } from 'node:path'
import type { SimulatedDeviceSpec } from '../../simulators/spec.ts'
import { type CachedFleet, cachedFleet, prepareDataDir } from '../lib/fleet-cache.ts'
import { percentiles } from '../lib/histogram.ts'
import { startPlatformProcess } from '../lib/platform-process.ts'
import { createProcessWatch, fileLimits, memory, openFiles } from '../lib/proc.ts'
import { type Row, timelineText } from '../lib/report.ts'
import { describeWindow, scrapeMetrics } from '../lib/scrape.ts'
import { type SimLoad, startSimLoad } from '../lib/sim-load.ts'
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
  log(`connections: up to ${c.devices} devices (secrets: ${o.secretCost} scrypt cost)`)
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
  const rows: Row[] = []
  for (let run = 1; run <= o.runs; run++) {
    const influx = await startRunInflux()
    const data = tempDir('bench-connections-data-')
    try {
      rows.push(await connectionsRun(o, run, fleet, devices, influx, data.dir))
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
      sourceAddresses: o.sourceAddresses,
      devices,
      seed: o.seed,
      simOffsetMs: offsetToHour(o.district.hour),
      elevator: { offlinePerHour: 0 },
      scale: { offlinePerHour: 0 },
      tickMs: 500,
      phases: 10,
      keepaliveS: 60,
      connectConcurrency: c.connectConcurrency,
      connectTimeoutMs: 60_000,
      connectAttempts: 2,
      giveUpAfterFailures: 300,
      isReportingOnConnect: true,
      startSpreadMs: 0,
      windowMs: WINDOW_MS,
      warmupMs: 0,
      injections: [],
      processes: generatorCount(o, devices.length),
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
    const result = await running.stop()
    const wallS = (performance.now() - started) / 1000
    const after = await scrapeMetrics(metricsUrl)
    const server = figures(watch, 'server', wallS)
    const influxd = figures(watch, 'influxd', wallS)
    const generator = sumFigures(generatorNames.map((n) => figures(watch, n, wallS)))
    await platform.stop()
    const stored = await storedReadings(influx.url, influx.db)
    const held = result.connected
    const windowStats = describeWindow(before, after)
    const timeline = timelineOf(running.timeline(), WINDOW_MS / 1000)
    const row: Row = {
      profile: 'connections',
      target: 'platform',
      run,
      size: `${c.devices} devices tried, ${c.holdS} s held`,
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
        ...windowStats.figures,
      },
      notes: [
        `stored ${stored} of ${result.acked} acknowledged (${result.published} published, ${result.unacked} unacknowledged, ${result.publishFailed} failed when their connection dropped)`,
        `open files: platform ${fdsFull} at full, limit ${limit.soft} (hard ${limit.hard})`,
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
