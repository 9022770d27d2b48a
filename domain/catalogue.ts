/**
 * Event codes of protocol v1 against the fault catalogue of the provincial regulator platform
 * (../shared/DOMAIN.md, "Faults and events"). `catalogueNo` is null where the catalogue has no number.
 */
import type { ElevatorEventCode, ElevatorMode, ScaleEventCode } from './protocol.ts'

export type CatalogueEntry = {
  catalogueNo: number | null
  group: 'fault' | 'mode' | 'event' | 'maintenance' | 'tamper' | 'operation'
  zh: string
  en: string
}

export const ELEVATOR_EVENT_CATALOGUE: Record<ElevatorEventCode, CatalogueEntry> = {
  safety_circuit_open: { catalogueNo: 1, group: 'fault', zh: '安全回路断路', en: 'Safety circuit open' },
  door_close_fault: { catalogueNo: 2, group: 'fault', zh: '关门故障', en: 'Door fails to close' },
  door_open_fault: { catalogueNo: 3, group: 'fault', zh: '开门故障', en: 'Door fails to open' },
  stopped_outside_door_zone: {
    catalogueNo: 4,
    group: 'fault',
    zh: '门区外停梯',
    en: 'Stopped outside door zone',
  },
  moving_with_door_open: {
    catalogueNo: 5,
    group: 'fault',
    zh: '开门走梯(轿厢意外移动)',
    en: 'Moving with door open (UCMP)',
  },
  motor_runtime_limiter: {
    catalogueNo: 6,
    group: 'fault',
    zh: '电动机运转时间限制器动作',
    en: 'Motor run-time limiter',
  },
  floor_position_lost: { catalogueNo: 7, group: 'fault', zh: '楼层位置丢失', en: 'Floor position lost' },
  rerun_prevention_fault: {
    catalogueNo: 8,
    group: 'fault',
    zh: '防止电梯再运行故障',
    en: 'Re-run prevention fault',
  },
  power_failure: { catalogueNo: 41, group: 'mode', zh: '主电源断电', en: 'Main power off' },
  mode_change: { catalogueNo: null, group: 'mode', zh: '运行模式变化', en: 'Mode change' },
  alarm_button: { catalogueNo: 90, group: 'event', zh: '报警按钮动作', en: 'Alarm button pressed' },
  bottom_overtravel: { catalogueNo: 91, group: 'event', zh: '蹲底', en: 'Bottom overtravel' },
  top_overtravel: { catalogueNo: 92, group: 'event', zh: '冲顶', en: 'Top overtravel' },
  trapped: { catalogueNo: 93, group: 'event', zh: '困人', en: 'Passenger trapped' },
  overspeed: { catalogueNo: null, group: 'fault', zh: '超速', en: 'Overspeed' },
  door_lock_open: { catalogueNo: null, group: 'fault', zh: '门锁回路断路', en: 'Door-lock circuit open' },
  maintenance_start: { catalogueNo: null, group: 'maintenance', zh: '维保开始', en: 'Maintenance started' },
  maintenance_end: { catalogueNo: null, group: 'maintenance', zh: '维保结束', en: 'Maintenance ended' },
  fault_cleared: { catalogueNo: null, group: 'event', zh: '故障恢复', en: 'Fault cleared' },
}

/** A `mode_change` event carries `detail.mode`; the catalogue numbers the mode entered (40-47). */
export const MODE_CATALOGUE: Record<ElevatorMode, CatalogueEntry> = {
  normal: { catalogueNo: 40, group: 'mode', zh: '恢复自动运行', en: 'Automatic operation restored' },
  out_of_service: { catalogueNo: 42, group: 'mode', zh: '停止服务', en: 'Out of service' },
  inspection: { catalogueNo: 43, group: 'mode', zh: '检修', en: 'Inspection' },
  fire_return: { catalogueNo: 44, group: 'mode', zh: '消防返回', en: 'Fire return' },
  firefighter: { catalogueNo: 45, group: 'mode', zh: '消防员运行', en: 'Firefighter operation' },
  emergency_power: { catalogueNo: 46, group: 'mode', zh: '应急电源运行', en: 'Emergency power' },
  earthquake: { catalogueNo: 47, group: 'mode', zh: '地震运行', en: 'Earthquake operation' },
  maintenance: { catalogueNo: null, group: 'maintenance', zh: '维保', en: 'Maintenance' },
}

export const SCALE_EVENT_CATALOGUE: Record<ScaleEventCode, CatalogueEntry> = {
  zero: { catalogueNo: null, group: 'operation', zh: '置零', en: 'Zero' },
  tare: { catalogueNo: null, group: 'operation', zh: '去皮', en: 'Tare' },
  case_opened: { catalogueNo: null, group: 'tamper', zh: '开壳', en: 'Case opened' },
  seal_broken: { catalogueNo: null, group: 'tamper', zh: '铅封破坏', en: 'Seal broken' },
  unlock: { catalogueNo: null, group: 'tamper', zh: '解锁', en: 'Unlocked' },
  calibration_changed: { catalogueNo: null, group: 'tamper', zh: '标定变更', en: 'Calibration changed' },
  param_changed: { catalogueNo: null, group: 'tamper', zh: '参数变更', en: 'Parameter changed' },
  power_on: { catalogueNo: null, group: 'operation', zh: '开机', en: 'Power on' },
  self_check_failed: { catalogueNo: null, group: 'fault', zh: '自检失败', en: 'Self-check failed' },
}
