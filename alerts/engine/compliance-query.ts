/**
 * The compliance report's inputs, read from SQLite and the registry for a period of Asia/Shanghai
 * calendar days: rescues whose alarm fell in it, escalations, the maintenance log up to its end (a
 * maintenance interval may start before the period), maintenance baselines, accidents, and the
 * verification and inspection records. The figures themselves are computed by the pure
 * computeCompliance (../compliance.ts, docs/compliance.md), which this only feeds.
 */
import { addDays, shanghaiMidnight } from '../../domain/dates.ts'
import { type SiteCategory, SiteCategorySchema } from '../../domain/registry-types.ts'
import type { Certification } from '../../registry/certification.ts'
import { computeCompliance, parsePeriod, type RescueFact } from '../compliance.ts'
import { type Row, toAccident } from '../store.ts'
import type { ComplianceReport } from '../types.ts'
import type { EngineBase } from './deps.ts'
import { num, RULE, type RuleState } from './rule-state.ts'

function categoryOf(value: unknown): SiteCategory | null {
  const parsed = SiteCategorySchema.safeParse(value)
  return parsed.success ? parsed.data : null
}

/** ISO dates, inclusive. DomainError INVALID_INPUT for a bad period, NOT_STARTED before start(). */
export function createComplianceQuery(
  deps: Pick<EngineBase, 'config' | 'registry' | 'clock' | 'store'> & {
    certification: Pick<Certification, 'listVerifications' | 'listInspections'>
    ruleState: Pick<RuleState, 'ofRule'>
  },
): (period: { from: string; to: string }) => ComplianceReport {
  const { config, registry, clock, store, certification, ruleState } = deps
  return (period) => {
    const { db } = store()
    const p = parsePeriod(period)
    const fromMs = shanghaiMidnight(p.from)
    const toMs = shanghaiMidnight(addDays(p.to, 1))
    const rescues: RescueFact[] = (
      db
        .prepare(
          `SELECT a.site_category, r.* FROM rescues r JOIN alerts a ON a.id = r.alert_id
           WHERE r.alarm_at >= ? AND r.alarm_at < ?`,
        )
        .all(fromMs, toMs) as Row[]
    ).map((r) => ({
      siteCategory: categoryOf(r.site_category),
      alarmAt: Number(r.alarm_at),
      acceptedAt: r.accepted_at === null ? null : Number(r.accepted_at),
      arrivedAt: r.arrived_at === null ? null : Number(r.arrived_at),
      acceptMissed: r.accept_missed === 1,
      arriveMissed: r.arrive_missed === 1,
    }))
    const escalations = (
      db
        .prepare(
          `SELECT a.site_category, t.at FROM transitions t JOIN alerts a ON a.id = t.alert_id
           WHERE t.transition = 'escalated' AND t.at >= ? AND t.at < ?`,
        )
        .all(fromMs, toMs) as Row[]
    ).map((r) => ({ siteCategory: categoryOf(r.site_category), at: Number(r.at) }))
    const maintenance = (
      db.prepare('SELECT device_id, ended_at FROM maintenance_log WHERE ended_at < ?').all(toMs) as Row[]
    ).map((r) => ({ deviceId: String(r.device_id), endedAt: Number(r.ended_at) }))
    const maintenanceBaselines = new Map<string, number>()
    for (const { deviceId, value } of ruleState.ofRule(RULE.maintenanceBaseline)) {
      const baseline = num(value.at)
      if (baseline !== null) maintenanceBaselines.set(deviceId, baseline)
    }
    const accidents = (
      db.prepare('SELECT * FROM accidents WHERE at >= ? AND at < ?').all(fromMs, toMs) as Row[]
    ).map(toAccident)
    return computeCompliance({
      period: p,
      now: clock.now(),
      settings: {
        maintenanceIntervalDays: config.MAINTENANCE_INTERVAL_DAYS,
        declareLeadDays: config.INSPECTION_DECLARE_LEAD_DAYS,
        rescueAcceptLimitS: config.RESCUE_ACCEPT_LIMIT_S,
        rescueArriveLimitS: config.RESCUE_ARRIVE_LIMIT_S,
        targetVerificationRate: config.TARGET_VERIFICATION_RATE,
        targetDeclarationRate: config.TARGET_INSPECTION_DECLARATION_RATE,
        targetInstruments: config.TARGET_INSTRUMENTS,
      },
      devices: registry.listDevices(),
      siteCategories: new Map(registry.listSites().map((s) => [s.id, s.category])),
      verifications: certification.listVerifications(),
      inspections: certification.listInspections(),
      maintenance,
      maintenanceBaselines,
      rescues,
      escalations,
      accidents,
    })
  }
}
