/**
 * Arguments of `npm run simulate`, parsed with node:util parseArgs and checked with zod. Pure: the
 * entry point (cli.ts) passes argv and env in and prints the problems.
 */
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { DomainError } from '../domain/errors.ts'

export const USAGE = `Usage: npm run simulate -- [options]

Runs simulated elevators and market scales against an MQTT broker. Devices are registered in the
registry under --data-dir (idempotently; secrets kept in <data-dir>/simulator/credentials.json), or
taken from --credentials for a remote broker. Same seed, same fleet and same messages.

Fleet
  --elevators <n>            elevators (default 10; with --credentials: all in the file)
  --scales <n>               scales (default 10; with --credentials: all in the file)
  --seed <n|text>            seed of the fleet (default 1)
  --duration <d>             run time, e.g. 90s, 10m, 1h (default: until Ctrl-C)
  --prefix <text>            id prefix of provisioned tenants, sites and devices (default sim)

Connection
  --url <url>                broker (default mqtt://127.0.0.1:1883)
  --data-dir <dir>           registry and credentials (default $DATA_DIR or ./data)
  --credentials <file>       use this credentials file instead of provisioning
  --ramp <n>                 new connections per second (default 100)
  --max-connecting <n>       devices waiting for their first CONNACK at most (default 64)
  --source-addresses <list>  spread connections over these local addresses (127.0.0.2,127.0.0.3)

Behaviour (rates are per device per hour)
  --status-period <d>        elevator status period (default: as registered, 5s for new devices)
  --scale-status-period <d>  scale status period (default: as registered, 60s for new devices)
  --calls-rate <n>           elevator calls per hour at peak (default 24)
  --weighing-rate <n>        weighings per scale per hour at peak (default 40)
  --fault-rate <n>           elevator faults, all codes together (default 0.15)
  --trapped-rate <n>         trapped-passenger sequences (default 0.03)
  --trapped-release <d>      time until release, or a range 8m..20m (default 8m..20m)
  --no-trapped-event         controllers never send 'trapped': derive it from status
  --alarm-rate <n>           nuisance alarm-button presses (default 0.1)
  --mode-rate <n>            mode changes (inspection, fire return...) (default 0.03)
  --maintenance-rate <n>     maintenance sessions (default 0.05)
  --tamper-rate <n>          scale tamper sequences (default 0.01)
  --cheat-share <0..1>       share of scales in cheat mode from the start (default 0.02)
  --offline-rate <n>         devices going offline for a few minutes (default 0.01 / 0.005)

Output
  --json                     print the final summary as JSON on stdout
  --per-device               with --json: acknowledged messages of every device, by id
  --log-level <level>        pino level on stderr (default warn)
  -h, --help                 this text
`

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `90s`, `10m`, `1.5h`, `500ms`; a bare number is seconds. */
export function parseDurationMs(text: string): number | null {
  const match = DURATION.exec(text.trim())
  if (!match) return null
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000))
}

const durationMs = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text)
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `not a duration: "${text}" (use e.g. 30s, 10m, 1h)` })
    return z.NEVER
  }
  return ms
})

const positiveSeconds = durationMs.refine((ms) => ms >= 1000 && ms % 1000 === 0, {
  message: 'whole seconds, at least 1s',
})

const notANumber = {
  error: (issue: { code: string }) => (issue.code === 'invalid_type' ? 'not a number' : undefined),
}
const count = z.coerce.number(notANumber).int('a whole number').min(0).max(100_000)
const rate = z.coerce.number(notANumber).min(0).max(3600)

const rangeMs = z.string().transform((text, ctx) => {
  const parts = text.split('..')
  const values = parts.map((p) => parseDurationMs(p))
  const [lo, hi = lo] = values
  if (parts.length > 2 || lo == null || hi == null || values.some((v) => v === null) || hi < lo) {
    ctx.addIssue({ code: 'custom', message: `not a duration or range: "${text}" (use 15m or 8m..20m)` })
    return z.NEVER
  }
  return [lo, hi] as const
})

export const CliArgsSchema = z.object({
  elevators: count.optional(),
  scales: count.optional(),
  seed: z.string().min(1).default('1'),
  duration: durationMs.optional(),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$/, 'letters, digits, _ and -, at most 16 characters')
    .default('sim'),
  url: z
    .string()
    .default('mqtt://127.0.0.1:1883')
    .refine(
      (u) => /^(mqtt|mqtts|tcp|tls|ws|wss):\/\/[^/]+/.test(u),
      'an mqtt://, mqtts://, ws:// or wss:// URL',
    ),
  dataDir: z.string().min(1),
  credentials: z.string().min(1).optional(),
  ramp: z.coerce.number().positive().max(100_000).default(100),
  maxConnecting: z.coerce.number(notANumber).int().min(1).max(100_000).default(64),
  sourceAddresses: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a.length > 0),
    )
    .pipe(z.array(z.ipv4()))
    .default([]),
  statusPeriod: positiveSeconds.optional(),
  scaleStatusPeriod: positiveSeconds.optional(),
  callsRate: rate.optional(),
  weighingRate: rate.optional(),
  faultRate: rate.optional(),
  trappedRate: rate.optional(),
  trappedRelease: rangeMs.optional(),
  noTrappedEvent: z.boolean().default(false),
  alarmRate: rate.optional(),
  modeRate: rate.optional(),
  maintenanceRate: rate.optional(),
  tamperRate: rate.optional(),
  cheatShare: z.coerce.number().min(0).max(1).optional(),
  offlineRate: rate.optional(),
  json: z.boolean().default(false),
  perDevice: z.boolean().default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  help: z.boolean().default(false),
})
export type CliArgs = z.output<typeof CliArgsSchema>

const OPTIONS = {
  elevators: { type: 'string' },
  scales: { type: 'string' },
  seed: { type: 'string' },
  duration: { type: 'string' },
  prefix: { type: 'string' },
  url: { type: 'string' },
  'data-dir': { type: 'string' },
  credentials: { type: 'string' },
  ramp: { type: 'string' },
  'max-connecting': { type: 'string' },
  'source-addresses': { type: 'string' },
  'status-period': { type: 'string' },
  'scale-status-period': { type: 'string' },
  'calls-rate': { type: 'string' },
  'weighing-rate': { type: 'string' },
  'fault-rate': { type: 'string' },
  'trapped-rate': { type: 'string' },
  'trapped-release': { type: 'string' },
  'no-trapped-event': { type: 'boolean' },
  'alarm-rate': { type: 'string' },
  'mode-rate': { type: 'string' },
  'maintenance-rate': { type: 'string' },
  'tamper-rate': { type: 'string' },
  'cheat-share': { type: 'string' },
  'offline-rate': { type: 'string' },
  json: { type: 'boolean' },
  'per-device': { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/**
 * Parses and validates the command line. Throws DomainError USAGE with every problem as
 * `--flag: message` in `details.problems`.
 */
export function parseCliArgs(argv: string[], env: Record<string, string | undefined>): CliArgs {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new DomainError('USAGE', message, { details: { problems: [message] } })
  }
  const input: Record<string, unknown> = { dataDir: env.DATA_DIR || './data' }
  for (const [flag, value] of Object.entries(values)) if (value !== undefined) input[camel(flag)] = value
  const result = CliArgsSchema.safeParse(input)
  if (result.success) return result.data
  const problems = result.error.issues.map((i) => `--${kebab(String(i.path[0] ?? 'args'))}: ${i.message}`)
  throw new DomainError('USAGE', problems.join('\n'), { details: { problems } })
}
