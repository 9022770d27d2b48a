import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CATEGORY_ALIASES, decodeLedger, importLedger, LEDGER_COLUMNS } from './ledger-import.ts'
import { createRegistry, type Registry } from './registry.ts'

function openTemp(): Registry {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-'))
  const registry = createRegistry({ file: join(dir, 'registry.db') })
  onTestFinished(() => {
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return registry
}

const sample = (name: string): string =>
  decodeLedger(readFileSync(new URL(`./samples/${name}`, import.meta.url))).text

/** Row counts straight from SQLite, not through the import's own report. */
function counts(registry: Registry) {
  const count = (table: string) =>
    Number((registry.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n)
  return {
    tenants: count('tenants'),
    sites: count('sites'),
    elevators: count('elevators'),
    scales: count('scales'),
    devices: count('devices'),
  }
}

function seed(registry: Registry) {
  registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
  registry.createSite({ id: 'st-school', name: 'No. 3 School', category: 'school', address: 'Gutian Rd' })
  registry.createElevator({
    id: 'el-old',
    siteId: 'st-school',
    tenantId: 'firm-a',
    registrationCode: '31104201042010000001',
    ratedSpeedMps: 1,
    floors: 5,
  })
  registry.createScale({
    id: 'sc-old',
    siteId: 'st-school',
    tenantId: 'firm-a',
    certificateNo: 'QK-OLD-1',
    maxKg: 15,
    eG: 5,
  })
}

const ELEVATOR_HEADER =
  '设备代码,维保单位编号,维保单位,场所编号,使用单位,场所类别,地址,额定速度(m/s),层站数,上次检验日期,下次检验日期'

describe('importLedger', () => {
  it('imports the Chinese-header elevator and scale ledgers with every field decoded', () => {
    const registry = openTemp()
    const elevators = importLedger(registry, sample('elevators-zh.csv'))
    expect(elevators.errors).toEqual([])
    expect(elevators.imported).toEqual({ tenants: 2, sites: 3, elevators: 5, scales: 0 })
    expect(elevators.ignoredColumns).toEqual(['制造单位'])

    const scales = importLedger(registry, sample('scales-zh.csv'))
    expect(scales.errors).toEqual([])
    // st-baofeng came with the elevator ledger: the scale ledger refers to it without creating it again.
    expect(scales.imported).toEqual({ tenants: 3, sites: 2, elevators: 0, scales: 5 })
    expect(counts(registry)).toEqual({ tenants: 5, sites: 5, elevators: 5, scales: 5, devices: 10 })

    const lift = registry.getDevice('el-31104201042015000124')
    expect(lift).toMatchObject({
      kind: 'elevator',
      siteId: 'st-baofeng',
      tenantId: 'firm-hx',
      name: '2号客梯',
      ratedSpeedMps: 1.75,
      floors: 6, // 6层6站6门
      nextInspectionDue: '2027-03-11',
      // 2026-11-10 14:30 Beijing time
      lastMaintenanceAt: Date.parse('2026-11-10T06:30:00Z'),
    })
    expect(registry.getDevice('el-31104201042018000311')).toMatchObject({ floors: 32 }) // 32/32/32
    expect(registry.getSite('st-wuyue')).toMatchObject({
      category: 'mall',
      address: '武汉市硚口区解放大道,668号',
      name: '硚口某广场（购物中心）',
    })
    expect(registry.getSite('st-qkchc')?.category).toBe('community_health_centre')
    expect(registry.getTenant('firm-hx')).toMatchObject({
      kind: 'maintenance_firm',
      name: '武汉华夏电梯维保有限公司',
      contact: '027-83000001',
    })

    expect(registry.getDevice('sc-QK2026-000103')).toMatchObject({
      kind: 'scale',
      accuracyClass: 'III',
      maxKg: 30, // "30kg"
      eG: 5, // "5g"
      lastVerificationOn: '2026-04-02',
      nextVerificationDue: '2027-04-01', // 有效期至
    })
    expect(registry.getDevice('sc-QK2026-000101')).toMatchObject({ accuracyClass: 'III' }) // Ⅲ
    const hanzheng = registry.getDevice('sc-hanzheng-0417')
    expect(hanzheng).toMatchObject({ kind: 'scale', certificateNo: '鄂计检〔2025〕第0417号' })
    expect(registry.getTenant('op-hzmkt')?.kind).toBe('site_operator')
    // A site created by a scale row is run by that row's operator.
    expect(registry.getSite('st-hanzheng')?.operatorTenantId).toBe('op-hzmkt')
  })

  it('imports the English-header ledger', () => {
    const registry = openTemp()
    const report = importLedger(registry, sample('elevators-en.csv'))
    expect(report.errors).toEqual([])
    expect(report.deviceIds).toEqual(['el-school-1', 'el-school-2', 'el-metro-1'])
    expect(counts(registry)).toMatchObject({ tenants: 1, sites: 2, elevators: 3 })
    expect(registry.getDevice('el-school-2')).toMatchObject({ statusPeriodS: 10, inService: true })
    expect(registry.getDevice('el-metro-1')).toMatchObject({ inService: false })
    expect(registry.getSite('st-school-7')).toMatchObject({
      category: 'school',
      address: '7 Gutian Road, Qiaokou',
    })
  })

  it('reads a BOM, CRLF and a quoted cell spanning lines, and counts lines as the file has them', () => {
    const registry = openTemp()
    const csv = [
      `\uFEFF${ELEVATOR_HEADER}`,
      '31104201042015000001,firm-a,甲维保,st-1,"某市场,东区",农贸市场,"汉正街\r\n100号",1.0,5,2026-01-01,2027-01-01',
      '',
      '31104201042015000002,firm-a,,st-1,,,,1.0,1,2026-01-01,2027-01-01',
    ].join('\r\n')
    const report = importLedger(registry, csv)
    // the second row starts on line 5: the quoted address spans lines 2-3, line 4 is blank
    expect(report.errors).toEqual([{ line: 5, field: 'floors', reason: expect.stringMatching(/层站数/) }])
    const fixed = importLedger(registry, csv.replace(',1.0,1,', ',1.0,4,'))
    expect(fixed.errors).toEqual([])
    expect(registry.getSite('st-1')).toMatchObject({ name: '某市场,东区', address: '汉正街\r\n100号' })
  })

  it('reports every bad row with its line and reason, and imports nothing', () => {
    const registry = openTemp()
    seed(registry)
    const before = counts(registry)
    const csv = [
      ELEVATOR_HEADER,
      /* 2 */ '31104201042015000001,firm-new,新维保,st-new,新市场,农贸市场,地址1,1.75,6,2026-01-01,2027-01-01',
      /* 3 */ '3.11042E+19,firm-a,,st-new,,,,1.75,6,,',
      /* 4 */ '31104201042015000004,firm-ghost,,st-new,,,,1.75,6,,',
      /* 5 */ '31104201042015000005,firm-a,,st-new,,学校,,1.75,6,,',
      /* 6 */ '31104201042015000006,firm-a,,st-other,别的场所,游乐场,地址2,1.75,6,,',
      /* 7 */ '31104201042015000007,firm-a,,st-new,,,,1.75,6,2026/1/1,2026-02-30',
      /* 8 */ '31104201042015000008,firm-a,,st-school,,商场,,fast,6,,',
      /* 9 */ '31104201042015000009,firm-a,,st-nowhere,,,,1.75,6,,',
      /* 10 */ '31104201042015000010,firm-a,,st-new,,,,1.75,6,2026-05-01,2026-04-01',
      /* 11 */ '31104201042015000011,firm-a,,st-new,,,,1.75,6,,',
    ].join('\n')
    const report = importLedger(registry, csv)
    const byLine = (line: number) => report.errors.filter((e) => e.line === line)
    expect(new Set(report.errors.map((e) => e.line))).toEqual(new Set([3, 4, 5, 6, 7, 8, 9, 10]))
    expect(byLine(3)).toEqual([
      { line: 3, field: 'registrationCode', reason: expect.stringMatching(/scientific/) },
    ])
    expect(byLine(4)).toEqual([{ line: 4, field: 'tenantName', reason: expect.stringMatching(/firm-ghost/) }])
    expect(byLine(5)).toEqual([
      { line: 5, field: 'siteCategory', reason: expect.stringMatching(/market on line 2.*school/) },
    ])
    expect(byLine(6)).toEqual([{ line: 6, field: 'siteCategory', reason: expect.stringMatching(/游乐场/) }])
    expect(byLine(7).map((e) => e.field)).toEqual(['lastInspectionOn', 'nextInspectionDue'])
    expect(byLine(7)[0]?.reason).toMatch(/YYYY-MM-DD/)
    expect(
      byLine(8)
        .map((e) => e.field)
        .sort(),
    ).toEqual(['ratedSpeedMps', 'siteCategory'])
    expect(byLine(9)).toEqual([{ line: 9, field: 'siteName', reason: expect.stringMatching(/st-nowhere/) }])
    expect(byLine(10)).toEqual([
      { line: 10, field: 'nextInspectionDue', reason: expect.stringMatching(/not after/) },
    ])
    expect(report.imported).toEqual({ tenants: 0, sites: 0, elevators: 0, scales: 0 })
    // rows 2 and 11 were good, and rows 2 created a tenant and a site: all rolled back
    expect(counts(registry)).toEqual(before)
    expect(registry.getTenant('firm-new')).toBeNull()
    expect(registry.getSite('st-new')).toBeNull()

    // The same file without its bad rows goes in whole.
    const good = csv
      .split('\n')
      .filter((_, i) => i === 0 || i === 1 || i === 10)
      .join('\n')
    const retry = importLedger(registry, good)
    expect(retry.errors).toEqual([])
    expect(counts(registry)).toEqual({
      ...before,
      tenants: before.tenants + 1,
      sites: before.sites + 1,
      elevators: before.elevators + 2,
      devices: before.devices + 2,
    })
  })

  it('refuses codes, certificates and ids repeated in the file or already registered', () => {
    const registry = openTemp()
    seed(registry)
    const before = counts(registry)
    const elevators = importLedger(
      registry,
      [
        'id,registrationCode,tenantId,siteId,ratedSpeedMps,floors',
        'el-1,31104201042015000001,firm-a,st-school,1,5',
        'el-2,31104201042015000001,firm-a,st-school,1,5',
        'el-3,31104201042010000001,firm-a,st-school,1,5',
        'el-old,31104201042015000004,firm-a,st-school,1,5',
        'el-1,31104201042015000005,firm-a,st-school,1,5',
      ].join('\n'),
    )
    expect(elevators.errors).toEqual([
      { line: 3, field: 'registrationCode', reason: expect.stringMatching(/also on line 2/) },
      { line: 4, field: 'registrationCode', reason: expect.stringMatching(/already registered to el-old/) },
      { line: 5, field: 'id', reason: expect.stringMatching(/el-old is already registered/) },
      { line: 6, field: 'id', reason: expect.stringMatching(/also on line 2/) },
    ])

    const scales = importLedger(
      registry,
      [
        '证书编号,维保单位编号,场所编号,最大秤量,检定分度值',
        'QK-NEW-1,firm-a,st-school,30,10',
        'QK-NEW-1,firm-a,st-school,30,10',
        'QK-OLD-1,firm-a,st-school,30,10',
      ].join('\n'),
    )
    expect(scales.errors).toEqual([
      { line: 3, field: 'certificateNo', reason: expect.stringMatching(/also on line 2/) },
      { line: 4, field: 'certificateNo', reason: expect.stringMatching(/already registered to sc-old/) },
    ])
    expect(counts(registry)).toEqual(before)
  })

  it('checks everything on a dry run and writes nothing', () => {
    const registry = openTemp()
    const report = importLedger(registry, sample('elevators-zh.csv'), { dryRun: true })
    expect(report).toMatchObject({ dryRun: true, errors: [], imported: { elevators: 5, sites: 3 } })
    expect(counts(registry)).toEqual({ tenants: 0, sites: 0, elevators: 0, scales: 0, devices: 0 })
  })

  it('takes the kind from --kind, a kind column, or the columns present', () => {
    const registry = openTemp()
    seed(registry)
    const mixed = importLedger(
      registry,
      [
        '设备类别,设备代码,证书编号,维保单位编号,场所编号,额定速度,层站数,最大秤量,检定分度值',
        '电梯,31104201042015000001,,firm-a,st-school,1,4,,',
        '电子计价秤,,QK-9,firm-a,st-school,,,30,10',
      ].join('\n'),
    )
    expect(mixed.errors).toEqual([])
    expect(mixed.imported).toMatchObject({ elevators: 1, scales: 1 })

    const forced = importLedger(
      registry,
      'kind,certificateNo,tenantId,siteId,maxKg,eG\nscale,QK-10,firm-a,st-school,30,10',
      {
        kind: 'elevator',
      },
    )
    expect(forced.errors).toEqual([{ line: 2, field: 'kind', reason: expect.stringMatching(/elevator/) }])
  })

  it('reports a broken CSV, an unreadable row and an empty file instead of throwing', () => {
    const registry = openTemp()
    seed(registry)
    const broken = importLedger(registry, `${ELEVATOR_HEADER}\n31104201042015000001,"firm-a\n`)
    expect(broken.errors).toEqual([{ line: 2, reason: expect.stringMatching(/not valid CSV.*Quote/) }])
    const extraCells = importLedger(
      registry,
      'registrationCode,tenantId,siteId,ratedSpeedMps,floors\n31104201042015000001,firm-a,st-school,1,5,oops\n31104201042015000002,firm-a,st-school,1,1',
    )
    expect(extraCells.errors).toEqual([
      { line: 2, reason: expect.stringMatching(/6 cells/) },
      { line: 3, field: 'floors', reason: expect.any(String) },
    ])
    expect(importLedger(registry, '').errors).toEqual([{ line: 1, reason: 'the file is empty' }])
    expect(importLedger(registry, 'foo,bar\n1,2').errors[0]?.reason).toMatch(/no known column/)
    expect(importLedger(registry, '设备代码,额定速度,额定速度(m/s)\n').errors[0]).toMatchObject({
      line: 1,
      field: 'ratedSpeedMps',
    })
  })

  it('decodes a GB18030 file as a Chinese-locale spreadsheet saves it', () => {
    const registry = openTemp()
    seed(registry)
    const gbk = (hex: string) => Buffer.from(hex, 'hex')
    const bytes = Buffer.concat([
      gbk('c9e8b1b8b4fac2eb'), // 设备代码
      Buffer.from(',tenantId,siteId,siteName,siteCategory,siteAddress,ratedSpeedMps,floors\n'),
      Buffer.from('31104201042015000001,firm-a,st-veg,'),
      gbk('b2cbb3a1'), // 菜场
      Buffer.from(',market,Qiaokou,1,5\n'),
    ])
    const { text, encoding } = decodeLedger(bytes)
    expect(encoding).toBe('gb18030')
    expect(importLedger(registry, text).errors).toEqual([])
    expect(registry.getSite('st-veg')?.name).toBe('菜场')
  })

  it('is documented: docs/registry.md lists every column with all its names, and every category value', () => {
    // table cells are padded by the formatter
    const doc = readFileSync(new URL('../docs/registry.md', import.meta.url), 'utf8').replace(/ {2,}/g, ' ')
    for (const [field, spec] of Object.entries(LEDGER_COLUMNS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${field}\` |`))
      expect(row, field).toBeDefined()
      for (const alias of spec.aliases) expect(row, `${field}: ${alias}`).toContain(alias)
    }
    for (const [value, category] of Object.entries(CATEGORY_ALIASES)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${category}\` |`))
      expect(row, category).toContain(value)
    }
  })
})
