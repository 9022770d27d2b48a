/**
 * Device protocol v1: one zod schema per message. docs/protocol.md is the prose form of this file.
 * Unknown fields are stripped, not refused, so that a firmware adding a field keeps its readings.
 */
import { z } from 'zod'

/** Every payload is UTF-8 JSON of at most this many bytes. */
export const MAX_PAYLOAD_BYTES = 4096

// 2000-01-01 .. 2100-01-01: a device clock outside this is broken, not early or late.
const MIN_TS = 946_684_800_000
const MAX_TS = 4_102_444_800_000

/** Device clock, milliseconds since the Unix epoch. */
export const TimestampSchema = z.int().min(MIN_TS).max(MAX_TS)
/** Per-device message counter that increases; with the device id it names one message. */
export const SeqSchema = z.int().min(0).max(Number.MAX_SAFE_INTEGER)

const DetailSchema = z.record(z.string(), z.unknown())

export const ELEVATOR_MODES = [
  'normal',
  'inspection',
  'maintenance',
  'fire_return',
  'firefighter',
  'emergency_power',
  'out_of_service',
  'earthquake',
] as const
export const ElevatorModeSchema = z.enum(ELEVATOR_MODES)
export type ElevatorMode = z.infer<typeof ElevatorModeSchema>

export const DIRECTIONS = ['up', 'down', 'stopped'] as const
export const DOOR_STATES = ['closed', 'opening', 'open', 'closing'] as const

export const ElevatorStatusSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  mode: ElevatorModeSchema,
  floor: z.int().min(-20).max(300),
  levelled: z.boolean(),
  doorZone: z.boolean(),
  direction: z.enum(DIRECTIONS),
  /** m/s; the fastest lifts in service run at about 21 m/s. */
  speed: z.number().min(0).max(30),
  door: z.enum(DOOR_STATES),
  occupied: z.boolean(),
  /** Share of rated load, 0..1.5 (overload is reported, not refused). */
  load: z.number().min(0).max(1.5),
  /** true = circuit closed (safe). */
  safetyCircuit: z.boolean(),
  /** true = door-lock circuit closed. */
  doorLock: z.boolean(),
  /** true = main power on. */
  power: z.boolean(),
  /** true = alarm button pressed. */
  alarmButton: z.boolean(),
})
export type ElevatorStatus = z.infer<typeof ElevatorStatusSchema>

export const ELEVATOR_EVENT_CODES = [
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
  'mode_change',
  'maintenance_start',
  'maintenance_end',
  'fault_cleared',
] as const
export const ElevatorEventCodeSchema = z.enum(ELEVATOR_EVENT_CODES)
export type ElevatorEventCode = z.infer<typeof ElevatorEventCodeSchema>

export const ElevatorEventSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  code: ElevatorEventCodeSchema,
  detail: DetailSchema.optional(),
})
export type ElevatorEvent = z.infer<typeof ElevatorEventSchema>

export const ScaleStatusSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  /** Zero offset in units of the verification interval e. */
  zeroOffsetE: z.number().min(-10_000).max(10_000),
  sealIntact: z.boolean(),
  /** Legal-metrology event counters: any change outside a verification is a tamper signal. */
  paramCounter: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  calibrationCounter: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  firmware: z.string().min(1).max(64),
})
export type ScaleStatus = z.infer<typeof ScaleStatusSchema>

export const ScaleWeighingSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  grossKg: z.number().min(-1_000).max(100_000),
  tareKg: z.number().min(0).max(100_000),
  netKg: z.number().min(-100_000).max(100_000),
  /** Price per kg in yuan. */
  unitPriceCny: z.number().min(0).max(1_000_000),
  amountCny: z.number().min(-1_000_000_000).max(1_000_000_000),
  stable: z.boolean(),
})
export type ScaleWeighing = z.infer<typeof ScaleWeighingSchema>

export const SCALE_EVENT_CODES = [
  'zero',
  'tare',
  'case_opened',
  'seal_broken',
  'unlock',
  'calibration_changed',
  'param_changed',
  'power_on',
  'self_check_failed',
] as const
export const ScaleEventCodeSchema = z.enum(SCALE_EVENT_CODES)
export type ScaleEventCode = z.infer<typeof ScaleEventCodeSchema>

export const ScaleEventSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  code: ScaleEventCodeSchema,
  detail: DetailSchema.optional(),
})
export type ScaleEvent = z.infer<typeof ScaleEventSchema>

/** Downlink: what the platform may ask of a device. Devices only subscribe to their own commands topic. */
export const CommandSchema = z.object({
  ts: TimestampSchema,
  seq: SeqSchema,
  command: z.enum(['report_status', 'set_status_period', 'lock', 'unlock']),
  args: DetailSchema.optional(),
})
export type Command = z.infer<typeof CommandSchema>
