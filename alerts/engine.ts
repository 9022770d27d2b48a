import cron, { type ScheduledTask } from 'node-cron'
import { addDays, daysBetween, shanghaiDate, shanghaiMidnight, validUntil } from '../domain/dates.ts'
import { DomainError } from '../domain/errors.ts'
import type { Reading } from '../domain/reading.ts'
import { type Device, type Scale, type SiteCategory, SiteCategorySchema } from '../domain/registry-types.ts'
import { createCertification } from '../registry/certification.ts'
import type { SqliteDatabase } from '../registry/sqlite.ts'
import { systemClock } from './clock.ts'
import { computeCompliance, parsePeriod, type RescueFact } from './compliance.ts'
import { createAlertBook } from './engine/alert-book.ts'
import { createChangeFeed } from './engine/change-feed.ts'
import { type Guard, SYSTEM } from './engine/deps.ts'
import { createDeviceSnapshots } from './engine/device-snapshots.ts'
import { createElevatorEventRules } from './engine/elevator-events.ts'
import { createElevatorStatusRules } from './engine/elevator-status.ts'
import { createEpisodes } from './engine/episodes.ts'
import { createLifecycle } from './engine/lifecycle.ts'
import { createEngineMetrics } from './engine/metrics.ts'
import { createOffline } from './engine/offline.ts'
import { createRecords } from './engine/records.ts'
import { createRescueDeadlines } from './engine/rescue.ts'
import { createRuleState, num, RULE } from './engine/rule-state.ts'
import { createScaleRules } from './engine/scale-rules.ts'
import { RESOLVED_BY_VERIFICATION } from './rules.ts'
import { openAlertsDb, prepareStatements, type Row, type Statements, toAccident } from './store.ts'
import {
  ALERT_TYPES,
  type AlertEngine,
  type AlertEngineDeps,
  type AlertType,
  type ComplianceReport,
} from './types.ts'

/** Devices evaluated between two yields of a scheduled scan. */
const SCAN_CHUNK = 500
/** Asia/Shanghai has kept UTC+8 without daylight saving since 1991; cron runs in its local time. */
const TIMEZONE = 'Asia/Shanghai'

type DeviceState = {
  id: string
  /** Flat [seq, ts, seq, ts, ...] windows of recently seen messages, per channel. */
  statusSeen: number[]
  eventSeen: number[]
}

/** Remembers (seq, ts) in a bounded window; true when it was there already (a QoS 1 redelivery). */
function seenBefore(window: number[], seq: number, ts: number, size: number): boolean {
  for (let i = 0; i < window.length; i += 2) if (window[i] === seq && window[i + 1] === ts) return true
  window.push(seq, ts)
  if (window.length > size * 2) window.splice(0, window.length - size * 2)
  return false
}

export function createAlertEngine(deps: AlertEngineDeps): AlertEngine {
  const { config, registry } = deps
  const log = deps.logger.child({ component: 'alerts' })
  const clock = deps.clock ?? systemClock()
  const certification = createCertification(registry, {
    verificationPeriodMonths: config.VERIFICATION_PERIOD_MONTHS,
    now: () => clock.now(),
  })

  const devices = new Map<string, DeviceState>()
  let db: SqliteDatabase | null = null
  let st: Statements | null = null
  let isRunning = false
  let cronTask: ScheduledTask | null = null
  let unsubscribeRegistry: (() => void) | null = null

  const book = createAlertBook({ store })
  const ruleState = createRuleState({ store, clock })
  const metrics = createEngineMetrics(deps.metrics, () => book.active())
  const { emit, onChange } = createChangeFeed({ log, listenerErrors: metrics.listenerErrors })
  const deadlines = createRescueDeadlines({
    clock,
    log,
    isRunning: () => isRunning,
    book,
    emit,
    escalations: metrics.escalations,
  })
  const lifecycle = createLifecycle({
    config,
    clock,
    log,
    book,
    deadlines,
    emit,
    raised: metrics.raised,
    resolved: metrics.resolved,
  })
  const { raise, resolve, autoResolve } = lifecycle
  const offline = createOffline({
    config,
    registry,
    clock,
    log,
    store,
    isRunning: () => isRunning,
    book,
    lifecycle,
  })
  const snapshots = createDeviceSnapshots({ config, registry, offline })
  const records = createRecords({ config, registry, clock, store, ruleState, lifecycle })
  const episodes = createEpisodes({ lifecycle })
  const guard: Guard = (deviceId, fn) => {
    try {
      fn()
    } catch (err) {
      metrics.errors.inc()
      log.error({ err, deviceId }, 'alert rule failed')
    }
  }
  const elevatorStatusRules = createElevatorStatusRules({
    config,
    registry,
    clock,
    ruleState,
    lifecycle,
    episodes,
    snapshots,
    guard,
  })

  const elevatorEventRules = createElevatorEventRules({ config, ruleState, lifecycle, records, snapshots })

  const scaleRules = createScaleRules({ config, certification, ruleState, lifecycle, episodes })

  function store(): { db: SqliteDatabase; st: Statements } {
    if (!db || !st) throw new DomainError('NOT_STARTED', 'the alerts engine is not started')
    return { db, st }
  }

  // ---- device state ----
  function stateOf(deviceId: string): DeviceState {
    let state = devices.get(deviceId)
    if (!state) {
      state = {
        id: deviceId,
        statusSeen: [],
        eventSeen: [],
      }
      devices.set(deviceId, state)
    }
    return state
  }

  function restoreRuleState(): void {
    ruleState.restore({
      ...elevatorStatusRules.restorers,
      ...scaleRules.restorers,
      ...elevatorEventRules.restorers,
      [RULE.eventSeqs]: (deviceId, value) => {
        stateOf(deviceId).eventSeen = Array.isArray(value.window)
          ? value.window.filter((v) => typeof v === 'number')
          : []
      },
    })
  }

  // ---- the hot path ----
  function handleReading(reading: Reading): void {
    if (!isRunning) return
    const ctx = registry.getDeviceContext(reading.deviceId)
    if (!ctx) {
      metrics.unknownDevices.inc()
      return
    }
    const state = stateOf(reading.deviceId)
    const at = reading.receivedAt
    const isEvent = reading.type === 'elevator_event' || reading.type === 'scale_event'
    if (reading.type !== 'scale_weighing') {
      const window = isEvent ? state.eventSeen : state.statusSeen
      if (seenBefore(window, reading.data.seq, reading.data.ts, config.SEQ_WINDOW)) {
        metrics.duplicates.inc()
        return
      }
      // Events count, so their window survives a restart (a QoS 1 redelivery may follow one).
      if (isEvent) ruleState.save(state.id, RULE.eventSeqs, { window: state.eventSeen })
    }
    metrics.readings.inc({ type: reading.type })
    offline.seen(state.id, at)

    const device = ctx.device
    switch (reading.type) {
      case 'elevator_status':
        if (device.kind === 'elevator') {
          snapshots.setStatus(device.id, reading.data)
          elevatorStatusRules.handle(ctx, device, reading.data, at)
        }
        return
      case 'elevator_event':
        snapshots.rememberEvent(state.id, at, reading.data.code, reading.data.detail)
        if (device.kind === 'elevator') elevatorEventRules.handle(ctx, device, reading.data, at)
        return
      case 'scale_status':
        snapshots.setStatus(device.id, reading.data)
        scaleRules.status(ctx, reading.data, at)
        return
      case 'scale_event':
        snapshots.rememberEvent(state.id, at, reading.data.code, reading.data.detail)
        scaleRules.event(ctx, reading.data, at)
        return
      case 'scale_weighing':
        return
    }
  }

  // ---- scheduled scans ----
  type ScanFacts = {
    today: string
    lastMaintenance: ReadonlyMap<string, number>
    pendingDeclaration: ReadonlySet<string>
    lastPassedVerification: ReadonlyMap<string, number>
  }

  function ensure(
    device: Device,
    type: AlertType,
    condition: boolean,
    at: number,
    details: Record<string, unknown>,
    reason: string,
  ): void {
    if (!condition) {
      autoResolve(device.id, type, at, reason)
      return
    }
    if (book.activeOf(device.id, type)) return
    const ctx = registry.getDeviceContext(device.id)
    if (ctx) raise(ctx, type, at, { isRepeat: false, details })
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
        autoResolve(device.id, type, at, 'device out of service')
      }
      return
    }
    if (device.kind === 'elevator') {
      const logged = facts.lastMaintenance.get(device.id) ?? null
      const last = Math.max(device.lastMaintenanceAt ?? 0, logged ?? 0) || null
      const reference = last ?? device.createdAt
      const days = daysBetween(shanghaiDate(reference), today)
      // TSG T5002: half-monthly maintenance; more than 15 days without one is overdue.
      ensure(
        device,
        'maintenance_overdue',
        days > config.MAINTENANCE_INTERVAL_DAYS,
        at,
        {
          lastMaintenanceAt: last,
          lastMaintenanceOn: last === null ? null : shanghaiDate(last),
          daysSince: days,
          intervalDays: config.MAINTENANCE_INTERVAL_DAYS,
        },
        'maintenance within the interval',
      )
      const due =
        device.nextInspectionDue ??
        (device.lastInspectionOn
          ? validUntil(device.lastInspectionOn, certification.inspectionPeriodMonths)
          : null)
      if (due === null) return
      const left = daysBetween(today, due)
      const details = { dueOn: due, daysLeft: left }
      ensure(device, 'inspection_overdue', left < 0, at, details, 'inspection due date no longer passed')
      ensure(
        device,
        'inspection_due',
        left >= 0 && left <= config.INSPECTION_DUE_SOON_DAYS && !facts.pendingDeclaration.has(device.id),
        at,
        details,
        left < 0 ? 'superseded: overdue' : 'declared or no longer due soon',
      )
      return
    }
    evaluateScale(device, facts, at)
  }

  function evaluateScale(scale: Scale, facts: ScanFacts, at: number): void {
    const due =
      scale.nextVerificationDue ??
      (scale.lastVerificationOn
        ? validUntil(scale.lastVerificationOn, config.VERIFICATION_PERIOD_MONTHS)
        : null)
    if (due !== null) {
      const left = daysBetween(facts.today, due)
      const details = { dueOn: due, daysLeft: left }
      ensure(scale, 'verification_overdue', left < 0, at, details, 'verified: due date no longer passed')
      ensure(
        scale,
        'verification_due',
        left >= 0 && left <= config.VERIFICATION_DUE_SOON_DAYS,
        at,
        details,
        left < 0 ? 'superseded: overdue' : 'verified or no longer due soon',
      )
    }
    // A passed verification after the alert opened: the verifier has checked the seal and counters.
    const verifiedAt = facts.lastPassedVerification.get(scale.id)
    if (verifiedAt === undefined) return
    for (const type of RESOLVED_BY_VERIFICATION) {
      const alert = book.activeOf(scale.id, type)
      if (alert && alert.openedAt <= verifiedAt) resolve(alert, SYSTEM, 'passed verification', at)
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
    if (!isRunning) return
    try {
      const device = registry.getDevice(deviceId)
      if (device) evaluateDevice(device, scanFacts(deviceId))
    } catch (err) {
      log.error({ err, deviceId }, 'device re-evaluation failed')
    }
  }

  async function runScheduledScans(): Promise<void> {
    if (!isRunning) return
    const started = performance.now()
    const facts = scanFacts()
    let failed = 0
    // Page through the registry and yield between pages: reading and evaluating 20,000 devices in one
    // go would hold the event loop for a second, and with it a trapped-passenger alert.
    for (let offset = 0; ; offset += SCAN_CHUNK) {
      if (offset > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      if (!isRunning) return
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
    metrics.scanSeconds.set((performance.now() - started) / 1000)
    log.info(
      { today: facts.today, failed, ms: Math.round(performance.now() - started) },
      'scheduled scan done',
    )
  }

  // ---- queries ----
  function compliance(period: { from: string; to: string }): ComplianceReport {
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

  function categoryOf(value: unknown): SiteCategory | null {
    const parsed = SiteCategorySchema.safeParse(value)
    return parsed.success ? parsed.data : null
  }

  return {
    async start() {
      if (isRunning || db) return
      db = openAlertsDb(config.DATA_DIR)
      st = prepareStatements(db)
      const startedAt = clock.now()
      restoreRuleState()
      offline.restore()
      book.restore()
      isRunning = true
      // Rescue deadlines continue across a restart; one that passed while down escalates at once.
      deadlines.armActive()
      // Duration conditions continue too. A deadline that passed while down waits for a fresh status to
      // confirm the condition, so a restart never raises a trapped alert from a stale status.
      elevatorStatusRules.armRestored()
      unsubscribeRegistry = registry.onChange((change) => {
        // After the registry's own transaction: a verification, inspection or maintenance just recorded.
        if (change.type === 'device_changed') queueMicrotask(() => evaluateDeviceById(change.deviceId))
      })
      offline.start(startedAt)
      cronTask = cron.schedule(
        config.SCAN_CRON,
        async () => {
          try {
            await runScheduledScans()
          } catch (err) {
            log.error({ err }, 'scheduled scan failed')
          }
        },
        { timezone: TIMEZONE, noOverlap: true, name: 'alerts-scheduled-scans' },
      )
      log.info({ activeAlerts: book.activeCount(), devices: offline.deviceCount() }, 'alerts engine started')
      if (config.SCAN_ON_START) await runScheduledScans()
    },

    async stop() {
      if (!db) return
      isRunning = false
      if (cronTask) await cronTask.destroy()
      cronTask = null
      unsubscribeRegistry?.()
      unsubscribeRegistry = null
      offline.stop()
      deadlines.stop()
      elevatorStatusRules.stop()
      try {
        offline.flushAll()
      } finally {
        db.close()
        db = null
        st = null
        book.clear()
        devices.clear()
        offline.clear()
        snapshots.clear()
        episodes.clear()
        elevatorStatusRules.clear()
        elevatorEventRules.clear()
        scaleRules.clear()
        log.info('alerts engine stopped')
      }
    },

    async handle(reading) {
      try {
        handleReading(reading)
      } catch (err) {
        metrics.errors.inc()
        log.error({ err, deviceId: reading.deviceId, type: reading.type }, 'alert rules failed for a reading')
      }
    },

    listAlerts: book.list,
    getAlert(id) {
      return book.get(id)
    },
    getTransitions: book.transitionsOf,
    act: lifecycle.act,
    onChange,

    recordMaintenance: records.recordMaintenance,
    listMaintenance: records.listMaintenance,
    recordAccident: records.recordAccident,
    listAccidents: records.listAccidents,
    compliance,

    deviceSnapshot: snapshots.snapshot,

    runScheduledScans,
  }
}

/** Every alert type, for API enums. */
export { ALERT_TYPES }
