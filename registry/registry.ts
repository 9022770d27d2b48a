/**
 * The device registry: tenants, sites, devices, their credentials and the platform's API tokens,
 * in embedded SQLite under DATA_DIR. Every service opens its own connection; changes made by another
 * process (the operator CLI, say) are seen through SQLite's data_version.
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { z } from 'zod'
import { DomainError } from '../domain/errors.ts'
import {
  ACCURACY_CLASSES,
  type AccuracyClass,
  type ApiToken,
  type Device,
  type DeviceContext,
  type Elevator,
  IsoDateSchema,
  type Principal,
  RoleSchema,
  type Scale,
  type ServiceAccount,
  type Site,
  SiteCategorySchema,
  TENANT_KINDS,
  type Tenant,
} from '../domain/registry-types.ts'
import { DEVICE_ID_PATTERN, type DeviceKind } from '../domain/topics.ts'
import { REGISTRY_MIGRATIONS } from './schema.ts'
import {
  digest,
  generateApiToken,
  generateSecret,
  hashSecret,
  type ScryptParams,
  storedDigest,
  verifySecret,
} from './secrets.ts'
import { dataVersion, openSqlite, type SqliteDatabase, sqlWhere } from './sqlite.ts'

const IdSchema = z.string().regex(DEVICE_ID_PATTERN, 'letters, digits, _ . - only; at most 64 characters')

export const TenantInputSchema = z.object({
  id: IdSchema.optional(),
  name: z.string().trim().min(1).max(200),
  kind: z.enum(TENANT_KINDS),
  contact: z.string().trim().max(200).nullish(),
})
export type TenantInput = z.input<typeof TenantInputSchema>

export const SiteInputSchema = z.object({
  id: IdSchema.optional(),
  name: z.string().trim().min(1).max(200),
  category: SiteCategorySchema,
  address: z.string().trim().min(1).max(500),
  operatorTenantId: IdSchema.nullish(),
})
export type SiteInput = z.input<typeof SiteInputSchema>

const DeviceBaseInput = {
  id: IdSchema.optional(),
  siteId: IdSchema,
  tenantId: IdSchema,
  name: z.string().trim().max(200).nullish(),
  inService: z.boolean().default(true),
}

export const ElevatorInputSchema = z.object({
  ...DeviceBaseInput,
  registrationCode: z.string().regex(/^\d{20}$/, 'a registration code has exactly 20 digits'),
  ratedSpeedMps: z.number().positive().max(30),
  floors: z.int().min(2).max(300),
  statusPeriodS: z.int().min(1).max(3600).default(5),
  lastInspectionOn: IsoDateSchema.nullish(),
  nextInspectionDue: IsoDateSchema.nullish(),
  lastMaintenanceAt: z.int().positive().nullish(),
})
export type ElevatorInput = z.input<typeof ElevatorInputSchema>

export const ScaleInputSchema = z.object({
  ...DeviceBaseInput,
  certificateNo: z.string().trim().min(1).max(64),
  accuracyClass: z.enum(ACCURACY_CLASSES).default('III'),
  maxKg: z.number().positive().max(100_000),
  eG: z.number().positive().max(100_000),
  statusPeriodS: z.int().min(1).max(86_400).default(60),
  lastVerificationOn: IsoDateSchema.nullish(),
  nextVerificationDue: IsoDateSchema.nullish(),
})
export type ScaleInput = z.input<typeof ScaleInputSchema>

export const ApiTokenInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    role: RoleSchema,
    tenantId: IdSchema.nullish(),
  })
  .refine((t) => (t.role === 'tenant') === (t.tenantId != null), {
    message: 'a tenant token needs tenantId, and only a tenant token may have one',
    path: ['tenantId'],
  })
export type ApiTokenInput = z.input<typeof ApiTokenInputSchema>

export type DeviceFilter = {
  kind?: DeviceKind
  tenantId?: string
  siteId?: string
  limit?: number
  offset?: number
}

export type CredentialCheck =
  | { ok: true; kind: 'device'; device: Device }
  | { ok: true; kind: 'service'; username: string }
  | { ok: false; reason: 'unknown' | 'revoked' | 'no_credentials' | 'bad_secret' | 'out_of_service' }

export type RegistryChange =
  | { type: 'device_revoked' | 'device_rotated' | 'device_changed'; deviceId: string }
  | { type: 'service_revoked'; username: string }
  | { type: 'token_revoked'; tokenId: string }
  /**
   * Another process committed. `accessChanged`: the devices and service accounts whose credentials or
   * service state changed there since the last poll (re-check those connections, not all of them).
   */
  | { type: 'external'; accessChanged: readonly string[] }

export type RegistryOptions = {
  /** Path of the SQLite file, or ':memory:'. */
  file: string
  /** Store new secrets as scrypt hashes with these parameters (the form before 2026-11); unset: SHA-256. */
  scrypt?: ScryptParams
  now?: () => number
}

/** Tokens we generate carry 256 random bits; one an operator sets must be at least this long. */
export const MIN_PRESET_TOKEN_LENGTH = 32

export function registryFile(dataDir: string): string {
  return join(dataDir, 'registry.db')
}

type Row = Record<string, unknown>

const str = (v: unknown): string => String(v)
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

function toTenant(r: Row): Tenant {
  return {
    id: str(r.id),
    name: str(r.name),
    kind: r.kind === 'site_operator' ? 'site_operator' : 'maintenance_firm',
    contact: strOrNull(r.contact),
    createdAt: Number(r.created_at),
  }
}

function toSite(r: Row): Site {
  return {
    id: str(r.id),
    name: str(r.name),
    category: SiteCategorySchema.catch('other').parse(r.category),
    address: str(r.address),
    operatorTenantId: strOrNull(r.operator_tenant_id),
    createdAt: Number(r.created_at),
  }
}

function toDevice(r: Row): Device {
  const base = {
    id: str(r.id),
    siteId: str(r.site_id),
    tenantId: str(r.tenant_id),
    name: strOrNull(r.name),
    statusPeriodS: Number(r.status_period_s),
    inService: r.in_service === 1,
    createdAt: Number(r.created_at),
  }
  if (r.kind === 'elevator') {
    const elevator: Elevator = {
      ...base,
      kind: 'elevator',
      registrationCode: str(r.registration_code),
      ratedSpeedMps: Number(r.rated_speed_mps),
      floors: Number(r.floors),
      lastInspectionOn: strOrNull(r.last_inspection_on),
      nextInspectionDue: strOrNull(r.next_inspection_due),
      lastMaintenanceAt: numOrNull(r.last_maintenance_at),
    }
    return elevator
  }
  const scale: Scale = {
    ...base,
    kind: 'scale',
    certificateNo: str(r.certificate_no),
    accuracyClass: (ACCURACY_CLASSES as readonly string[]).includes(str(r.accuracy_class))
      ? (str(r.accuracy_class) as AccuracyClass)
      : 'III',
    maxKg: Number(r.max_kg),
    eG: Number(r.e_g),
    lastVerificationOn: strOrNull(r.last_verification_on),
    nextVerificationDue: strOrNull(r.next_verification_due),
  }
  return scale
}

function toToken(r: Row): ApiToken {
  return {
    id: str(r.id),
    name: str(r.name),
    role: RoleSchema.parse(r.role),
    tenantId: strOrNull(r.tenant_id),
    createdAt: Number(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  }
}

const DEVICE_SELECT = `
SELECT d.*, e.registration_code, e.rated_speed_mps, e.floors, e.last_inspection_on, e.next_inspection_due,
       e.last_maintenance_at, s.certificate_no, s.accuracy_class, s.max_kg, s.e_g, s.last_verification_on,
       s.next_verification_due
FROM devices d
LEFT JOIN elevators e ON e.device_id = d.id
LEFT JOIN scales s ON s.device_id = d.id`

/** The devices filter as a WHERE clause on `devices` (columns prefixed with `table`); '' filters nothing. */
function deviceWhere(filter: DeviceFilter, table: 'd.' | '') {
  return sqlWhere([
    [`${table}kind = ?`, filter.kind || undefined],
    [`${table}tenant_id = ?`, filter.tenantId || undefined],
    [`${table}site_id = ?`, filter.siteId || undefined],
  ])
}

function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`)
  throw new DomainError('INVALID_INPUT', problems.join('; '), { details: { problems } })
}

function shortId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

function wrapConstraint<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new DomainError('ALREADY_EXISTS', (err as Error).message, { cause: err })
    }
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      throw new DomainError('UNKNOWN_REFERENCE', 'a referenced tenant or site does not exist', { cause: err })
    }
    throw err
  }
}

export type Registry = ReturnType<typeof createRegistry>

/**
 * Opens (and migrates) the registry. The returned object owns one SQLite connection; `close()` it.
 */
export function createRegistry(options: RegistryOptions) {
  const db: SqliteDatabase = openSqlite(options.file, REGISTRY_MIGRATIONS)
  const now = options.now ?? Date.now
  // New secrets as SHA-256 digests (registry/secrets.ts says why); scrypt only when asked, for tests of
  // databases written before.
  const storeSecret = (secret: string): Promise<string> =>
    options.scrypt === undefined ? Promise.resolve(storedDigest(secret)) : hashSecret(secret, options.scrypt)
  const listeners = new Set<(change: RegistryChange) => void>()

  // Device context (device + site + tenant) is read for every message ingest tags; cache it. A change
  // made through this connection drops the context of the device it names; a commit by another
  // connection, whose rows are unknown, drops them all (forgetContexts).
  const contextCache = new Map<string, DeviceContext | null>()
  // The contexts of one site's devices share its Site and Tenant objects: a context lives as long as
  // its device is connected, and the full garbage collections walk every object it holds.
  const siteCache = new Map<string, Site | null>()
  const tenantCache = new Map<string, Tenant | null>()
  let seenDataVersion = dataVersion(db)
  let checkedAt = 0
  // Secrets already verified, as digests: a reconnect costs a SHA-256, not a scrypt.
  const verifiedSecrets = new Map<string, { digest: string; version: number }>()

  /**
   * What a change makes stale. A device's own change (maintenance recorded, taken out of service, a
   * secret rotated: hundreds an hour across a district) drops that device's context only: dropping
   * all 20,000 re-read every device from SQLite and rebuilt its tags within the next status period.
   * Sites and tenants change only through other connections here.
   */
  function forgetContexts(change: RegistryChange): void {
    switch (change.type) {
      case 'device_revoked':
      case 'device_rotated':
      case 'device_changed':
        contextCache.delete(change.deviceId)
        return
      case 'service_revoked':
      case 'token_revoked':
        return
      case 'external':
        contextCache.clear()
        siteCache.clear()
        tenantCache.clear()
    }
  }

  function emit(change: RegistryChange): void {
    forgetContexts(change)
    for (const listener of listeners) listener(change)
  }

  function refreshIfChangedElsewhere(maxAgeMs: number): void {
    const t = now()
    if (t - checkedAt < maxAgeMs) return
    checkedAt = t
    const version = dataVersion(db)
    if (version !== seenDataVersion) {
      seenDataVersion = version
      emit({ type: 'external', accessChanged: accessChangesSinceLastPoll() })
    }
  }

  const stmt = {
    lastAccessChange: db.prepare('SELECT max(id) AS id FROM access_changes'),
    accessChangesAfter: db.prepare('SELECT id, name FROM access_changes WHERE id > ? ORDER BY id'),
    getTenant: db.prepare('SELECT * FROM tenants WHERE id = ?'),
    getSite: db.prepare('SELECT * FROM sites WHERE id = ?'),
    getDevice: db.prepare(`${DEVICE_SELECT} WHERE d.id = ?`),
    getCredential: db.prepare('SELECT * FROM device_credentials WHERE device_id = ?'),
    getService: db.prepare('SELECT * FROM service_accounts WHERE username = ?'),
    getTokenByDigest: db.prepare('SELECT * FROM api_tokens WHERE token_digest = ?'),
    getElevatorByCode: db.prepare(`${DEVICE_SELECT} WHERE d.kind = 'elevator' AND e.registration_code = ?`),
    getScaleByCertificate: db.prepare(`${DEVICE_SELECT} WHERE d.kind = 'scale' AND s.certificate_no = ?`),
  }

  let lastAccessChange = Number((stmt.lastAccessChange.get() as Row).id ?? 0)
  function accessChangesSinceLastPoll(): string[] {
    const rows = stmt.accessChangesAfter.all(lastAccessChange) as Row[]
    const last = rows.at(-1)
    if (last !== undefined) lastAccessChange = Number(last.id)
    return [...new Set(rows.map((r) => String(r.name)))]
  }

  function getTenant(id: string): Tenant | null {
    const row = stmt.getTenant.get(id) as Row | undefined
    return row ? toTenant(row) : null
  }

  function getSite(id: string): Site | null {
    const row = stmt.getSite.get(id) as Row | undefined
    return row ? toSite(row) : null
  }

  function cachedRow<T>(cache: Map<string, T | null>, id: string, read: (id: string) => T | null): T | null {
    let row = cache.get(id)
    if (row === undefined) {
      row = read(id)
      cache.set(id, row)
    }
    return row
  }

  function getDevice(id: string): Device | null {
    const row = stmt.getDevice.get(id) as Row | undefined
    return row ? toDevice(row) : null
  }

  function requireDevice(id: string): Device {
    const device = getDevice(id)
    if (!device) throw new DomainError('NOT_FOUND', `no device ${id}`)
    return device
  }

  function insertDeviceRow(
    kind: DeviceKind,
    input: z.output<typeof ElevatorInputSchema | typeof ScaleInputSchema>,
  ) {
    // An elevator is known by its 20-digit registration code; the ledger import names it the same way.
    const id =
      input.id ??
      ('registrationCode' in input
        ? `el-${input.registrationCode}`
        : shortId(kind === 'elevator' ? 'el' : 'sc'))
    // The MQTT name of a device and of a service account is one namespace (createServiceAccount checks
    // the other way): a device under an account's name could never log in.
    if (stmt.getService.get(id) !== undefined) {
      throw new DomainError('ALREADY_EXISTS', `${id} is a service account name`)
    }
    db.prepare(
      `INSERT INTO devices (id, kind, site_id, tenant_id, name, status_period_s, in_service, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      kind,
      input.siteId,
      input.tenantId,
      input.name ?? null,
      input.statusPeriodS,
      input.inService ? 1 : 0,
      now(),
    )
    return id
  }

  async function issueDeviceSecretInternal(deviceId: string): Promise<string> {
    requireDevice(deviceId)
    const secret = generateSecret()
    const hash = await storeSecret(secret)
    db.prepare(
      `INSERT INTO device_credentials (device_id, secret_hash, version, issued_at, revoked_at)
       VALUES (?, ?, 1, ?, NULL)
       ON CONFLICT(device_id) DO UPDATE SET secret_hash = excluded.secret_hash,
         version = device_credentials.version + 1, issued_at = excluded.issued_at, revoked_at = NULL`,
    ).run(deviceId, hash, now())
    verifiedSecrets.delete(deviceId)
    return secret
  }

  return {
    db,

    // ---- tenants and sites ----
    createTenant(input: TenantInput): Tenant {
      const t = parseInput(TenantInputSchema, input)
      const id = t.id ?? shortId('tn')
      wrapConstraint(() =>
        db
          .prepare('INSERT INTO tenants (id, name, kind, contact, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(id, t.name, t.kind, t.contact ?? null, now()),
      )
      const tenant = getTenant(id)
      if (!tenant) throw new DomainError('NOT_FOUND', `tenant ${id} vanished`)
      return tenant
    },
    getTenant,
    listTenants(): Tenant[] {
      return (db.prepare('SELECT * FROM tenants ORDER BY id').all() as Row[]).map(toTenant)
    },

    createSite(input: SiteInput): Site {
      const s = parseInput(SiteInputSchema, input)
      const id = s.id ?? shortId('st')
      wrapConstraint(() =>
        db
          .prepare(
            'INSERT INTO sites (id, name, category, address, operator_tenant_id, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          )
          .run(id, s.name, s.category, s.address, s.operatorTenantId ?? null, now()),
      )
      const site = getSite(id)
      if (!site) throw new DomainError('NOT_FOUND', `site ${id} vanished`)
      return site
    },
    getSite,
    listSites(): Site[] {
      return (db.prepare('SELECT * FROM sites ORDER BY id').all() as Row[]).map(toSite)
    },

    // ---- devices ----
    createElevator(input: ElevatorInput): Elevator {
      const e = parseInput(ElevatorInputSchema, input)
      const id = wrapConstraint(() =>
        db.transaction(() => {
          const id = insertDeviceRow('elevator', e)
          db.prepare(
            `INSERT INTO elevators (device_id, registration_code, rated_speed_mps, floors, last_inspection_on,
               next_inspection_due, last_maintenance_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            id,
            e.registrationCode,
            e.ratedSpeedMps,
            e.floors,
            e.lastInspectionOn ?? null,
            e.nextInspectionDue ?? null,
            e.lastMaintenanceAt ?? null,
          )
          return id
        })(),
      )
      const device = requireDevice(id)
      if (device.kind !== 'elevator') throw new DomainError('NOT_FOUND', `elevator ${id} vanished`)
      return device
    },

    createScale(input: ScaleInput): Scale {
      const s = parseInput(ScaleInputSchema, input)
      const id = wrapConstraint(() =>
        db.transaction(() => {
          const id = insertDeviceRow('scale', s)
          db.prepare(
            `INSERT INTO scales (device_id, certificate_no, accuracy_class, max_kg, e_g, last_verification_on,
               next_verification_due) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            id,
            s.certificateNo,
            s.accuracyClass,
            s.maxKg,
            s.eG,
            s.lastVerificationOn ?? null,
            s.nextVerificationDue ?? null,
          )
          return id
        })(),
      )
      const device = requireDevice(id)
      if (device.kind !== 'scale') throw new DomainError('NOT_FOUND', `scale ${id} vanished`)
      return device
    },

    getDevice,
    requireDevice,

    listDevices(filter: DeviceFilter = {}): Device[] {
      const { clause, args } = deviceWhere(filter, 'd.')
      const sql = `${DEVICE_SELECT} ${clause} ORDER BY d.id LIMIT ? OFFSET ?`
      args.push(filter.limit ?? -1, filter.offset ?? 0)
      return (db.prepare(sql).all(...args) as Row[]).map(toDevice)
    },

    countDevices(filter: Omit<DeviceFilter, 'limit' | 'offset'> = {}): number {
      const { clause, args } = deviceWhere(filter, '')
      const row = db.prepare(`SELECT count(*) AS n FROM devices ${clause}`).get(...args) as Row
      return Number(row.n)
    },

    /** Device with its site and tenant, cached; null for an unknown device. */
    getDeviceContext(deviceId: string): DeviceContext | null {
      refreshIfChangedElsewhere(1000)
      const cached = contextCache.get(deviceId)
      if (cached !== undefined) return cached
      const device = getDevice(deviceId)
      const site = device ? cachedRow(siteCache, device.siteId, getSite) : null
      const tenant = device ? cachedRow(tenantCache, device.tenantId, getTenant) : null
      const context = device && site && tenant ? { device, site, tenant } : null
      contextCache.set(deviceId, context)
      return context
    },

    /** Tells caches and listeners that a device row changed through this connection (dates, say). */
    markDeviceChanged(deviceId: string): void {
      emit({ type: 'device_changed', deviceId })
    },

    setInService(deviceId: string, inService: boolean): void {
      requireDevice(deviceId)
      db.prepare('UPDATE devices SET in_service = ? WHERE id = ?').run(inService ? 1 : 0, deviceId)
      emit({ type: 'device_changed', deviceId })
    },

    /** Records a completed maintenance (TSG T5002); alerts keeps the session log itself. */
    recordMaintenance(deviceId: string, at: number): void {
      const device = requireDevice(deviceId)
      if (device.kind !== 'elevator') throw new DomainError('WRONG_KIND', `${deviceId} is not an elevator`)
      db.prepare(
        'UPDATE elevators SET last_maintenance_at = max(coalesce(last_maintenance_at, 0), ?) WHERE device_id = ?',
      ).run(at, deviceId)
      emit({ type: 'device_changed', deviceId })
    },

    // ---- device credentials ----
    /** Issues a new secret (first issue or rotation); the old one stops working at once. Shown once. */
    async issueDeviceSecret(deviceId: string): Promise<string> {
      const secret = await issueDeviceSecretInternal(deviceId)
      emit({ type: 'device_rotated', deviceId })
      return secret
    },

    revokeDevice(deviceId: string): void {
      requireDevice(deviceId)
      db.prepare(
        'UPDATE device_credentials SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL',
      ).run(now(), deviceId)
      verifiedSecrets.delete(deviceId)
      emit({ type: 'device_revoked', deviceId })
    },

    /** Is this device allowed on the broker right now (known, credentials issued and not revoked)? */
    isDeviceActive(deviceId: string): boolean {
      const row = stmt.getCredential.get(deviceId) as Row | undefined
      return row !== undefined && row.revoked_at === null
    },

    async createServiceAccount(username: string): Promise<string> {
      parseInput(IdSchema, username)
      if (getDevice(username)) throw new DomainError('ALREADY_EXISTS', `${username} is a device id`)
      const secret = generateSecret()
      const hash = await storeSecret(secret)
      db.prepare(
        `INSERT INTO service_accounts (username, secret_hash, version, created_at, revoked_at) VALUES (?, ?, 1, ?, NULL)
         ON CONFLICT(username) DO UPDATE SET secret_hash = excluded.secret_hash,
           version = service_accounts.version + 1, revoked_at = NULL`,
      ).run(username, hash, now())
      verifiedSecrets.delete(`service:${username}`)
      return secret
    },

    revokeServiceAccount(username: string): void {
      db.prepare('UPDATE service_accounts SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL').run(
        now(),
        username,
      )
      verifiedSecrets.delete(`service:${username}`)
      emit({ type: 'service_revoked', username })
    },

    isServiceAccount(username: string): boolean {
      const row = stmt.getService.get(username) as Row | undefined
      return row !== undefined && row.revoked_at === null
    },

    /**
     * Version of the active credential behind an MQTT username (service account first, as in
     * checkCredentials), or null when there is none or it is revoked. It grows on every rotation, so
     * the broker sees a rotation made by another process and drops the connection that used the old one.
     */
    credentialVersion(username: string): number | null {
      const service = stmt.getService.get(username) as Row | undefined
      const row = service ?? (stmt.getCredential.get(username) as Row | undefined)
      return row === undefined || row.revoked_at !== null ? null : Number(row.version)
    },

    /**
     * Checks an MQTT username/password: a service account or a device. Verified secrets are
     * remembered as digests keyed by credential version, so rotation and revocation still bite.
     */
    async checkCredentials(username: string, secret: string): Promise<CredentialCheck> {
      const service = stmt.getService.get(username) as Row | undefined
      const device = service ? null : getDevice(username)
      const row = service ?? (device ? (stmt.getCredential.get(username) as Row | undefined) : undefined)
      if (!service && !device) return { ok: false, reason: 'unknown' }
      if (!row) return { ok: false, reason: 'no_credentials' }
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' }
      const cacheKey = service ? `service:${username}` : username
      const version = Number(row.version)
      const cached = verifiedSecrets.get(cacheKey)
      const secretDigest = digest(secret)
      let ok = cached !== undefined && cached.version === version && cached.digest === secretDigest
      if (!ok) {
        ok = await verifySecret(secret, str(row.secret_hash))
        if (ok) verifiedSecrets.set(cacheKey, { digest: secretDigest, version })
      }
      if (!ok) return { ok: false, reason: 'bad_secret' }
      if (service) return { ok: true, kind: 'service', username }
      if (!device) return { ok: false, reason: 'unknown' }
      return { ok: true, kind: 'device', device }
    },

    // ---- API tokens ----
    /** Creates a token; the returned `token` string is shown once and never stored. */
    createApiToken(input: ApiTokenInput, presetToken?: string): { token: string; record: ApiToken } {
      const t = parseInput(ApiTokenInputSchema, input)
      if (t.tenantId && !getTenant(t.tenantId))
        throw new DomainError('UNKNOWN_REFERENCE', `no tenant ${t.tenantId}`)
      // A preset token comes from the operator (ADMIN_TOKEN); it must be as hard to guess as ours.
      if (presetToken !== undefined && presetToken.length < MIN_PRESET_TOKEN_LENGTH) {
        throw new DomainError('WEAK_TOKEN', `a token needs at least ${MIN_PRESET_TOKEN_LENGTH} characters`)
      }
      const token = presetToken ?? generateApiToken()
      const id = shortId('tok')
      db.prepare(
        'INSERT INTO api_tokens (id, name, role, tenant_id, token_digest, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(id, t.name, t.role, t.tenantId ?? null, digest(token), now())
      const record = toToken(db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row)
      return { token, record }
    },

    listApiTokens(): ApiToken[] {
      return (db.prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as Row[]).map(toToken)
    },

    revokeApiToken(tokenId: string): void {
      const info = db
        .prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
        .run(now(), tokenId)
      if (info.changes === 0) throw new DomainError('NOT_FOUND', `no active token ${tokenId}`)
      emit({ type: 'token_revoked', tokenId })
    },

    /** Is this exact token registered (revoked or not)? For seeding ADMIN_TOKEN once. */
    hasApiToken(token: string): boolean {
      return stmt.getTokenByDigest.get(digest(token)) !== undefined
    },

    /** The principal behind a bearer token, or null when unknown or revoked. */
    authenticateToken(token: string): Principal | null {
      const row = stmt.getTokenByDigest.get(digest(token)) as Row | undefined
      if (!row || row.revoked_at !== null) return null
      return {
        tokenId: str(row.id),
        name: str(row.name),
        role: RoleSchema.parse(row.role),
        tenantId: strOrNull(row.tenant_id),
      }
    },

    // ---- lookups for the operator CLI and the ledger import ----
    /** The elevator holding this 20-digit registration code, or null. */
    getElevatorByRegistrationCode(code: string): Elevator | null {
      const row = stmt.getElevatorByCode.get(code) as Row | undefined
      const device = row ? toDevice(row) : null
      return device?.kind === 'elevator' ? device : null
    },

    /** The scale holding this verification certificate number, or null. */
    getScaleByCertificateNo(certificateNo: string): Scale | null {
      const row = stmt.getScaleByCertificate.get(certificateNo) as Row | undefined
      const device = row ? toDevice(row) : null
      return device?.kind === 'scale' ? device : null
    },

    /** Credential metadata of a device (never the hash), or null when none was ever issued. */
    getCredentialInfo(
      deviceId: string,
    ): { version: number; issuedAt: number; revokedAt: number | null } | null {
      const row = stmt.getCredential.get(deviceId) as Row | undefined
      if (!row) return null
      return {
        version: Number(row.version),
        issuedAt: Number(row.issued_at),
        revokedAt: numOrNull(row.revoked_at),
      }
    },

    /** Devices that never had a secret issued (a revoked credential still counts as issued). */
    listDevicesWithoutCredentials(): Device[] {
      const sql = `${DEVICE_SELECT} WHERE NOT EXISTS (SELECT 1 FROM device_credentials c WHERE c.device_id = d.id) ORDER BY d.id`
      return (db.prepare(sql).all() as Row[]).map(toDevice)
    },

    listServiceAccounts(): ServiceAccount[] {
      return (db.prepare('SELECT * FROM service_accounts ORDER BY username').all() as Row[]).map((r) => ({
        username: str(r.username),
        createdAt: Number(r.created_at),
        revokedAt: numOrNull(r.revoked_at),
      }))
    },

    // ---- changes ----
    /** In-process change listener; changes committed by other processes arrive as `external`. */
    onChange(listener: (change: RegistryChange) => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    /** Polls for commits by other processes; call periodically (the broker does, to enforce revocation). */
    pollExternalChanges(): void {
      refreshIfChangedElsewhere(0)
    },

    /**
     * Runs `fn` in one transaction (all or nothing), for imports. IMMEDIATE takes the write lock first:
     * a deferred read-then-write transaction fails with SQLITE_BUSY_SNAPSHOT when a service in another
     * process commits in between.
     */
    transaction<T>(fn: () => T): T {
      return db.transaction(fn).immediate()
    },

    close(): void {
      listeners.clear()
      if (db.open) db.close()
    },
  }
}
