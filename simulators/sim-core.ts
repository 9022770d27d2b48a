/**
 * What every simulated device shares: the messages it emits, a clock made of fixed ticks, an outbox
 * with the per-device `seq`, and helpers for time of day and random incident arrivals.
 * Everything here is pure: time only moves when a caller advances it.
 */
import type {
  ElevatorEvent,
  ElevatorStatus,
  ScaleEvent,
  ScaleStatus,
  ScaleWeighing,
} from '../domain/protocol.ts'
import type { Rng } from './random.ts'

/** One message a simulated device emits, typed by its topic table entry (domain/topics.ts UPLINK). */
export type SimMessage =
  | { type: 'elevator_status'; payload: ElevatorStatus }
  | { type: 'elevator_event'; payload: ElevatorEvent }
  | { type: 'scale_status'; payload: ScaleStatus }
  | { type: 'scale_weighing'; payload: ScaleWeighing }
  | { type: 'scale_event'; payload: ScaleEvent }

/** Inclusive range [min, max] a random duration or value is drawn from. */
export type Range = readonly [min: number, max: number]

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000

// China keeps UTC+8 all year (no daylight saving), so local time needs no tz database.
const SHANGHAI_OFFSET_MS = 8 * HOUR_MS

/** Hour of day in Asia/Shanghai, fractional (0 <= h < 24). */
export function shanghaiHour(ts: number): number {
  const ms = (((ts + SHANGHAI_OFFSET_MS) % (24 * HOUR_MS)) + 24 * HOUR_MS) % (24 * HOUR_MS)
  return ms / HOUR_MS
}

/** Value of a 24-entry hourly profile at a time, interpolated between hours so rates have no steps. */
export function hourlyProfile(profile: readonly number[], ts: number): number {
  const h = shanghaiHour(ts)
  const i = Math.floor(h)
  const a = profile[i % 24] ?? 0
  const b = profile[(i + 1) % 24] ?? 0
  return a + (b - a) * (h - i)
}

/** Probability that a Poisson process of `ratePerHour` fires within `dtMs`. */
export function chanceWithin(ratePerHour: number, dtMs: number): number {
  return 1 - Math.exp((-ratePerHour * dtMs) / HOUR_MS)
}

/** Time of the next arrival of a Poisson process of `ratePerHour` after `from` (Infinity at rate 0). */
export function nextArrival(rng: Rng, from: number, ratePerHour: number): number {
  if (!(ratePerHour > 0)) return Number.POSITIVE_INFINITY
  return from + rng.exponential(HOUR_MS / ratePerHour)
}

export function drawRange(rng: Rng, range: Range): number {
  return rng.uniform(range[0], range[1])
}

export const round = (value: number, decimals: number): number => {
  const f = 10 ** decimals
  return Math.round(value * f) / f
}

type Body<P> = Omit<P, 'ts' | 'seq'>

/**
 * Numbers each message with the device's `seq` (one counter across all its topics) and keeps them
 * until drained. While the device is offline nothing is emitted and `seq` does not move.
 */
export function createOutbox(seqStart: number) {
  let seq = seqStart
  let offlineUntil = Number.NEGATIVE_INFINITY
  let queue: SimMessage[] = []

  /** Queues the message unless offline at `ts`; returns whether it was emitted. */
  function push(ts: number, make: (header: { ts: number; seq: number }) => SimMessage): boolean {
    if (ts < offlineUntil) return false
    queue.push(make({ ts: Math.round(ts), seq: seq++ }))
    return true
  }

  return {
    isOffline: (ts: number): boolean => ts < offlineUntil,
    setOfflineUntil(ts: number): void {
      offlineUntil = ts
    },
    nextSeq: (): number => seq,
    elevatorStatus: (ts: number, body: Body<ElevatorStatus>): boolean =>
      push(ts, (h) => ({ type: 'elevator_status', payload: { ...h, ...body } })),
    elevatorEvent: (ts: number, body: Body<ElevatorEvent>): boolean =>
      push(ts, (h) => ({ type: 'elevator_event', payload: { ...h, ...body } })),
    scaleStatus: (ts: number, body: Body<ScaleStatus>): boolean =>
      push(ts, (h) => ({ type: 'scale_status', payload: { ...h, ...body } })),
    scaleWeighing: (ts: number, body: Body<ScaleWeighing>): boolean =>
      push(ts, (h) => ({ type: 'scale_weighing', payload: { ...h, ...body } })),
    scaleEvent: (ts: number, body: Body<ScaleEvent>): boolean =>
      push(ts, (h) => ({ type: 'scale_event', payload: { ...h, ...body } })),
    drain(): SimMessage[] {
      const out = queue
      queue = []
      return out
    },
  }
}
export type Outbox = ReturnType<typeof createOutbox>

/**
 * A device's fake time, advanced in fixed ticks, and its status schedule: a status is due one period
 * after the last one, at once when the device comes back, and sooner when the platform shortens the
 * period (command `set_status_period`).
 */
export function createSimClock(args: { startAt: number; tickMs: number; statusPeriodMs: number }) {
  let now = args.startAt
  let statusPeriodMs = args.statusPeriodMs
  let nextStatusAt = args.startAt
  return {
    now: (): number => now,
    statusPeriodMs: (): number => statusPeriodMs,
    isStatusDue: (t: number): boolean => t >= nextStatusAt,
    /** A status went out at `t`: the next is due one period later. */
    statusSent(t: number): void {
      nextStatusAt = t + statusPeriodMs
    },
    /** Report at `t` whatever the period says (back from offline). */
    statusDueAt(t: number): void {
      nextStatusAt = t
    },
    setStatusPeriodS(seconds: number): void {
      statusPeriodMs = seconds * 1000
      nextStatusAt = Math.min(nextStatusAt, now + statusPeriodMs)
    },
    /** Runs `step` at every tick up to `t`. */
    runTo(t: number, step: (tick: number) => void): void {
      while (now + args.tickMs <= t) {
        now += args.tickMs
        step(now)
      }
    },
  }
}
export type SimClock = ReturnType<typeof createSimClock>

/**
 * What the fleet, the CLI and the tests do with any simulated device, built from the device's own
 * step, injection and status functions.
 */
export function simControls<Injection, Status>(
  clock: SimClock,
  outbox: Outbox,
  device: {
    step: (t: number) => void
    applyInjection: (t: number, injection: Injection) => void
    emitStatus: (t: number) => void
    currentStatus: () => Status
  },
) {
  return {
    /** Simulated time of the last tick. */
    now: clock.now,
    /** Runs ticks up to `t` and returns every message emitted since the last call. */
    advance(t: number): SimMessage[] {
      clock.runTo(t, device.step)
      return outbox.drain()
    },
    /** Applies an injection now (at `now()`); its messages come out of the next advance()/drain(). */
    inject(injection: Injection): void {
      device.applyInjection(clock.now(), injection)
    },
    drain: (): SimMessage[] => outbox.drain(),
    isOffline: (): boolean => outbox.isOffline(clock.now()),
    /** Command `report_status`: a status at once. */
    requestStatus(): void {
      device.emitStatus(clock.now())
    },
    /** Command `set_status_period`. */
    setStatusPeriodS: clock.setStatusPeriodS,
    /** The status the device would report now (no seq consumed), for tests and tools. */
    peekStatus: (): Status => device.currentStatus(),
  }
}
