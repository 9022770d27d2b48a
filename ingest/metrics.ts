/**
 * Prometheus metrics of ingest, on the registry passed in (never prom-client's global one), and the
 * per-interval figures of the `platform_ingest` health point.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { createHotCounter } from '../domain/hot-metrics.ts'
import { UPLINK_TYPES, type UplinkType } from '../domain/topics.ts'
import type { SpoolDepth } from './spool.ts'

/** What `ingest_received_total` counts by: an uplink type, alert messages, or a topic it does not know. */
export type ReceivedType = UplinkType | 'alert_change' | 'alerts_active' | 'unknown'

export type IngestMetrics = ReturnType<typeof createIngestMetrics>

export function createIngestMetrics(
  registry: Registry,
  sources: { spoolDepth: () => SpoolDepth; isInfluxUp: () => boolean; now: () => number },
) {
  const registers = [registry]
  return {
    received: createHotCounter({
      name: 'ingest_received_total',
      help: 'Messages received, by uplink type (unknown = not a protocol v1 uplink topic)',
      labelName: 'type',
      values: [...UPLINK_TYPES, 'alert_change', 'alerts_active', 'unknown'] satisfies ReceivedType[],
      registers,
    }),
    written: new Counter({
      name: 'ingest_written_total',
      help: 'Lines InfluxDB accepted (direct and replayed from the spool)',
      registers,
    }),
    spooled: new Counter({
      name: 'ingest_spooled_total',
      help: 'Lines written to the on-disk spool because InfluxDB had not accepted them',
      registers,
    }),
    replayed: new Counter({
      name: 'ingest_replayed_total',
      help: 'Lines replayed from the spool into InfluxDB',
      registers,
    }),
    deadLetters: new Counter({
      name: 'ingest_dead_letters_total',
      help: 'Messages refused and kept in the dead-letter store, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'ingest_batch_size',
      help: 'Lines per write request to InfluxDB',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000],
      registers,
    }),
    writeSeconds: new Histogram({
      name: 'ingest_write_seconds',
      help: 'Duration of write requests to InfluxDB, by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    spoolDepthLines: new Gauge({
      name: 'ingest_spool_depth_lines',
      help: 'Lines in the spool, not yet in InfluxDB',
      registers,
      collect() {
        this.set(sources.spoolDepth().lines)
      },
    }),
    spoolAgeSeconds: new Gauge({
      name: 'ingest_spool_age_seconds',
      help: 'Age of the oldest line in the spool (0 when empty)',
      registers,
      collect() {
        const { oldestAt } = sources.spoolDepth()
        this.set(oldestAt === null ? 0 : Math.max(0, (sources.now() - oldestAt) / 1000))
      },
    }),
    influxUp: new Gauge({
      name: 'ingest_influx_up',
      help: '1 while InfluxDB accepts writes, 0 while readings go to the spool',
      registers,
      collect() {
        this.set(sources.isInfluxUp() ? 1 : 0)
      },
    }),
  }
}

/** Batch sizes and write latencies since the last health point. */
export function createIntervalStats() {
  let latenciesMs: number[] = []
  let batches = 0
  let lines = 0
  return {
    recordWrite(lineCount: number, ms: number): void {
      latenciesMs.push(ms)
      batches++
      lines += lineCount
    },
    /** Figures since the previous call, then starts a new interval. */
    take(): { batchSizeAvg: number; writeLatencyP50Ms: number; writeLatencyP99Ms: number } {
      const sorted = latenciesMs.sort((a, b) => a - b)
      const at = (q: number): number =>
        sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
      const result = {
        batchSizeAvg: batches === 0 ? 0 : lines / batches,
        writeLatencyP50Ms: at(0.5),
        writeLatencyP99Ms: at(0.99),
      }
      latenciesMs = []
      batches = 0
      lines = 0
      return result
    },
  }
}
