/**
 * Scheduled scans: the alerts that come from the calendar rather than from a device.
 * - maintenance_overdue: more than MAINTENANCE_INTERVAL_DAYS (TSG T5002: half-monthly, 15 days) since
 *   the last maintenance, by Asia/Shanghai calendar days;
 * - inspection_due / inspection_overdue (TSG T7001: annual, declared a month before expiry) and
 *   verification_due / verification_overdue (JJG 539: at most every 12 months);
 * - scale tamper alerts that a passed verification, closed after they opened, answers.
 *
 * All devices run on SCAN_CRON (node-cron, in Asia/Shanghai time), in pages with a yield between them
 * so that a scan of 20,000 devices never holds up a trapped-passenger alert. One device runs again as
 * soon as the registry says it changed (a verification, inspection or maintenance just recorded).
 * Devices out of service get no scheduled alerts, and their active ones resolve.
 */
import cron, { type ScheduledTask } from 'node-cron'
import type { Gauge } from 'prom-client'
import { addDays, daysBetween, shanghaiDate, validUntil } from '../../domain/dates.ts'
import type { Device, Elevator, Scale } from '../../domain/registry-types.ts'
import type { Certification } from '../../registry/certification.ts'
import { RESOLVED_BY_VERIFICATION } from '../rules.ts'
import type { Row } from '../store.ts'
import type { AlertType, MaintenanceDue } from '../types.ts'
import type { AlertBook } from './alert-book.ts'
import { type EngineBase, SYSTEM } from './deps.ts'
import type { Lifecycle } from './lifecycle.ts'

/** Devices evaluated between two yields of a scheduled scan. */
const SCAN_CHUNK = 500
/** Asia/Shanghai has kept UTC+8 without daylight saving since 1991; cron runs in its local time. */
const TIMEZONE = 'Asia/Shanghai'

/** What a scan reads once for all devices (or for the one device re-evaluated). */
type ScanFacts = {
  today: string
  lastMaintenance: ReadonlyMap<string, number>
  pendingDeclaration: ReadonlySet<string>
  lastPassedVerification: ReadonlyMap<string, number>
}

/** A certificate with a due date: its two alerts and why each resolves. */
type DueRule = {
  overdue: AlertType
  dueSoon: AlertType
  dueSoonDays: number
  overdueCleared: string
  dueSoonCleared: string
}

/**
 * TSG T5002: half-monthly maintenance; more than `intervalDays` Shanghai calendar days since the last
 * one (or since registration, for an elevator never maintained) is overdue. `logged` is the latest
 * end in the maintenance log.
 */
export function maintenanceDueOf(
  elevator: Pick<Elevator, 'lastMaintenanceAt' | 'createdAt' | 'inService'>,
  logged: number | null,
  today: string,
  intervalDays: number,
): { due: MaintenanceDue; daysSince: number } {
  const last = Math.max(elevator.lastMaintenanceAt ?? 0, logged ?? 0) || null
  const since = shanghaiDate(last ?? elevator.createdAt)
  const daysSince = daysBetween(since, today)
  return {
    due: {
      lastMaintenanceAt: last,
      intervalDays,
      dueOn: addDays(since, intervalDays),
      isOverdue: elevator.inService && daysSince > intervalDays,
    },
    daysSince,
  }
}

/** The due date: the registered one, else the last date plus the period. */
function dueDate(next: string | null, last: string | null, periodMonths: number): string | null {
  return next ?? (last ? validUntil(last, periodMonths) : null)
}

export function createScheduledScans(
  deps: Pick<EngineBase, 'config' | 'registry' | 'clock' | 'log' | 'store' | 'isRunning'> & {
    certification: Certification
    book: Pick<AlertBook, 'activeOf'>
    lifecycle: Pick<Lifecycle, 'raise' | 'resolve' | 'autoResolve'>
    scanSeconds: Gauge
  },
) {
  const { config, registry, clock, log, store, certification, book, lifecycle } = deps
  let cronTask: ScheduledTask | null = null
  let unsubscribeRegistry: (() => void) | null = null

  const INSPECTION: DueRule = {
    overdue: 'inspection_overdue',
    dueSoon: 'inspection_due',
    dueSoonDays: config.INSPECTION_DUE_SOON_DAYS,
    overdueCleared: 'inspection due date no longer passed',
    dueSoonCleared: 'declared or no longer due soon',
  }
  const VERIFICATION: DueRule = {
    overdue: 'verification_overdue',
    dueSoon: 'verification_due',
    dueSoonDays: config.VERIFICATION_DUE_SOON_DAYS,
    overdueCleared: 'verified: due date no longer passed',
    dueSoonCleared: 'verified or no longer due soon',
  }

  /** Raises the alert while the condition holds (once), resolves it when it no longer does. */
  function ensure(
    device: Device,
    type: AlertType,
    condition: boolean,
    at: number,
    details: Record<string, unknown>,
    reason: string,
  ): void {
    if (!condition) {
      lifecycle.autoResolve(device.id, type, at, reason)
      return
    }
    if (book.activeOf(device.id, type)) return
    const ctx = registry.getDeviceContext(device.id)
    if (ctx) lifecycle.raise(ctx, type, at, { isRepeat: false, details })
  }

  /** Overdue once the due date passed; due soon within the window before it, unless already declared. */
  function ensureDue(
    device: Device,
    rule: DueRule,
    due: string,
    today: string,
    at: number,
    isDeclared: boolean,
  ) {
    const left = daysBetween(today, due)
    const details = { dueOn: due, daysLeft: left }
    ensure(device, rule.overdue, left < 0, at, details, rule.overdueCleared)
    ensure(
      device,
      rule.dueSoon,
      left >= 0 && left <= rule.dueSoonDays && !isDeclared,
      at,
      details,
      left < 0 ? 'superseded: overdue' : rule.dueSoonCleared,
    )
  }

  function evaluateDevice(device: Device, facts: ScanFacts): void {
    const at = clock.now()
    const { today } = facts
    if (!device.inService) {
      for (const type of [
        'maintenance_overdue',
        'inspection_due',
        'inspection_overdue',
        'verification_due',
        'verification_overdue',
      ] as const) {
        lifecycle.autoResolve(device.id, type, at, 'device out of service')
      }
      return
    }
    if (device.kind === 'elevator') {
      const logged = facts.lastMaintenance.get(device.id) ?? null
      const maintenance = maintenanceDueOf(device, logged, today, config.MAINTENANCE_INTERVAL_DAYS)
      const last = maintenance.due.lastMaintenanceAt
      ensure(
        device,
        'maintenance_overdue',
        maintenance.due.isOverdue,
        at,
        {
          lastMaintenanceAt: last,
          lastMaintenanceOn: last === null ? null : shanghaiDate(last),
          daysSince: maintenance.daysSince,
          intervalDays: config.MAINTENANCE_INTERVAL_DAYS,
        },
        'maintenance within the interval',
      )
      const due = dueDate(
        device.nextInspectionDue,
        device.lastInspectionOn,
        certification.inspectionPeriodMonths,
      )
      if (due !== null) ensureDue(device, INSPECTION, due, today, at, facts.pendingDeclaration.has(device.id))
      return
    }
    evaluateScale(device, facts, at)
  }

  function evaluateScale(scale: Scale, facts: ScanFacts, at: number): void {
    const due = dueDate(
      scale.nextVerificationDue,
      scale.lastVerificationOn,
      config.VERIFICATION_PERIOD_MONTHS,
    )
    if (due !== null) ensureDue(scale, VERIFICATION, due, facts.today, at, false)
    // A passed verification after the alert opened: the verifier has checked the seal and counters.
    const verifiedAt = facts.lastPassedVerification.get(scale.id)
    if (verifiedAt === undefined) return
    for (const type of RESOLVED_BY_VERIFICATION) {
      const alert = book.activeOf(scale.id, type)
      if (alert && alert.openedAt <= verifiedAt) lifecycle.resolve(alert, SYSTEM, 'passed verification', at)
    }
  }

  function scanFacts(deviceId?: string): ScanFacts {
    const { st } = store()
    const lastMaintenance = new Map<string, number>()
    if (deviceId) {
      const row = st.lastMaintenanceOf.get(deviceId) as Row | undefined
      if (row && row.at !== null) lastMaintenance.set(deviceId, Number(row.at))
    } else {
      for (const row of st.lastMaintenanceAll.all() as Row[])
        lastMaintenance.set(String(row.device_id), Number(row.at))
    }
    const pendingDeclaration = new Set<string>()
    for (const i of certification.listInspections(deviceId))
      if (i.inspectedOn === null) pendingDeclaration.add(i.deviceId)
    const lastPassedVerification = new Map<string, number>()
    for (const v of certification.listVerifications(deviceId)) {
      if (v.passed !== true || v.closedAt === null) continue
      lastPassedVerification.set(
        v.deviceId,
        Math.max(v.closedAt, lastPassedVerification.get(v.deviceId) ?? 0),
      )
    }
    return { today: shanghaiDate(clock.now()), lastMaintenance, pendingDeclaration, lastPassedVerification }
  }

  function evaluateDeviceById(deviceId: string): void {
    if (!deps.isRunning()) return
    try {
      const device = registry.getDevice(deviceId)
      if (device) evaluateDevice(device, scanFacts(deviceId))
    } catch (err) {
      log.error({ err, deviceId }, 'device re-evaluation failed')
    }
  }

  /** Every device, in pages. */
  async function run(): Promise<void> {
    if (!deps.isRunning()) return
    const started = performance.now()
    const facts = scanFacts()
    let failed = 0
    // Page through the registry and yield between pages: reading and evaluating 20,000 devices in one
    // go would hold the event loop for a second, and with it a trapped-passenger alert.
    for (let offset = 0; ; offset += SCAN_CHUNK) {
      if (offset > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      if (!deps.isRunning()) return
      const page = registry.listDevices({ limit: SCAN_CHUNK, offset })
      for (const device of page) {
        try {
          evaluateDevice(device, facts)
        } catch (err) {
          failed++
          log.error({ err, deviceId: device.id }, 'scheduled scan of a device failed')
        }
      }
      if (page.length < SCAN_CHUNK) break
    }
    deps.scanSeconds.set((performance.now() - started) / 1000)
    log.info(
      { today: facts.today, failed, ms: Math.round(performance.now() - started) },
      'scheduled scan done',
    )
  }

  return {
    run,
    /** An elevator's maintenance due date as the next scan will judge it; null for anything else. */
    maintenanceDue(deviceId: string): MaintenanceDue | null {
      const device = registry.getDevice(deviceId)
      if (device?.kind !== 'elevator') return null
      const row = store().st.lastMaintenanceOf.get(deviceId) as Row | undefined
      const logged = row && row.at !== null ? Number(row.at) : null
      return maintenanceDueOf(device, logged, shanghaiDate(clock.now()), config.MAINTENANCE_INTERVAL_DAYS).due
    },
    /** Re-evaluates a device when the registry changes it; runs every device on SCAN_CRON. */
    start(): void {
      unsubscribeRegistry = registry.onChange((change) => {
        // After the registry's own transaction: a verification, inspection or maintenance just recorded.
        if (change.type === 'device_changed') queueMicrotask(() => evaluateDeviceById(change.deviceId))
      })
      cronTask = cron.schedule(
        config.SCAN_CRON,
        async () => {
          try {
            await run()
          } catch (err) {
            log.error({ err }, 'scheduled scan failed')
          }
        },
        { timezone: TIMEZONE, noOverlap: true, name: 'alerts-scheduled-scans' },
      )
    },
    async stop(): Promise<void> {
      if (cronTask) await cronTask.destroy()
      cronTask = null
      unsubscribeRegistry?.()
      unsubscribeRegistry = null
    },
  }
}
