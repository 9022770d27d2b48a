/**
 * Imports a bureau's device ledger (台账) from CSV: elevators (特种设备台账) or scales (强检计量器具台账).
 *
 * Columns are found by their English field name or by the Chinese column names such ledgers use
 * (docs/registry.md lists both). Every row is checked, even after the first bad one, and each bad row
 * is reported with its line number; nothing is imported unless every row is good (one transaction).
 * Secrets are not issued here: `npm run cli -- device secrets --all-missing` does that afterwards.
 */
import { parse } from 'csv-parse/sync'
import { z } from 'zod'
import { isDomainError } from '../domain/errors.ts'
import {
  ACCURACY_CLASSES,
  type AccuracyClass,
  SITE_CATEGORIES,
  type SiteCategory,
  TENANT_KINDS,
  type TenantKind,
} from '../domain/registry-types.ts'
import { DEVICE_ID_PATTERN, DEVICE_KINDS, type DeviceKind } from '../domain/topics.ts'
import { ElevatorInputSchema, type Registry, ScaleInputSchema } from './registry.ts'

export type ImportOptions = {
  /** Kind of every row; otherwise a `kind` column, otherwise guessed from the columns present. */
  kind?: DeviceKind
  /** Check everything (inside a transaction that is rolled back) and import nothing. */
  dryRun?: boolean
}

export type ImportError = {
  /** 1-based line of the file where the row starts; the header is line 1, as a spreadsheet shows it. */
  line: number
  /** Canonical field name (see LEDGER_COLUMNS) when the problem is one field. */
  field?: string
  reason: string
}

export type ImportReport = {
  dryRun: boolean
  /** Data rows read (blank lines not counted). */
  rows: number
  /** What was imported (on a dry run: what would be). All zero when any row is bad. */
  imported: { tenants: number; sites: number; elevators: number; scales: number }
  /** Ids of the devices imported (or that would be), in file order. */
  deviceIds: string[]
  /** Header cells that match no known column; their values are not imported. */
  ignoredColumns: string[]
  errors: ImportError[]
}

type FieldSpec = {
  /** Other header names accepted, Chinese first. */
  aliases: readonly string[]
  /** Which device kinds use the field; absent = both. */
  kind?: DeviceKind
  /** Unit of the value; a header may repeat it in brackets, e.g. 额定速度(m/s). */
  unit?: 'm/s' | 'kg' | 'g' | 's'
  description: string
}

/** Every column the importer reads: canonical name -> accepted header names. docs/registry.md mirrors it. */
export const LEDGER_COLUMNS = {
  kind: {
    aliases: ['设备类别', '设备种类', '设备类型'],
    description: 'elevator / scale (电梯 / 衡器, 电子秤, 电子计价秤)',
  },
  id: {
    aliases: ['deviceId', '设备ID', '平台设备ID', '终端编号'],
    description:
      'device id = MQTT client id; default el-{registrationCode} for an elevator, sc-{certificateNo} for a scale',
  },
  name: { aliases: ['设备名称'], description: 'free text, e.g. "1号梯"' },
  tenantId: {
    aliases: ['维保单位编号', '运营单位编号', '租户编号'],
    description: 'id of the maintenance firm (elevator) or operator (scale)',
  },
  tenantName: {
    aliases: ['维保单位', '维保单位名称', '运营单位', '运营单位名称', '市场开办方', '租户名称'],
    description: 'needed only when the tenant is not registered yet',
  },
  tenantKind: {
    aliases: ['单位类型', '租户类型'],
    description:
      'maintenance_firm (维保单位) / site_operator (运营单位); default maintenance_firm for elevators, site_operator for scales',
  },
  tenantContact: {
    // Not 联系电话 / 联系人: in an elevator ledger they are usually the using unit's, not the firm's.
    aliases: ['维保电话', '维保单位电话', '运营单位电话', '租户联系电话'],
    description: 'contact of a tenant created by the import',
  },
  siteId: { aliases: ['场所编号', '使用单位编号'], description: 'id of the site' },
  siteName: {
    aliases: ['使用单位', '使用单位名称', '场所名称'],
    description: 'needed only when the site is not registered yet',
  },
  siteCategory: {
    aliases: ['场所类别', '场所类型'],
    description: 'site category (see the category table); needed for a new site',
  },
  siteAddress: {
    aliases: ['地址', '场所地址', '使用地点', '设备使用地点'],
    description: 'needed for a new site',
  },
  inService: {
    aliases: ['在用', '使用状态'],
    description: 'true/false, 是/否, 在用/停用; default in service',
  },
  statusPeriodS: {
    aliases: ['上报周期'],
    unit: 's',
    description: 'seconds between status reports; default 5 (elevator), 60 (scale)',
  },
  registrationCode: {
    aliases: ['设备代码', '注册代码', '使用登记代码'],
    kind: 'elevator',
    description: '20 digits',
  },
  ratedSpeedMps: { aliases: ['额定速度'], kind: 'elevator', unit: 'm/s', description: 'm/s, > 0' },
  floors: {
    aliases: ['层站数', '层数', '层站门数'],
    kind: 'elevator',
    description: 'floors served, 2-300; "18", "18层18站18门" or "18/18/18" (the first number)',
  },
  lastInspectionOn: { aliases: ['上次检验日期'], kind: 'elevator', description: 'YYYY-MM-DD' },
  nextInspectionDue: { aliases: ['下次检验日期'], kind: 'elevator', description: 'YYYY-MM-DD' },
  lastMaintenanceAt: {
    aliases: ['最近维保时间', '最近维保日期', '上次维保日期'],
    kind: 'elevator',
    description: 'YYYY-MM-DD or YYYY-MM-DD HH:mm[:ss], Beijing time',
  },
  certificateNo: {
    aliases: ['证书编号', '检定证书编号'],
    kind: 'scale',
    description: 'verification certificate number',
  },
  accuracyClass: {
    aliases: ['准确度等级'],
    kind: 'scale',
    description: 'I, II, III, IIII (also Ⅰ Ⅱ Ⅲ); default III',
  },
  maxKg: {
    aliases: ['最大秤量'],
    kind: 'scale',
    unit: 'kg',
    description: 'maximum capacity in kg ("30", "30kg")',
  },
  eG: {
    aliases: ['检定分度值', '检定分度值e'],
    kind: 'scale',
    unit: 'g',
    description: 'verification interval e in g ("10", "10g", "0.01kg")',
  },
  lastVerificationOn: {
    aliases: ['上次检定日期', '检定日期'],
    kind: 'scale',
    description: 'YYYY-MM-DD',
  },
  nextVerificationDue: {
    aliases: ['下次检定日期', '有效期至', '检定有效期至'],
    kind: 'scale',
    description: 'YYYY-MM-DD',
  },
} as const satisfies Record<string, FieldSpec>

export type LedgerField = keyof typeof LEDGER_COLUMNS
const FIELDS = Object.keys(LEDGER_COLUMNS) as LedgerField[]
const fieldSpec = (field: LedgerField): FieldSpec => LEDGER_COLUMNS[field]

/** Site category values a ledger writes in Chinese. */
export const CATEGORY_ALIASES: Record<string, SiteCategory> = {
  集贸市场: 'market',
  农贸市场: 'market',
  菜市场: 'market',
  市场: 'market',
  社区卫生服务中心: 'community_health_centre',
  卫生服务中心: 'community_health_centre',
  商场: 'mall',
  购物中心: 'mall',
  超市: 'supermarket',
  药店: 'pharmacy',
  药房: 'pharmacy',
  宾馆: 'hotel',
  酒店: 'hotel',
  饭店: 'hotel',
  学校: 'school',
  地铁: 'metro',
  地铁站: 'metro',
  轨道交通: 'metro',
  住宅: 'residential',
  住宅小区: 'residential',
  小区: 'residential',
  其他: 'other',
  其它: 'other',
}

const KIND_ALIASES: Record<string, DeviceKind> = {
  电梯: 'elevator',
  衡器: 'scale',
  电子秤: 'scale',
  计价秤: 'scale',
  电子计价秤: 'scale',
}

const TENANT_KIND_ALIASES: Record<string, TenantKind> = {
  维保单位: 'maintenance_firm',
  运营单位: 'site_operator',
  开办方: 'site_operator',
  市场开办方: 'site_operator',
}

const BOOLEAN_ALIASES: Record<string, boolean> = {
  true: true,
  false: false,
  yes: true,
  no: false,
  '1': true,
  '0': false,
  是: true,
  否: false,
  在用: true,
  停用: false,
}

const ACCURACY_ALIASES: Record<string, AccuracyClass> = {
  Ⅰ: 'I',
  Ⅱ: 'II',
  Ⅲ: 'III',
  ⅢⅠ: 'IIII',
  ⅠⅠⅠⅠ: 'IIII',
  '1': 'I',
  '2': 'II',
  '3': 'III',
  '4': 'IIII',
}

/** Header cell -> comparable key: no spaces, ASCII brackets, lower case, unit in brackets split off. */
function headerKey(header: string): { key: string; unit: string | null } {
  const cleaned = header
    .replace(/^\uFEFF/, '')
    .replace(/（/g, '(')
    .replace(/）/g, ')')
    .replace(/\s+/g, '')
  const match = /^(.*?)\((.*)\)$/.exec(cleaned)
  const base = match?.[1] ?? cleaned
  return { key: base.toLowerCase(), unit: match?.[2]?.toLowerCase() ?? null }
}

const HEADER_INDEX = new Map<string, LedgerField>()
for (const field of FIELDS) {
  for (const name of [field, ...fieldSpec(field).aliases]) HEADER_INDEX.set(headerKey(name).key, field)
}

// csv-parse types `info: true` records as string[][]; this checks the shape instead of casting it.
const ParsedRecordsSchema = z.array(
  z.object({
    record: z.array(z.string()),
    info: z.object({ empty_lines: z.number() }),
  }),
)

type Row = { line: number; cells: Partial<Record<LedgerField, string>> }

type ParsedFile =
  | {
      ok: true
      rows: Row[]
      /** Rows that cannot be read at all (too many cells): reported, and the other rows still checked. */
      rowErrors: ImportError[]
      header: Map<LedgerField, string>
      ignoredColumns: string[]
    }
  | { ok: false; errors: ImportError[] }

/** Reads the CSV into rows keyed by canonical field, remembering where each row starts. */
function parseFile(csvText: string): ParsedFile {
  let records: z.output<typeof ParsedRecordsSchema>
  try {
    records = ParsedRecordsSchema.parse(
      parse(csvText, {
        bom: true,
        info: true,
        relax_column_count: true,
        skip_empty_lines: true,
      }),
    )
  } catch (err) {
    const lines = (err as { lines?: unknown }).lines
    const line = typeof lines === 'number' && lines > 0 ? lines : 1
    return { ok: false, errors: [{ line, reason: `not valid CSV: ${(err as Error).message}` }] }
  }
  const [head, ...body] = records
  if (head === undefined) return { ok: false, errors: [{ line: 1, reason: 'the file is empty' }] }

  const errors: ImportError[] = []
  const columns: (LedgerField | null)[] = []
  const header = new Map<LedgerField, string>()
  const ignoredColumns: string[] = []
  for (const cell of head.record) {
    const { key, unit } = headerKey(cell)
    const field = HEADER_INDEX.get(key) ?? null
    columns.push(field)
    if (key === '') {
      columns[columns.length - 1] = null
      continue
    }
    if (field === null) {
      ignoredColumns.push(cell.trim())
      continue
    }
    const earlier = header.get(field)
    if (earlier !== undefined) {
      errors.push({
        line: 1,
        field,
        reason: `columns "${earlier}" and "${cell.trim()}" both mean ${field}: delete or rename one`,
      })
      continue
    }
    const expected = fieldSpec(field).unit
    if (unit !== null && expected !== undefined && !unitFactor(unit, expected)) {
      errors.push({ line: 1, field, reason: `column "${cell.trim()}": unit ${unit} is not ${expected}` })
    }
    header.set(field, cell.trim())
  }
  if (header.size === 0) {
    errors.push({
      line: 1,
      reason: `no known column in the header (expected e.g. ${FIELDS.slice(0, 6).join(', ')} or 设备代码, 证书编号, …)`,
    })
  }
  if (errors.length > 0) return { ok: false, errors }

  const rows: Row[] = []
  // csv-parse's own line count takes a CRLF inside a quoted cell for two lines; count breaks here.
  let nextLine = 1 + head.info.empty_lines + lineBreaks(head.record) + 1
  let previousEmpty = head.info.empty_lines
  for (const { record, info } of body) {
    // A quoted cell may span lines: the row starts after the previous one and any blank lines between.
    const line = nextLine + (info.empty_lines - previousEmpty)
    nextLine = line + lineBreaks(record) + 1
    previousEmpty = info.empty_lines
    if (record.every((cell) => cell.trim() === '')) continue
    if (record.slice(head.record.length).some((cell) => cell.trim() !== '')) {
      errors.push({
        line,
        reason: `${record.length} cells but the header has ${head.record.length} (an unquoted comma?)`,
      })
      continue
    }
    const cells: Partial<Record<LedgerField, string>> = {}
    record.forEach((value, index) => {
      const field = columns[index]
      const trimmed = value.trim()
      if (field && trimmed !== '') cells[field] = trimmed
    })
    rows.push({ line, cells })
  }
  return { ok: true, rows, rowErrors: errors, header, ignoredColumns }
}

function lineBreaks(record: string[]): number {
  return record.reduce((n, cell) => n + (cell.match(/\r\n|\r|\n/g)?.length ?? 0), 0)
}

const UNIT_FACTORS: Record<string, Record<string, number>> = {
  kg: { kg: 1, 千克: 1, 公斤: 1, g: 0.001, 克: 0.001 },
  g: { g: 1, 克: 1, kg: 1000, 千克: 1000, 公斤: 1000 },
  'm/s': { 'm/s': 1, 米每秒: 1, 米秒: 1, 'm/min': 1 / 60 },
  s: { s: 1, 秒: 1 },
}

function unitFactor(unit: string, expected: string): number | undefined {
  return UNIT_FACTORS[expected]?.[unit.toLowerCase()]
}

class RowProblems {
  readonly errors: ImportError[] = []
  readonly line: number
  private readonly header: Map<LedgerField, string>

  constructor(line: number, header: Map<LedgerField, string>) {
    this.line = line
    this.header = header
  }

  /** The column as the file names it, for messages a clerk can match to the spreadsheet. */
  column(field: LedgerField): string {
    const name = this.header.get(field)
    return name === undefined || name === field ? field : `${field} (${name})`
  }

  add(field: LedgerField | undefined, reason: string): void {
    this.errors.push(field === undefined ? { line: this.line, reason } : { line: this.line, field, reason })
  }

  missing(field: LedgerField, why: string): undefined {
    this.add(field, `${this.column(field)} is empty: ${why}`)
    return undefined
  }
}

function parseNumber(raw: string, field: LedgerField, p: RowProblems): number | undefined {
  const expected = fieldSpec(field).unit
  const match = /^([-+]?\d+(?:\.\d+)?)\s*([^\d\s].*)?$/.exec(raw.replace(/,/g, ''))
  const unit = match?.[2]?.trim()
  let factor: number | undefined = 1
  if (unit !== undefined) factor = expected === undefined ? undefined : unitFactor(unit, expected)
  if (!match || factor === undefined) {
    p.add(field, `${p.column(field)} "${raw}" is not a number${expected ? ` in ${expected}` : ''}`)
    return undefined
  }
  return Number(match[1]) * factor
}

const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/

function isCalendarDate(value: string): boolean {
  if (!DATE_PATTERN.test(value)) return false
  const date = new Date(`${value}T00:00:00Z`)
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value
}

function parseDate(raw: string, field: LedgerField, p: RowProblems): string | undefined {
  if (isCalendarDate(raw)) return raw
  p.add(field, `${p.column(field)} "${raw}" is not a date YYYY-MM-DD`)
  return undefined
}

/** Maintenance time in Beijing time (UTC+8, no daylight saving) -> ms since epoch. */
function parseBeijingTime(raw: string, field: LedgerField, p: RowProblems, now: number): number | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(raw)
  const day = match?.[1]
  if (!match || day === undefined || !isCalendarDate(day)) {
    p.add(field, `${p.column(field)} "${raw}" is not a date YYYY-MM-DD or a time YYYY-MM-DD HH:mm`)
    return undefined
  }
  const [hh = '00', mm = '00', ss = '00'] = [match[2], match[3], match[4]]
  const at = Date.parse(`${day}T${hh}:${mm}:${ss}+08:00`)
  if (Number.isNaN(at)) {
    p.add(field, `${p.column(field)} "${raw}" is not a valid time`)
    return undefined
  }
  if (at > now) {
    p.add(field, `${p.column(field)} "${raw}" is in the future`)
    return undefined
  }
  return at
}

function parseAlias<T extends string>(
  raw: string,
  field: LedgerField,
  canonical: readonly T[],
  aliases: Record<string, T>,
  p: RowProblems,
): T | undefined {
  const direct = canonical.find((value) => value.toLowerCase() === raw.toLowerCase())
  const value = direct ?? aliases[raw] ?? aliases[raw.toLowerCase()]
  if (value === undefined) {
    const names = Object.keys(aliases)
    const accepted =
      names.length <= 8
        ? [...canonical, ...names].join(', ')
        : `${canonical.join(', ')} (or a Chinese name listed in docs/registry.md)`
    p.add(field, `${p.column(field)} "${raw}" is not one of: ${accepted}`)
  }
  return value
}

function checkId(raw: string, field: LedgerField, p: RowProblems): string | undefined {
  if (DEVICE_ID_PATTERN.test(raw)) return raw
  p.add(field, `${p.column(field)} "${raw}" is not a valid id (letters, digits, _ . - only; at most 64)`)
  return undefined
}

/** Why a 20-digit code is not one, in words a clerk can act on. */
function registrationCodeProblem(raw: string): string | null {
  if (/^\d{20}$/.test(raw)) return null
  if (/^\d(\.\d+)?e\+?\d+$/i.test(raw)) {
    return 'looks like a number a spreadsheet turned into scientific notation: format the column as text and export again'
  }
  const digits = raw.replace(/\D/g, '').length
  return `must be exactly 20 digits (has ${raw.length} characters, ${digits} digits)`
}

type TenantSeen = { line: number; name: string | undefined; kind: TenantKind; isNew: boolean }
type SiteSeen = {
  line: number
  name: string | undefined
  category: SiteCategory
  address: string | undefined
  isNew: boolean
}

class Rollback extends Error {}

/**
 * Checks and imports a ledger. Never throws for bad content: every problem is in `errors`, with
 * the line where its row starts, and then nothing is imported.
 */
export function importLedger(registry: Registry, csvText: string, options: ImportOptions = {}): ImportReport {
  const dryRun = options.dryRun === true
  const report: ImportReport = {
    dryRun,
    rows: 0,
    imported: { tenants: 0, sites: 0, elevators: 0, scales: 0 },
    deviceIds: [],
    ignoredColumns: [],
    errors: [],
  }
  const file = parseFile(csvText)
  if (!file.ok) {
    report.errors = file.errors
    return report
  }
  report.rows = file.rows.length + file.rowErrors.length
  report.ignoredColumns = file.ignoredColumns
  if (file.rows.length === 0) {
    report.errors.push({ line: 1, reason: 'the file has a header but no data rows' })
    return report
  }
  const fileKind = options.kind ?? guessKind(file.header)

  const counts = { tenants: 0, sites: 0, elevators: 0, scales: 0 }
  const deviceIds: string[] = []
  const errors: ImportError[] = [...file.rowErrors]
  const tenants = new Map<string, TenantSeen>()
  const sites = new Map<string, SiteSeen>()
  const deviceLines = new Map<string, number>()
  const codeLines = new Map<string, number>()
  const certificateLines = new Map<string, number>()
  const now = Date.now()

  try {
    // IMMEDIATE: takes the write lock before the first read. A deferred transaction that reads and
    // then writes fails at once (SQLITE_BUSY_SNAPSHOT) if a running service wrote in between.
    registry.db
      .transaction(() => {
        for (const row of file.rows) {
          const p = new RowProblems(row.line, file.header)
          const kind = rowKind(row, fileKind, options.kind !== undefined, p)
          const tenantId = row.cells.tenantId
          const siteId = row.cells.siteId
          const tenantOk = kind !== undefined && tenantId !== undefined && resolveTenant(row, kind, p)
          const siteOk = kind !== undefined && siteId !== undefined && resolveSite(row, kind, p)
          if (tenantId === undefined) p.missing('tenantId', 'every device belongs to a tenant')
          if (siteId === undefined) p.missing('siteId', 'every device is at a site')
          if (kind !== undefined) {
            const created = kind === 'elevator' ? elevatorFromRow(row, p) : scaleFromRow(row, p)
            if (created && tenantOk && siteOk && p.errors.length === 0) {
              try {
                const device =
                  created.kind === 'elevator'
                    ? registry.createElevator(created.input)
                    : registry.createScale(created.input)
                deviceIds.push(device.id)
                if (device.kind === 'elevator') counts.elevators++
                else counts.scales++
              } catch (err) {
                if (!isDomainError(err)) throw err
                p.add(undefined, `[${err.code}] ${err.message}`)
              }
            }
          }
          errors.push(...p.errors)
        }
        if (errors.length > 0 || dryRun) throw new Rollback()
      })
      .immediate()
  } catch (err) {
    if (!(err instanceof Rollback)) throw err
  }

  report.errors = errors.sort((a, b) => a.line - b.line)
  if (errors.length === 0) {
    report.imported = counts
    report.deviceIds = deviceIds
  }
  return report

  function resolveTenant(row: Row, kind: DeviceKind, p: RowProblems): boolean {
    const id = row.cells.tenantId === undefined ? undefined : checkId(row.cells.tenantId, 'tenantId', p)
    if (id === undefined) return false
    const statedKind =
      row.cells.tenantKind === undefined
        ? undefined
        : parseAlias(row.cells.tenantKind, 'tenantKind', TENANT_KINDS, TENANT_KIND_ALIASES, p)
    if (row.cells.tenantKind !== undefined && statedKind === undefined) return false
    const name = row.cells.tenantName
    const seen = tenants.get(id)
    if (seen !== undefined) {
      let ok = true
      if (statedKind !== undefined && statedKind !== seen.kind) {
        const where = seen.isNew ? `on line ${seen.line}` : 'in the registry'
        p.add('tenantKind', `tenant ${id} is a ${seen.kind} ${where}, this row says ${statedKind}`)
        ok = false
      }
      if (seen.isNew && name !== undefined && seen.name !== undefined && name !== seen.name) {
        p.add('tenantName', `tenant ${id} is named "${seen.name}" on line ${seen.line}, here "${name}"`)
        ok = false
      }
      return ok
    }
    const existing = registry.getTenant(id)
    if (existing !== null) {
      tenants.set(id, { line: row.line, name: existing.name, kind: existing.kind, isNew: false })
      if (statedKind !== undefined && statedKind !== existing.kind) {
        p.add('tenantKind', `tenant ${id} is registered as ${existing.kind}, this row says ${statedKind}`)
        return false
      }
      return true
    }
    if (name === undefined) {
      p.add('tenantName', `unknown tenant ${id} and no ${p.column('tenantName')} given to create it`)
      return false
    }
    const tenantKind = statedKind ?? (kind === 'elevator' ? 'maintenance_firm' : 'site_operator')
    tenants.set(id, { line: row.line, name, kind: tenantKind, isNew: true })
    return create('tenantName', p, () => {
      registry.createTenant({ id, name, kind: tenantKind, contact: row.cells.tenantContact ?? null })
      counts.tenants++
    })
  }

  function resolveSite(row: Row, kind: DeviceKind, p: RowProblems): boolean {
    const id = row.cells.siteId === undefined ? undefined : checkId(row.cells.siteId, 'siteId', p)
    if (id === undefined) return false
    const category =
      row.cells.siteCategory === undefined
        ? undefined
        : parseAlias(row.cells.siteCategory, 'siteCategory', SITE_CATEGORIES, CATEGORY_ALIASES, p)
    if (row.cells.siteCategory !== undefined && category === undefined) return false
    const { siteName: name, siteAddress: address } = row.cells
    const seen = sites.get(id)
    if (seen !== undefined) {
      let ok = true
      if (category !== undefined && category !== seen.category) {
        const where = seen.isNew ? `on line ${seen.line}` : 'in the registry'
        p.add('siteCategory', `site ${id} is a ${seen.category} ${where}, this row says ${category}`)
        ok = false
      }
      if (seen.isNew && name !== undefined && seen.name !== undefined && name !== seen.name) {
        p.add('siteName', `site ${id} is named "${seen.name}" on line ${seen.line}, here "${name}"`)
        ok = false
      }
      if (seen.isNew && address !== undefined && seen.address !== undefined && address !== seen.address) {
        p.add('siteAddress', `site ${id} is at "${seen.address}" on line ${seen.line}, here "${address}"`)
        ok = false
      }
      return ok
    }
    const existing = registry.getSite(id)
    if (existing !== null) {
      sites.set(id, { line: row.line, ...existing, isNew: false })
      if (category !== undefined && category !== existing.category) {
        p.add('siteCategory', `site ${id} is registered as ${existing.category}, this row says ${category}`)
        return false
      }
      return true
    }
    const missing = (['siteName', 'siteCategory', 'siteAddress'] as const).filter(
      (field) => row.cells[field] === undefined,
    )
    if (missing.length > 0 || name === undefined || category === undefined || address === undefined) {
      p.add(
        missing[0],
        `unknown site ${id} and no ${missing.map((f) => p.column(f)).join(', ')} given to create it`,
      )
      return false
    }
    sites.set(id, { line: row.line, name, category, address, isNew: true })
    // A market's scales belong to its operator: a scale row's tenant runs the site it creates.
    const tenantId = row.cells.tenantId
    const operatorTenantId =
      kind === 'scale' && tenantId !== undefined && tenants.has(tenantId) ? tenantId : null
    return create('siteName', p, () => {
      registry.createSite({ id, name, category, address, operatorTenantId })
      counts.sites++
    })
  }

  function create(field: LedgerField, p: RowProblems, fn: () => void): boolean {
    try {
      fn()
      return true
    } catch (err) {
      if (!isDomainError(err)) throw err
      p.add(field, `[${err.code}] ${err.message}`)
      return false
    }
  }

  function commonInput(row: Row, p: RowProblems) {
    const { cells } = row
    const inService =
      cells.inService === undefined ? undefined : parseBoolean(cells.inService, 'inService', p)
    const statusPeriodS =
      cells.statusPeriodS === undefined ? undefined : parseNumber(cells.statusPeriodS, 'statusPeriodS', p)
    return {
      siteId: cells.siteId ?? '',
      tenantId: cells.tenantId ?? '',
      name: cells.name ?? null,
      ...(inService === undefined ? {} : { inService }),
      ...(statusPeriodS === undefined ? {} : { statusPeriodS }),
    }
  }

  function claimDeviceId(id: string, p: RowProblems): boolean {
    const earlier = deviceLines.get(id)
    if (earlier !== undefined) {
      p.add('id', `device id ${id} is also on line ${earlier}`)
      return false
    }
    deviceLines.set(id, p.line)
    if (registry.getDevice(id) !== null) {
      p.add('id', `device ${id} is already registered`)
      return false
    }
    return true
  }

  function elevatorFromRow(
    row: Row,
    p: RowProblems,
  ): { kind: 'elevator'; input: z.input<typeof ElevatorInputSchema> } | undefined {
    const { cells } = row
    const base = commonInput(row, p)
    let code = cells.registrationCode
    if (code === undefined) p.missing('registrationCode', 'an elevator needs its 20-digit registration code')
    else {
      const problem = registrationCodeProblem(code)
      if (problem !== null) {
        p.add('registrationCode', `${p.column('registrationCode')} "${code}" ${problem}`)
        code = undefined
      } else {
        const earlier = codeLines.get(code)
        const holder = registry.getElevatorByRegistrationCode(code)
        if (earlier !== undefined)
          p.add('registrationCode', `registration code ${code} is also on line ${earlier}`)
        else if (holder !== null)
          p.add('registrationCode', `registration code ${code} is already registered to ${holder.id}`)
        codeLines.set(code, earlier ?? row.line)
        // Its default id would only repeat the same complaint.
        if (earlier !== undefined || holder !== null) code = undefined
      }
    }
    // The code is on the certificate in the car, so it makes an id installers can find again.
    let id: string | undefined
    if (cells.id !== undefined) id = checkId(cells.id, 'id', p)
    else if (code !== undefined) id = `el-${code}`
    if (id !== undefined) claimDeviceId(id, p)
    const ratedSpeedMps =
      cells.ratedSpeedMps === undefined
        ? p.missing('ratedSpeedMps', 'needed for the overspeed rule')
        : parseNumber(cells.ratedSpeedMps, 'ratedSpeedMps', p)
    const floors = cells.floors === undefined ? p.missing('floors', 'needed') : parseFloors(cells.floors, p)
    const lastInspectionOn = optionalDate(cells.lastInspectionOn, 'lastInspectionOn', p)
    const nextInspectionDue = optionalDate(cells.nextInspectionDue, 'nextInspectionDue', p)
    checkOrder(lastInspectionOn, nextInspectionDue, 'nextInspectionDue', p)
    const lastMaintenanceAt =
      cells.lastMaintenanceAt === undefined
        ? undefined
        : parseBeijingTime(cells.lastMaintenanceAt, 'lastMaintenanceAt', p, now)
    const input = {
      ...base,
      id,
      registrationCode: code,
      ratedSpeedMps,
      floors,
      lastInspectionOn,
      nextInspectionDue,
      lastMaintenanceAt,
    }
    const checked = schemaChecked(ElevatorInputSchema, input, p)
    return checked === undefined ? undefined : { kind: 'elevator', input: checked }
  }

  function scaleFromRow(
    row: Row,
    p: RowProblems,
  ): { kind: 'scale'; input: z.input<typeof ScaleInputSchema> } | undefined {
    const { cells } = row
    const base = commonInput(row, p)
    const certificateNo = cells.certificateNo
    let isCertificateTaken = false
    if (certificateNo === undefined) p.missing('certificateNo', 'a scale needs its verification certificate')
    else {
      const earlier = certificateLines.get(certificateNo)
      const holder = registry.getScaleByCertificateNo(certificateNo)
      if (earlier !== undefined)
        p.add('certificateNo', `certificate ${certificateNo} is also on line ${earlier}`)
      else if (holder !== null)
        p.add('certificateNo', `certificate ${certificateNo} is already registered to ${holder.id}`)
      certificateLines.set(certificateNo, earlier ?? row.line)
      if (earlier !== undefined || holder !== null) isCertificateTaken = true
    }
    let id: string | undefined
    if (cells.id !== undefined) id = checkId(cells.id, 'id', p)
    else if (certificateNo !== undefined && !isCertificateTaken) {
      id = `sc-${certificateNo}`
      if (!DEVICE_ID_PATTERN.test(id)) {
        p.add('id', `certificate ${certificateNo} cannot be a device id: give the row an ${p.column('id')}`)
        id = undefined
      }
    }
    if (id !== undefined) claimDeviceId(id, p)
    const accuracyClass =
      cells.accuracyClass === undefined
        ? undefined
        : parseAlias(cells.accuracyClass, 'accuracyClass', ACCURACY_CLASSES, ACCURACY_ALIASES, p)
    const maxKg =
      cells.maxKg === undefined
        ? p.missing('maxKg', 'the maximum capacity is needed')
        : parseNumber(cells.maxKg, 'maxKg', p)
    const eG =
      cells.eG === undefined
        ? p.missing('eG', 'the verification interval e is needed')
        : parseNumber(cells.eG, 'eG', p)
    if (maxKg !== undefined && eG !== undefined && eG / 1000 >= maxKg) {
      p.add('eG', `verification interval ${eG} g is not smaller than the maximum capacity ${maxKg} kg`)
    }
    const lastVerificationOn = optionalDate(cells.lastVerificationOn, 'lastVerificationOn', p)
    const nextVerificationDue = optionalDate(cells.nextVerificationDue, 'nextVerificationDue', p)
    checkOrder(lastVerificationOn, nextVerificationDue, 'nextVerificationDue', p)
    const input = {
      ...base,
      id,
      certificateNo,
      ...(accuracyClass === undefined ? {} : { accuracyClass }),
      maxKg,
      eG,
      lastVerificationOn,
      nextVerificationDue,
    }
    const checked = schemaChecked(ScaleInputSchema, input, p)
    return checked === undefined ? undefined : { kind: 'scale', input: checked }
  }
}

function parseBoolean(raw: string, field: LedgerField, p: RowProblems): boolean | undefined {
  const value = BOOLEAN_ALIASES[raw.toLowerCase()]
  if (value === undefined) {
    p.add(field, `${p.column(field)} "${raw}" is not one of: ${Object.keys(BOOLEAN_ALIASES).join(', ')}`)
  }
  return value
}

function optionalDate(raw: string | undefined, field: LedgerField, p: RowProblems): string | undefined {
  return raw === undefined ? undefined : parseDate(raw, field, p)
}

function checkOrder(
  last: string | undefined,
  next: string | undefined,
  field: LedgerField,
  p: RowProblems,
): void {
  if (last !== undefined && next !== undefined && next <= last) {
    p.add(field, `${p.column(field)} ${next} is not after the last one, ${last}`)
  }
}

function parseFloors(raw: string, p: RowProblems): number | undefined {
  const match = /^(\d+)(?:层.*|\/\d+\/\d+)?$/.exec(raw)
  if (match?.[1] === undefined) {
    p.add(
      'floors',
      `${p.column('floors')} "${raw}" is not a number of floors ("18", "18层18站18门", "18/18/18")`,
    )
    return undefined
  }
  return Number(match[1])
}

/** Range checks of the registry's own input schema, reported per field. */
function schemaChecked<S extends z.ZodType>(
  schema: S,
  input: unknown,
  p: RowProblems,
): z.output<S> | undefined {
  const result = schema.safeParse(input)
  if (result.success) return p.errors.length === 0 ? result.data : undefined
  // A field already reported (unreadable, so absent here) is not reported again as missing.
  const reported = new Set(p.errors.map((e) => e.field))
  for (const issue of result.error.issues) {
    const head = issue.path[0]
    const field = FIELDS.find((f) => f === head)
    if (reported.has(field) || head === 'siteId' || head === 'tenantId') continue
    p.add(field, `${field === undefined ? '' : `${p.column(field)}: `}${issue.message}`)
  }
  return undefined
}

function guessKind(header: Map<LedgerField, string>): DeviceKind | undefined {
  if (header.has('kind')) return undefined
  const has = (kind: DeviceKind) =>
    [...header.keys()].some((field) => (fieldSpec(field).kind ?? null) === kind)
  const elevator = has('elevator')
  const scale = has('scale')
  if (elevator && !scale) return 'elevator'
  if (scale && !elevator) return 'scale'
  return undefined
}

function rowKind(
  row: Row,
  fileKind: DeviceKind | undefined,
  isForced: boolean,
  p: RowProblems,
): DeviceKind | undefined {
  const raw = row.cells.kind
  const stated = raw === undefined ? undefined : parseAlias(raw, 'kind', DEVICE_KINDS, KIND_ALIASES, p)
  if (raw !== undefined && stated === undefined) return undefined
  if (isForced && stated !== undefined && stated !== fileKind) {
    p.add('kind', `${p.column('kind')} says ${stated} but the import is for ${fileKind}`)
    return undefined
  }
  const kind = fileKind ?? stated
  if (kind === undefined) {
    p.add('kind', `cannot tell elevator from scale: give a ${p.column('kind')} column or --kind`)
  }
  return kind
}

/**
 * Decodes a ledger file: UTF-8 (with or without BOM), else GB18030, which is what a spreadsheet on a
 * Chinese-locale Windows saves "CSV" as.
 */
export function decodeLedger(bytes: Uint8Array): { text: string; encoding: 'utf-8' | 'gb18030' } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' }
  } catch {
    return { text: new TextDecoder('gb18030').decode(bytes), encoding: 'gb18030' }
  }
}
