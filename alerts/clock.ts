/**
 * Time for the alerts engine: the system clock in production, a manual one in unit tests, so that
 * "trapped after 30 s" and "arrived within 30 min" are tested without waiting.
 */
import type { Clock, TimerHandle } from './types.ts'

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const timer = setTimeout(fn, Math.max(0, ms))
      return { cancel: () => clearTimeout(timer) }
    },
    clearTimeout(handle: TimerHandle) {
      handle.cancel()
    },
  }
}

export type FakeClock = Clock & {
  /** Moves time forward, firing due timers in deadline order (each sees `now()` at its deadline). */
  advance(ms: number): void
  /** Sets the time (never backwards) and fires due timers. */
  set(ms: number): void
  pendingTimers(): number
}

export function createFakeClock(start: number): FakeClock {
  let current = start
  let nextId = 1
  const timers = new Map<number, { at: number; fn: () => void }>()

  function fireUntil(target: number): void {
    for (;;) {
      let dueId: number | null = null
      let dueAt = Number.POSITIVE_INFINITY
      for (const [id, timer] of timers) {
        if (
          timer.at <= target &&
          (timer.at < dueAt || (timer.at === dueAt && dueId !== null && id < dueId))
        ) {
          dueId = id
          dueAt = timer.at
        }
      }
      if (dueId === null) break
      const timer = timers.get(dueId)
      timers.delete(dueId)
      current = Math.max(current, dueAt)
      timer?.fn()
    }
    current = Math.max(current, target)
  }

  return {
    now: () => current,
    setTimeout(fn, ms) {
      const id = nextId++
      timers.set(id, { at: current + Math.max(0, ms), fn })
      return { cancel: () => timers.delete(id) }
    },
    clearTimeout(handle) {
      handle.cancel()
    },
    advance(ms) {
      fireUntil(current + ms)
    },
    set(ms) {
      fireUntil(Math.max(current, ms))
    },
    pendingTimers: () => timers.size,
  }
}
