/**
 * Rows of the end-to-end benchmark and how they are printed: one Markdown table per set of runs, and a
 * summary with min / median / max over repeated runs (so the same text goes into docs/benchmarks.md).
 */
import type { Percentiles } from './histogram.ts'

export type ProfileName = 'throughput' | 'district' | 'connections'
export type TargetName = 'platform' | 'aedes' | 'mosquitto'

export type ProcessFigures = { cpuS: number; cpuPct: number; peakRssMiB: number }

export type Row = {
  profile: ProfileName
  target: TargetName
  run: number
  size: string
  /** Acknowledged readings per second over the measured window. */
  readingsPerS: number
  published: number
  acked: number
  /** Readings found in InfluxDB (platform only). */
  stored: number | null
  /** Acknowledged but not in InfluxDB (platform), or acknowledged by nobody (a broker's loss). */
  lost: number
  /** Published and never acknowledged (the device still holds them: its connection dropped, or the run ended). */
  unacknowledged: number
  /** Publish to PUBACK: for the platform, publish to stored (PUBACK waits for InfluxDB). */
  latencyMs: Percentiles
  /** Condition complete -> trapped alert delivered to an MQTT consumer (district). */
  alertMs: (Percentiles & { missed: number; raiseP99: number }) | null
  /** server: the platform or the broker under test; generator; influxd. */
  processes: { server: ProcessFigures; generator: ProcessFigures; influxd: ProcessFigures | null }
  /** readings/s of the platform / of raw Aedes in the same run (throughput). */
  ratio: number | null
  measuredS: number
  /** Profile-specific figures (connections: held, RSS per 1000, login time …). */
  extra: Record<string, number | string>
  notes: string[]
  /** Latency by window of the run (district, connections). */
  timeline?: TimelinePoint[]
}

export type TimelinePoint = Percentiles & { s: number }

/** `s: count p50/p99` per window, one line. */
export function timelineText(points: TimelinePoint[]): string {
  return points.map((p) => `${p.s}s: ${p.count} ${num(p.p50)}/${num(p.p99)}`).join(', ')
}

const num = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || !Number.isFinite(n)
    ? '–'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

const proc = (p: ProcessFigures | null): string =>
  p === null ? '–' : `${num(p.cpuS, 1)} s (${num(p.cpuPct)}%), ${num(p.peakRssMiB)} MiB`

export function runTable(rows: Row[]): string {
  const head =
    '| profile | target | run | size | readings/s | p50 ms | p99 ms | alert p99 ms | lost | server CPU, peak RSS | generator CPU, peak RSS | influxd CPU, peak RSS | platform/aedes |'
  const rule = `|${head
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`
  const lines = rows.map(
    (r) =>
      `| ${r.profile} | ${r.target} | ${r.run} | ${r.size} | ${num(r.readingsPerS)} | ${num(r.latencyMs.p50, 1)} | ${num(r.latencyMs.p99, 1)} | ${r.alertMs ? `${num(r.alertMs.p99)} (${r.alertMs.count} alerts, ${r.alertMs.missed} missed)` : '–'} | ${num(r.lost)}${r.unacknowledged > 0 ? ` (${num(r.unacknowledged)} unacked)` : ''} | ${proc(r.processes.server)} | ${proc(r.processes.generator)} | ${proc(r.processes.influxd)} | ${r.ratio === null ? '–' : num(r.ratio, 2)} |`,
  )
  return [head, rule, ...lines].join('\n')
}

export type Spread = { min: number; median: number; max: number }

export function spread(values: number[]): Spread | null {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const mid = Math.floor(sorted.length / 2)
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
  return { min: sorted[0] ?? 0, median, max: sorted.at(-1) ?? 0 }
}

export type SummaryRow = {
  profile: ProfileName
  target: TargetName
  size: string
  runs: number
  readingsPerS: Spread | null
  p50Ms: Spread | null
  p99Ms: Spread | null
  alertP99Ms: Spread | null
  lost: number
  unacknowledged: number
  alertsMissed: number
  serverCpuPct: Spread | null
  serverPeakRssMiB: Spread | null
  generatorCpuPct: Spread | null
  influxdCpuPct: Spread | null
  influxdPeakRssMiB: Spread | null
  ratio: Spread | null
  extra: Record<string, Spread | null>
}

export function summarize(rows: Row[]): SummaryRow[] {
  const groups = new Map<string, Row[]>()
  for (const r of rows) {
    const key = `${r.profile}\u0000${r.target}\u0000${r.size}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  return [...groups.values()].flatMap((g) => {
    const first = g[0]
    if (!first) return []
    const extraKeys = [...new Set(g.flatMap((r) => Object.keys(r.extra)))]
    const extra: Record<string, Spread | null> = {}
    for (const k of extraKeys) {
      const values = g.map((r) => r.extra[k]).filter((v): v is number => typeof v === 'number')
      if (values.length > 0) extra[k] = spread(values)
    }
    return [
      {
        profile: first.profile,
        target: first.target,
        size: first.size,
        runs: g.length,
        readingsPerS: spread(g.map((r) => r.readingsPerS)),
        p50Ms: spread(g.map((r) => r.latencyMs.p50)),
        p99Ms: spread(g.map((r) => r.latencyMs.p99)),
        alertP99Ms: spread(g.flatMap((r) => (r.alertMs && r.alertMs.count > 0 ? [r.alertMs.p99] : []))),
        lost: g.reduce((a, r) => a + r.lost, 0),
        unacknowledged: g.reduce((a, r) => a + r.unacknowledged, 0),
        alertsMissed: g.reduce((a, r) => a + (r.alertMs?.missed ?? 0), 0),
        serverCpuPct: spread(g.map((r) => r.processes.server.cpuPct)),
        serverPeakRssMiB: spread(g.map((r) => r.processes.server.peakRssMiB)),
        generatorCpuPct: spread(g.map((r) => r.processes.generator.cpuPct)),
        influxdCpuPct: spread(g.flatMap((r) => (r.processes.influxd ? [r.processes.influxd.cpuPct] : []))),
        influxdPeakRssMiB: spread(
          g.flatMap((r) => (r.processes.influxd ? [r.processes.influxd.peakRssMiB] : [])),
        ),
        ratio: spread(g.flatMap((r) => (r.ratio === null ? [] : [r.ratio]))),
        extra,
      },
    ]
  })
}

const sp = (s: Spread | null, digits = 0): string =>
  s === null ? '–' : `${num(s.min, digits)} / ${num(s.median, digits)} / ${num(s.max, digits)}`

const isWhole = (s: Spread): boolean => [s.min, s.median, s.max].every(Number.isInteger)

export function summaryTable(summary: SummaryRow[]): string {
  const head =
    '| profile | target | size | runs | readings/s | p50 ms | p99 ms | alert p99 ms | lost | server CPU % | server peak RSS MiB | generator CPU % | influxd CPU % | influxd peak RSS MiB | platform/aedes |'
  const rule = `|${head
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`
  const lines = summary.map(
    (s) =>
      `| ${s.profile} | ${s.target} | ${s.size} | ${s.runs} | ${sp(s.readingsPerS)} | ${sp(s.p50Ms, 1)} | ${sp(s.p99Ms, 1)} | ${s.alertP99Ms ? `${sp(s.alertP99Ms)}${s.alertsMissed > 0 ? ` (${s.alertsMissed} missed)` : ''}` : '–'} | ${num(s.lost)}${s.unacknowledged > 0 ? ` (${num(s.unacknowledged)} unacked)` : ''} | ${sp(s.serverCpuPct)} | ${sp(s.serverPeakRssMiB)} | ${sp(s.generatorCpuPct)} | ${sp(s.influxdCpuPct)} | ${sp(s.influxdPeakRssMiB)} | ${sp(s.ratio, 2)} |`,
  )
  const extras = summary
    .filter((s) => Object.keys(s.extra).length > 0)
    .map(
      (s) =>
        `- ${s.profile} / ${s.target}: ${Object.entries(s.extra)
          .map(([k, v]) => `${k} ${sp(v, v && isWhole(v) ? 0 : 1)}`)
          .join(', ')}`,
    )
  return [
    head,
    rule,
    ...lines,
    ...(extras.length > 0 ? ['', 'min / median / max of the other figures:', ...extras] : []),
  ].join('\n')
}
