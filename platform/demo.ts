/**
 * `npm run demo`: the platform and a simulated fleet in one process, on embedded defaults.
 *
 * - Data in DATA_DIR (default ./data/demo), kept between runs.
 * - InfluxDB: INFLUX_URL when set; otherwise a local `influxd` (Debian's `influxdb` package) is started
 *   with its data under DATA_DIR when installed; otherwise readings wait in the spool, losing nothing.
 * - A Qiaokou-like fleet is registered and connects with its own credentials; a trapped passenger and a
 *   scale tamper are staged early so the console has something to show at once.
 *
 * Options: --elevators N (60) --scales N (120) --duration 10m (0 = until Ctrl-C) --seed S (qiaokou)
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { parseEnv } from '../domain/config.ts'
import { isDomainError } from '../domain/errors.ts'
import { createLogger } from '../domain/logger.ts'
import type { Registry } from '../registry/registry.ts'
import { parseDurationMs } from '../simulators/cli-args.ts'
import { createFleet, type Fleet } from '../simulators/fleet.ts'
import { defaultCredentialsFile, provisionFleet } from '../simulators/provision.ts'
import { PlatformConfigSchema } from './config.ts'
import { findInfluxd, type LocalInfluxd, startLocalInfluxd } from './local-influxd.ts'
import { createPlatform } from './platform.ts'

const ArgsSchema = z.object({
  elevators: z.coerce.number().int().min(0).max(20_000).default(60),
  scales: z.coerce.number().int().min(0).max(20_000).default(120),
  duration: z
    .string()
    .default('0')
    .transform((v, ctx) => {
      const ms = v === '0' ? 0 : parseDurationMs(v)
      if (ms === null) ctx.addIssue({ code: 'custom', message: 'a duration like 90s, 10m or 2h' })
      return ms ?? 0
    }),
  seed: z.string().min(1).default('qiaokou'),
})

function parseDemoArgs(argv: string[]): z.output<typeof ArgsSchema> {
  const { values } = parseArgs({
    args: argv,
    options: {
      elevators: { type: 'string' },
      scales: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  })
  const result = ArgsSchema.safeParse(values)
  if (!result.success) {
    throw new Error(result.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'))
  }
  return result.data
}

type DemoTokens = { dutyOfficer: string; tenant: string; tenantId: string; viewer: string }

/** Demo logins, kept (mode 0600) so the same links work on the next run. */
function demoTokens(registry: Registry, dataDir: string, tenantId: string): DemoTokens {
  const file = join(dataDir, 'demo-tokens.json')
  if (existsSync(file)) {
    const saved = z
      .object({ dutyOfficer: z.string(), tenant: z.string(), tenantId: z.string(), viewer: z.string() })
      .safeParse(JSON.parse(readFileSync(file, 'utf8')))
    if (
      saved.success &&
      [saved.data.dutyOfficer, saved.data.tenant, saved.data.viewer].every((t) =>
        registry.authenticateToken(t),
      )
    ) {
      return saved.data
    }
  }
  const tokens: DemoTokens = {
    dutyOfficer: registry.createApiToken({ name: 'demo duty officer', role: 'duty_officer' }).token,
    tenant: registry.createApiToken({ name: 'demo maintenance firm', role: 'tenant', tenantId }).token,
    tenantId,
    viewer: registry.createApiToken({ name: 'demo viewer', role: 'viewer' }).token,
  }
  writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 })
  chmodSync(file, 0o600)
  return tokens
}

async function main(): Promise<void> {
  const args = parseDemoArgs(process.argv.slice(2))
  const env: Record<string, string | undefined> = {
    DATA_DIR: './data/demo',
    LOG_LEVEL: 'warn',
    ...process.env,
  }
  const dataDir = env.DATA_DIR ?? './data/demo'
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'liftscale-demo' })
  const say = (text: string) => process.stdout.write(`${text}\n`)

  let influxd: LocalInfluxd | null = null
  if (!env.INFLUX_URL) {
    const binary = findInfluxd()
    if (binary) {
      influxd = await startLocalInfluxd({ dir: join(dataDir, 'influxdb'), binary, preferredPort: 8086 })
      Object.assign(env, { INFLUX_URL: influxd.url, INFLUX_API: '1', INFLUX_CREATE_DB: 'true' })
      say(`InfluxDB 1.x started locally at ${influxd.url} (data in ${join(dataDir, 'influxdb')})`)
    } else {
      say(
        'InfluxDB not installed (apt-get install influxdb) and INFLUX_URL unset: readings wait in the spool.',
      )
    }
  }

  const config = parseEnv(PlatformConfigSchema, env)
  let adminToken: string | null = null
  const platform = createPlatform({ config, logger, announceAdminToken: (t) => (adminToken = t) })
  let fleet: Fleet | null = null
  let isStopping = false
  const stop = async (code: number) => {
    if (isStopping) return
    isStopping = true
    say('\nstopping: fleet, platform (flushing to InfluxDB or the spool), InfluxDB…')
    const summary = fleet?.stats()
    await fleet?.stop()
    await platform.stop()
    await influxd?.stop()
    if (summary) {
      say(
        `fleet: ${summary.everConnected}/${summary.devices} devices connected, ${summary.sent} readings sent, ` +
          `${summary.acknowledged} acknowledged, ${summary.refused} refused`,
      )
    }
    process.exit(code)
  }
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))

  await platform.start()
  const { registry } = platform
  const devices = await provisionFleet(registry, {
    elevators: args.elevators,
    scales: args.scales,
    seed: args.seed,
    credentialsFile: defaultCredentialsFile(dataDir),
    logger,
  })
  const firmId = registry.listTenants().find((t) => t.kind === 'maintenance_firm')?.id ?? ''
  const tokens = demoTokens(registry, dataDir, firmId)

  fleet = createFleet({
    config: {
      url: `mqtt://127.0.0.1:${platform.mqttPort()}`,
      seed: args.seed,
      // A livelier fleet than the defaults so that something happens within minutes.
      elevator: { faultsPerHour: 1, trappedPerHour: 0.2, maintenancePerHour: 0.2 },
      scale: { tamperPerHour: 0.05 },
    },
    logger,
    devices,
  })
  await fleet.start()
  const connected = await fleet.waitConnected(120_000)

  const base = `http://localhost:${platform.httpPort()}`
  say(`
liftscale demo — ${devices.length} simulated devices ${connected ? 'connected' : 'connecting'} over MQTT on port ${platform.mqttPort()}

  Duty officers' console   ${base}/
    duty officer token     ${tokens.dutyOfficer}
    maintenance firm token ${tokens.tenant}   (sees only ${tokens.tenantId})
    viewer token           ${tokens.viewer}
  API (OpenAPI)            ${base}/docs
  Compliance figures       ${base}/api/compliance   (Authorization: Bearer <token>)
  Prometheus metrics       ${base}/metrics
  InfluxDB                 ${config.INFLUX_URL ?? '(not configured: readings are spooled under DATA_DIR/ingest/spool)'}${config.INFLUX_URL ? `  database "${config.INFLUX_DB}"` : ''}
  Data                     ${dataDir}   (registry.db, alerts.db, spool, dead letters)
${adminToken ? `  Admin token (new, shown once) ${adminToken}\n` : ''}
In 20 s a passenger is trapped between floors; in 40 s a market scale's case is opened.
Watch the board, then work the rescue: acknowledge -> dispatch -> accept -> arrived -> released.
Ctrl-C stops everything cleanly.

Every 10 s: readings the fleet sent and had acknowledged, lines stored in InfluxDB (readings plus
alert changes, so a little more than acknowledged), the spool, dead letters and active alerts.`)

  const firstElevator = devices.find((d) => d.kind === 'elevator')
  const firstScale = devices.find((d) => d.kind === 'scale')
  setTimeout(() => {
    if (firstElevator)
      fleet
        ?.device(firstElevator.id)
        ?.inject({ type: 'trapped', levelled: false, releaseAfterMs: 20 * 60_000 })
  }, 20_000).unref()
  setTimeout(() => {
    if (firstScale) fleet?.device(firstScale.id)?.inject({ type: 'tamper', kind: 'case_opened' })
  }, 40_000).unref()

  const progress = setInterval(() => {
    if (!fleet) return
    const s = fleet.stats()
    const i = platform.ingest.stats()
    const open = platform.engine.listAlerts({ status: 'active', limit: 1, offset: 0 }).total
    say(
      `${new Date().toISOString().slice(11, 19)}  devices ${s.connected}/${s.devices}  sent ${s.sent}  acked ${s.acknowledged}  ` +
        `stored ${i.written}  spool ${i.spoolDepthLines}  dead letters ${i.deadLetters}  active alerts ${open}`,
    )
  }, 10_000)
  progress.unref()

  if (args.duration > 0) setTimeout(() => void stop(0), args.duration)
  else await new Promise<never>(() => undefined)
}

main().catch((err: unknown) => {
  if (isDomainError(err, 'CONFIG_INVALID') || err instanceof Error)
    process.stderr.write(`${(err as Error).message}\n`)
  process.exit(1)
})
