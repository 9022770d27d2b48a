/**
 * Registers a simulated fleet in the device registry, idempotently: tenants (maintenance firms,
 * market operators), Qiaokou-like sites of every category, elevators and scales with plausible
 * ledgers, and a secret per device. Secrets are shown once, so they are kept in a credentials file
 * (mode 0600) and reused on the next run while the registry still holds the same credential version.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { addMonths, shanghaiDate } from '../domain/dates.ts'
import { DomainError, isDomainError } from '../domain/errors.ts'
import type { Logger } from '../domain/logger.ts'
import type { Device, SiteCategory, TenantKind } from '../domain/registry-types.ts'
import type { Registry } from '../registry/registry.ts'
import { createRng, type Rng } from './random.ts'
import { type CredentialsFile, CredentialsFileSchema, type SimulatedDeviceSpec } from './spec.ts'

export type ProvisionOptions = {
  elevators: number
  scales: number
  seed: number | string
  /** Prefix of every id created (tenants, sites, devices): `sim` gives sim-el-0001, sim-sc-0001. */
  prefix?: string
  /** Where secrets are kept between runs; without it every device gets a fresh secret. */
  credentialsFile?: string
  /** Status period registered for new devices (the offline rule waits three of them). */
  elevatorStatusPeriodS?: number
  scaleStatusPeriodS?: number
  /** Reference time for inspection, maintenance and verification dates. */
  now?: number
  logger?: Logger
}

const DAY_MS = 86_400_000

/** Where the simulator keeps its secrets under DATA_DIR. */
export function defaultCredentialsFile(dataDir: string): string {
  return join(dataDir, 'simulator', 'credentials.json')
}

const TENANTS: { key: string; name: string; kind: TenantKind; contact: string }[] = [
  { key: 'firm-1', name: '武汉江城电梯工程有限公司', kind: 'maintenance_firm', contact: '027-8361 0001' },
  { key: 'firm-2', name: '湖北汉水电梯维保有限公司', kind: 'maintenance_firm', contact: '027-8361 0002' },
  { key: 'firm-3', name: '武汉三镇电梯服务有限公司', kind: 'maintenance_firm', contact: '027-8361 0003' },
  { key: 'firm-4', name: '武汉长江机电设备安装有限公司', kind: 'maintenance_firm', contact: '027-8361 0004' },
  { key: 'op-1', name: '汉正街市场管理有限公司', kind: 'site_operator', contact: '027-8582 1001' },
  { key: 'op-2', name: '宝丰路农贸市场管理处', kind: 'site_operator', contact: '027-8582 1002' },
  { key: 'op-3', name: '古田农贸市场经营管理有限公司', kind: 'site_operator', contact: '027-8582 1003' },
  { key: 'op-4', name: '长丰农贸市场管理有限公司', kind: 'site_operator', contact: '027-8582 1004' },
  { key: 'op-5', name: '硚口惠民商业连锁有限公司', kind: 'site_operator', contact: '027-8582 1005' },
]

type SiteTemplate = { name: string; category: SiteCategory; street: string; operator: string | null }

/** Sites along Qiaokou's streets (names are illustrative, not a register of real premises). */
const SITES: SiteTemplate[] = [
  { name: '汉正街第一市场', category: 'market', street: '汉正街', operator: 'op-1' },
  { name: '汉正街小商品市场', category: 'market', street: '汉正街', operator: 'op-1' },
  { name: '宝丰路农贸市场', category: 'market', street: '宝丰路', operator: 'op-2' },
  { name: '崇仁路农贸市场', category: 'market', street: '崇仁路', operator: 'op-2' },
  { name: '古田二路农贸市场', category: 'market', street: '古田二路', operator: 'op-3' },
  { name: '古田四路农贸市场', category: 'market', street: '古田四路', operator: 'op-3' },
  { name: '长丰农贸市场', category: 'market', street: '长丰大道', operator: 'op-4' },
  { name: '易家墩农贸市场', category: 'market', street: '易家街', operator: 'op-4' },
  { name: '汉西农贸市场', category: 'market', street: '汉西一路', operator: 'op-4' },
  { name: '汉正街服装城', category: 'mall', street: '汉正街', operator: 'op-1' },
  { name: '古田商业广场', category: 'mall', street: '古田四路', operator: null },
  { name: '宗关购物中心', category: 'mall', street: '解放大道', operator: null },
  { name: '宝丰路惠民超市', category: 'supermarket', street: '宝丰路', operator: 'op-5' },
  { name: '古田三路惠民超市', category: 'supermarket', street: '古田三路', operator: 'op-5' },
  { name: '长丰惠民超市', category: 'supermarket', street: '长丰大道', operator: 'op-5' },
  { name: '汉正街社区卫生服务中心', category: 'community_health_centre', street: '汉正街', operator: null },
  { name: '宝丰街社区卫生服务中心', category: 'community_health_centre', street: '宝丰路', operator: null },
  { name: '古田街社区卫生服务中心', category: 'community_health_centre', street: '古田二路', operator: null },
  { name: '汉正街大药房', category: 'pharmacy', street: '汉正街', operator: 'op-5' },
  { name: '古田惠民大药房', category: 'pharmacy', street: '古田四路', operator: 'op-5' },
  { name: '宗关商务酒店', category: 'hotel', street: '解放大道', operator: null },
  { name: '汉西宾馆', category: 'hotel', street: '汉西一路', operator: null },
  { name: '古田路小学', category: 'school', street: '古田二路', operator: null },
  { name: '宗关实验学校', category: 'school', street: '宗关路', operator: null },
  { name: '地铁1号线宗关站', category: 'metro', street: '解放大道', operator: null },
  { name: '地铁1号线汉西一路站', category: 'metro', street: '解放大道', operator: null },
  { name: '地铁1号线古田四路站', category: 'metro', street: '解放大道', operator: null },
  { name: '长丰小区', category: 'residential', street: '长丰大道', operator: null },
  { name: '宝丰社区', category: 'residential', street: '宝丰路', operator: null },
  { name: '古田新村', category: 'residential', street: '古田三路', operator: null },
  { name: '宗关小区', category: 'residential', street: '宗关路', operator: null },
  { name: '易家墩小区', category: 'residential', street: '易家街', operator: null },
  { name: '汉水桥社区', category: 'residential', street: '汉水桥', operator: null },
  { name: '硚口区政务服务中心', category: 'other', street: '京汉大道', operator: null },
]

const ELEVATOR_SITE_WEIGHTS: Partial<Record<SiteCategory, number>> = {
  residential: 40,
  mall: 14,
  metro: 8,
  hotel: 8,
  market: 10,
  school: 5,
  community_health_centre: 5,
  supermarket: 4,
  other: 6,
}

const SCALE_SITE_WEIGHTS: Partial<Record<SiteCategory, number>> = {
  market: 85,
  supermarket: 8,
  pharmacy: 3,
  community_health_centre: 2,
  mall: 2,
}

// Elevator equipment code: category 3110 (traction passenger lift), region 420104 (Qiaokou),
// year of manufacture, serial: 4 + 6 + 4 + 6 = 20 digits.
const ELEVATOR_CATEGORY = '3110'
const QIAOKOU_REGION = '420104'

function pickSite(rng: Rng, weights: Partial<Record<SiteCategory, number>>): number {
  const candidates = SITES.map((s, i) => ({ i, w: weights[s.category] ?? 0 })).filter((c) => c.w > 0)
  // Weight per category is shared among its sites.
  const perCategory = new Map<SiteCategory, number>()
  for (const s of SITES) perCategory.set(s.category, (perCategory.get(s.category) ?? 0) + 1)
  const table: Record<string, number> = {}
  for (const c of candidates) {
    const site = SITES[c.i]
    if (site) table[String(c.i)] = c.w / (perCategory.get(site.category) ?? 1)
  }
  return Number(rng.weighted(table))
}

function speedForFloors(rng: Rng, floors: number): number {
  if (floors <= 11) return rng.pick([1.0, 1.5])
  if (floors <= 18) return rng.pick([1.5, 1.75])
  if (floors <= 26) return rng.pick([1.75, 2.0])
  return rng.pick([2.0, 2.5])
}

function readCredentials(file: string | undefined): CredentialsFile {
  if (!file || !existsSync(file)) return { version: 1, devices: [] }
  try {
    return CredentialsFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
  } catch (err) {
    throw new DomainError('CREDENTIALS_INVALID', `${file} is not a simulator credentials file`, {
      cause: err,
    })
  }
}

/** Reads a credentials file written by provisionFleet (for a run against a remote broker). */
export function loadCredentialsFile(file: string): SimulatedDeviceSpec[] {
  if (!existsSync(file)) throw new DomainError('NOT_FOUND', `no credentials file ${file}`)
  return readCredentials(file).devices
}

/** Writes the file atomically, readable by its owner only (it holds device secrets). */
export function writeCredentialsFile(file: string, devices: SimulatedDeviceSpec[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  const body: CredentialsFile = { version: 1, devices }
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, file)
  chmodSync(file, 0o600)
}

function specOf(device: Device, secret: string, credentialVersion: number | undefined): SimulatedDeviceSpec {
  const base = {
    id: device.id,
    kind: device.kind,
    secret,
    credentialVersion,
    statusPeriodS: device.statusPeriodS,
  }
  return device.kind === 'elevator'
    ? { ...base, ratedSpeedMps: device.ratedSpeedMps, floors: device.floors }
    : { ...base, eG: device.eG, maxKg: device.maxKg }
}

/**
 * Creates what is missing of the fleet `seed` describes and returns every device with its secret.
 * Device n of a seed is the same whatever the fleet size, so growing a fleet keeps the first devices.
 */
export async function provisionFleet(
  registry: Registry,
  options: ProvisionOptions,
): Promise<SimulatedDeviceSpec[]> {
  const prefix = options.prefix ?? 'sim'
  const now = options.now ?? Date.now()
  const root = createRng(`${options.seed}/${prefix}`)
  const log = options.logger?.child({ component: 'simulator-provision' })
  const id = (key: string) => `${prefix}-${key}`

  registry.transaction(() => {
    for (const t of TENANTS) {
      if (!registry.getTenant(id(t.key))) {
        registry.createTenant({ id: id(t.key), name: t.name, kind: t.kind, contact: t.contact })
      }
    }
    SITES.forEach((s, i) => {
      const siteId = id(`site-${String(i + 1).padStart(2, '0')}`)
      if (registry.getSite(siteId)) return
      const rng = root.fork(siteId)
      registry.createSite({
        id: siteId,
        name: s.name,
        category: s.category,
        address: `湖北省武汉市硚口区${s.street}${rng.int(1, 399)}号`,
        operatorTenantId: s.operator ? id(s.operator) : null,
      })
    })
  })
  const siteId = (index: number) => id(`site-${String(index + 1).padStart(2, '0')}`)
  const isoDaysAgo = (days: number) => shanghaiDate(now - days * DAY_MS)

  let created = 0
  const devices: Device[] = []
  // Serials start at a per-fleet offset so fleets with other prefixes rarely collide.
  const serialOffset = root.fork('serial').int(0, 899_999)
  registry.transaction(() => {
    for (let i = 0; i < options.elevators; i++) {
      const deviceId = id(`el-${String(i + 1).padStart(4, '0')}`)
      const existing = registry.getDevice(deviceId)
      if (existing) {
        devices.push(existing)
        continue
      }
      const rng = root.fork(deviceId)
      const site = pickSite(rng, ELEVATOR_SITE_WEIGHTS)
      const template = SITES[site]
      const floors = template?.category === 'residential' ? rng.int(11, 33) : rng.int(6, 24)
      // 4% overdue for periodic inspection (TSG T7001: annual), the rest inspected within the year.
      const lastInspection = isoDaysAgo(rng.chance(0.04) ? rng.int(370, 430) : rng.int(5, 330))
      // 5% past the 15-day half-monthly maintenance (TSG T5002).
      const maintainedDaysAgo = rng.chance(0.05) ? rng.uniform(16, 30) : rng.uniform(0.5, 14)
      const firm = rng.chance(0.85) ? (site % 4) + 1 : rng.int(1, 4)
      const year = rng.int(2006, 2023)
      const serialBase = (serialOffset + i) % 1_000_000
      for (let attempt = 0; ; attempt++) {
        const serial = String((serialBase + attempt * 104_729) % 1_000_000).padStart(6, '0')
        try {
          devices.push(
            registry.createElevator({
              id: deviceId,
              siteId: siteId(site),
              tenantId: id(`firm-${firm}`),
              name: `${template?.name ?? ''} ${rng.int(1, 8)}号梯`,
              registrationCode: `${ELEVATOR_CATEGORY}${QIAOKOU_REGION}${year}${serial}`,
              ratedSpeedMps: speedForFloors(rng, floors),
              floors,
              statusPeriodS: options.elevatorStatusPeriodS ?? 5,
              lastInspectionOn: lastInspection,
              nextInspectionDue: addMonths(lastInspection, 12),
              lastMaintenanceAt: Math.round(now - maintainedDaysAgo * DAY_MS),
            }),
          )
          break
        } catch (err) {
          // Another fleet (another prefix) holds this registration code: take the next serial.
          if (!isDomainError(err, 'ALREADY_EXISTS') || attempt >= 20) throw err
        }
      }
      created++
    }

    for (let i = 0; i < options.scales; i++) {
      const deviceId = id(`sc-${String(i + 1).padStart(4, '0')}`)
      const existing = registry.getDevice(deviceId)
      if (existing) {
        devices.push(existing)
        continue
      }
      const rng = root.fork(deviceId)
      const site = pickSite(rng, SCALE_SITE_WEIGHTS)
      const template = SITES[site]
      const big = rng.chance(0.4)
      // JJG 539: periodic verification at most every 12 months. 3% overdue, 6% due within a month.
      const r = rng.next()
      const verifiedDaysAgo = r < 0.03 ? rng.int(370, 420) : r < 0.09 ? rng.int(335, 360) : rng.int(5, 330)
      const verifiedOn = isoDaysAgo(verifiedDaysAgo)
      const operator = template?.operator ?? 'op-5'
      devices.push(
        registry.createScale({
          id: deviceId,
          siteId: siteId(site),
          tenantId: id(operator),
          name: `${template?.name ?? ''} ${rng.int(1, 120)}号摊位`,
          certificateNo: `${prefix.toUpperCase()}-QKJL${verifiedOn.slice(0, 4)}-${String(i + 1).padStart(6, '0')}`,
          accuracyClass: 'III',
          // Class III price-computing scales: 15 kg with e = 5 g or 30 kg with e = 10 g (n = 3000).
          maxKg: big ? 30 : 15,
          eG: big ? 10 : 5,
          statusPeriodS: options.scaleStatusPeriodS ?? 60,
          lastVerificationOn: verifiedOn,
          nextVerificationDue: addMonths(verifiedOn, 12),
        }),
      )
      created++
    }
  })

  const file = readCredentials(options.credentialsFile)
  const known = new Map(file.devices.map((d) => [d.id, d]))
  const reused = new Map<string, SimulatedDeviceSpec>()
  const toIssue: Device[] = []
  for (const device of devices) {
    const entry = known.get(device.id)
    const info = registry.getCredentialInfo(device.id)
    const isCurrent =
      entry !== undefined &&
      entry.kind === device.kind &&
      info !== null &&
      info.revokedAt === null &&
      entry.credentialVersion === info.version
    if (isCurrent) reused.set(device.id, specOf(device, entry.secret, entry.credentialVersion))
    else toIssue.push(device)
  }
  // A registry storing scrypt hashes (tests, old databases) hashes on libuv's thread pool: a few at a
  // time use both cores without queueing thousands.
  const issued = new Map<string, SimulatedDeviceSpec>()
  for (let i = 0; i < toIssue.length; i += 8) {
    await Promise.all(
      toIssue.slice(i, i + 8).map(async (device) => {
        const secret = await registry.issueDeviceSecret(device.id)
        issued.set(device.id, specOf(device, secret, registry.getCredentialInfo(device.id)?.version))
      }),
    )
  }
  const out = devices.flatMap((d) => {
    const spec = issued.get(d.id) ?? reused.get(d.id)
    return spec ? [spec] : []
  })

  if (options.credentialsFile) {
    const merged = new Map(file.devices.map((d) => [d.id, d]))
    for (const s of out) merged.set(s.id, s)
    writeCredentialsFile(options.credentialsFile, [...merged.values()])
  }
  log?.info({ devices: out.length, created, secretsIssued: toIssue.length }, 'fleet provisioned')
  return out
}
