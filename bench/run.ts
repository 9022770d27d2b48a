/**
 * `npm run bench`: the end-to-end benchmark. It starts what it measures (the platform as `npm start`
 * runs it, in its own process; a fresh InfluxDB per run; raw Aedes and Mosquitto for the baseline),
 * drives the load from separate processes, and prints one table per profile and a summary with
 * min / median / max over `--runs`. Run on demand, never as a timed test (bench.test.ts only checks
 * that `--smoke` completes). docs/benchmarks.md has the figures and what limits each profile.
 *
 *   npm run bench -- [--profile throughput|district|connections|all] [--runs 3] [--json] [--smoke]
 *     throughput:  [--devices 1000] [--messages 600] [--inflight 10] [--targets aedes,mosquitto,platform]
 *     district:    [--elevators 10000] [--scales 10000] [--duration 300] [--warmup 75] [--start-spread 60]
 *                  [--trapped-every 3] [--trapped-after 5] [--hour 8]
 *     connections: [--connections 50000] [--hold 60] [--connect-concurrency 32] [--brokers 1] [--status-period S]
 *                  [--cluster-ingest brokers|subscriber]
 *     all:         [--secret-cost production|scrypt|fast] [--generators N] [--source-addresses 8]
 *                  [--cpu-prof DIR] [--platform-node-options "…"] [--cache-dir DIR] [--seed bench]
 */

import { parseCli } from './lib/cli.ts'
import type { SecretCost } from './lib/fleet-cache.ts'
import { loadAverage, machine } from './lib/proc.ts'
import { type Row, runTable, summarize, summaryTable } from './lib/report.ts'
import type { BenchOptions } from './profiles/common.ts'
import { runConnections } from './profiles/connections.ts'
import { runDistrict } from './profiles/district.ts'
import { runThroughput } from './profiles/throughput.ts'

const USAGE = `usage: npm run bench -- [options]
  --profile P            throughput | district | connections | all (default all)
  --runs N               repeated runs of each profile, for min / median / max (default 1)
  --smoke                tiny sizes (CI: it must complete; speed is not asserted)
  --json                 machine-readable result on stdout (tables go to stderr)
  --secret-cost C        production (the registry's default: SHA-256 digests) | scrypt (stored as before
                         2026-11: scrypt N=2^12, ~9 ms a first login) | fast (the tests' token-cost scrypt)
  --cpu-prof DIR         run the platform under node --cpu-prof, profiles written to DIR
  --platform-node-options "…"   Node options of the platform process (e.g. --max-old-space-size=512)
  --generators N         load generator processes (default one per 10,000 devices)
  --source-addresses N   spread connections over 127.0.0.2 … 127.0.0.(N+1) (default 8)
  --cache-dir DIR        where provisioned fleets are kept (default $TMPDIR/liftscale-bench)
  --seed S               fleet and simulation seed (default bench)
throughput:  --devices 1000 --messages 600 (per device) --inflight 10 (per device)
             --targets aedes,mosquitto,platform (which servers, in this order)
district:    --elevators 10000 --scales 10000 --duration 300 (s) --warmup 75 (s, not in latencies)
             --start-spread 60 (s: devices start reporting spread over this, as in a running district)
             --trapped-every 3 (s) --trapped-after 5 (s, TRAPPED_AFTER_S) --hour 8 (Asia/Shanghai)
connections: --connections 50000 --hold 60 (s) --connect-concurrency 32 (per generator)
             --brokers N (1: the platform as one process; N > 1: a split deployment on this node:
               Redis, N brokers, ingest and alerts as processes of their own, devices spread over the brokers)
             --status-period S (every device's status period in s, for a lower reporting rate; default the registry's)
             --cluster-ingest brokers|subscriber (with --brokers N > 1; brokers, the default: each broker stores
               its own devices' readings, BROKER_INGEST=local; subscriber: one ingest process takes the
               whole stream through its Redis session)`

const { values } = parseCli(
  {
    options: {
      profile: { type: 'string', default: 'all' },
      runs: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'secret-cost': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'platform-node-options': { type: 'string', default: '' },
      generators: { type: 'string', default: '0' },
      'source-addresses': { type: 'string', default: '8' },
      'cache-dir': { type: 'string' },
      seed: { type: 'string', default: 'bench' },
      devices: { type: 'string' },
      messages: { type: 'string' },
      inflight: { type: 'string' },
      targets: { type: 'string', default: 'aedes,mosquitto,platform' },
      elevators: { type: 'string' },
      scales: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'start-spread': { type: 'string' },
      'trapped-every': { type: 'string' },
      'trapped-after': { type: 'string' },
      hour: { type: 'string', default: '8' },
      connections: { type: 'string' },
      hold: { type: 'string' },
      'connect-concurrency': { type: 'string', default: '32' },
      brokers: { type: 'string', default: '1' },
      'status-period': { type: 'string', default: '0' },
      'cluster-ingest': { type: 'string', default: 'brokers' },
    },
  },
  USAGE,
)

const PROFILES = ['throughput', 'district', 'connections'] as const
const TARGETS = ['aedes', 'mosquitto', 'platform'] as const
const profiles = values.profile === 'all' ? [...PROFILES] : PROFILES.filter((p) => p === values.profile)
if (profiles.length === 0) {
  process.stderr.write(`unknown profile ${values.profile}\n${USAGE}\n`)
  process.exit(2)
}

const smoke = values.smoke
/** The option's value, else the smoke size or the full size. */
function num(value: string | undefined, full: number, small: number): number {
  const n = value === undefined ? (smoke ? small : full) : Number(value)
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`not a number: ${value}\n`)
    process.exit(2)
  }
  return n
}

function clusterIngestOf(value: string | undefined): 'brokers' | 'subscriber' {
  if (value === 'brokers' || value === 'subscriber') return value
  process.stderr.write(`--cluster-ingest: brokers or subscriber, not ${value}\n`)
  process.exit(2)
}

const SECRET_COSTS: readonly SecretCost[] = ['production', 'scrypt', 'fast']
const secretCostArg = values['secret-cost'] ?? (smoke ? 'fast' : 'production')
const secretCost = SECRET_COSTS.find((c) => c === secretCostArg)
if (secretCost === undefined) {
  process.stderr.write(`--secret-cost: one of ${SECRET_COSTS.join(', ')}, not ${secretCostArg}\n`)
  process.exit(2)
}
const addressCount = num(values['source-addresses'], 8, 8)
const options: BenchOptions = {
  runs: Math.max(1, num(values.runs, 1, 1)),
  secretCost,
  cpuProfDir: values['cpu-prof'] ?? null,
  platformNodeArgs: values['platform-node-options'].split(' ').filter((a) => a !== ''),
  generators: num(values.generators, 0, 0),
  sourceAddresses: Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`),
  cacheRoot: values['cache-dir'],
  seed: values.seed,
  throughput: {
    devices: num(values.devices, 1000, 20),
    messages: num(values.messages, 600, 30),
    inflight: num(values.inflight, 10, 5),
    targets: TARGETS.filter((t) => values.targets.split(',').includes(t)),
  },
  district: {
    elevators: num(values.elevators, 10_000, 20),
    scales: num(values.scales, 10_000, 20),
    durationS: num(values.duration, 300, 25),
    warmupS: num(values.warmup, 75, 3),
    startSpreadS: num(values['start-spread'], 60, 2),
    trappedEveryS: num(values['trapped-every'], 3, 3),
    trappedAfterS: num(values['trapped-after'], 5, 2),
    hour: num(values.hour, 8, 8),
  },
  connections: {
    devices: num(values.connections, 50_000, 200),
    holdS: num(values.hold, 60, 5),
    connectConcurrency: num(values['connect-concurrency'], 32, 32),
    brokers: Math.max(1, Math.floor(num(values.brokers, 1, 1))),
    statusPeriodS: num(values['status-period'], 0, 0),
    clusterIngest: clusterIngestOf(values['cluster-ingest']),
  },
}

const out = (text: string): void => {
  // With --json stdout carries the JSON alone.
  if (values.json) process.stderr.write(`${text}\n`)
  else process.stdout.write(`${text}\n`)
}

const started = new Date()
const loadBefore = loadAverage()
const rows: Row[] = []
const failures: string[] = []
for (const profile of profiles) {
  try {
    const mine =
      profile === 'throughput'
        ? await runThroughput(options)
        : profile === 'district'
          ? await runDistrict(options)
          : await runConnections(options)
    rows.push(...mine)
    out(`\n## ${profile}\n\n${runTable(mine)}\n`)
    for (const r of mine) for (const note of r.notes) out(`- ${r.target} run ${r.run}: ${note}`)
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
    failures.push(`${profile}: ${message}`)
    process.stderr.write(`\n${profile} failed: ${message}\n`)
  }
}
const loadAfter = loadAverage()
const summary = summarize(rows)
const m = machine()
out(
  `\n## summary (min / median / max over ${options.runs} run(s))\n\n${summaryTable(summary)}\n\n` +
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ` +
    `open files ${m.openFiles.soft} (hard ${m.openFiles.hard}); ephemeral ports ${m.ephemeralPorts.from}-${m.ephemeralPorts.to}\n` +
    `load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}; ` +
    `${started.toISOString()} to ${new Date().toISOString()}`,
)
if (values.json) {
  process.stdout.write(
    `${JSON.stringify({ machine: m, started: started.toISOString(), loadBefore, loadAfter, options, rows, summary, failures }, null, 2)}\n`,
  )
}
process.exit(failures.length > 0 ? 1 : 0)
