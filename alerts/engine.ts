import { DomainError } from '../domain/errors.ts'
import type { Reading } from '../domain/reading.ts'
import { createCertification } from '../registry/certification.ts'
import type { SqliteDatabase } from '../registry/sqlite.ts'
import { systemClock } from './clock.ts'
import { createAlertBook } from './engine/alert-book.ts'
import { createChangeFeed } from './engine/change-feed.ts'
import { createComplianceQuery } from './engine/compliance-query.ts'
import type { Guard } from './engine/deps.ts'
import { createDeviceSnapshots } from './engine/device-snapshots.ts'
import { createElevatorEventRules } from './engine/elevator-events.ts'
import { createElevatorStatusRules } from './engine/elevator-status.ts'
import { createEpisodes } from './engine/episodes.ts'
import { createLifecycle } from './engine/lifecycle.ts'
import { createEngineMetrics } from './engine/metrics.ts'
import { createOffline } from './engine/offline.ts'
import { createRecords } from './engine/records.ts'
import { createRescueDeadlines } from './engine/rescue.ts'
import { createRuleState, RULE } from './engine/rule-state.ts'
import { createScaleRules } from './engine/scale-rules.ts'
import { createScheduledScans } from './engine/scheduled-scans.ts'
import { openAlertsDb, prepareStatements, type Statements } from './store.ts'
import { ALERT_TYPES, type AlertEngine, type AlertEngineDeps } from './types.ts'

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

  const scans = createScheduledScans({
    config,
    registry,
    clock,
    log,
    store,
    isRunning: () => isRunning,
    certification,
    book,
    lifecycle,
    scanSeconds: metrics.scanSeconds,
  })

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
      offline.start(startedAt)
      scans.start()
      log.info({ activeAlerts: book.activeCount(), devices: offline.deviceCount() }, 'alerts engine started')
      if (config.SCAN_ON_START) await scans.run()
    },

    async stop() {
      if (!db) return
      isRunning = false
      await scans.stop()
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
    compliance: createComplianceQuery({ config, registry, clock, store, certification, ruleState }),

    deviceSnapshot: snapshots.snapshot,

    runScheduledScans: scans.run,
  }
}

/** Every alert type, for API enums. */
export { ALERT_TYPES }
