/**
 * `throughput`: QoS 1 readings as fast as the whole platform (broker + ingest + alerts + API in one
 * process, InfluxDB beside it) acknowledges them, each acknowledgement meaning "stored", against raw
 * Aedes and Mosquitto with the same generator process, devices and payloads in the same run.
 *
 * The generator (bench/lib/load-generator.ts, raw MQTT client) keeps `inflight` unacknowledged
 * messages per device: closed loop, so the rate is what the server sustains, not what was offered.
 * Every run checks that what was acknowledged is in InfluxDB (nothing lost).
 */
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeFleet } from '../../ingest/testing.ts'
import { registryFile } from '../../registry/registry.ts'
import { findMosquitto, startAedesProcess, startMosquitto } from '../lib/brokers.ts'
import { type LoadDevice, type LoadResult, runLoad, startLoad } from '../lib/load-generator.ts'
import { startPlatformProcess } from '../lib/platform-process.ts'
import { createProcessWatch } from '../lib/proc.ts'
import type { Row, TargetName } from '../lib/report.ts'
import {
  type BenchOptions,
  figures,
  log,
  platformEnv,
  type RunInflux,
  startRunInflux,
  storedReadings,
  tempDir,
} from './common.ts'

const WARMUP_MESSAGES = 20

type Measured = { warmup: LoadResult; result: LoadResult; row: Omit<Row, 'run' | 'ratio' | 'notes'> }

async function measure(
  o: BenchOptions,
  target: TargetName,
  url: string,
  devices: LoadDevice[],
  serverPid: number | undefined,
  influx: RunInflux | null,
): Promise<Measured> {
  const t = o.throughput
  const base = { url, devices, inflightPerDevice: t.inflight, client: 'raw' as const, maxDurationMs: 900_000 }
  // Warm-up, not measured: JIT, connections, InfluxDB's series (a running platform has them).
  const warmup = await runLoad({ ...base, messagesPerDevice: WARMUP_MESSAGES })
  const run = startLoad({ ...base, messagesPerDevice: t.messages, startSeq: WARMUP_MESSAGES })
  await run.ready
  const watch = createProcessWatch()
  watch.mark('server', serverPid)
  watch.mark('generator', run.pid)
  if (influx) watch.mark('influxd', influx.pid)
  const started = performance.now()
  run.go()
  try {
    const result = await run.done
    const wallS = (performance.now() - started) / 1000
    const server = figures(watch, 'server', wallS)
    const influxd = influx ? figures(watch, 'influxd', wallS) : null
    return {
      warmup,
      result,
      row: {
        profile: 'throughput',
        target,
        size: `${devices.length} devices x ${t.messages}, window ${t.inflight}`,
        readingsPerS: result.ratePerS,
        published: result.publishedTotal,
        acked: result.ackedTotal,
        stored: null,
        lost: 0,
        unacknowledged: result.publishedTotal - result.ackedTotal,
        latencyMs: {
          count: result.ackedTotal,
          p50: result.latencyMs.p50,
          p99: result.latencyMs.p99,
          max: result.latencyMs.max,
        },
        alertMs: null,
        processes: { server, generator: figures(watch, 'generator', wallS), influxd },
        measuredS: wallS,
        extra: {
          serverCpuUsPerReading: (server.cpuS / Math.max(1, result.ackedTotal)) * 1e6,
          ...(influxd
            ? { influxdCpuUsPerReading: (influxd.cpuS / Math.max(1, result.ackedTotal)) * 1e6 }
            : {}),
        },
      },
    }
  } finally {
    watch.stop()
  }
}

export async function runThroughput(o: BenchOptions): Promise<Row[]> {
  const t = o.throughput
  const template = tempDir('bench-throughput-fleet-')
  const rows: Row[] = []
  try {
    // Throughput is not about logins: the fleet's secrets use a cheap hash (ingest/testing.ts).
    const { registry, devices } = await makeFleet(template.dir, t.devices, 'bench')
    registry.close()
    const mosquitto = t.targets.includes('mosquitto') ? findMosquitto() : null
    if (t.targets.includes('mosquitto') && mosquitto === null) {
      log('throughput: mosquitto is not installed; no reference row')
    }
    for (let run = 1; run <= o.runs; run++) {
      const runRows: Row[] = []
      const push = (m: Measured, extraNotes: string[] = []): Row => {
        const errors = m.result.errors.length > 0 ? [`errors: ${m.result.errors.slice(0, 3).join('; ')}`] : []
        const row: Row = { ...m.row, run, ratio: null, notes: [...errors, ...extraNotes] }
        runRows.push(row)
        log(
          `throughput run ${run} ${row.target}: ${Math.round(row.readingsPerS)} readings/s, p99 ${row.latencyMs.p99.toFixed(1)} ms`,
        )
        return row
      }

      if (t.targets.includes('aedes')) {
        const aedes = await startAedesProcess()
        try {
          push(await measure(o, 'aedes', aedes.url, devices, aedes.pid, null))
        } finally {
          await aedes.stop()
        }
      }

      if (mosquitto) {
        const dir = tempDir('bench-mosquitto-')
        const broker = await startMosquitto(mosquitto, dir.dir)
        try {
          push(await measure(o, 'mosquitto', broker.url, devices, broker.pid, null))
        } finally {
          await broker.stop()
          dir.remove()
        }
      }

      const influx = t.targets.includes('platform') ? await startRunInflux() : null
      const data = tempDir('bench-throughput-data-')
      try {
        if (influx === null) continue
        copyFileSync(registryFile(template.dir), registryFile(data.dir))
        const { env, mqttPort } = await platformEnv({ dataDir: data.dir, influx })
        const platform = await startPlatformProcess({
          env,
          mqttPort,
          cpuProfDir: o.cpuProfDir ? join(o.cpuProfDir, `throughput-run${run}`) : undefined,
          nodeArgs: o.platformNodeArgs,
        })
        let measured: Measured
        try {
          measured = await measure(o, 'platform', platform.mqttUrl, devices, platform.pid, influx)
        } finally {
          await platform.stop()
        }
        const stored = await storedReadings(influx.url, influx.db)
        const acked = measured.warmup.ackedTotal + measured.result.ackedTotal
        const row = push(measured, [`stored ${stored} of ${acked} acknowledged (warm-up included)`])
        row.stored = stored
        row.lost = Math.max(0, acked - stored)
      } finally {
        await influx?.stop()
        data.remove()
        rows.push(...ratios(runRows))
      }
    }
  } finally {
    template.remove()
  }
  return rows
}

/** Each platform row gets its ratio to raw Aedes of the same run. */
function ratios(runRows: Row[]): Row[] {
  const base = runRows.find((r) => r.target === 'aedes')
  for (const r of runRows) {
    if (r.target === 'platform' && base && base.readingsPerS > 0) r.ratio = r.readingsPerS / base.readingsPerS
  }
  return runRows
}
