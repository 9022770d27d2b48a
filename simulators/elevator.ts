/**
 * A simulated elevator controller: a state machine in fixed ticks of fake time. It serves calls that
 * arrive as a time-of-day Poisson process (doors opening/open/closing, trapezoidal travel at the rated
 * speed), and injects every event of the catalogue (domain/catalogue.ts) at configurable rates or on
 * demand through `inject()`. It emits protocol v1 messages: a status every `statusPeriodS` and on
 * every change of a discrete field, events as they happen, all with one increasing `seq`.
 */
import type { ElevatorEventCode, ElevatorMode, ElevatorStatus } from '../domain/protocol.ts'
import type { Rng } from './random.ts'
import {
  chanceWithin,
  createOutbox,
  createSimClock,
  drawRange,
  hourlyProfile,
  MINUTE_MS,
  nextArrival,
  type Range,
  round,
  shanghaiHour,
  simControls,
} from './sim-core.ts'

/** Event codes that put the car out of service until a later `fault_cleared` carrying the code. */
export const ELEVATOR_FAULT_CODES = [
  'safety_circuit_open',
  'door_close_fault',
  'door_open_fault',
  'stopped_outside_door_zone',
  'moving_with_door_open',
  'motor_runtime_limiter',
  'floor_position_lost',
  'rerun_prevention_fault',
  'overspeed',
  'power_failure',
  'door_lock_open',
  'top_overtravel',
  'bottom_overtravel',
] as const satisfies readonly ElevatorEventCode[]
export type ElevatorFaultCode = (typeof ELEVATOR_FAULT_CODES)[number]

/** Modes a `mode` injection may enter (normal is the way back; maintenance has its own sessions). */
export type ElevatorSpecialMode = Exclude<ElevatorMode, 'normal' | 'maintenance'>

/** What a test (or the random incident generator) can do to an elevator, applied at once. */
export type ElevatorInjection =
  | {
      type: 'fault'
      code: ElevatorFaultCode
      /** Time until `fault_cleared`; default drawn from `faultClearMs`. */
      clearAfterMs?: number
      /** Overspeed only: speed as a multiple of rated speed. */
      factor?: number
    }
  | { type: 'overspeed'; factor?: number; clearAfterMs?: number }
  | {
      type: 'trapped'
      /** false (default) = stopped between floors, outside the door zone (非平层关人). */
      levelled?: boolean
      /** false = a controller that never reports `trapped`: only the status shows it. */
      sendTrappedEvent?: boolean
      /** Delay of the `trapped` event; default drawn from `trappedEventDelayMs` (20-40 s). */
      trappedEventAfterMs?: number
      /** Time until the rescuer opens the door; default drawn from `trappedReleaseMs`. */
      releaseAfterMs?: number
      /** Passengers press the alarm button (default true). */
      alarmButton?: boolean
      passengers?: number
    }
  | { type: 'maintenance'; durationMs?: number }
  | { type: 'mode'; mode: ElevatorSpecialMode; durationMs?: number }
  | { type: 'alarm' }
  | { type: 'offline'; durationMs: number }

export type ElevatorSimOptions = {
  /** Seconds between periodic status messages (GB/T 24476 terminals commonly use 5 s). */
  statusPeriodS: number
  /** Simulation step; positions and timers move in these steps. */
  tickMs: number
  floorHeightM: number
  accelerationMps2: number
  /** Calls per hour at the busiest hour of the day; other hours follow a daily profile. */
  callsPerHourPeak: number
  /** Rates of random incidents, per device per hour. */
  faultsPerHour: number
  alarmsPerHour: number
  modeChangesPerHour: number
  maintenancePerHour: number
  trappedPerHour: number
  offlinePerHour: number
  /** Share of random trapped sequences whose controller sends the `trapped` event. */
  trappedEventShare: number
  /** Share of random trapped sequences at a floor (平层关人) rather than between floors. */
  trappedLevelledShare: number
  trappedEventDelayMs: Range
  trappedReleaseMs: Range
  faultClearMs: Range
  maintenanceMs: Range
  modeMs: Range
  offlineMs: Range
  /** First `seq`; default the start time in ms, so a restarted simulator never reuses a (device, seq). */
  seqStart?: number
}

/**
 * Defaults sized for a demo: with 200 elevators, fleet-wide, a trapped passenger about every 10
 * minutes, a fault every 2, a maintenance session every 6; not a storm.
 */
export const DEFAULT_ELEVATOR_OPTIONS: ElevatorSimOptions = {
  statusPeriodS: 5,
  tickMs: 500,
  floorHeightM: 3.2,
  accelerationMps2: 0.8,
  callsPerHourPeak: 24,
  faultsPerHour: 0.15,
  alarmsPerHour: 0.1,
  modeChangesPerHour: 0.03,
  maintenancePerHour: 0.05,
  trappedPerHour: 0.03,
  offlinePerHour: 0.01,
  trappedEventShare: 0.7,
  trappedLevelledShare: 0.4,
  trappedEventDelayMs: [20_000, 40_000],
  // 96333 platforms observe 11-15 min to arrive and 2-8 min to release (DOMAIN.md).
  trappedReleaseMs: [8 * MINUTE_MS, 20 * MINUTE_MS],
  faultClearMs: [1 * MINUTE_MS, 10 * MINUTE_MS],
  maintenanceMs: [10 * MINUTE_MS, 40 * MINUTE_MS],
  modeMs: [2 * MINUTE_MS, 15 * MINUTE_MS],
  offlineMs: [1 * MINUTE_MS, 5 * MINUTE_MS],
}

export type ElevatorSpec = {
  id: string
  ratedSpeedMps: number
  /** Landings, numbered 1..floors. */
  floors: number
  statusPeriodS?: number
}

/** How often a random fault is each code: door troubles dominate in the field. */
const FAULT_WEIGHTS: Record<ElevatorFaultCode, number> = {
  door_close_fault: 20,
  door_open_fault: 10,
  safety_circuit_open: 10,
  door_lock_open: 10,
  stopped_outside_door_zone: 8,
  power_failure: 8,
  floor_position_lost: 5,
  motor_runtime_limiter: 4,
  rerun_prevention_fault: 3,
  overspeed: 3,
  moving_with_door_open: 2,
  top_overtravel: 2,
  bottom_overtravel: 2,
}

const MODE_WEIGHTS: Record<ElevatorSpecialMode, number> = {
  inspection: 50,
  out_of_service: 25,
  fire_return: 10,
  emergency_power: 8,
  firefighter: 5,
  earthquake: 2,
}

/** Share of the peak call rate by hour of day (Asia/Shanghai): morning and evening peaks. */
const CALL_PROFILE = [
  0.05, 0.03, 0.03, 0.03, 0.05, 0.1, 0.3, 0.9, 1, 0.6, 0.5, 0.6, 0.8, 0.6, 0.5, 0.5, 0.6, 0.9, 1, 0.7, 0.5,
  0.4, 0.2, 0.1,
]

// GB 7588 7.7.1: the unlocking zone extends at most 0.2 m above and below the landing.
const DOOR_ZONE_M = 0.2
const LEVELLED_M = 0.01
const PASSENGER_KG = 75
const DOOR_OPENING_MS = 2000
const DOOR_CLOSING_MS = 2500
const ALARM_HOLD_MS = 2000
// Overspeed: the governor trips at >= 1.15x rated (GB 7588 9.9.1); 1.2x / 1.4x are the alert levels.
const OVERSPEED_DEFAULT_FACTOR: Range = [1.22, 1.5]

type Call = { from: number; to: number; persons: number }
type Phase = 'idle' | 'travel' | 'doors' | 'halted'

type Trapped = {
  since: number
  levelled: boolean
  eventAt: number | null
  eventSent: boolean
  releaseAt: number
  nextAlarmAt: number | null
}

export type ElevatorSim = ReturnType<typeof createElevatorSim>

/**
 * Creates one elevator. Pure: no timers, no I/O. `advance(t)` moves fake time to `t` in ticks and
 * returns what was emitted; `inject()` applies at the current simulated time and its messages come
 * out of the next `advance()` or `drain()`.
 */
export function createElevatorSim(args: {
  spec: ElevatorSpec
  rng: Rng
  startAt: number
  options?: Partial<ElevatorSimOptions>
}) {
  const { spec, rng } = args
  const o: ElevatorSimOptions = { ...DEFAULT_ELEVATOR_OPTIONS, ...args.options }
  const floors = Math.max(2, Math.floor(spec.floors))
  const rated = spec.ratedSpeedMps
  const h = o.floorHeightM
  // Higher buildings get the bigger car (GB/T 7025: 1000 kg and 1350 kg are the common sizes).
  const ratedLoadKg = floors > 18 ? 1350 : 1000
  const capacity = Math.floor(ratedLoadKg / PASSENGER_KG)
  const outbox = createOutbox(o.seqStart ?? Math.round(args.startAt))

  const clock = createSimClock({
    startAt: args.startAt,
    tickMs: o.tickMs,
    statusPeriodMs: (spec.statusPeriodS ?? o.statusPeriodS) * 1000,
  })
  // Car: position in metres above landing 1, speed magnitude, travel direction.
  let pos = floorPos(rng.chance(0.6) ? 1 : rng.int(1, floors))
  let v = 0
  let dir: 'up' | 'down' = 'up'
  let door: ElevatorStatus['door'] = 'closed'
  let phase: Phase = 'idle'
  let phaseUntil = 0
  let target: number | null = null
  let holdDoorOpen = false
  let pending: Call[] = []
  let riding: Call[] = []
  let mode: ElevatorMode = 'normal'
  let previousMode: ElevatorMode = 'normal'
  let modeUntil: number | null = null
  let maintenance: { since: number; until: number } | null = null
  const faults = new Map<ElevatorFaultCode, { since: number; clearAt: number }>()
  let trapped: Trapped | null = null
  let alarmUntil = Number.NEGATIVE_INFINITY
  let lastKnownFloor = floorOf(pos)
  /** Motion shown in the status emitted at an injection instant (overspeed, UCMP), then dropped. */
  let motionOverride: { direction: 'up' | 'down'; speed: number } | null = null

  let lastKey = ''
  const next = {
    fault: nextArrival(rng, clock.now(), o.faultsPerHour),
    alarm: nextArrival(rng, clock.now(), o.alarmsPerHour),
    mode: nextArrival(rng, clock.now(), o.modeChangesPerHour),
    maintenance: nextArrival(rng, clock.now(), o.maintenancePerHour),
    trapped: nextArrival(rng, clock.now(), o.trappedPerHour),
    offline: nextArrival(rng, clock.now(), o.offlinePerHour),
  }

  function floorPos(floor: number): number {
    return (floor - 1) * h
  }
  function floorOf(p: number): number {
    return Math.min(floors, Math.max(1, Math.round(p / h) + 1))
  }
  function passengers(): number {
    return riding.reduce((n, c) => n + c.persons, 0)
  }
  function inService(): boolean {
    return mode === 'normal' && faults.size === 0 && trapped === null && maintenance === null
  }
  function isQuiet(t: number): boolean {
    return inService() && !outbox.isOffline(t) && phase !== 'halted'
  }

  function currentStatus(): Omit<ElevatorStatus, 'ts' | 'seq'> {
    const floor = floorOf(pos)
    const offset = Math.abs(pos - floorPos(floor))
    const positionLost = faults.has('floor_position_lost')
    const moving = motionOverride !== null || v > 0
    return {
      mode,
      floor: positionLost ? lastKnownFloor : floor,
      levelled: !positionLost && !moving && offset < LEVELLED_M,
      doorZone: !positionLost && offset <= DOOR_ZONE_M,
      direction: motionOverride?.direction ?? (v > 0 ? dir : 'stopped'),
      speed: round(motionOverride?.speed ?? v, 2),
      door,
      occupied: passengers() > 0,
      load: round(Math.min(1.5, (passengers() * PASSENGER_KG) / ratedLoadKg), 2),
      safetyCircuit: !(
        faults.has('safety_circuit_open') ||
        faults.has('overspeed') ||
        faults.has('top_overtravel') ||
        faults.has('bottom_overtravel')
      ),
      // The door-lock circuit runs through the landing door locks: it is open whenever a door is.
      doorLock: door === 'closed' && !faults.has('door_lock_open'),
      power: !faults.has('power_failure'),
      alarmButton: clock.now() < alarmUntil,
    }
  }

  function statusKey(s: Omit<ElevatorStatus, 'ts' | 'seq'>): string {
    return [
      s.mode,
      s.floor,
      s.levelled,
      s.direction,
      s.door,
      s.occupied,
      s.safetyCircuit,
      s.doorLock,
      s.power,
      s.alarmButton,
    ].join('|')
  }

  function emitStatus(t: number): void {
    const s = currentStatus()
    lastKey = statusKey(s)
    clock.statusSent(t)
    outbox.elevatorStatus(t, s)
    if (!faults.has('floor_position_lost')) lastKnownFloor = s.floor
  }

  /** A status when a discrete field changed (door, floor, direction, mode...) or the period is up. */
  function maybeStatus(t: number): void {
    if (clock.isStatusDue(t) || statusKey(currentStatus()) !== lastKey) emitStatus(t)
  }

  function event(t: number, code: ElevatorEventCode, detail?: Record<string, unknown>): void {
    outbox.elevatorEvent(t, detail === undefined ? { code } : { code, detail })
  }

  /** Stops the car at the nearest landing, passengers out, doors shut: the start of most incidents. */
  function haltEmpty(): void {
    pos = floorPos(floorOf(pos))
    v = 0
    door = 'closed'
    phase = 'halted'
    target = null
    holdDoorOpen = false
    pending = []
    riding = []
  }

  /** Back to serving calls when nothing holds the car any more (releveling first). */
  function resumeIfClear(): void {
    if (!inService()) return
    holdDoorOpen = false
    if (phase === 'travel') return
    pos = floorPos(floorOf(pos))
    v = 0
    if (door === 'closed') phase = 'idle'
    else {
      phase = 'doors'
      door = 'closing'
      phaseUntil = clock.now() + DOOR_CLOSING_MS
    }
  }

  // ---- calls and motion ----

  function addCall(t: number): void {
    const hour = shanghaiHour(t)
    const morning = hour >= 6.5 && hour < 10
    const evening = hour >= 17 && hour < 20
    let from: number
    let to: number
    if (morning && rng.chance(0.7)) {
      from = 1
      to = rng.int(2, floors)
    } else if (evening && rng.chance(0.7)) {
      from = rng.int(2, floors)
      to = 1
    } else if (rng.chance(0.5)) {
      const upper = rng.int(2, floors)
      ;[from, to] = rng.chance(0.5) ? [1, upper] : [upper, 1]
    } else {
      from = rng.int(1, floors)
      to = rng.int(1, floors - 1)
      if (to >= from) to++
    }
    const persons = 1 + (rng.chance(0.3) ? 1 : 0) + (rng.chance(0.1) ? 1 : 0)
    // A real group controller would hand excess calls to the next car; one car keeps a short queue.
    if (pending.length < 12) pending.push({ from, to, persons })
  }

  function chooseTarget(): number | null {
    const here = floorOf(pos)
    const candidates = riding.length > 0 ? riding.map((c) => c.to) : pending.map((c) => c.from)
    let best: number | null = null
    for (const f of candidates) {
      if (best === null || Math.abs(f - here) < Math.abs(best - here)) best = f
    }
    return best
  }

  function openDoors(t: number): void {
    phase = 'doors'
    door = 'opening'
    phaseUntil = t + DOOR_OPENING_MS
  }

  /** Passengers for this landing get out, those waiting here get in (as far as the car holds them). */
  function exchangePassengers(): number {
    const here = floorOf(pos)
    let moved = 0
    const staying: Call[] = []
    for (const c of riding) {
      if (c.to === here) moved += c.persons
      else staying.push(c)
    }
    riding = staying
    let room = capacity - passengers()
    const waiting: Call[] = []
    for (const c of pending) {
      if (c.from === here && c.persons <= room) {
        riding.push(c)
        room -= c.persons
        moved += c.persons
      } else waiting.push(c)
    }
    pending = waiting
    return moved
  }

  function stepDoors(t: number): void {
    if (t < phaseUntil) return
    if (door === 'opening') {
      door = 'open'
      const moved = exchangePassengers()
      // Dwell: 3 s plus about a second per passenger moving through the door.
      phaseUntil = t + 3000 + 1000 * Math.min(moved, 8) + rng.uniform(0, 2000)
    } else if (door === 'open') {
      if (holdDoorOpen) return
      door = 'closing'
      phaseUntil = t + DOOR_CLOSING_MS
    } else if (door === 'closing') {
      door = 'closed'
      phase = inService() ? 'idle' : 'halted'
    }
  }

  function stepTravel(dtS: number, t: number): void {
    if (target === null) {
      phase = 'idle'
      return
    }
    const goal = floorPos(target)
    const remaining = Math.abs(goal - pos)
    const vmax = mode === 'normal' ? rated : Math.min(rated, 1)
    const a = o.accelerationMps2
    // Trapezoidal profile: brake when the stopping distance reaches what is left, never below creep.
    if ((v * v) / (2 * a) >= remaining) v = Math.max(v - a * dtS, 0.15)
    else v = Math.min(v + a * dtS, vmax)
    const move = Math.min(v * dtS, remaining)
    pos += goal > pos ? move : -move
    if (remaining - move < 0.005) {
      pos = goal
      v = 0
      target = null
      openDoors(t)
    }
  }

  function stepIdle(t: number): void {
    if (!inService()) return
    const goal = chooseTarget()
    if (goal === null) return
    if (goal === floorOf(pos)) {
      openDoors(t)
      return
    }
    target = goal
    dir = goal > floorOf(pos) ? 'up' : 'down'
    phase = 'travel'
  }

  // ---- incidents ----

  function startFault(t: number, code: ElevatorFaultCode, clearAfterMs?: number, factor?: number): void {
    const here = floorOf(pos)
    haltEmpty()
    const detail: Record<string, unknown> = { floor: here }
    switch (code) {
      case 'overspeed': {
        const f = factor ?? drawRange(rng, OVERSPEED_DEFAULT_FACTOR)
        const speed = round(rated * f, 2)
        motionOverride = { direction: 'down', speed }
        pos = Math.max(floorPos(here) - rng.uniform(0.5, 1.2), 0.5)
        Object.assign(detail, {
          speed,
          ratedSpeed: rated,
          factor: round(f, 3),
          level: f >= 1.4 ? 'critical' : 'warning',
        })
        break
      }
      case 'moving_with_door_open': {
        door = 'open'
        const offset = rng.uniform(0.25, 0.6)
        pos = here < floors ? pos + offset : pos - offset
        motionOverride = { direction: here < floors ? 'up' : 'down', speed: 0.3 }
        break
      }
      case 'door_close_fault':
        door = 'open'
        break
      case 'stopped_outside_door_zone':
      case 'floor_position_lost': {
        const offset = rng.uniform(code === 'floor_position_lost' ? 0.3 : 0.4, 1.2)
        pos = here < floors ? pos + offset : pos - offset
        detail.offsetM = round(offset, 2)
        break
      }
      case 'top_overtravel': {
        const over = rng.uniform(0.25, 0.6)
        pos = floorPos(floors) + over
        Object.assign(detail, { floor: floors, overtravelM: round(over, 2) })
        break
      }
      case 'bottom_overtravel': {
        const over = rng.uniform(0.25, 0.6)
        pos = -over
        Object.assign(detail, { floor: 1, overtravelM: round(over, 2) })
        break
      }
      default:
        break
    }
    faults.set(code, { since: t, clearAt: t + (clearAfterMs ?? drawRange(rng, o.faultClearMs)) })
    event(t, code, detail)
    emitStatus(t)
    motionOverride = null
  }

  function clearFault(t: number, code: ElevatorFaultCode): void {
    const fault = faults.get(code)
    if (!fault) return
    faults.delete(code)
    event(t, 'fault_cleared', { code, durationMs: Math.round(t - fault.since) })
    if (faults.size === 0) {
      if (door === 'open' && (code === 'door_close_fault' || code === 'moving_with_door_open')) {
        door = 'closed'
      }
      resumeIfClear()
    }
  }

  function startTrapped(t: number, inj: Extract<ElevatorInjection, { type: 'trapped' }>): void {
    const here = floorOf(pos)
    const levelled = inj.levelled ?? false
    const aboard = passengers()
    pending = []
    v = 0
    target = null
    holdDoorOpen = false
    door = 'closed'
    phase = 'halted'
    if (levelled) pos = floorPos(here)
    else {
      const offset = rng.uniform(0.6, 1.4)
      pos = here < floors ? floorPos(here) + offset : floorPos(here) - offset
    }
    const persons = Math.max(1, inj.passengers ?? (aboard > 0 ? aboard : rng.int(1, 3)))
    riding = [{ from: here, to: here, persons }]
    const sendEvent = inj.sendTrappedEvent ?? true
    trapped = {
      since: t,
      levelled,
      eventAt: sendEvent ? t + (inj.trappedEventAfterMs ?? drawRange(rng, o.trappedEventDelayMs)) : null,
      eventSent: false,
      releaseAt: t + (inj.releaseAfterMs ?? drawRange(rng, o.trappedReleaseMs)),
      nextAlarmAt: (inj.alarmButton ?? true) ? t + rng.uniform(5_000, 15_000) : null,
    }
    emitStatus(t)
  }

  function stepTrapped(t: number, tr: Trapped): void {
    if (tr.nextAlarmAt !== null && t >= tr.nextAlarmAt) {
      alarmUntil = t + ALARM_HOLD_MS
      event(t, 'alarm_button', { floor: floorOf(pos), trapped: true })
      // People inside press again every few minutes while they wait.
      tr.nextAlarmAt = t + rng.uniform(2 * MINUTE_MS, 4 * MINUTE_MS)
    }
    if (tr.eventAt !== null && !tr.eventSent && t >= tr.eventAt) {
      tr.eventSent = true
      const s = currentStatus()
      event(t, 'trapped', {
        floor: s.floor,
        levelled: s.levelled,
        doorZone: s.doorZone,
        passengers: passengers(),
        sinceMs: Math.round(t - tr.since),
      })
    }
    if (t >= tr.releaseAt) {
      // The rescuer brings the car to the nearest landing and opens the door; everyone walks out.
      trapped = null
      pos = floorPos(floorOf(pos))
      const here = floorOf(pos)
      riding = riding.map((c) => ({ ...c, to: here }))
      // A controller that never reported `trapped` has nothing to clear either.
      if (tr.eventSent) event(t, 'fault_cleared', { code: 'trapped', durationMs: Math.round(t - tr.since) })
      if (inService()) openDoors(t)
      else {
        riding = []
        resumeIfClear()
      }
    }
  }

  function startMaintenance(t: number, durationMs?: number): void {
    haltEmpty()
    const planned = durationMs ?? drawRange(rng, o.maintenanceMs)
    maintenance = { since: t, until: t + planned }
    modeUntil = null
    previousMode = mode
    mode = 'maintenance'
    event(t, 'maintenance_start', { plannedMs: Math.round(planned), technician: `T${rng.int(1000, 9999)}` })
    emitStatus(t)
  }

  function endMaintenance(t: number): void {
    if (!maintenance) return
    const durationMs = Math.round(t - maintenance.since)
    maintenance = null
    mode = 'normal'
    event(t, 'maintenance_end', { durationMs })
    resumeIfClear()
  }

  function startMode(t: number, newMode: ElevatorSpecialMode, durationMs?: number): void {
    haltEmpty()
    previousMode = mode
    mode = newMode
    modeUntil = t + (durationMs ?? drawRange(rng, o.modeMs))
    event(t, 'mode_change', { mode: newMode, previous: previousMode })
    if (newMode === 'fire_return') {
      // Fire return: to the designated landing (1 here), doors held open (GB 26465).
      holdDoorOpen = true
      if (floorOf(pos) === 1) openDoors(t)
      else {
        target = 1
        dir = 'down'
        phase = 'travel'
      }
    }
    emitStatus(t)
  }

  function endMode(t: number): void {
    modeUntil = null
    const from = mode
    mode = 'normal'
    event(t, 'mode_change', { mode: 'normal', previous: from })
    resumeIfClear()
  }

  function applyInjection(t: number, inj: ElevatorInjection): void {
    switch (inj.type) {
      case 'fault':
        startFault(t, inj.code, inj.clearAfterMs, inj.factor)
        break
      case 'overspeed':
        startFault(t, 'overspeed', inj.clearAfterMs, inj.factor)
        break
      case 'trapped':
        startTrapped(t, inj)
        break
      case 'maintenance':
        startMaintenance(t, inj.durationMs)
        break
      case 'mode':
        startMode(t, inj.mode, inj.durationMs)
        break
      case 'alarm':
        alarmUntil = t + ALARM_HOLD_MS
        event(t, 'alarm_button', { floor: floorOf(pos) })
        emitStatus(t)
        break
      case 'offline':
        outbox.setOfflineUntil(t + inj.durationMs)
        break
    }
  }

  function randomIncidents(t: number): void {
    if (t >= next.fault) {
      next.fault = nextArrival(rng, t, o.faultsPerHour)
      if (isQuiet(t)) startFault(t, rng.weighted(FAULT_WEIGHTS))
    }
    if (t >= next.trapped) {
      next.trapped = nextArrival(rng, t, o.trappedPerHour)
      if (isQuiet(t)) {
        startTrapped(t, {
          type: 'trapped',
          levelled: rng.chance(o.trappedLevelledShare),
          sendTrappedEvent: rng.chance(o.trappedEventShare),
        })
      }
    }
    if (t >= next.alarm) {
      next.alarm = nextArrival(rng, t, o.alarmsPerHour)
      if (isQuiet(t)) applyInjection(t, { type: 'alarm' })
    }
    if (t >= next.mode) {
      next.mode = nextArrival(rng, t, o.modeChangesPerHour)
      if (isQuiet(t)) startMode(t, rng.weighted(MODE_WEIGHTS))
    }
    if (t >= next.maintenance) {
      next.maintenance = nextArrival(rng, t, o.maintenancePerHour)
      if (isQuiet(t)) startMaintenance(t)
    }
    if (t >= next.offline) {
      next.offline = nextArrival(rng, t, o.offlinePerHour)
      if (isQuiet(t)) outbox.setOfflineUntil(t + drawRange(rng, o.offlineMs))
    }
  }

  let wasOffline = false

  function step(t: number): void {
    const dtS = o.tickMs / 1000
    for (const [code, fault] of faults) if (t >= fault.clearAt) clearFault(t, code)
    if (trapped) stepTrapped(t, trapped)
    if (maintenance && t >= maintenance.until) endMaintenance(t)
    if (modeUntil !== null && t >= modeUntil) endMode(t)
    randomIncidents(t)
    if (
      inService() &&
      rng.chance(chanceWithin(o.callsPerHourPeak * hourlyProfile(CALL_PROFILE, t), o.tickMs))
    ) {
      addCall(t)
    }
    if (phase === 'travel') stepTravel(dtS, t)
    else if (phase === 'doors') stepDoors(t)
    else if (phase === 'idle') stepIdle(t)
    const offline = outbox.isOffline(t)
    // Back from offline: report at once, whatever changed meanwhile.
    if (wasOffline && !offline) clock.statusDueAt(t)
    wasOffline = offline
    maybeStatus(t)
  }

  // The controller reports as soon as it is up.
  emitStatus(clock.now())

  return {
    kind: 'elevator' as const,
    id: spec.id,
    spec,
    ...simControls(clock, outbox, { step, applyInjection, emitStatus, currentStatus }),
    activeFaults: (): ElevatorFaultCode[] => [...faults.keys()],
    isTrapped: (): boolean => trapped !== null,
  }
}
