/**
 * The alerts engine: turns readings into alerts (event, status-derived and scheduled rules), runs the
 * alert lifecycle and the trapped-passenger rescue timeline, and computes the compliance figures.
 *
 * This file is the composition root: it builds the modules of ./engine/ (one idea each, see the code
 * map in docs/alerts.md), hands each the few parts it needs, owns the database handle and the running
 * flag, and puts the AlertEngine surface together. No rule is decided here.
 *
 * Hot path: `handle()` runs for every reading of every device and stays in memory; SQLite is written
 * only when something changes (a condition starts or ends, an alert moves, an event arrives), and
 * last-seen times are written in batches. Duration conditions and rescue deadlines run on timers so a
 * trapped passenger is alerted when the 30 s elapse, not at the next status.
 */
import { DomainError } from '../domain/errors.ts'
import { createCertification } from '../registry/certification.ts'
import type { SqliteDatabase } from '../registry/sqlite.ts'
import { systemClock } from './clock.ts'
import { createAlertBook } from './engine/alert-book.ts'
import { createChangeFeed } from './engine/change-feed.ts'
import { createComplianceQuery } from './engine/compliance-query.ts'
import type { EngineBase, Guard } from './engine/deps.ts'
import { createDeviceSnapshots } from './engine/device-snapshots.ts'
import { createElevatorEventRules } from './engine/elevator-events.ts'
import { createElevatorStatusRules } from './engine/elevator-status.ts'
import { createEpisodes } from './engine/episodes.ts'
import { createLifecycle } from './engine/lifecycle.ts'
import { createEngineMetrics } from './engine/metrics.ts'
import { createOffline } from './engine/offline.ts'
import { createReadings } from './engine/readings.ts'
import { createRecords } from './engine/records.ts'
import { createRescueDeadlines } from './engine/rescue.ts'
import { createRuleState } from './engine/rule-state.ts'
import { createScaleRules } from './engine/scale-rules.ts'
import { createScheduledScans } from './engine/scheduled-scans.ts'
import { openAlertsDb, prepareStatements, type Statements } from './store.ts'
import { ALERT_TYPES, type AlertEngine, type AlertEngineDeps } from './types.ts'

export function createAlertEngine(deps: AlertEngineDeps): AlertEngine {
  const { config, registry } = deps
  const log = deps.logger.child({ component: 'alerts' })
  const clock = deps.clock ?? systemClock()
  const certification = createCertification(registry, {
    verificationPeriodMonths: config.VERIFICATION_PERIOD_MONTHS,
    now: () => clock.now(),
  })

  // The engine's only mutable state of its own; every module holds its per-device state keyed by device.
  let db: SqliteDatabase | null = null
  let st: Statements | null = null
  let isRunning = false
  const base: EngineBase = {
    config,
    registry,
    clock,
    log,
    store() {
      if (!db || !st) throw new DomainError('NOT_STARTED', 'the alerts engine is not started')
      return { db, st }
    },
    isRunning: () => isRunning,
  }

  // What the rules keep: an event's redelivery window is written with the event's first effect.
  const ruleState = createRuleState(base)

  // Alerts and their lifecycle.
  const book = createAlertBook({ ...base, beforeWrite: ruleState.flushPending })
  const metrics = createEngineMetrics(deps.metrics, () => book.active())
  const { emit, onChange } = createChangeFeed({ log, listenerErrors: metrics.listenerErrors })
  const deadlines = createRescueDeadlines({ ...base, book, emit, escalations: metrics.escalations })
  const lifecycle = createLifecycle({
    ...base,
    book,
    deadlines,
    emit,
    raised: metrics.raised,
    resolved: metrics.resolved,
  })

  // What the rules read.
  const offline = createOffline({ ...base, book, lifecycle })
  const snapshots = createDeviceSnapshots({ ...base, offline })
  const records = createRecords({ ...base, ruleState, lifecycle })
  const episodes = createEpisodes({ lifecycle })
  const guard: Guard = (deviceId, fn) => {
    try {
      fn()
    } catch (err) {
      metrics.errors.inc()
      log.error({ err, deviceId }, 'alert rule failed')
    }
  }

  // The rules.
  const elevatorStatus = createElevatorStatusRules({
    ...base,
    ruleState,
    lifecycle,
    episodes,
    snapshots,
    guard,
  })
  const elevatorEvents = createElevatorEventRules({ ...base, ruleState, lifecycle, records, snapshots })
  const scale = createScaleRules({ ...base, certification, ruleState, lifecycle, episodes })
  const readings = createReadings({
    ...base,
    ruleState,
    offline,
    snapshots,
    elevatorStatus,
    elevatorEvents,
    scale,
    metrics,
  })
  const scans = createScheduledScans({
    ...base,
    certification,
    book,
    lifecycle,
    scanSeconds: metrics.scanSeconds,
  })

  return {
    async start() {
      if (isRunning || db) return
      db = openAlertsDb(config.DATA_DIR)
      st = prepareStatements(db)
      const startedAt = clock.now()
      ruleState.restore({
        ...elevatorStatus.restorers,
        ...elevatorEvents.restorers,
        ...scale.restorers,
        ...readings.restorers,
      })
      offline.restore()
      book.restore()
      isRunning = true
      // Rescue deadlines continue across a restart; one that passed while down escalates at once.
      deadlines.armActive()
      // Duration conditions continue too. A deadline that passed while down waits for a fresh status to
      // confirm the condition, so a restart never raises a trapped alert from a stale status.
      elevatorStatus.armRestored()
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
      elevatorStatus.stop()
      try {
        offline.flushAll()
        ruleState.flushPending()
      } finally {
        db.close()
        db = null
        st = null
        for (const part of [
          ruleState,
          book,
          readings,
          offline,
          snapshots,
          episodes,
          elevatorStatus,
          elevatorEvents,
          scale,
        ])
          part.clear()
        log.info('alerts engine stopped')
      }
    },

    handle(reading) {
      try {
        readings.handle(reading)
      } catch (err) {
        metrics.errors.inc()
        log.error({ err, deviceId: reading.deviceId, type: reading.type }, 'alert rules failed for a reading')
      }
    },

    listAlerts: book.list,
    getAlert: book.get,
    getTransitions: book.transitionsOf,
    act: lifecycle.act,
    onChange,

    recordMaintenance: records.recordMaintenance,
    listMaintenance: records.listMaintenance,
    recordAccident: records.recordAccident,
    listAccidents: records.listAccidents,
    compliance: createComplianceQuery({ ...base, certification, ruleState }),

    deviceSnapshot: snapshots.snapshot,
    runScheduledScans: scans.run,
    activeAlertCounts: book.counts,
    activeRescues: book.rescues,
    maintenanceDue: scans.maintenanceDue,
  }
}

/** Every alert type, for API enums. */
export { ALERT_TYPES }
