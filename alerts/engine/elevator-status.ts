/**
 * Alerts an elevator's status shows without the controller saying so (DOMAIN.md "Derived detection"):
 * - trapped (困人): stopped, door closed, someone aboard (occupied or alarm button) for longer than
 *   TRAPPED_AFTER_S; between floors (not levelled) is told apart by its title;
 * - stopped outside the door zone for longer than STOPPED_OUTSIDE_DOOR_ZONE_S;
 * - overspeed against the registered rated speed: warning past 1.2x, critical past 1.4x (the safety
 *   gear's trip range).
 * And when a status shows these are over: passengers released, back in the door zone, speed normal.
 *
 * Only passenger modes count: in inspection and maintenance modes a technician is in charge, and no
 * passenger is trapped by design.
 */
import type { AlertSeverity } from '../../domain/alert-change.ts'
import type { ElevatorStatus } from '../../domain/protocol.ts'
import type { DeviceContext, Elevator } from '../../domain/registry-types.ts'
import { TRAPPED_AT_FLOOR_TITLE, TRAPPED_BETWEEN_FLOORS_TITLE } from '../rules.ts'
import type { EngineBase, Guard } from './deps.ts'
import type { DeviceSnapshots } from './device-snapshots.ts'
import { createDurationCondition } from './duration-condition.ts'
import type { Episodes } from './episodes.ts'
import type { Lifecycle } from './lifecycle.ts'
import { RULE, type RuleState } from './rule-state.ts'

export type ElevatorStatusRules = ReturnType<typeof createElevatorStatusRules>

export function createElevatorStatusRules(
  deps: Pick<EngineBase, 'config' | 'registry' | 'clock'> & {
    ruleState: Pick<RuleState, 'save'>
    lifecycle: Pick<Lifecycle, 'raise' | 'autoResolve'>
    episodes: Pick<Episodes, 'update'>
    snapshots: Pick<DeviceSnapshots, 'statusFields'>
    guard: Guard
  },
) {
  const { config, registry, clock, ruleState, lifecycle, episodes, snapshots, guard } = deps
  /** Devices whose previous status showed someone aboard (occupied or alarm button). */
  const wasOccupied = new Set<string>()

  const trapped = createDurationCondition({
    registry,
    clock,
    ruleState,
    guard,
    rule: RULE.trapped,
    afterS: config.TRAPPED_AFTER_S,
    readExtra: (value) => ({ betweenFloors: value.betweenFloors === true }),
    fire(ctx, since, { betweenFloors }, at) {
      lifecycle.raise(ctx, 'trapped', at, {
        isRepeat: false,
        title: betweenFloors ? TRAPPED_BETWEEN_FLOORS_TITLE : TRAPPED_AT_FLOOR_TITLE,
        details: {
          source: 'status',
          since,
          betweenFloors,
          floor: snapshots.statusFields(ctx.device.id).floor ?? null,
          afterS: config.TRAPPED_AFTER_S,
        },
      })
    },
  })

  const outside = createDurationCondition({
    registry,
    clock,
    ruleState,
    guard,
    rule: RULE.outsideDoorZone,
    afterS: config.STOPPED_OUTSIDE_DOOR_ZONE_S,
    readExtra: () => ({}),
    fire(ctx, since, _extra, at) {
      lifecycle.raise(ctx, 'stopped_outside_door_zone', at, {
        isRepeat: false,
        details: {
          source: 'status',
          since,
          floor: snapshots.statusFields(ctx.device.id).floor ?? null,
          afterS: config.STOPPED_OUTSIDE_DOOR_ZONE_S,
        },
      })
    },
  })

  function overspeedOf(
    elevator: Elevator,
    s: ElevatorStatus,
  ): { factor: number; severity: AlertSeverity | null } {
    const factor = elevator.ratedSpeedMps > 0 ? s.speed / elevator.ratedSpeedMps : 0
    const severity =
      factor > config.OVERSPEED_CRITICAL_FACTOR
        ? 'critical'
        : factor > config.OVERSPEED_WARNING_FACTOR
          ? 'warning'
          : null
    return { factor, severity }
  }

  return {
    handle(ctx: DeviceContext, elevator: Elevator, s: ElevatorStatus, at: number): void {
      const id = elevator.id
      const carriesPassengers = s.mode !== 'inspection' && s.mode !== 'maintenance'
      const isStopped = s.direction === 'stopped'

      const isTrappedNow =
        carriesPassengers && isStopped && s.door === 'closed' && (s.occupied || s.alarmButton)
      trapped.update(id, isTrappedNow, at, { betweenFloors: !s.levelled })
      // Passengers are out: the door stands open at a landing, or the car went from occupied to empty.
      // Only the change counts as emptied: a controller without an occupancy sensor always says "empty",
      // and that must not close the trapped alert its own `trapped` event raised.
      const isAboard = s.occupied || s.alarmButton
      const isReleased = (s.door === 'open' && s.doorZone) || (!isAboard && wasOccupied.has(id))
      if (isAboard) wasOccupied.add(id)
      else wasOccupied.delete(id)
      if (isReleased) lifecycle.autoResolve(id, 'trapped', at, 'status: passengers released')

      outside.update(id, carriesPassengers && isStopped && !s.doorZone, at, {})
      if (s.doorZone || !isStopped)
        lifecycle.autoResolve(id, 'stopped_outside_door_zone', at, 'status: back in the door zone')

      const overspeed = overspeedOf(elevator, s)
      episodes.update(ctx, 'overspeed', at, overspeed.severity, {
        source: 'status',
        speedMps: s.speed,
        ratedSpeedMps: elevator.ratedSpeedMps,
        factor: Math.round(overspeed.factor * 1000) / 1000,
      })
      if (overspeed.severity === null)
        lifecycle.autoResolve(id, 'overspeed', at, 'status: speed back within limits')
    },
    restorers: { [RULE.trapped]: trapped.restore, [RULE.outsideDoorZone]: outside.restore },
    /** At start: the waits of conditions seen before the restart continue. */
    armRestored(): void {
      trapped.armRestored()
      outside.armRestored()
    },
    stop(): void {
      trapped.stop()
      outside.stop()
    },
    clear(): void {
      trapped.clear()
      outside.clear()
      wasOccupied.clear()
    },
  }
}
