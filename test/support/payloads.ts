/**
 * Protocol v1 payloads the tests send, without their `ts` and `seq` header: an elevator in normal
 * service standing levelled at floor 3 with its doors shut and every safety signal sound, and a sealed
 * scale at zero. Tests spread one and override the fields they exercise.
 */
import type { ElevatorStatus, ScaleStatus } from '../../domain/protocol.ts'

export const NORMAL_ELEVATOR_STATUS: Omit<ElevatorStatus, 'ts' | 'seq'> = {
  mode: 'normal',
  floor: 3,
  levelled: true,
  doorZone: true,
  direction: 'stopped',
  speed: 0,
  door: 'closed',
  occupied: false,
  load: 0,
  safetyCircuit: true,
  doorLock: true,
  power: true,
  alarmButton: false,
}

export const NORMAL_SCALE_STATUS: Omit<ScaleStatus, 'ts' | 'seq'> = {
  zeroOffsetE: 0,
  sealIntact: true,
  paramCounter: 7,
  calibrationCounter: 3,
  firmware: 'fw-1.0',
}
