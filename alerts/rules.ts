/**
 * The rule table: each alert type's default severity, its titles, where it comes from and what
 * resolves it by itself. docs/alerts.md is the prose form of this table.
 *
 * Severities: `critical` is kept for danger to people right now (TSG T7001 / 96333 practice: a trapped
 * passenger, a car moving with its door open, overtravel, overspeed past the safety gear's 1.4x,
 * an open safety circuit). `major` is a fault that stops the lift or a sign of metrological fraud;
 * `warning` a degraded state; `info` a reminder.
 */
import type { AlertSeverity } from '../domain/alert-change.ts'
import { ELEVATOR_EVENT_CATALOGUE, SCALE_EVENT_CATALOGUE } from '../domain/catalogue.ts'
import type { ElevatorEventCode, ScaleEventCode } from '../domain/protocol.ts'
import type { AlertType, LocalizedText } from './types.ts'

export type AlertSource = 'event' | 'event+status' | 'status' | 'scheduled'

export type AlertRule = {
  severity: AlertSeverity
  title: LocalizedText
  source: AlertSource
  /** How the alert resolves without an operator (docs/alerts.md). */
  autoResolve: string
}

const cat = (code: ElevatorEventCode): LocalizedText => {
  const entry = ELEVATOR_EVENT_CATALOGUE[code]
  return { zh: entry.zh, en: entry.en }
}
const scat = (code: ScaleEventCode): LocalizedText => {
  const entry = SCALE_EVENT_CATALOGUE[code]
  return { zh: entry.zh, en: entry.en }
}

const FAULT_CLEARED = '`fault_cleared` event with `detail.code` = this type'
const NEW_VERIFICATION = 'a passed verification closed after the alert opened'

export const ALERT_RULES: Record<AlertType, AlertRule> = {
  safety_circuit_open: {
    severity: 'critical',
    title: cat('safety_circuit_open'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  door_close_fault: {
    severity: 'warning',
    title: cat('door_close_fault'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  door_open_fault: {
    severity: 'major',
    title: cat('door_open_fault'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  stopped_outside_door_zone: {
    severity: 'major',
    title: cat('stopped_outside_door_zone'),
    source: 'event+status',
    autoResolve: `${FAULT_CLEARED}; a status in the door zone or moving`,
  },
  moving_with_door_open: {
    severity: 'critical',
    title: cat('moving_with_door_open'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  motor_runtime_limiter: {
    severity: 'major',
    title: cat('motor_runtime_limiter'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  floor_position_lost: {
    severity: 'warning',
    title: cat('floor_position_lost'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  rerun_prevention_fault: {
    severity: 'major',
    title: cat('rerun_prevention_fault'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  alarm_button: {
    severity: 'major',
    title: cat('alarm_button'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  bottom_overtravel: {
    severity: 'critical',
    title: cat('bottom_overtravel'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  top_overtravel: {
    severity: 'critical',
    title: cat('top_overtravel'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  trapped: {
    severity: 'critical',
    title: { zh: '困人', en: 'Passenger trapped' },
    source: 'event+status',
    autoResolve: `${FAULT_CLEARED}; a status with the door open in the door zone, or the car going from occupied to empty (passengers released)`,
  },
  overspeed: {
    severity: 'warning',
    title: cat('overspeed'),
    source: 'event+status',
    autoResolve: `${FAULT_CLEARED}; a status at or below OVERSPEED_WARNING_FACTOR x rated speed`,
  },
  power_failure: {
    severity: 'major',
    title: cat('power_failure'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },
  door_lock_open: {
    severity: 'major',
    title: cat('door_lock_open'),
    source: 'event',
    autoResolve: FAULT_CLEARED,
  },

  case_opened: {
    severity: 'major',
    title: scat('case_opened'),
    source: 'event',
    autoResolve: NEW_VERIFICATION,
  },
  seal_broken: {
    severity: 'major',
    title: scat('seal_broken'),
    source: 'event+status',
    autoResolve: NEW_VERIFICATION,
  },
  unlock: { severity: 'warning', title: scat('unlock'), source: 'event', autoResolve: NEW_VERIFICATION },
  calibration_changed: {
    severity: 'major',
    title: scat('calibration_changed'),
    source: 'event',
    autoResolve: NEW_VERIFICATION,
  },
  param_changed: {
    severity: 'major',
    title: scat('param_changed'),
    source: 'event',
    autoResolve: NEW_VERIFICATION,
  },
  self_check_failed: {
    severity: 'warning',
    title: scat('self_check_failed'),
    source: 'event',
    autoResolve: NEW_VERIFICATION,
  },

  zero_offset: {
    severity: 'warning',
    title: { zh: '零点偏移超限', en: 'Zero offset beyond limit' },
    source: 'status',
    autoResolve: 'a status with |zeroOffsetE| <= ZERO_OFFSET_LIMIT_E',
  },
  counter_changed: {
    severity: 'major',
    title: { zh: '计量参数/标定计数器变化', en: 'Parameter or calibration counter changed' },
    source: 'status',
    autoResolve: NEW_VERIFICATION,
  },
  offline: {
    severity: 'warning',
    title: { zh: '设备离线', en: 'Device offline' },
    source: 'status',
    autoResolve: 'any message from the device',
  },
  maintenance_overdue: {
    severity: 'major',
    title: { zh: '维保超期', en: 'Maintenance overdue' },
    source: 'scheduled',
    autoResolve: 'a maintenance recorded (event session or API) within MAINTENANCE_INTERVAL_DAYS of today',
  },
  inspection_due: {
    severity: 'info',
    title: { zh: '定期检验即将到期', en: 'Periodic inspection due soon' },
    source: 'scheduled',
    autoResolve:
      'an inspection declared, a new due date beyond the window, or the due date passed (then overdue)',
  },
  inspection_overdue: {
    severity: 'major',
    title: { zh: '定期检验超期', en: 'Periodic inspection overdue' },
    source: 'scheduled',
    autoResolve: 'a passed inspection moving the due date to today or later',
  },
  verification_due: {
    severity: 'info',
    title: { zh: '周期检定即将到期', en: 'Periodic verification due soon' },
    source: 'scheduled',
    autoResolve: 'a new due date beyond the window, or the due date passed (then overdue)',
  },
  verification_overdue: {
    severity: 'major',
    title: { zh: '周期检定超期', en: 'Periodic verification overdue' },
    source: 'scheduled',
    autoResolve: 'a passed verification moving the due date to today or later',
  },
}

/** Titles that depend on the occurrence, not only on the type. */
export const TRAPPED_BETWEEN_FLOORS_TITLE: LocalizedText = { zh: '非平层关人', en: 'Trapped between floors' }
export const TRAPPED_AT_FLOOR_TITLE: LocalizedText = { zh: '平层关人', en: 'Trapped at floor' }

/** Scale events that are tamper signals: suppressed while a verification is open. */
export const SCALE_TAMPER_CODES: ReadonlySet<ScaleEventCode> = new Set([
  'case_opened',
  'seal_broken',
  'unlock',
  'calibration_changed',
  'param_changed',
])

/** Scale events that raise an alert (tamper signals and faults). */
export const SCALE_ALERT_CODES: ReadonlySet<ScaleEventCode> = new Set([
  ...SCALE_TAMPER_CODES,
  'self_check_failed',
])

/** Elevator events that raise nothing: mode changes are informational, maintenance feeds the log. */
export const ELEVATOR_INFO_CODES: ReadonlySet<ElevatorEventCode> = new Set([
  'mode_change',
  'maintenance_start',
  'maintenance_end',
  'fault_cleared',
])

/** Scale alerts a passed verification closes. */
export const RESOLVED_BY_VERIFICATION: ReadonlySet<AlertType> = new Set<AlertType>([
  'case_opened',
  'seal_broken',
  'unlock',
  'calibration_changed',
  'param_changed',
  'self_check_failed',
  'counter_changed',
])

export function isAlertType(value: unknown): value is AlertType {
  return typeof value === 'string' && Object.hasOwn(ALERT_RULES, value)
}

export function maxSeverity(a: AlertSeverity, b: AlertSeverity): AlertSeverity {
  const rank: Record<AlertSeverity, number> = { info: 0, warning: 1, major: 2, critical: 3 }
  return rank[b] > rank[a] ? b : a
}

/** One step up, for escalation; critical stays critical. */
export function raiseSeverity(s: AlertSeverity): AlertSeverity {
  return s === 'info' ? 'warning' : s === 'warning' ? 'major' : 'critical'
}
