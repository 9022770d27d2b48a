/**
 * Compliance figures for a seeded registry against figures worked out by hand below (docs/compliance.md).
 * The history is made through the real paths: trapped events into the engine, operators acting on the
 * rescue, maintenance, verifications and inspections recorded through their APIs, on a fake clock.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { addDays } from '../domain/dates.ts'
import type { Registry } from '../registry/registry.ts'
import { median, percentile } from './compliance.ts'
import { createHarness, type Harness } from './test-support.ts'

/** ms of a wall-clock time in Asia/Shanghai. */
const at = (date: string, hhmm = '10:00') => Date.parse(`${date}T${hhmm}:00+08:00`)
const MINUTE = 60_000

function seed(registry: Registry): void {
  registry.createTenant({ id: 'firm-1', name: 'Firm', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'op-1', name: 'Operator', kind: 'site_operator' })
  registry.createSite({ id: 'market-1', name: 'Market', category: 'market', address: 'a' })
  registry.createSite({ id: 'mall-1', name: 'Mall', category: 'mall', address: 'b' })
  registry.createSite({ id: 'school-1', name: 'School', category: 'school', address: 'c' })
  const elevator = (
    id: string,
    siteId: string,
    code: string,
    nextInspectionDue: string,
    lastMaintenanceAt: number | null,
    inService = true,
  ) =>
    registry.createElevator({
      id,
      siteId,
      tenantId: 'firm-1',
      registrationCode: `3110420100201900000${code}`,
      ratedSpeedMps: 1.75,
      floors: 12,
      nextInspectionDue,
      lastMaintenanceAt,
      inService,
    })
  elevator('el-1', 'mall-1', '1', '2026-04-15', at('2025-12-25'))
  elevator('el-2', 'school-1', '2', '2026-05-20', at('2025-12-28'))
  elevator('el-3', 'school-1', '3', '2026-06-10', null)
  elevator('el-4', 'mall-1', '4', '2026-08-01', at('2025-12-31'))
  elevator('el-5', 'mall-1', '5', '2026-03-01', null, false)
  const scale = (id: string, siteId: string, nextVerificationDue: string | null, inService = true) =>
    registry.createScale({
      id,
      siteId,
      tenantId: 'op-1',
      certificateNo: `C-${id}`,
      maxKg: 15,
      eG: 5,
      nextVerificationDue,
      inService,
    })
  scale('sc-a', 'market-1', '2026-03-31')
  scale('sc-b', 'market-1', '2026-04-30')
  scale('sc-c', 'market-1', '2026-05-15')
  scale('sc-d', 'market-1', '2026-09-30')
  scale('sc-e', 'mall-1', '2026-02-28')
  scale('sc-f', 'market-1', '2026-03-01', false)
}

async function rescue(
  h: Harness,
  deviceId: string,
  alarmAt: number,
  steps: {
    acceptAfter: number
    arriveAfter: number | null
    releaseAfter: number
    releasedByStatus?: boolean
  },
): Promise<void> {
  h.clock.set(alarmAt)
  await h.engine.handle(h.elevatorEvent(deviceId, 'trapped'))
  const id = h.engine.listAlerts({ deviceId, type: 'trapped', status: 'active', limit: 1, offset: 0 })
    .items[0]?.id
  if (!id) throw new Error(`no trapped alert for ${deviceId}`)
  h.clock.set(alarmAt + steps.acceptAfter * MINUTE)
  h.engine.act(id, 'accept', { actor: 'firm-1' })
  if (steps.arriveAfter !== null) {
    h.clock.set(alarmAt + steps.arriveAfter * MINUTE)
    h.engine.act(id, 'arrive', { actor: 'firm-1' })
  }
  h.clock.set(alarmAt + steps.releaseAfter * MINUTE)
  if (steps.releasedByStatus)
    await h.engine.handle(h.elevatorStatus(deviceId, { occupied: false, door: 'open' }))
  else h.engine.act(id, 'release', { actor: 'firm-1' })
}

describe('compliance', () => {
  it('computes the plan figures of a seeded registry as worked out by hand', async () => {
    const h = await createHarness(
      { OFFLINE_CHECK_INTERVAL_S: '86400' },
      { start: at('2025-12-01'), seed: (registry) => seed(registry) },
    )
    onTestFinished(() => h.cleanup())

    // Rescues. R6 (before the period) must not count.
    await rescue(h, 'el-1', at('2025-12-20'), { acceptAfter: 2, arriveAfter: 10, releaseAfter: 15 })
    await rescue(h, 'el-1', at('2026-02-10'), { acceptAfter: 3, arriveAfter: 12, releaseAfter: 20 }) // R1
    await rescue(h, 'el-1', at('2026-03-05'), { acceptAfter: 2, arriveAfter: 25, releaseAfter: 30 }) // R2
    await rescue(h, 'el-2', at('2026-04-01'), { acceptAfter: 7, arriveAfter: 40, releaseAfter: 45 }) // R3: 2 escalations
    await rescue(h, 'el-3', at('2026-05-01'), {
      acceptAfter: 4,
      arriveAfter: null,
      releaseAfter: 10,
      releasedByStatus: true,
    }) // R4: out before anyone arrived
    // R5: alarm 23:50 on the last day; its arrival escalation (00:20 next day) falls after the period.
    await rescue(h, 'el-4', at('2026-06-30', '23:50'), { acceptAfter: 1, arriveAfter: 31, releaseAfter: 35 })
    h.clock.set(at('2026-07-01'))
    // Registered after the period: not counted as registered in it.
    h.registry.createScale({
      id: 'sc-g',
      siteId: 'mall-1',
      tenantId: 'op-1',
      certificateNo: 'C-g',
      maxKg: 15,
      eG: 5,
    })

    // Maintenance. el-1 every 14 days from 2025-12-25; el-4 every 15 days from 2025-12-31 (on the limit);
    // el-2 lapses (20 days 01-10 -> 01-30, then nothing); el-3 never maintained.
    const maintain = (deviceId: string, date: string) =>
      h.engine.recordMaintenance({
        deviceId,
        startedAt: at(date, '09:00'),
        endedAt: at(date),
        actor: 'firm-1',
      })
    for (let d = addDays('2025-12-25', 14); d <= '2026-06-30'; d = addDays(d, 14)) maintain('el-1', d)
    for (let d = addDays('2025-12-31', 15); d <= '2026-06-30'; d = addDays(d, 15)) maintain('el-4', d)
    maintain('el-2', '2026-01-10')
    maintain('el-2', '2026-01-30')

    // Verifications: a on time; b late; c never; d due after the period; e failed then passed before due.
    const cert = h.certification
    cert.recordVerification('sc-a', { verifiedOn: '2026-03-20', passed: true, verifier: 'institute' })
    cert.recordVerification('sc-b', { verifiedOn: '2026-05-10', passed: true, verifier: 'institute' })
    cert.recordVerification('sc-e', { verifiedOn: '2026-02-20', passed: false, verifier: 'institute' })
    cert.recordVerification('sc-e', { verifiedOn: '2026-02-25', passed: true, verifier: 'institute' })

    // Inspections: el-1 declared 45 days ahead and inspected; el-2 declared 19 days ahead; el-3 never.
    cert.declareInspection('el-1', { declaredOn: '2026-03-01', actor: 'firm-1' })
    cert.recordInspection('el-1', { inspectedOn: '2026-04-10', passed: true, actor: 'inspector' })
    cert.declareInspection('el-2', { declaredOn: '2026-05-01', actor: 'firm-1' })

    const accident = (date: string, siteId: string, fatal: boolean) =>
      h.engine.recordAccident({
        at: at(date),
        siteId,
        fatal,
        description: 'recorded by hand',
        actor: 'officer',
      })
    accident('2026-03-01', 'mall-1', true)
    accident('2026-04-01', 'school-1', false)
    accident('2025-12-15', 'market-1', true)

    const report = h.engine.compliance({ from: '2026-01-01', to: '2026-06-30' })
    expect(report.period).toEqual({ from: '2026-01-01', to: '2026-06-30', timezone: 'Asia/Shanghai' })

    // Verification: due in H1 = a, b, c, e (d later, f out of use); met = a, e.
    expect(report.overall.verification).toEqual({
      numerator: 2,
      denominator: 4,
      rate: 0.5,
      target: 0.99,
      meetsTarget: false,
    })
    expect(report.byCategory.market.verification).toMatchObject({ numerator: 1, denominator: 3 })
    expect(report.byCategory.mall.verification).toMatchObject({
      numerator: 1,
      denominator: 1,
      rate: 1,
      meetsTarget: true,
    })
    expect(report.byCategory.school.verification).toMatchObject({
      denominator: 0,
      rate: null,
      meetsTarget: null,
    })

    // Declaration: due in H1 = el-1, el-2, el-3 (el-4 later, el-5 out of service); declared el-1, el-2;
    // 30 days ahead only el-1.
    expect(report.overall.inspectionDeclaration).toEqual({
      numerator: 2,
      denominator: 3,
      rate: 2 / 3,
      target: 1,
      meetsTarget: false,
      declaredInTime: 1,
    })
    expect(report.byCategory.school.inspectionDeclaration).toMatchObject({
      numerator: 1,
      denominator: 2,
      declaredInTime: 0,
    })

    // Maintenance on time: el-1, el-4 of el-1..el-4; records in H1: 13 + 12 + 2 + 0.
    expect(report.overall.maintenance).toEqual({ numerator: 2, denominator: 4, rate: 0.5, records: 27 })
    expect(report.byCategory.mall.maintenance).toEqual({ numerator: 2, denominator: 2, rate: 1, records: 25 })
    expect(report.byCategory.school.maintenance).toEqual({
      numerator: 0,
      denominator: 2,
      rate: 0,
      records: 2,
    })

    // Rescues R1..R5: arrivals 720, 1500, 2400, 1860 s; R4 has none and missed nothing.
    expect(report.overall.rescue).toEqual({
      rescues: 5,
      arrived: 4,
      medianArrivalS: (1500 + 1860) / 2,
      p90ArrivalS: 2400,
      withinLimit: { numerator: 2, denominator: 4, rate: 0.5 },
      medianAcceptS: 180,
      acceptMissed: 1,
      arriveMissed: 2,
    })
    expect(report.byCategory.mall.rescue).toEqual({
      rescues: 3,
      arrived: 3,
      medianArrivalS: 1500,
      p90ArrivalS: 1860,
      withinLimit: { numerator: 2, denominator: 3, rate: 2 / 3 },
      medianAcceptS: 120,
      acceptMissed: 0,
      arriveMissed: 1,
    })
    expect(report.byCategory.school.rescue).toMatchObject({ rescues: 2, arrived: 1, medianAcceptS: 330 })

    // Escalations in H1: R3's two; R5's fell on 07-01.
    expect(report.overall.escalations).toBe(2)
    expect(report.byCategory.school.escalations).toBe(2)
    expect(report.byCategory.mall.escalations).toBe(0)

    // Instruments: a-f registered by the end of H1 (g after), f out of use.
    expect(report.overall.instruments).toEqual({
      registered: 6,
      inService: 5,
      target: 10_000,
      share: 6 / 10_000,
    })
    expect(report.byCategory.market.instruments).toEqual({
      registered: 5,
      inService: 4,
      target: null,
      share: null,
    })

    // Fatal accidents: one in the mall in H1 (the market's was in 2025).
    expect(report.overall.fatalAccidents).toEqual({ count: 1, target: 0, meetsTarget: false })
    expect(report.byCategory.market.fatalAccidents.count).toBe(0)
    expect(report.byCategory.school.fatalAccidents).toEqual({ count: 0, target: 0, meetsTarget: true })

    // A period reaching past today counts only the due dates that have arrived: el-3 (06-10) but not
    // el-4 (08-01); no scale is due between 06-01 and today.
    const partial = h.engine.compliance({ from: '2026-06-01', to: '2026-12-31' })
    expect(partial.overall.inspectionDeclaration).toMatchObject({ numerator: 0, denominator: 1 })
    expect(partial.overall.verification).toMatchObject({ denominator: 0, rate: null })
  })

  it('refuses a malformed or reversed period', async () => {
    const h = await createHarness()
    onTestFinished(() => h.cleanup())
    expect(() => h.engine.compliance({ from: '2026-13-01', to: '2026-12-31' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
    expect(() => h.engine.compliance({ from: '2026-06-01', to: '2026-01-01' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })

  it('takes the median and nearest-rank percentile', () => {
    expect(median([])).toBeNull()
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9)).toBe(90)
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110], 0.9)).toBe(100)
    expect(percentile([7], 0.9)).toBe(7)
  })
})
