/**
 * Operator CLI for the device registry: tenants, sites, devices, device secrets, MQTT service
 * accounts, API tokens and the ledger (台账) import. Run as `npm run cli -- <command>`; docs/registry.md
 * is the manual. Secrets and tokens are printed once, when issued, and never again.
 *
 * Exit codes: 0 done, 1 refused or failed (a DomainError code is shown), 2 usage error.
 */
import { closeSync, existsSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { parseEnv } from '../domain/config.ts'
import { DomainError, isDomainError } from '../domain/errors.ts'
import {
  ACCURACY_CLASSES,
  type ApiToken,
  type Device,
  IsoDateSchema,
  ROLES,
  SITE_CATEGORIES,
  type Site,
  TENANT_KINDS,
} from '../domain/registry-types.ts'
import { DEVICE_KINDS } from '../domain/topics.ts'
import { decodeLedger, type ImportReport, importLedger } from './ledger-import.ts'
import { createRegistry, type Registry, registryFile } from './registry.ts'

type Output = { write(chunk: string): unknown }

export type CliIo = {
  /** Environment: `DATA_DIR` (overridden by `--data-dir`). */
  env: Record<string, string | undefined>
  stdout: Output
  stderr: Output
  /** Relative paths (`--data-dir`, files) are resolved from here; default the process's cwd. */
  cwd?: string
}

const CliEnvSchema = z.object({
  DATA_DIR: z.string().default('data'),
})

/** A mistake in how the command was typed: exit code 2 and the command's usage. */
class UsageError extends Error {
  readonly command: Command | null
  constructor(message: string, command: Command | null) {
    super(message)
    this.command = command
  }
}

type OptionSpec = {
  type: 'string' | 'boolean'
  /** Placeholder shown in help, e.g. `<id>`. */
  arg?: string
  help: string
  isRequired?: boolean
  short?: string
}

type Positional = { name: string; help: string; isRequired: boolean; isVariadic?: boolean }

type Ctx = {
  readonly json: boolean
  readonly dataDir: string
  registry(): Registry
  /** One line to stdout. */
  line(text?: string): void
  /** The JSON form on --json, else the human form. */
  emit(value: unknown, human: () => void): void
  /** A note for the human on stderr (never on --json, never data). */
  note(text: string): void
  path(file: string): string
}

type Command = {
  words: readonly string[]
  summary: string
  details?: string
  positionals: readonly Positional[]
  options: Readonly<Record<string, OptionSpec>>
  execute(ctx: Ctx, raw: Record<string, unknown>): Promise<void>
}

function defineCommand<S extends z.ZodType>(def: {
  words: readonly string[]
  summary: string
  details?: string
  positionals?: readonly Positional[]
  options?: Readonly<Record<string, OptionSpec>>
  schema: S
  run(ctx: Ctx, input: z.output<S>): void | Promise<void>
}): Command {
  const command: Command = {
    words: def.words,
    summary: def.summary,
    ...(def.details === undefined ? {} : { details: def.details }),
    positionals: def.positionals ?? [],
    options: def.options ?? {},
    execute: async (ctx, raw) => {
      const result = def.schema.safeParse(raw)
      if (!result.success) {
        const problems = result.error.issues.map((issue) => {
          const key = String(issue.path[0] ?? '')
          const label = key in command.options ? `--${key}` : key ? `<${key}>` : 'arguments'
          const isMissing = key !== '' && raw[key] === undefined && issue.code !== 'custom'
          return `${label}: ${isMissing ? 'required' : issue.message}`
        })
        throw new UsageError(problems.join('\n'), command)
      }
      await def.run(ctx, result.data)
    },
  }
  return command
}

// ---- argument parsers shared by the commands ----

const text = (max = 200) => z.string().trim().min(1).max(max)
const decimal = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'expected a number, e.g. 1.75')
  .transform(Number)
const integer = z.string().trim().regex(/^\d+$/, 'expected a whole number').transform(Number)
const isoDate = z.string().trim().pipe(IsoDateSchema)
const boolWord = z
  .enum(['true', 'false', 'yes', 'no', 'on', 'off', '1', '0'])
  .transform((v) => v === 'true' || v === 'yes' || v === 'on' || v === '1')
/** Beijing time (UTC+8, the bureau's clock): `YYYY-MM-DD` or `YYYY-MM-DD HH:mm[:ss]` -> ms since epoch. */
const beijingTime = z
  .string()
  .trim()
  .regex(/^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$/, 'expected YYYY-MM-DD or "YYYY-MM-DD HH:mm"')
  .transform((v, ctx) => {
    const [day = '', time = '00:00'] = v.split(/[ T]/)
    const at = Date.parse(`${day}T${time.length === 5 ? `${time}:00` : time}+08:00`)
    if (Number.isNaN(at)) {
      ctx.addIssue({ code: 'custom', message: 'not a valid date/time' })
      return z.NEVER
    }
    return at
  })

const ID_ARG = (what: string): Positional => ({ name: 'id', help: `${what} id`, isRequired: true })

// ---- output helpers ----

/** Terminal columns a string takes: CJK and full-width characters take two. */
function displayWidth(value: string): number {
  let width = 0
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0
    const isWide =
      (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6)
    width += isWide ? 2 : 1
  }
  return width
}

function table(ctx: Ctx, headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) =>
    Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))),
  )
  const format = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i === cells.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - displayWidth(cell)),
      )
      .join('  ')
      .trimEnd()
  ctx.line(format(headers))
  for (const row of rows) ctx.line(format(row))
}

/** ms since epoch -> `YYYY-MM-DD HH:mm` in Beijing time, the bureau's clock. */
function beijing(ms: number | null): string {
  if (ms === null) return '-'
  return new Date(ms + 8 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')
}

const dash = (value: string | number | null | undefined): string =>
  value === null || value === undefined || value === '' ? '-' : String(value)

function credentialState(registry: Registry, deviceId: string): string {
  const info = registry.getCredentialInfo(deviceId)
  if (info === null) return 'none'
  return info.revokedAt === null ? `active v${info.version}` : 'revoked'
}

const ONCE_NOTE = 'Store it now: it is shown only this once and cannot be shown again.'

// ---- commands ----

const tenantCreate = defineCommand({
  words: ['tenant', 'create'],
  summary: 'register a maintenance firm or a site operator',
  options: {
    name: { type: 'string', arg: '<name>', help: 'name, e.g. 武汉华夏电梯维保有限公司', isRequired: true },
    kind: {
      type: 'string',
      arg: `<${TENANT_KINDS.join('|')}>`,
      help: 'what the tenant is',
      isRequired: true,
    },
    id: { type: 'string', arg: '<id>', help: 'id to use (default: generated, tn-xxxxxxxx)' },
    contact: { type: 'string', arg: '<text>', help: 'phone or person to call' },
  },
  schema: z.object({
    name: text(),
    kind: z.enum(TENANT_KINDS),
    id: z.string().optional(),
    contact: text().optional(),
  }),
  run(ctx, input) {
    const registry = ctx.registry()
    if (input.id !== undefined && registry.getTenant(input.id) !== null) {
      throw new DomainError('ALREADY_EXISTS', `tenant ${input.id} already exists`)
    }
    const tenant = registry.createTenant(input)
    ctx.emit(tenant, () => ctx.line(`Created tenant ${tenant.id} (${tenant.kind}): ${tenant.name}`))
  },
})

const tenantList = defineCommand({
  words: ['tenant', 'list'],
  summary: 'list tenants',
  schema: z.object({}),
  run(ctx) {
    const registry = ctx.registry()
    const tenants = registry.listTenants()
    const withCounts = tenants.map((t) => ({ ...t, devices: registry.countDevices({ tenantId: t.id }) }))
    ctx.emit(withCounts, () =>
      table(
        ctx,
        ['ID', 'KIND', 'DEVICES', 'NAME', 'CONTACT'],
        withCounts.map((t) => [t.id, t.kind, String(t.devices), t.name, dash(t.contact)]),
      ),
    )
  },
})

const siteCreate = defineCommand({
  words: ['site', 'create'],
  summary: 'register a site (market, school, mall, …)',
  options: {
    name: { type: 'string', arg: '<name>', help: 'name, e.g. 宝丰路农贸市场', isRequired: true },
    category: {
      type: 'string',
      arg: '<category>',
      help: `one of ${SITE_CATEGORIES.join(', ')}`,
      isRequired: true,
    },
    address: { type: 'string', arg: '<address>', help: 'street address', isRequired: true },
    id: { type: 'string', arg: '<id>', help: 'id to use (default: generated, st-xxxxxxxx)' },
    operator: {
      type: 'string',
      arg: '<tenant-id>',
      help: 'tenant that runs the site (a market’s management)',
    },
  },
  schema: z.object({
    name: text(),
    category: z.enum(SITE_CATEGORIES),
    address: text(500),
    id: z.string().optional(),
    operator: z.string().optional(),
  }),
  run(ctx, { operator, ...rest }) {
    const registry = ctx.registry()
    if (rest.id !== undefined && registry.getSite(rest.id) !== null) {
      throw new DomainError('ALREADY_EXISTS', `site ${rest.id} already exists`)
    }
    if (operator !== undefined && registry.getTenant(operator) === null) {
      throw new DomainError('UNKNOWN_REFERENCE', `no tenant ${operator} (create it first: tenant create)`)
    }
    const site = registry.createSite({ ...rest, operatorTenantId: operator ?? null })
    ctx.emit(site, () =>
      ctx.line(`Created site ${site.id} (${site.category}): ${site.name}, ${site.address}`),
    )
  },
})

const siteList = defineCommand({
  words: ['site', 'list'],
  summary: 'list sites',
  schema: z.object({}),
  run(ctx) {
    const registry = ctx.registry()
    const sites = registry
      .listSites()
      .map((s: Site) => ({ ...s, devices: registry.countDevices({ siteId: s.id }) }))
    ctx.emit(sites, () =>
      table(
        ctx,
        ['ID', 'CATEGORY', 'DEVICES', 'OPERATOR', 'NAME', 'ADDRESS'],
        sites.map((s) => [s.id, s.category, String(s.devices), dash(s.operatorTenantId), s.name, s.address]),
      ),
    )
  },
})

const DEVICE_COMMON_OPTIONS = {
  site: { type: 'string', arg: '<site-id>', help: 'site the device is at', isRequired: true },
  tenant: { type: 'string', arg: '<tenant-id>', help: 'tenant that answers for it', isRequired: true },
  id: { type: 'string', arg: '<id>', help: 'device id = MQTT client id (default: generated)' },
  name: { type: 'string', arg: '<name>', help: 'label, e.g. 1号客梯' },
  'status-period': { type: 'string', arg: '<s>', help: 'seconds between status reports' },
  'out-of-service': { type: 'boolean', help: 'register it as not in service' },
} as const satisfies Record<string, OptionSpec>

const deviceCommonSchema = {
  site: z.string(),
  tenant: z.string(),
  id: z.string().optional(),
  name: text().optional(),
  'status-period': integer.optional(),
  'out-of-service': z.boolean().optional(),
}

/** Says which reference is wrong, where SQLite would only say that a constraint failed. */
function commonDeviceInput(registry: Registry, input: z.output<z.ZodObject<typeof deviceCommonSchema>>) {
  if (input.id !== undefined && registry.getDevice(input.id) !== null) {
    throw new DomainError('ALREADY_EXISTS', `device ${input.id} already exists`)
  }
  if (registry.getSite(input.site) === null) {
    throw new DomainError('UNKNOWN_REFERENCE', `no site ${input.site} (create it first: site create)`)
  }
  if (registry.getTenant(input.tenant) === null) {
    throw new DomainError('UNKNOWN_REFERENCE', `no tenant ${input.tenant} (create it first: tenant create)`)
  }
  return {
    siteId: input.site,
    tenantId: input.tenant,
    ...(input.id === undefined ? {} : { id: input.id }),
    name: input.name ?? null,
    ...(input['status-period'] === undefined ? {} : { statusPeriodS: input['status-period'] }),
    inService: input['out-of-service'] !== true,
  }
}

const deviceAddElevator = defineCommand({
  words: ['device', 'add-elevator'],
  summary: 'register an elevator',
  options: {
    ...DEVICE_COMMON_OPTIONS,
    'registration-code': {
      type: 'string',
      arg: '<20 digits>',
      help: 'registration code (设备代码 / 注册代码)',
      isRequired: true,
    },
    'rated-speed': { type: 'string', arg: '<m/s>', help: 'rated speed in m/s', isRequired: true },
    floors: { type: 'string', arg: '<n>', help: 'floors served', isRequired: true },
    'last-inspection': { type: 'string', arg: '<YYYY-MM-DD>', help: 'last periodic inspection (TSG T7001)' },
    'next-inspection': { type: 'string', arg: '<YYYY-MM-DD>', help: 'next inspection due' },
    'last-maintenance': {
      type: 'string',
      arg: '<YYYY-MM-DD[ HH:mm]>',
      help: 'last completed maintenance, Beijing time (TSG T5002)',
    },
  },
  schema: z.object({
    ...deviceCommonSchema,
    'registration-code': z.string().trim(),
    'rated-speed': decimal,
    floors: integer,
    'last-inspection': isoDate.optional(),
    'next-inspection': isoDate.optional(),
    'last-maintenance': beijingTime.optional(),
  }),
  run(ctx, input) {
    const registry = ctx.registry()
    const holder = registry.getElevatorByRegistrationCode(input['registration-code'])
    if (holder !== null) {
      throw new DomainError(
        'ALREADY_EXISTS',
        `registration code ${holder.registrationCode} is ${holder.id}'s`,
      )
    }
    const elevator = registry.createElevator({
      ...commonDeviceInput(registry, input),
      registrationCode: input['registration-code'],
      ratedSpeedMps: input['rated-speed'],
      floors: input.floors,
      lastInspectionOn: input['last-inspection'] ?? null,
      nextInspectionDue: input['next-inspection'] ?? null,
      lastMaintenanceAt: input['last-maintenance'] ?? null,
    })
    ctx.emit(elevator, () => {
      ctx.line(`Registered elevator ${elevator.id} (${elevator.registrationCode}) at ${elevator.siteId}`)
      ctx.line(`Issue its MQTT secret with: npm run cli -- device secret ${elevator.id}`)
    })
  },
})

const deviceAddScale = defineCommand({
  words: ['device', 'add-scale'],
  summary: 'register a scale (electronic price-computing scale, JJG 539)',
  options: {
    ...DEVICE_COMMON_OPTIONS,
    'certificate-no': {
      type: 'string',
      arg: '<no>',
      help: 'verification certificate number (检定证书编号)',
      isRequired: true,
    },
    'max-kg': { type: 'string', arg: '<kg>', help: 'maximum capacity in kg', isRequired: true },
    'e-g': { type: 'string', arg: '<g>', help: 'verification interval e in grams', isRequired: true },
    'accuracy-class': { type: 'string', arg: `<${ACCURACY_CLASSES.join('|')}>`, help: 'default III' },
    'last-verification': { type: 'string', arg: '<YYYY-MM-DD>', help: 'last periodic verification' },
    'next-verification': { type: 'string', arg: '<YYYY-MM-DD>', help: 'verification valid until (有效期至)' },
  },
  schema: z.object({
    ...deviceCommonSchema,
    'certificate-no': text(64),
    'max-kg': decimal,
    'e-g': decimal,
    'accuracy-class': z.enum(ACCURACY_CLASSES).optional(),
    'last-verification': isoDate.optional(),
    'next-verification': isoDate.optional(),
  }),
  run(ctx, input) {
    const registry = ctx.registry()
    const holder = registry.getScaleByCertificateNo(input['certificate-no'])
    if (holder !== null) {
      throw new DomainError('ALREADY_EXISTS', `certificate ${holder.certificateNo} is ${holder.id}'s`)
    }
    const scale = registry.createScale({
      ...commonDeviceInput(registry, input),
      certificateNo: input['certificate-no'],
      maxKg: input['max-kg'],
      eG: input['e-g'],
      ...(input['accuracy-class'] === undefined ? {} : { accuracyClass: input['accuracy-class'] }),
      lastVerificationOn: input['last-verification'] ?? null,
      nextVerificationDue: input['next-verification'] ?? null,
    })
    ctx.emit(scale, () => {
      ctx.line(`Registered scale ${scale.id} (certificate ${scale.certificateNo}) at ${scale.siteId}`)
      ctx.line(`Issue its MQTT secret with: npm run cli -- device secret ${scale.id}`)
    })
  },
})

function deviceCode(device: Device): string {
  return device.kind === 'elevator' ? device.registrationCode : device.certificateNo
}

const deviceList = defineCommand({
  words: ['device', 'list'],
  summary: 'list devices, optionally of one kind, tenant or site',
  options: {
    kind: { type: 'string', arg: `<${DEVICE_KINDS.join('|')}>`, help: 'only this kind' },
    tenant: { type: 'string', arg: '<tenant-id>', help: 'only this tenant’s devices' },
    site: { type: 'string', arg: '<site-id>', help: 'only the devices at this site' },
  },
  schema: z.object({
    kind: z.enum(DEVICE_KINDS).optional(),
    tenant: z.string().optional(),
    site: z.string().optional(),
  }),
  run(ctx, input) {
    const registry = ctx.registry()
    const devices = registry.listDevices({
      ...(input.kind === undefined ? {} : { kind: input.kind }),
      ...(input.tenant === undefined ? {} : { tenantId: input.tenant }),
      ...(input.site === undefined ? {} : { siteId: input.site }),
    })
    const rows = devices.map((device) => ({ device, credential: credentialState(registry, device.id) }))
    ctx.emit(
      rows.map((r) => ({ ...r.device, credential: r.credential })),
      () => {
        table(
          ctx,
          ['ID', 'KIND', 'SITE', 'TENANT', 'IN SERVICE', 'SECRET', 'CODE / CERTIFICATE', 'NAME'],
          rows.map(({ device, credential }) => [
            device.id,
            device.kind,
            device.siteId,
            device.tenantId,
            device.inService ? 'yes' : 'no',
            credential,
            deviceCode(device),
            dash(device.name),
          ]),
        )
        ctx.line(`${devices.length} device(s)`)
      },
    )
  },
})

const deviceShow = defineCommand({
  words: ['device', 'show'],
  summary: 'show one device with its site, tenant and credential state',
  positionals: [ID_ARG('device')],
  schema: z.object({ id: z.string() }),
  run(ctx, { id }) {
    const registry = ctx.registry()
    const device = registry.requireDevice(id)
    const site = registry.getSite(device.siteId)
    const tenant = registry.getTenant(device.tenantId)
    const credential = registry.getCredentialInfo(id)
    ctx.emit({ device, site, tenant, credential }, () => {
      const fields: [string, string][] = [
        ['id', device.id],
        ['kind', device.kind],
        ['name', dash(device.name)],
        ['in service', device.inService ? 'yes' : 'no'],
        ['status period', `${device.statusPeriodS} s`],
        ['site', site ? `${site.id} (${site.category}) ${site.name}, ${site.address}` : device.siteId],
        ['tenant', tenant ? `${tenant.id} (${tenant.kind}) ${tenant.name}` : device.tenantId],
      ]
      if (device.kind === 'elevator') {
        fields.push(
          ['registration code', device.registrationCode],
          ['rated speed', `${device.ratedSpeedMps} m/s`],
          ['floors', String(device.floors)],
          ['last inspection', dash(device.lastInspectionOn)],
          ['next inspection due', dash(device.nextInspectionDue)],
          ['last maintenance', `${beijing(device.lastMaintenanceAt)} (UTC+8)`],
        )
      } else {
        fields.push(
          ['certificate', device.certificateNo],
          ['accuracy class', device.accuracyClass],
          ['max', `${device.maxKg} kg`],
          ['e', `${device.eG} g`],
          ['last verification', dash(device.lastVerificationOn)],
          ['next verification due', dash(device.nextVerificationDue)],
        )
      }
      fields.push([
        'secret',
        credential === null
          ? 'none issued'
          : credential.revokedAt === null
            ? `active, version ${credential.version}, issued ${beijing(credential.issuedAt)} (UTC+8)`
            : `revoked ${beijing(credential.revokedAt)} (UTC+8)`,
      ])
      const width = Math.max(...fields.map(([k]) => k.length))
      for (const [key, value] of fields) ctx.line(`${key.padEnd(width)}  ${value}`)
    })
  },
})

const deviceInService = defineCommand({
  words: ['device', 'in-service'],
  summary: 'mark a device in or out of service (out: refused by the broker, not in the compliance rates)',
  positionals: [ID_ARG('device'), { name: 'state', help: 'true or false', isRequired: true }],
  schema: z.object({ id: z.string(), state: boolWord }),
  run(ctx, { id, state }) {
    const registry = ctx.registry()
    registry.setInService(id, state)
    ctx.emit({ id, inService: state }, () =>
      ctx.line(`${id} is now ${state ? 'in service' : 'out of service'}`),
    )
  },
})

function requireRotateFlag(what: string, isActive: boolean, isRotate: boolean | undefined, command: string) {
  if (isActive && isRotate !== true) {
    throw new DomainError(
      'SECRET_EXISTS',
      `${what} already has an active secret; to replace it (the old one stops working at once): ${PROGRAM} ${command} --rotate`,
    )
  }
}

const deviceSecret = defineCommand({
  words: ['device', 'secret'],
  summary: 'issue (or, with --rotate, replace) a device’s MQTT secret; printed once',
  details:
    'The device connects with client id = username = its id and password = this secret. The secret is\n' +
    'stored only as a hash: it is printed now and can never be shown again. Rotating disconnects the\n' +
    'device until it is given the new one.',
  positionals: [ID_ARG('device')],
  options: { rotate: { type: 'boolean', help: 'replace an active secret' } },
  schema: z.object({ id: z.string(), rotate: z.boolean().optional() }),
  async run(ctx, { id, rotate }) {
    const registry = ctx.registry()
    const device = registry.requireDevice(id)
    const before = registry.getCredentialInfo(id)
    requireRotateFlag(id, before !== null && before.revokedAt === null, rotate, `device secret ${id}`)
    const secret = await registry.issueDeviceSecret(id)
    const version = registry.getCredentialInfo(id)?.version ?? null
    ctx.emit({ id, kind: device.kind, secret, version, note: ONCE_NOTE }, () => {
      ctx.line(`MQTT secret for ${device.kind} ${id} (client id = username = ${id}):`)
      ctx.line(`  ${secret}`)
      ctx.line(ONCE_NOTE)
      if (before !== null && before.revokedAt === null) ctx.line('The previous secret no longer works.')
    })
  },
})

const deviceRevoke = defineCommand({
  words: ['device', 'revoke'],
  summary: 'revoke a device’s secret: the broker refuses and disconnects it',
  positionals: [ID_ARG('device')],
  schema: z.object({ id: z.string() }),
  run(ctx, { id }) {
    const registry = ctx.registry()
    const info = registry.getCredentialInfo(id)
    registry.revokeDevice(id)
    ctx.emit({ id, revoked: true, hadSecret: info !== null && info.revokedAt === null }, () =>
      ctx.line(
        info === null || info.revokedAt !== null
          ? `${id} had no active secret; it stays locked out`
          : `Revoked ${id}: the broker refuses it from now on (issue a new secret to let it back)`,
      ),
    )
  },
})

const deviceSecrets = defineCommand({
  words: ['device', 'secrets'],
  summary: 'issue secrets in bulk (after an import) and write them to a 0600 JSON file',
  details:
    'With --all-missing: every device that never had a secret (revoked ones are left alone).\n' +
    'With ids: those devices (--rotate to replace active secrets).\n' +
    'With --out: writes [{"id","kind","secret"}] to a new file, mode 0600 (never overwrites);\n' +
    'without it the secrets are printed. Either way they cannot be shown again.',
  positionals: [{ name: 'ids', help: 'device ids', isRequired: false, isVariadic: true }],
  options: {
    'all-missing': { type: 'boolean', help: 'every device without a secret' },
    out: {
      type: 'string',
      arg: '<file.json>',
      help: 'write the secrets here (mode 0600) instead of printing',
    },
    rotate: { type: 'boolean', help: 'replace active secrets of the listed devices' },
  },
  schema: z
    .object({
      ids: z.array(z.string()),
      'all-missing': z.boolean().optional(),
      out: z.string().optional(),
      rotate: z.boolean().optional(),
    })
    .refine((v) => (v['all-missing'] === true) !== v.ids.length > 0, {
      message: 'give device ids or --all-missing (not both)',
      path: ['all-missing'],
    }),
  async run(ctx, input) {
    const registry = ctx.registry()
    const devices =
      input['all-missing'] === true
        ? registry.listDevicesWithoutCredentials()
        : input.ids.map((id) => registry.requireDevice(id))
    const active = devices.filter((d) => {
      const info = registry.getCredentialInfo(d.id)
      return info !== null && info.revokedAt === null
    })
    if (active.length > 0 && input.rotate !== true) {
      throw new DomainError(
        'SECRET_EXISTS',
        `already have an active secret: ${active.map((d) => d.id).join(', ')}; pass --rotate to replace them`,
      )
    }
    // Open the file before issuing anything: a secret issued but not written would be lost.
    let fd: number | null = null
    if (input.out !== undefined) {
      const file = ctx.path(input.out)
      try {
        fd = openSync(file, 'wx', 0o600)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        throw new DomainError(
          code === 'EEXIST' ? 'FILE_EXISTS' : 'FILE_ERROR',
          code === 'EEXIST' ? `${file} exists; secrets files are never overwritten` : String(err),
          { cause: err },
        )
      }
    }
    const issued: { id: string; kind: string; secret: string }[] = []
    try {
      for (const device of devices) {
        issued.push({ id: device.id, kind: device.kind, secret: await registry.issueDeviceSecret(device.id) })
        if (!ctx.json && devices.length >= 1000 && issued.length % 1000 === 0) {
          ctx.note(`${issued.length}/${devices.length} issued`)
        }
      }
    } finally {
      if (fd !== null) {
        writeSync(fd, `${JSON.stringify(issued, null, 2)}\n`)
        closeSync(fd)
      }
    }
    if (input.out !== undefined) {
      const file = ctx.path(input.out)
      ctx.emit({ issued: issued.length, file }, () => {
        ctx.line(`Issued ${issued.length} secret(s), written to ${file} (mode 0600).`)
        if (issued.length > 0)
          ctx.line('Hand the file to the installers, then delete it: the secrets exist nowhere else.')
      })
      return
    }
    ctx.emit(issued, () => {
      if (issued.length === 0) ctx.line('No device needed a secret.')
      else
        table(
          ctx,
          ['ID', 'KIND', 'SECRET'],
          issued.map((s) => [s.id, s.kind, s.secret]),
        )
      if (issued.length > 0) ctx.line(ONCE_NOTE)
    })
  },
})

const serviceCreate = defineCommand({
  words: ['service', 'create'],
  summary: 'create (or, with --rotate, re-key) an MQTT service account for ingest, alerts or tools',
  positionals: [{ name: 'username', help: 'account name, e.g. ingest', isRequired: true }],
  options: { rotate: { type: 'boolean', help: 'replace the secret of an active account' } },
  schema: z.object({ username: z.string(), rotate: z.boolean().optional() }),
  async run(ctx, { username, rotate }) {
    const registry = ctx.registry()
    requireRotateFlag(username, registry.isServiceAccount(username), rotate, `service create ${username}`)
    const secret = await registry.createServiceAccount(username)
    ctx.emit({ username, secret, note: ONCE_NOTE }, () => {
      ctx.line(`MQTT secret for service account ${username}:`)
      ctx.line(`  ${secret}`)
      ctx.line(ONCE_NOTE)
    })
  },
})

const serviceRevoke = defineCommand({
  words: ['service', 'revoke'],
  summary: 'revoke an MQTT service account',
  positionals: [{ name: 'username', help: 'account name', isRequired: true }],
  schema: z.object({ username: z.string() }),
  run(ctx, { username }) {
    const registry = ctx.registry()
    if (!registry.isServiceAccount(username)) {
      throw new DomainError('NOT_FOUND', `no active service account ${username}`)
    }
    registry.revokeServiceAccount(username)
    ctx.emit({ username, revoked: true }, () => ctx.line(`Revoked service account ${username}`))
  },
})

const serviceList = defineCommand({
  words: ['service', 'list'],
  summary: 'list MQTT service accounts',
  schema: z.object({}),
  run(ctx) {
    const accounts = ctx.registry().listServiceAccounts()
    ctx.emit(accounts, () =>
      table(
        ctx,
        ['USERNAME', 'CREATED (UTC+8)', 'REVOKED (UTC+8)'],
        accounts.map((a) => [a.username, beijing(a.createdAt), beijing(a.revokedAt)]),
      ),
    )
  },
})

const tokenCreate = defineCommand({
  words: ['token', 'create'],
  summary: 'create an API token (console, HTTP API); printed once',
  options: {
    role: { type: 'string', arg: `<${ROLES.join('|')}>`, help: 'what it may do', isRequired: true },
    name: {
      type: 'string',
      arg: '<name>',
      help: 'who or what holds it, e.g. "duty desk 1"',
      isRequired: true,
    },
    tenant: { type: 'string', arg: '<tenant-id>', help: 'for --role tenant: the tenant it sees' },
  },
  schema: z.object({ role: z.enum(ROLES), name: text(), tenant: z.string().optional() }),
  run(ctx, { role, name, tenant }) {
    const { token, record } = ctx.registry().createApiToken({ role, name, tenantId: tenant ?? null })
    ctx.emit({ ...record, token, note: ONCE_NOTE }, () => {
      ctx.line(
        `API token ${record.id} (${role}${record.tenantId ? ` of ${record.tenantId}` : ''}, "${name}"):`,
      )
      ctx.line(`  ${token}`)
      ctx.line(`${ONCE_NOTE} Revoke with: npm run cli -- token revoke ${record.id}`)
    })
  },
})

const tokenList = defineCommand({
  words: ['token', 'list'],
  summary: 'list API tokens (never the tokens themselves)',
  schema: z.object({}),
  run(ctx) {
    const tokens = ctx.registry().listApiTokens()
    ctx.emit(tokens, () =>
      table(
        ctx,
        ['ID', 'ROLE', 'TENANT', 'CREATED (UTC+8)', 'REVOKED (UTC+8)', 'NAME'],
        tokens.map((t: ApiToken) => [
          t.id,
          t.role,
          dash(t.tenantId),
          beijing(t.createdAt),
          beijing(t.revokedAt),
          t.name,
        ]),
      ),
    )
  },
})

const tokenRevoke = defineCommand({
  words: ['token', 'revoke'],
  summary: 'revoke an API token',
  positionals: [ID_ARG('token')],
  schema: z.object({ id: z.string() }),
  run(ctx, { id }) {
    ctx.registry().revokeApiToken(id)
    ctx.emit({ id, revoked: true }, () => ctx.line(`Revoked token ${id}`))
  },
})

function printImportReport(ctx: Ctx, file: string, encoding: string, report: ImportReport): void {
  ctx.line(`${file}: ${report.rows} row(s), ${encoding}`)
  if (report.ignoredColumns.length > 0) {
    ctx.line(`Ignored columns (not imported): ${report.ignoredColumns.join(', ')}`)
  }
  if (report.errors.length > 0) {
    for (const e of report.errors) ctx.line(`line ${e.line}${e.field ? `, ${e.field}` : ''}: ${e.reason}`)
    const lines = new Set(report.errors.map((e) => e.line)).size
    ctx.line(`${lines} bad row(s), ${report.errors.length} problem(s): nothing imported.`)
    return
  }
  const { tenants, sites, elevators, scales } = report.imported
  const what = `${tenants} tenant(s), ${sites} site(s), ${elevators} elevator(s), ${scales} scale(s)`
  if (report.dryRun) {
    ctx.line(`Dry run: every row is good; would import ${what}. Nothing written.`)
    return
  }
  ctx.line(`Imported ${what}.`)
  if (elevators + scales > 0) {
    ctx.line('Next: npm run cli -- device secrets --all-missing --out secrets.json')
  }
}

const importCommand = defineCommand({
  words: ['import'],
  summary: 'import a ledger (台账) CSV of elevators or scales; all rows or none',
  details:
    'Columns by English field name or Chinese ledger name (docs/registry.md lists them); UTF-8 (with or\n' +
    'without BOM) or GB18030. Every bad row is reported with its line; when any row is bad nothing is\n' +
    'imported and the exit code is 1. Secrets are not issued: run `device secrets --all-missing` after.',
  positionals: [{ name: 'file', help: 'the CSV file', isRequired: true }],
  options: {
    kind: { type: 'string', arg: `<${DEVICE_KINDS.join('|')}>`, help: 'kind of every row (else guessed)' },
    'dry-run': { type: 'boolean', help: 'check only, write nothing' },
  },
  schema: z.object({
    file: z.string(),
    kind: z.enum(DEVICE_KINDS).optional(),
    'dry-run': z.boolean().optional(),
  }),
  run(ctx, input) {
    const file = ctx.path(input.file)
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (err) {
      throw new DomainError('FILE_ERROR', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
    }
    const { text, encoding } = decodeLedger(bytes)
    const report = importLedger(ctx.registry(), text, {
      ...(input.kind === undefined ? {} : { kind: input.kind }),
      dryRun: input['dry-run'] === true,
    })
    ctx.emit({ file, encoding, ...report }, () => printImportReport(ctx, input.file, encoding, report))
    if (report.errors.length > 0) {
      throw new DomainError('IMPORT_REJECTED', `${report.errors.length} problem(s) in ${input.file}`, {
        details: { errors: report.errors.length },
      })
    }
  },
})

export const COMMANDS: readonly Command[] = [
  tenantCreate,
  tenantList,
  siteCreate,
  siteList,
  deviceAddElevator,
  deviceAddScale,
  deviceList,
  deviceShow,
  deviceInService,
  deviceSecret,
  deviceRevoke,
  deviceSecrets,
  serviceCreate,
  serviceRevoke,
  serviceList,
  tokenCreate,
  tokenList,
  tokenRevoke,
  importCommand,
]

const GLOBAL_OPTIONS = {
  'data-dir': {
    type: 'string',
    arg: '<dir>',
    help: 'registry at <dir>/registry.db (default: $DATA_DIR or ./data)',
  },
  json: { type: 'boolean', help: 'machine-readable JSON on stdout (errors as JSON on stderr)' },
  help: { type: 'boolean', short: 'h', help: 'help for the command' },
} as const satisfies Record<string, OptionSpec>

const PROGRAM = 'npm run cli --'

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.arg ? ` ${spec.arg}` : ''}`
    return [flag, `${spec.help}${spec.isRequired ? ' (required)' : ''}`] as const
  })
  const width = Math.max(0, ...entries.map(([flag]) => flag.length))
  return entries.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`)
}

function usageLine(command: Command): string {
  const required = Object.entries(command.options)
    .filter(([, spec]) => spec.isRequired)
    .map(([name, spec]) => `--${name} ${spec.arg ?? ''}`.trim())
  const positionals = command.positionals.map((p) =>
    p.isRequired ? `<${p.name}>` : `[${p.name}${p.isVariadic ? '...' : ''}]`,
  )
  const hasOptional = Object.values(command.options).some((spec) => !spec.isRequired)
  return [PROGRAM, ...command.words, ...positionals, ...required, ...(hasOptional ? ['[options]'] : [])].join(
    ' ',
  )
}

function commandHelp(command: Command): string {
  const summary = `${command.summary.charAt(0).toUpperCase()}${command.summary.slice(1)}.`
  const lines = [`Usage: ${usageLine(command)}`, '', summary]
  if (command.details) lines.push('', command.details)
  if (command.positionals.length > 0) {
    lines.push('', 'Arguments:')
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(10)}  ${p.help}`)
  }
  if (Object.keys(command.options).length > 0) lines.push('', 'Options:', ...optionLines(command.options))
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS))
  return `${lines.join('\n')}\n`
}

function overviewHelp(group?: string): string {
  const commands = COMMANDS.filter((c) => group === undefined || c.words[0] === group)
  const width = Math.max(...commands.map((c) => c.words.join(' ').length))
  const lines = [
    `Usage: ${PROGRAM} [--data-dir <dir>] [--json] <command> [options]`,
    '',
    'Device registry of liftscale: tenants, sites, devices, secrets, API tokens, ledger import.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Help for one command: ${PROGRAM} <command> --help`,
  ]
  return `${lines.join('\n')}\n`
}

const GROUPS = new Set(COMMANDS.map((c) => c.words[0]))

type Resolved =
  | { type: 'help'; text: string }
  | { type: 'command'; command: Command; rest: string[]; globals: string[] }

/** Finds the command words among the leading arguments; options before them must be global ones. */
function resolveCommand(argv: readonly string[]): Resolved {
  const globals: string[] = []
  const words: string[] = []
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg.startsWith('-')) {
      if (arg === '--data-dir') {
        globals.push(arg, argv[i + 1] ?? '')
        i++
      } else if (arg.startsWith('--data-dir=') || arg === '--json' || arg === '--help' || arg === '-h') {
        globals.push(arg)
      } else {
        throw new UsageError(`${arg}: unknown option before the command`, null)
      }
      continue
    }
    words.push(arg)
    if (words[0] === 'help') continue
    const exact = COMMANDS.find((c) => c.words.join(' ') === words.join(' '))
    if (exact) return { type: 'command', command: exact, rest: argv.slice(i + 1), globals }
    const isPrefix = COMMANDS.some((c) => words.every((w, j) => c.words[j] === w))
    if (!isPrefix) break
  }
  const isHelp = globals.includes('--help') || globals.includes('-h') || words[0] === 'help'
  const group = words[0] === 'help' ? words[1] : words[0]
  if (isHelp || words.length === 0) {
    if (words[0] === 'help' && words.length > 2) {
      const command = COMMANDS.find((c) => c.words.join(' ') === words.slice(1).join(' '))
      if (command) return { type: 'help', text: commandHelp(command) }
    }
    return { type: 'help', text: overviewHelp(group !== undefined && GROUPS.has(group) ? group : undefined) }
  }
  const known = group !== undefined && GROUPS.has(group)
  throw new UsageError(
    known
      ? `unknown command "${words.join(' ')}"; ${group} commands: ${COMMANDS.filter(
          (c) => c.words[0] === group,
        )
          .map((c) => c.words.slice(1).join(' '))
          .join(', ')}`
      : `unknown command "${words.join(' ')}"`,
    null,
  )
}

function parseCommandArgs(command: Command, args: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {}
  const all: Record<string, OptionSpec> = { ...command.options, ...GLOBAL_OPTIONS }
  for (const [name, spec] of Object.entries(all)) {
    options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    // Node appends a hint about '--' for positionals starting with '-'; ids never do.
    throw new UsageError(String((err as Error).message).split('. To specify')[0] ?? '', command)
  }
  const raw: Record<string, unknown> = { ...parsed.values }
  const positionals = [...parsed.positionals]
  for (const p of command.positionals) {
    raw[p.name] = p.isVariadic ? positionals.splice(0) : positionals.shift()
  }
  if (positionals.length > 0 && raw.help !== true) {
    throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`, command)
  }
  return raw
}

/**
 * Runs one CLI invocation and returns its exit code; never calls process.exit. `argv` is what
 * follows the script name (process.argv.slice(2)).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const cwd = io.cwd ?? process.cwd()
  const wantsJson = argv.includes('--json')
  // Opened on first use, closed whatever happens.
  const opened: { registry: Registry | null } = { registry: null }
  let command: Command | null = null
  try {
    const resolved = resolveCommand(argv)
    if (resolved.type === 'help') {
      io.stdout.write(resolved.text)
      return 0
    }
    command = resolved.command
    const raw = parseCommandArgs(command, [...resolved.globals, ...resolved.rest])
    if (raw.help === true) {
      io.stdout.write(commandHelp(command))
      return 0
    }
    const json = raw.json === true
    const dataDirArg = raw['data-dir']
    const dataDir = resolve(
      cwd,
      typeof dataDirArg === 'string' && dataDirArg !== ''
        ? dataDirArg
        : parseEnv(CliEnvSchema, io.env).DATA_DIR,
    )
    delete raw.json
    delete raw.help
    delete raw['data-dir']
    const ctx: Ctx = {
      json,
      dataDir,
      registry() {
        if (opened.registry === null) {
          const file = registryFile(dataDir)
          const isNew = !existsSync(file)
          opened.registry = createRegistry({ file })
          if (isNew) ctx.note(`note: created a new, empty registry at ${file}`)
        }
        return opened.registry
      },
      line: (value = '') => io.stdout.write(`${value}\n`),
      emit(value, human) {
        if (json) io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
        else human()
      },
      note: (value) => {
        if (!json) io.stderr.write(`${value}\n`)
      },
      path: (file) => resolve(cwd, file),
    }
    await command.execute(ctx, raw)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      const usage = err.command
        ? `\nUsage: ${usageLine(err.command)}\nSee: ${PROGRAM} ${err.command.words.join(' ')} --help\n`
        : `\nSee: ${PROGRAM} --help\n`
      if (wantsJson)
        io.stderr.write(`${JSON.stringify({ error: { code: 'USAGE', message: err.message } })}\n`)
      else io.stderr.write(`usage error: ${err.message}${usage}`)
      return 2
    }
    const code = isDomainError(err) ? err.code : 'FAILED'
    const message = err instanceof Error ? err.message : String(err)
    if (wantsJson) io.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`)
    else io.stderr.write(`error [${code}]: ${message}\n`)
    return 1
  } finally {
    opened.registry?.close()
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code
    },
  )
}
