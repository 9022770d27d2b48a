/**
 * A condition that must last before it is an alert (DOMAIN.md "Derived detection": trapped after
 * 30 s, stopped outside the door zone after 45-60 s). Per device it keeps when the condition started
 * and whether it fired, and a timer, so the alert comes when the time is up rather than at the next
 * status (which may be 5 s or more away).
 *
 * The start is kept in `rule_state`, so a restart continues the wait from the real start. A wait that
 * ran out while the engine was down is not fired from that stale state: the first status that still
 * shows the condition fires it.
 */
import type { DeviceContext } from '../../domain/registry-types.ts'
import type { TimerHandle } from '../types.ts'
import type { EngineBase, Guard } from './deps.ts'
import { num, type Restorer, type RuleName, type RuleState } from './rule-state.ts'

type Episode<X> = { since: number; firedAt: number | null; extra: X; timer: TimerHandle | null }

export function createDurationCondition<X extends Record<string, unknown>>(
  deps: Pick<EngineBase, 'registry' | 'clock'> & {
    rule: RuleName
    afterS: number
    ruleState: Pick<RuleState, 'save'>
    guard: Guard
    /** Facts of the episode kept beside its start (stored too), read back from stored state. */
    readExtra(value: Record<string, unknown>): X
    /** Raises the alert: the condition has lasted `afterS` since `since`. */
    fire(ctx: DeviceContext, since: number, extra: X, at: number): void
  },
) {
  const { registry, clock, rule, ruleState, guard } = deps
  const afterMs = deps.afterS * 1000
  const episodes = new Map<string, Episode<X>>()

  const stored = (e: Episode<X>) => ({ since: e.since, firedAt: e.firedAt, ...e.extra })

  function cancelTimer(e: Episode<X>): void {
    if (e.timer) clock.clearTimeout(e.timer)
    e.timer = null
  }

  function fire(deviceId: string, at: number): void {
    const e = episodes.get(deviceId)
    if (!e || e.firedAt !== null) return
    const ctx = registry.getDeviceContext(deviceId)
    if (!ctx) return
    e.firedAt = at
    ruleState.save(deviceId, rule, stored(e))
    deps.fire(ctx, e.since, e.extra, at)
  }

  function arm(deviceId: string, e: Episode<X>): void {
    cancelTimer(e)
    if (e.firedAt !== null) return
    e.timer = clock.setTimeout(
      () => {
        e.timer = null
        guard(deviceId, () => fire(deviceId, clock.now()))
      },
      e.since + afterMs - clock.now(),
    )
  }

  const restore: Restorer = (deviceId, value) => {
    const since = num(value.since)
    if (since === null) return
    episodes.set(deviceId, { since, firedAt: num(value.firedAt), extra: deps.readExtra(value), timer: null })
  }

  return {
    /** A status: whether the condition holds now; `extra` is recorded when an episode starts. */
    update(deviceId: string, holds: boolean, at: number, extra: X): void {
      const e = episodes.get(deviceId)
      if (holds) {
        if (!e) {
          const started: Episode<X> = { since: at, firedAt: null, extra, timer: null }
          episodes.set(deviceId, started)
          ruleState.save(deviceId, rule, stored(started))
          arm(deviceId, started)
        } else if (e.firedAt === null && at - e.since >= afterMs) {
          // The wait ran out while the engine was down: this fresh status confirms the condition.
          fire(deviceId, at)
        }
      } else if (e) {
        cancelTimer(e)
        episodes.delete(deviceId)
        ruleState.save(deviceId, rule, null)
      }
    },
    restore,
    /** At start: waits not over yet continue on a timer; those over wait for a confirming status. */
    armRestored(): void {
      const now = clock.now()
      for (const [deviceId, e] of episodes) if (e.since + afterMs > now) arm(deviceId, e)
    },
    stop(): void {
      for (const e of episodes.values()) cancelTimer(e)
    },
    clear(): void {
      episodes.clear()
    },
  }
}
