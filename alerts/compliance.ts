/**
 * The compliance figures of the district plan (../shared/DOMAIN.md), per site category and overall,
 * for a period of Asia/Shanghai calendar dates. Pure: the engine gathers the records, this computes.
 * docs/compliance.md defines every figure; keep the two in step.
 */
import { addDays, daysBetween, shanghaiDate, shanghaiMidnight } from '../domain/dates.ts'
import { DomainError } from '../domain/errors.ts'
import { type Device, IsoDateSchema, SITE_CATEGORIES, type SiteCategory } from '../domain/registry-types.ts'
import type { InspectionRecord, VerificationRecord } from '../registry/certification.ts'
import type { ComplianceFigures, ComplianceReport, Ratio } from './types.ts'

export type ComplianceSettings = {
  maintenanceIntervalDays: number
  declareLeadDays: number
  rescueAcceptLimitS: number
  rescueArriveLimitS: number
  targetVerificationRate: number
  targetDeclarationRate: number
  targetInstruments: number
}

export type RescueFact = {
  siteCategory: SiteCategory | null
  alarmAt: number
  acceptedAt: number | null
  arrivedAt: number | null
  acceptMissed: boolean
  arriveMissed: boolean
}

export type ComplianceInput = {
  period: { from: string; to: string }
  now: number
  settings: ComplianceSettings
  devices: readonly Device[]
  /** Site id -> category. */
  siteCategories: ReadonlyMap<string, SiteCategory>
  verifications: readonly VerificationRecord[]
  inspections: readonly InspectionRecord[]
  /** Completed maintenance (the log), any time up to the end of the period. */
  maintenance: ReadonlyArray<{ deviceId: string; endedAt: number }>
  /**
   * The last maintenance the registry carried (an imported ledger's date) before the log's first record
   * moved it on: the reference for the first interval. Device id -> ms.
   */
  maintenanceBaselines: ReadonlyMap<string, number>
  rescues: readonly RescueFact[]
  escalations: ReadonlyArray<{ siteCategory: SiteCategory | null; at: number }>
  accidents: ReadonlyArray<{ siteId: string; at: number; fatal: boolean }>
}

/** Validates a period: ISO dates, from <= to. */
export function parsePeriod(period: { from: string; to: string }): { from: string; to: string } {
  const from = IsoDateSchema.safeParse(period.from)
  const to = IsoDateSchema.safeParse(period.to)
  if (!from.success || !to.success) {
    throw new DomainError('INVALID_INPUT', 'period: from and to must be YYYY-MM-DD dates')
  }
  if (from.data > to.data) throw new DomainError('INVALID_INPUT', 'period: from is after to')
  return { from: from.data, to: to.data }
}

/** ISO dates compare as strings. */
const earlier = (a: string, b: string): string => (a <= b ? a : b)
const later = (a: string, b: string): string => (a >= b ? a : b)

export function ratio(numerator: number, denominator: number): Ratio {
  return { numerator, denominator, rate: denominator === 0 ? null : numerator / denominator }
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const hi = sorted[mid] ?? 0
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? 0) + hi) / 2
}

/** Nearest-rank percentile: the smallest value with at least p of the values at or below it. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil(p * sorted.length))
  return sorted[rank - 1] ?? null
}

type Tally = {
  verDue: number
  verOk: number
  inspDue: number
  inspDeclared: number
  inspInTime: number
  maintElevators: number
  maintOnTime: number
  maintRecords: number
  rescues: RescueFact[]
  escalations: number
  registered: number
  inService: number
  fatal: number
}

const emptyTally = (): Tally => ({
  verDue: 0,
  verOk: 0,
  inspDue: 0,
  inspDeclared: 0,
  inspInTime: 0,
  maintElevators: 0,
  maintOnTime: 0,
  maintRecords: 0,
  rescues: [],
  escalations: 0,
  registered: 0,
  inService: 0,
  fatal: 0,
})

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = map.get(k)
    if (list) list.push(item)
    else map.set(k, [item])
  }
  return map
}

export function computeCompliance(input: ComplianceInput): ComplianceReport {
  const { from, to } = parsePeriod(input.period)
  const { settings } = input
  const fromMs = shanghaiMidnight(from)
  const toMs = shanghaiMidnight(addDays(to, 1))
  const today = shanghaiDate(input.now)
  // Due dates count once they have arrived: a due date later than today cannot have been missed yet.
  const dueTo = earlier(to, today)
  const inPeriod = (ms: number) => ms >= fromMs && ms < toMs
  const dueInPeriod = (d: string | null): d is string => d !== null && d >= from && d <= dueTo

  const overall = emptyTally()
  const byCategory = new Map<SiteCategory, Tally>(SITE_CATEGORIES.map((c) => [c, emptyTally()]))
  const tallies = (category: SiteCategory | null): Tally[] => {
    const t = category ? byCategory.get(category) : undefined
    return t ? [overall, t] : [overall]
  }

  const verificationsOf = groupBy(input.verifications, (v) => v.deviceId)
  const inspectionsOf = groupBy(input.inspections, (i) => i.deviceId)
  const maintenanceOf = groupBy(input.maintenance, (m) => m.deviceId)

  for (const device of input.devices) {
    const category = input.siteCategories.get(device.siteId) ?? null
    const ts = tallies(category)
    if (device.kind === 'scale') {
      if (device.createdAt < toMs) for (const t of ts) t.registered++
      if (device.createdAt < toMs && device.inService) for (const t of ts) t.inService++
      if (!device.inService) continue
      // Periodic verification rate (周检率): each due date in the period must have been met by a passed
      // verification done on or before it (verifications remember the due date they were opened against).
      const records = verificationsOf.get(device.id) ?? []
      const dues = new Set<string>()
      for (const v of records) if (dueInPeriod(v.dueBefore)) dues.add(v.dueBefore)
      if (dueInPeriod(device.nextVerificationDue)) dues.add(device.nextVerificationDue)
      if (dues.size === 0) continue
      const met = [...dues].every((due) =>
        records.some(
          (v) => v.passed === true && v.dueBefore === due && v.verifiedOn !== null && v.verifiedOn <= due,
        ),
      )
      for (const t of ts) {
        t.verDue++
        if (met) t.verOk++
      }
      continue
    }
    if (!device.inService) continue
    // Inspection declaration rate: every due date in the period declared for, on or before it.
    const inspections = inspectionsOf.get(device.id) ?? []
    const dues = new Set<string>()
    for (const i of inspections) if (dueInPeriod(i.dueBefore)) dues.add(i.dueBefore)
    if (dueInPeriod(device.nextInspectionDue)) dues.add(device.nextInspectionDue)
    if (dues.size > 0) {
      const declaredBy = (due: string, latest: string) =>
        inspections.some((i) => i.dueBefore === due && i.declaredOn <= latest)
      const declared = [...dues].every((due) => declaredBy(due, due))
      const inTime = [...dues].every((due) => declaredBy(due, addDays(due, -settings.declareLeadDays)))
      for (const t of ts) {
        t.inspDue++
        if (declared) t.inspDeclared++
        if (inTime) t.inspInTime++
      }
    }
    // Maintenance on time: no stretch of more than the interval without a maintenance, within the
    // part of the period the elevator was registered and that has elapsed.
    const createdOn = shanghaiDate(device.createdAt)
    const windowStart = later(createdOn, from)
    if (windowStart > dueTo) continue
    const dates = new Set<string>()
    for (const m of maintenanceOf.get(device.id) ?? []) {
      if (m.endedAt < toMs) dates.add(shanghaiDate(m.endedAt))
      if (inPeriod(m.endedAt)) for (const t of ts) t.maintRecords++
    }
    for (const known of [device.lastMaintenanceAt, input.maintenanceBaselines.get(device.id) ?? null]) {
      if (known !== null && known < toMs) dates.add(shanghaiDate(known))
    }
    const sorted = [...dates].sort()
    // The reference before the window: the last maintenance on or before its start (an imported ledger may
    // carry one older than the device row), else the day the elevator was registered.
    const before = sorted.filter((d) => d <= windowStart)
    let previous = before[before.length - 1] ?? createdOn
    let onTime = true
    for (const d of sorted) {
      if (d <= windowStart || d > dueTo) continue
      if (daysBetween(previous, d) > settings.maintenanceIntervalDays) onTime = false
      previous = d
    }
    if (daysBetween(previous, dueTo) > settings.maintenanceIntervalDays) onTime = false
    for (const t of ts) {
      t.maintElevators++
      if (onTime) t.maintOnTime++
    }
  }

  for (const rescue of input.rescues) {
    if (!inPeriod(rescue.alarmAt)) continue
    for (const t of tallies(rescue.siteCategory)) t.rescues.push(rescue)
  }
  for (const e of input.escalations) {
    if (!inPeriod(e.at)) continue
    for (const t of tallies(e.siteCategory)) t.escalations++
  }
  for (const a of input.accidents) {
    if (!a.fatal || !inPeriod(a.at)) continue
    for (const t of tallies(input.siteCategories.get(a.siteId) ?? null)) t.fatal++
  }

  const figures = (t: Tally, isOverall: boolean): ComplianceFigures => {
    const verification = ratio(t.verOk, t.verDue)
    const declaration = ratio(t.inspDeclared, t.inspDue)
    const arrivals = t.rescues.flatMap((r) =>
      r.arrivedAt === null ? [] : [(r.arrivedAt - r.alarmAt) / 1000],
    )
    const accepts = t.rescues.flatMap((r) =>
      r.acceptedAt === null ? [] : [(r.acceptedAt - r.alarmAt) / 1000],
    )
    const outcome = t.rescues.filter((r) => r.arrivedAt !== null || r.arriveMissed)
    const within = outcome.filter(
      (r) => r.arrivedAt !== null && (r.arrivedAt - r.alarmAt) / 1000 <= settings.rescueArriveLimitS,
    )
    return {
      verification: {
        ...verification,
        target: settings.targetVerificationRate,
        meetsTarget: verification.rate === null ? null : verification.rate >= settings.targetVerificationRate,
      },
      inspectionDeclaration: {
        ...declaration,
        target: settings.targetDeclarationRate,
        meetsTarget: declaration.rate === null ? null : declaration.rate >= settings.targetDeclarationRate,
        declaredInTime: t.inspInTime,
      },
      maintenance: { ...ratio(t.maintOnTime, t.maintElevators), records: t.maintRecords },
      rescue: {
        rescues: t.rescues.length,
        arrived: arrivals.length,
        medianArrivalS: median(arrivals),
        p90ArrivalS: percentile(arrivals, 0.9),
        withinLimit: ratio(within.length, outcome.length),
        medianAcceptS: median(accepts),
        acceptMissed: t.rescues.filter((r) => r.acceptMissed).length,
        arriveMissed: t.rescues.filter((r) => r.arriveMissed).length,
      },
      escalations: t.escalations,
      instruments: {
        registered: t.registered,
        inService: t.inService,
        target: isOverall ? settings.targetInstruments : null,
        share: isOverall ? t.registered / settings.targetInstruments : null,
      },
      fatalAccidents: { count: t.fatal, target: 0, meetsTarget: t.fatal === 0 },
    }
  }

  const of = (c: SiteCategory) => figures(byCategory.get(c) ?? emptyTally(), false)
  return {
    period: { from, to, timezone: 'Asia/Shanghai' },
    generatedAt: input.now,
    rescueLimits: { acceptS: settings.rescueAcceptLimitS, arriveS: settings.rescueArriveLimitS },
    overall: figures(overall, true),
    byCategory: {
      market: of('market'),
      community_health_centre: of('community_health_centre'),
      mall: of('mall'),
      supermarket: of('supermarket'),
      pharmacy: of('pharmacy'),
      hotel: of('hotel'),
      school: of('school'),
      metro: of('metro'),
      residential: of('residential'),
      other: of('other'),
    },
  }
}
