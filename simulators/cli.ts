/**
 * `npm run simulate`: provisions (or loads) a simulated fleet and runs it against a broker, with a
 * live progress line and a final summary. See USAGE in cli-args.ts.
 */
import pino from 'pino'
import { isDomainError } from '../domain/errors.ts'
import { createLogger, type Logger } from '../domain/logger.ts'
import { UPLINK_TYPES } from '../domain/topics.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { type CliArgs, parseCliArgs, USAGE } from './cli-args.ts'
import type { ElevatorSimOptions } from './elevator.ts'
import { createFleet, type FleetStats } from './fleet.ts'
import { defaultCredentialsFile, loadCredentialsFile, provisionFleet } from './provision.ts'
import type { ScaleSimOptions } from './scale.ts'
import type { SimulatedDeviceSpec } from './spec.ts'

const DEFAULT_COUNT = 10

function elevatorOptions(args: CliArgs): Partial<ElevatorSimOptions> {
  const o: Partial<ElevatorSimOptions> = {}
  if (args.callsRate !== undefined) o.callsPerHourPeak = args.callsRate
  if (args.faultRate !== undefined) o.faultsPerHour = args.faultRate
  if (args.trappedRate !== undefined) o.trappedPerHour = args.trappedRate
  if (args.trappedRelease !== undefined) o.trappedReleaseMs = args.trappedRelease
  if (args.noTrappedEvent) o.trappedEventShare = 0
  if (args.alarmRate !== undefined) o.alarmsPerHour = args.alarmRate
  if (args.modeRate !== undefined) o.modeChangesPerHour = args.modeRate
  if (args.maintenanceRate !== undefined) o.maintenancePerHour = args.maintenanceRate
  if (args.offlineRate !== undefined) o.offlinePerHour = args.offlineRate
  return o
}

function scaleOptions(args: CliArgs): Partial<ScaleSimOptions> {
  const o: Partial<ScaleSimOptions> = {}
  if (args.weighingRate !== undefined) o.weighingsPerHourPeak = args.weighingRate
  if (args.tamperRate !== undefined) o.tamperPerHour = args.tamperRate
  if (args.cheatShare !== undefined) o.cheatShare = args.cheatShare
  if (args.offlineRate !== undefined) o.offlinePerHour = args.offlineRate
  return o
}

async function loadDevices(args: CliArgs, logger: Logger): Promise<SimulatedDeviceSpec[]> {
  if (args.credentials) {
    const all = loadCredentialsFile(args.credentials)
    const elevators = all
      .filter((d) => d.kind === 'elevator')
      .slice(0, args.elevators ?? Number.POSITIVE_INFINITY)
    const scales = all.filter((d) => d.kind === 'scale').slice(0, args.scales ?? Number.POSITIVE_INFINITY)
    return [...elevators, ...scales]
  }
  const registry = createRegistry({ file: registryFile(args.dataDir) })
  try {
    return await provisionFleet(registry, {
      elevators: args.elevators ?? DEFAULT_COUNT,
      scales: args.scales ?? DEFAULT_COUNT,
      seed: args.seed,
      prefix: args.prefix,
      credentialsFile: defaultCredentialsFile(args.dataDir),
      elevatorStatusPeriodS: args.statusPeriod === undefined ? undefined : args.statusPeriod / 1000,
      scaleStatusPeriodS: args.scaleStatusPeriod === undefined ? undefined : args.scaleStatusPeriod / 1000,
      logger,
    })
  } finally {
    registry.close()
  }
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(rest).padStart(2, '0')}s`
      : `${rest}s`
}

function progressLine(s: FleetStats, rate: number): string {
  return [
    formatDuration(s.elapsedMs).padStart(6),
    `connected ${s.connected}/${s.devices}`,
    `sent ${s.sent}`,
    `acked ${s.acknowledged}`,
    `pending ${s.pending}`,
    `refused ${s.refused}`,
    `reconnects ${s.reconnects}`,
    `${Math.round(rate)} msg/s`,
  ].join('  ')
}

function summaryText(s: FleetStats, args: CliArgs): string {
  const row = (
    label: string,
    k: { devices: number; everConnected: number; sent: number; acknowledged: number; refused: number },
  ) =>
    [label.padEnd(10), k.devices, k.everConnected, k.sent, k.acknowledged, k.refused]
      .map((v, i) => (i === 0 ? String(v) : String(v).padStart(13)))
      .join('')
  const total = {
    devices: s.devices,
    everConnected: s.everConnected,
    sent: s.sent,
    acknowledged: s.acknowledged,
    refused: s.refused,
  }
  const lines = [
    `liftscale simulator: ${s.devices} devices for ${formatDuration(s.elapsedMs)} (seed ${args.seed}) against ${args.url}`,
    `${'kind'.padEnd(10)}${['devices', 'connected', 'sent', 'acknowledged', 'refused'].map((h) => h.padStart(13)).join('')}`,
    row('elevators', s.byKind.elevator),
    row('scales', s.byKind.scale),
    row('total', total),
    `still connected ${s.connected}, reconnects ${s.reconnects}, unacknowledged ${s.pending}, ` +
      `connection errors ${s.connectErrors}, connections refused ${s.connectRefused}, publishes failed ${s.publishFailed}`,
    `by topic: ${UPLINK_TYPES.map((t) => `${t} ${s.byType[t].sent}`).join(', ')}`,
  ]
  const events = Object.entries(s.eventsByCode).sort(([a], [b]) => a.localeCompare(b))
  if (events.length > 0) lines.push(`events: ${events.map(([code, n]) => `${code} ${n}`).join(', ')}`)
  return lines.join('\n')
}

async function main(): Promise<number> {
  let args: CliArgs
  try {
    args = parseCliArgs(process.argv.slice(2), process.env)
  } catch (err) {
    if (!isDomainError(err, 'USAGE')) throw err
    const problems = Array.isArray(err.details?.problems) ? err.details.problems : [err.message]
    for (const problem of problems) process.stderr.write(`simulate: ${String(problem)}\n`)
    process.stderr.write('Try: npm run simulate -- --help\n')
    return 2
  }
  if (args.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const logger = createLogger({ level: args.logLevel, name: 'simulate', destination: pino.destination(2) })

  // Installed before provisioning: an interrupt then lets provisioning finish (the credentials file
  // stays whole) and skips the run.
  let stopRequested: () => void = () => {}
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve
  })
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) {
      process.stderr.write(`\nsimulate: ${signal} again, exiting without waiting\n`)
      process.exit(130)
    }
    stopRequested()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const devices = await loadDevices(args, logger)
  if (devices.length === 0) {
    process.stderr.write('simulate: no devices to run\n')
    return 1
  }
  const fleet = createFleet({
    config: {
      url: args.url,
      seed: args.seed,
      rampPerSecond: args.ramp,
      maxConnecting: args.maxConnecting,
      sourceAddresses: args.sourceAddresses,
      elevator: elevatorOptions(args),
      scale: scaleOptions(args),
    },
    logger,
    devices: devices.map((d) => {
      // An explicit period overrides what the registry holds, for this run.
      const period = d.kind === 'elevator' ? args.statusPeriod : args.scaleStatusPeriod
      return period === undefined ? d : { ...d, statusPeriodS: period / 1000 }
    }),
  })

  const isTty = process.stderr.isTTY === true
  let lastPrintAt = 0
  let lastSent = 0
  let lastAt = Date.now()
  fleet.on('progress', (s) => {
    const t = Date.now()
    if (!isTty && t - lastPrintAt < 10_000) return
    const rate = ((s.sent - lastSent) * 1000) / Math.max(1, t - lastAt)
    lastSent = s.sent
    lastAt = t
    lastPrintAt = t
    const line = progressLine(s, rate)
    process.stderr.write(isTty ? `\r\x1b[2K${line}` : `${line}\n`)
  })

  const timer = args.duration === undefined ? null : setTimeout(stopRequested, args.duration)

  if (signals === 0) await fleet.start()
  await stopped
  if (timer) clearTimeout(timer)
  if (isTty) process.stderr.write('\r\x1b[2Kstopping: waiting for acknowledgements...')
  await fleet.stop()
  if (isTty) process.stderr.write('\r\x1b[2K')
  const stats = fleet.stats()
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          seed: args.seed,
          url: args.url,
          durationMs: stats.elapsedMs,
          ...stats,
          ...(args.perDevice
            ? { acknowledgedByDevice: Object.fromEntries(fleet.acknowledgedByDevice()) }
            : {}),
        },
        null,
        2,
      )}\n`,
    )
  } else process.stdout.write(`${summaryText(stats, args)}\n`)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message = isDomainError(err)
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.stack
        : String(err)
    process.stderr.write(`simulate: ${message}\n`)
    process.exitCode = 1
  },
)
