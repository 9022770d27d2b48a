/**
 * `npm run bench:ingest`: readings per second sustained from publish to accepted-by-InfluxDB, with
 * p50/p99 latency, against a raw Aedes QoS 1 baseline: same payloads, same load generator (its own
 * process), same run. Not a test: it prints a table and the ratio (docs/benchmarks.md has the figures).
 *
 *   npm run bench:ingest -- [--devices 1000] [--messages 200] [--inflight 10] [--runs 3]
 *                           [--client raw|mqttjs] [--only both|all|ingest|baseline|broker]
 *
 * `--only all` adds a third row: the platform's broker without ingest (where the time goes).
 *
 * The ingest run is the all-in-one deployment: the real broker (registry auth, ACL) with ingest as its
 * in-process sink, writing to a real InfluxDB 1.x started here (INFLUX_API=1). A device's PUBACK is sent
 * only once its reading is in InfluxDB (or the spool: the run checks that nothing was spooled), so
 * publish -> PUBACK is publish -> stored. Ingest settings come from the environment (INGEST_BATCH_SIZE …).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import { Registry as PromRegistry } from 'prom-client'
import { createBroker } from '../broker/broker.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { countsByDevice, ingestConfig, makeFleet, startStack, tempDir } from '../ingest/testing.ts'
import type { Registry } from '../registry/registry.ts'
import { createTestDatabase, startInfluxd } from '../test/support/influxd.ts'
import { countOption, parseCli } from './lib/cli.ts'
import {
  type LoadDevice,
  type LoadOptions,
  type LoadResult,
  runLoad,
  startLoad,
} from './lib/load-generator.ts'

const USAGE = `usage: npm run bench:ingest -- [--devices 1000] [--messages 200] [--inflight 10] [--runs 3]
                              [--client raw|mqttjs] [--only both|all|ingest|baseline|broker]`
const { values } = parseCli(
  {
    options: {
      devices: { type: 'string', default: '1000' },
      messages: { type: 'string', default: '200' },
      inflight: { type: 'string', default: '10' },
      runs: { type: 'string', default: '3' },
      client: { type: 'string', default: 'raw' },
      only: { type: 'string', default: 'both' },
    },
  },
  USAGE,
)
const deviceCount = countOption('devices', values.devices, USAGE)
const messagesPerDevice = countOption('messages', values.messages, USAGE)
const inflightPerDevice = countOption('inflight', values.inflight, USAGE)
const runs = countOption('runs', values.runs, USAGE)
const client = values.client === 'mqttjs' ? 'mqttjs' : 'raw'

type Row = { kind: 'baseline' | 'broker' | 'ingest'; run: number; result: LoadResult; note: string }

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command; clock ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** The influxd started for this run (found by its config file; the runner does not expose its PID). */
function influxdPid(dir: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.startsWith('influxd') && cmdline.includes(dir)) return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  return undefined
}

/** Runs the load (timed from the first publish) and says how much CPU each process used meanwhile. */
async function measuredLoad(url: string, devices: LoadDevice[], influxPid: number | undefined) {
  // Warm-up, not measured: JIT, connections, and InfluxDB's series (a running platform has them).
  await runLoad({ ...loadOptions(url, devices), messagesPerDevice: WARMUP_MESSAGES })
  const run = startLoad({ ...loadOptions(url, devices), startSeq: WARMUP_MESSAGES })
  await run.ready
  const self0 = process.cpuUsage()
  const influx0 = cpuSeconds(influxPid)
  const generator0 = cpuSeconds(run.pid)
  let generator1 = generator0
  // The generator exits when done: sample it while it runs.
  const sampler = setInterval(() => {
    generator1 = Math.max(generator1, cpuSeconds(run.pid))
  }, 100)
  const started = performance.now()
  run.go()
  try {
    const result = await run.done
    const wall = (performance.now() - started) / 1000
    const self = process.cpuUsage(self0)
    const pct = (seconds: number): string => `${Math.round((seconds / wall) * 100)}%`
    const platformS = (self.user + self.system) / 1e6
    const perReading = (seconds: number): string =>
      `${((seconds / Math.max(1, result.ackedTotal)) * 1e6).toFixed(1)} µs`
    const influxS = cpuSeconds(influxPid) - influx0
    const cpu =
      `cpu: platform ${pct(platformS)} (${perReading(platformS)}/reading)` +
      (influxPid === undefined ? '' : `, influxd ${pct(influxS)} (${perReading(influxS)})`) +
      `, generator ${pct(generator1 - generator0)}`
    return { result, cpu }
  } finally {
    clearInterval(sampler)
  }
}

const WARMUP_MESSAGES = 20

function loadOptions(url: string, devices: LoadDevice[]): LoadOptions {
  return { url, devices, messagesPerDevice, inflightPerDevice, client, maxDurationMs: 600_000 }
}

async function baseline(devices: LoadDevice[]): Promise<{ result: LoadResult; cpu: string }> {
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  try {
    return await measuredLoad(`mqtt://127.0.0.1:${port}`, devices, undefined)
  } finally {
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * For attribution only (not the baseline of the ratio): the platform's broker (registry auth, ACL,
 * metrics) without ingest behind it, so the table shows what the broker adds and what ingest adds.
 */
async function brokerOnly(
  registry: Registry,
  devices: LoadDevice[],
): Promise<{ result: LoadResult; cpu: string }> {
  const broker = createBroker({
    config: BrokerConfigSchema.parse({ MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }),
    logger: silentLogger(),
    registry,
    metrics: new PromRegistry(),
  })
  await broker.start()
  try {
    return await measuredLoad(`mqtt://127.0.0.1:${broker.port()}`, devices, undefined)
  } finally {
    await broker.stop()
  }
}

async function main(): Promise<void> {
  const data = tempDir('bench-ingest-')
  const influxDir = tempDir('bench-influxd-')
  const influxd = await startInfluxd({ dir: influxDir.dir })
  const rows: Row[] = []
  try {
    const { registry, devices } = await makeFleet(data.dir, deviceCount, 'bench')
    console.log(
      `${deviceCount} devices x ${messagesPerDevice} readings, QoS 1, window ${inflightPerDevice} per device, ` +
        `client ${client}, ${runs} run(s); InfluxDB 1.x at ${influxd.url}`,
    )
    for (let run = 1; run <= runs; run++) {
      if (values.only !== 'ingest' && values.only !== 'broker') {
        const { result, cpu } = await baseline(devices)
        rows.push({ kind: 'baseline', run, result, note: cpu })
        report(rows.at(-1))
      }
      if (values.only === 'all' || values.only === 'broker') {
        const { result, cpu } = await brokerOnly(registry, devices)
        rows.push({ kind: 'broker', run, result, note: cpu })
        report(rows.at(-1))
      }
      if (values.only !== 'baseline' && values.only !== 'broker') {
        const db = await createTestDatabase(influxd.url, `bench${run}`)
        const stack = await startStack({
          registry,
          logger: silentLogger(),
          config: ingestConfig({
            ...process.env,
            DATA_DIR: data.dir,
            INFLUX_URL: influxd.url,
            INFLUX_DB: db,
          }),
        })
        let measured: { result: LoadResult; cpu: string }
        try {
          measured = await measuredLoad(stack.url, devices, influxdPid(influxDir.dir))
        } finally {
          await stack.stop()
        }
        const { result, cpu } = measured
        const stats = stack.ingest.stats()
        const stored = [...(await countsByDevice(influxd.url, db)).values()].reduce((a, b) => a + b, 0)
        const measuredStored = stored - WARMUP_MESSAGES * devices.length
        const metric = async (name: string) => {
          const m = await stack.metrics.getSingleMetric(name)?.get()
          const sum =
            m?.values.find((v) => (v as { metricName?: string }).metricName === `${name}_sum`)?.value ?? 0
          const count =
            m?.values.find((v) => (v as { metricName?: string }).metricName === `${name}_count`)?.value ?? 0
          return { sum, count }
        }
        const batches = await metric('ingest_batch_size')
        const writes = await metric('ingest_write_seconds')
        console.log(
          `  ingest: ${batches.count} writes, ${(batches.sum / Math.max(1, batches.count)).toFixed(0)} lines per write, ` +
            `${((writes.sum / Math.max(1, writes.count)) * 1000).toFixed(0)} ms per write`,
        )
        const note = `stored ${measuredStored}/${result.ackedTotal}, spooled ${stats.spooled}; ${cpu}`
        rows.push({ kind: 'ingest', run, result, note })
        report(rows.at(-1))
      }
    }
    registry.close()
    summary(rows)
  } finally {
    await influxd.stop()
    influxDir.remove()
    data.remove()
  }
}

const fmt = (n: number, digits = 0): string => n.toFixed(digits).padStart(8)

function report(row: Row | undefined): void {
  if (row === undefined) return
  const { result } = row
  console.log(
    `${row.kind.padEnd(8)} run ${row.run}: ${fmt(result.ratePerS)} readings/s  p50 ${fmt(result.latencyMs.p50, 1)} ms` +
      `  p99 ${fmt(result.latencyMs.p99, 1)} ms  acked ${result.ackedTotal}/${result.publishedTotal}` +
      `${result.errors.length > 0 ? `  errors ${result.errors.length}: ${result.errors[0]}` : ''}  ${row.note}`,
  )
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 }
}

function summary(rows: Row[]): void {
  console.log('\n               readings/s (min / median / max)      p50 ms (median)   p99 ms (median)')
  const medians: Record<string, number> = {}
  for (const kind of ['baseline', 'broker', 'ingest'] as const) {
    const mine = rows.filter((r) => r.kind === kind)
    if (mine.length === 0) continue
    const rate = stats(mine.map((r) => r.result.ratePerS))
    const p50 = stats(mine.map((r) => r.result.latencyMs.p50))
    const p99 = stats(mine.map((r) => r.result.latencyMs.p99))
    medians[kind] = rate.median
    console.log(
      `${kind.padEnd(10)} ${fmt(rate.min)} / ${fmt(rate.median)} / ${fmt(rate.max)}        ${fmt(p50.median, 1)}          ${fmt(p99.median, 1)}`,
    )
  }
  const ratios = rows
    .filter((r) => r.kind === 'ingest')
    .map((r) => {
      const base = rows.find((b) => b.kind === 'baseline' && b.run === r.run)
      return base ? r.result.ratePerS / base.result.ratePerS : Number.NaN
    })
    .filter((n) => Number.isFinite(n))
  if (ratios.length > 0 && medians.baseline && medians.ingest) {
    const r = stats(ratios)
    console.log(
      `\nratio ingest/baseline: ${(medians.ingest / medians.baseline).toFixed(2)} (medians); per run ${r.min.toFixed(2)} / ${r.median.toFixed(2)} / ${r.max.toFixed(2)}`,
    )
  }
}

await main()
