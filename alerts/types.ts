/**
 * The alerts engine's public shapes: what the HTTP API, the notifiers and the console code against.
 * The engine itself is in engine.ts; the rule table (types, severities, titles) in rules.ts.
 */

import type { Registry as MetricsRegistry } from 'prom-client'
import type { AlertChange, AlertSeverity, AlertStatus } from '../domain/alert-change.ts'
import type { Logger } from '../domain/logger.ts'
import type { Reading } from '../domain/reading.ts'
import type { SiteCategory } from '../domain/registry-types.ts'
import type { DeviceKind } from '../domain/topics.ts'
import type { Registry } from '../registry/registry.ts'
import type { AlertsConfig } from './config.ts'

export type { AlertChange, AlertSeverity, AlertStatus }

/**
 * Every alert type. One per elevator fault/event code and scale tamper code, plus the derived and
 * scheduled ones. `trapped`, `stopped_outside_door_zone` and `overspeed` are shared by the event a
 * controller sends and the rule that derives it from status, so both feed ONE alert.
 */
export const ALERT_TYPES = [
  // elevator events (domain/catalogue.ts)
  'safety_circuit_open',
  'door_close_fault',
  'door_open_fault',
  'stopped_outside_door_zone',
  'moving_with_door_open',
  'motor_runtime_limiter',
  'floor_position_lost',
  'rerun_prevention_fault',
  'alarm_button',
  'bottom_overtravel',
  'top_overtravel',
  'trapped',
  'overspeed',
  'power_failure',
  'door_lock_open',
  // scale tamper / fault events
  'case_opened',
  'seal_broken',
  'unlock',
  'calibration_changed',
  'param_changed',
  'self_check_failed',
  // derived from status
  'zero_offset',
  'counter_changed',
  'offline',
  // scheduled scans
  'maintenance_overdue',
  'inspection_due',
  'inspection_overdue',
  'verification_due',
  'verification_overdue',
] as const
export type AlertType = (typeof ALERT_TYPES)[number]

/** The calendar's overdue alerts: what the console's board counts as `overdue`. */
export const OVERDUE_ALERT_TYPES = [
  'maintenance_overdue',
  'inspection_overdue',
  'verification_overdue',
] as const satisfies readonly AlertType[]

/** Ordered so that a larger index is more severe. */
export const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, major: 2, critical: 3 }

export type LocalizedText = { zh: string; en: string }

/** ms since epoch, or null while the stage has not happened. */
export type RescueTimeline = {
  alarmAt: number
  dispatchedAt: number | null
  /** Tenant id of the maintenance firm the rescue was dispatched to. */
  dispatchedTo: string | null
  acceptedAt: number | null
  arrivedAt: number | null
  releasedAt: number | null
  /** alarmAt + RESCUE_ACCEPT_LIMIT_S. */
  acceptDeadline: number
  /** alarmAt + RESCUE_ARRIVE_LIMIT_S (TSG T5002: 30 min in a districted city). */
  arriveDeadline: number
  acceptMissed: boolean
  arriveMissed: boolean
}

export type Alert = {
  id: string
  deviceId: string
  deviceKind: DeviceKind
  siteId: string | null
  tenantId: string | null
  siteCategory: SiteCategory | null
  type: AlertType
  severity: AlertSeverity
  status: AlertStatus
  /** Times the condition was seen while this alert was active (repeated events raise it). */
  count: number
  title: LocalizedText
  /** Rule-specific facts: the event detail, the speed and factor, the zero offset, the due date... */
  details: Record<string, unknown>
  openedAt: number
  lastSeenAt: number
  acknowledgedAt: number | null
  acknowledgedBy: string | null
  resolvedAt: number | null
  /** An operator, or `system` when the condition cleared by itself. */
  resolvedBy: string | null
  resolutionNote: string | null
  /** A rescue deadline was missed (or severity was raised by escalation). */
  escalated: boolean
  /** Only for `trapped` alerts. */
  rescue: RescueTimeline | null
}

/** One row of the append-only history of an alert. */
export type Transition = {
  id: number
  alertId: string
  /** raised, acknowledged, dispatched, accepted, arrived, released, escalated, resolved, commented. */
  transition: string
  actor: string
  note: string | null
  at: number
  /** Severity and status of the alert right after the transition. */
  severity: AlertSeverity
  status: AlertStatus
  details: Record<string, unknown> | null
}

export const ALERT_ACTIONS = [
  'acknowledge',
  'dispatch',
  'accept',
  'arrive',
  'release',
  'resolve',
  'comment',
] as const
export type AlertAction = (typeof ALERT_ACTIONS)[number]

export type AlertFilter = {
  /** `active` = open or acknowledged. */
  status?: AlertStatus | 'active'
  type?: AlertType
  severity?: AlertSeverity
  /** Any of these types (with `type` as well, both must hold). */
  types?: readonly AlertType[]
  /** Any of these severities (with `severity` as well, both must hold). */
  severities?: readonly AlertSeverity[]
  siteId?: string
  tenantId?: string
  deviceId?: string
  siteCategory?: SiteCategory
  /** openedAt >= from (ms since epoch). */
  from?: number
  /** openedAt < to (ms since epoch). */
  to?: number
  limit: number
  offset: number
}

export type MaintenanceRecord = {
  id: number
  deviceId: string
  tenantId: string | null
  startedAt: number
  endedAt: number
  /** e.g. half_monthly, quarterly, half_yearly, annual, repair; `half_monthly` unless told. */
  kind: string
  /** `device` when it came from maintenance_start/maintenance_end events, `api` when entered by hand. */
  source: 'device' | 'api'
  actor: string
  note: string | null
  recordedAt: number
}

export type MaintenanceInput = {
  deviceId: string
  startedAt: number
  endedAt: number
  kind?: string
  actor: string
  note?: string
}

export type MaintenanceFilter = {
  deviceId?: string
  tenantId?: string
  /** endedAt >= from (ms). */
  from?: number
  /** endedAt < to (ms). */
  to?: number
  limit?: number
  offset?: number
}

export type AccidentRecord = {
  id: number
  at: number
  siteId: string
  deviceId: string | null
  fatal: boolean
  description: string
  actor: string
  recordedAt: number
}

export type AccidentInput = {
  at: number
  siteId: string
  deviceId?: string | null
  fatal: boolean
  description: string
  actor: string
}

export type AccidentFilter = { siteId?: string; from?: number; to?: number; limit?: number; offset?: number }

/** A rate with what it is made of; `rate` is null when the denominator is 0. */
export type Ratio = { numerator: number; denominator: number; rate: number | null }

export type ComplianceFigures = {
  /** Scales: periodic verification rate (周检率), target >= 99%. */
  verification: Ratio & { target: number; meetsTarget: boolean | null }
  /** Elevators: periodic inspection declaration rate, target 100%. */
  inspectionDeclaration: Ratio & {
    target: number
    meetsTarget: boolean | null
    /** Declared at least INSPECTION_DECLARE_LEAD_DAYS before the due date (TSG T7001: one month). */
    declaredInTime: number
  }
  /** Elevators in service whose half-monthly maintenance never lapsed beyond the interval in the period. */
  maintenance: Ratio & { records: number }
  /** Trapped-passenger rescues whose alarm fell in the period. */
  rescue: {
    rescues: number
    arrived: number
    medianArrivalS: number | null
    p90ArrivalS: number | null
    /** numerator = arrived within the limit; denominator = arrived, or arrival deadline missed. */
    withinLimit: Ratio
    medianAcceptS: number | null
    acceptMissed: number
    arriveMissed: number
  }
  /** `escalated` transitions in the period. */
  escalations: number
  /**
   * Scales registered (created by the end of the period) against the plan's 10,000; the target is
   * district-wide, so it is null (and share null) per site category.
   */
  instruments: { registered: number; inService: number; target: number | null; share: number | null }
  /** Recorded by hand; the target is zero. */
  fatalAccidents: { count: number; target: number; meetsTarget: boolean }
}

export type ComplianceReport = {
  period: { from: string; to: string; timezone: 'Asia/Shanghai' }
  generatedAt: number
  /** RESCUE_ACCEPT_LIMIT_S and RESCUE_ARRIVE_LIMIT_S: the lines the rescue figures are held to. */
  rescueLimits: { acceptS: number; arriveS: number }
  overall: ComplianceFigures
  byCategory: Record<SiteCategory, ComplianceFigures>
}

/**
 * An elevator's half-monthly maintenance as the scheduled scan judges it (TSG T5002): due
 * MAINTENANCE_INTERVAL_DAYS Shanghai calendar days after the last one (or after registration).
 */
export type MaintenanceDue = {
  /** The latest of the registry's date and the maintenance log; null when never maintained. */
  lastMaintenanceAt: number | null
  intervalDays: number
  /** The last day within the interval (YYYY-MM-DD, Asia/Shanghai). */
  dueOn: string
  /** Past `dueOn` and in service: what raises `maintenance_overdue` at the next scan. */
  isOverdue: boolean
}

export type DeviceSnapshot = {
  lastStatus: unknown | null
  lastSeenAt: number | null
  online: boolean
  recentEvents: Array<{ at: number; code: string; detail?: Record<string, unknown> }>
}

/** Time source and timers, fakeable in tests (see fake-clock.ts). */
export type TimerHandle = { cancel(): void }
export type Clock = {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

export type AlertChangeEvent = { change: AlertChange; alert: Alert }

/**
 * An alert as the HTTP API and its live stream present it: with the names a person reads, from the
 * registry (null when the device has no name or the registry no longer knows it).
 */
export type NamedAlert = Alert & { deviceName: string | null; siteName: string | null }

/**
 * Active alerts of one group (type, severity, kind, site, tenant, site category), for the periodic
 * `alerts_active` snapshot in InfluxDB that Grafana reads. Only groups with an active alert appear.
 */
export type ActiveAlertCount = {
  type: AlertType
  severity: AlertSeverity
  kind: DeviceKind
  siteId: string | null
  tenantId: string | null
  siteCategory: SiteCategory | null
  /** Open + acknowledged. */
  active: number
  /** Open only: nobody has acknowledged them yet. */
  unacknowledged: number
}

export type AlertEngine = {
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Every validated reading, in the order of one device's messages. Synchronous: the rules have run and
   * written what they change when it returns (no promise per reading on the hot path). Never throws.
   */
  handle(reading: Reading): void
  listAlerts(filter: AlertFilter): { items: Alert[]; total: number }
  getAlert(id: string): Alert | null
  getTransitions(alertId: string): Transition[]
  /** DomainError NOT_FOUND / INVALID_TRANSITION / NOTE_REQUIRED. */
  act(alertId: string, action: AlertAction, by: { actor: string; note?: string }): Alert
  /** Called synchronously after every change is committed; returns an unsubscribe function. */
  onChange(listener: (event: AlertChangeEvent) => void): () => void
  /** DomainError NOT_FOUND / WRONG_KIND / INVALID_INPUT. */
  recordMaintenance(input: MaintenanceInput): MaintenanceRecord
  listMaintenance(filter: MaintenanceFilter): MaintenanceRecord[]
  /** DomainError NOT_FOUND (site or device) / INVALID_INPUT. */
  recordAccident(input: AccidentInput): AccidentRecord
  listAccidents(filter: AccidentFilter): AccidentRecord[]
  /** ISO dates, inclusive, Asia/Shanghai calendar. DomainError INVALID_INPUT. */
  compliance(period: { from: string; to: string }): ComplianceReport
  /** null for a device the registry does not know. */
  deviceSnapshot(deviceId: string): DeviceSnapshot | null
  /** What cron runs: maintenance, inspection and verification due/overdue. */
  runScheduledScans(): Promise<void>
  /**
   * Active alerts counted by group, from memory (no SQL): cheap enough to call every minute.
   * Sorted by kind, type, severity (most severe first), site, tenant. Empty while the engine is stopped.
   */
  activeAlertCounts(): ActiveAlertCount[]
  /** Active alerts that carry a rescue timeline (trapped passengers), from memory. Empty while stopped. */
  activeRescues(): Alert[]
  /** An elevator's maintenance due date; null for a scale or a device the registry does not know. */
  maintenanceDue(deviceId: string): MaintenanceDue | null
}

/** What `createAlertEngine(deps)` (engine.ts) takes. */
export type AlertEngineDeps = {
  config: AlertsConfig
  logger: Logger
  registry: Registry
  metrics: MetricsRegistry
  /** Defaults to the system clock. */
  clock?: Clock
}
