/**
 * What an elevator's events say outright (the provincial regulator's catalogue, domain/catalogue.ts):
 * each fault or event code raises the alert of the same type, and a repeat of it while the alert is
 * active counts as one more occurrence. `fault_cleared` resolves the alert named in its detail.
 * `maintenance_start` / `maintenance_end` open and close a session of the maintenance log (TSG T5002);
 * the open session is kept in `rule_state`, so a restart between the two loses nothing.
 */
import type { AlertSeverity } from '../../domain/alert-change.ts'
import type { ElevatorEvent } from '../../domain/protocol.ts'
import type { DeviceContext, Elevator } from '../../domain/registry-types.ts'
import {
  ELEVATOR_INFO_CODES,
  isAlertType,
  TRAPPED_AT_FLOOR_TITLE,
  TRAPPED_BETWEEN_FLOORS_TITLE,
} from '../rules.ts'
import type { EngineBase } from './deps.ts'
import type { DeviceSnapshots } from './device-snapshots.ts'
import type { Lifecycle } from './lifecycle.ts'
import type { Records } from './records.ts'
import { num, RULE, type RuleState } from './rule-state.ts'

export type ElevatorEventRules = ReturnType<typeof createElevatorEventRules>

export function createElevatorEventRules(
  deps: Pick<EngineBase, 'config'> & {
    ruleState: Pick<RuleState, 'save'>
    lifecycle: Pick<Lifecycle, 'raise' | 'autoResolve'>
    records: Pick<Records, 'insertMaintenance'>
    snapshots: Pick<DeviceSnapshots, 'statusFields'>
  },
) {
  const { config, ruleState, lifecycle, records, snapshots } = deps
  /** Per device: when its open maintenance session started. */
  const sessions = new Map<string, number>()

  function overspeedSeverity(detail: Record<string, unknown>, elevator: Elevator): AlertSeverity {
    const speed = num(detail.speed) ?? num(detail.speedMps)
    const factor =
      num(detail.factor) ??
      (speed !== null && elevator.ratedSpeedMps > 0 ? speed / elevator.ratedSpeedMps : null)
    // Without a speed or factor the event cannot tell 1.2x from 1.4x: major, between the two.
    if (factor === null) return 'major'
    return factor > config.OVERSPEED_CRITICAL_FACTOR ? 'critical' : 'warning'
  }

  return {
    handle(ctx: DeviceContext, elevator: Elevator, e: ElevatorEvent, at: number): void {
      const id = elevator.id
      const detail = e.detail ?? {}
      switch (e.code) {
        case 'maintenance_start':
          sessions.set(id, at)
          ruleState.save(id, RULE.maintenanceSession, { startedAt: at })
          return
        case 'maintenance_end': {
          const startedAt = sessions.get(id) ?? null
          sessions.delete(id)
          ruleState.save(id, RULE.maintenanceSession, null)
          records.insertMaintenance({
            device: elevator,
            startedAt: startedAt ?? at,
            endedAt: at,
            kind: typeof detail.kind === 'string' ? detail.kind : 'half_monthly',
            source: 'device',
            actor: `device:${elevator.id}`,
            note: startedAt === null ? 'maintenance_start not received' : null,
          })
          return
        }
        case 'fault_cleared': {
          const code = detail.code
          if (isAlertType(code)) lifecycle.autoResolve(id, code, at, 'fault_cleared')
          return
        }
        case 'mode_change':
          return
        default:
          break
      }
      if (ELEVATOR_INFO_CODES.has(e.code)) return
      const type = e.code
      if (type === 'trapped') {
        const betweenFloors = detail.levelled === false || snapshots.statusFields(id).levelled === false
        lifecycle.raise(ctx, 'trapped', at, {
          isRepeat: true,
          title: betweenFloors ? TRAPPED_BETWEEN_FLOORS_TITLE : TRAPPED_AT_FLOOR_TITLE,
          details: { source: 'event', betweenFloors, ...detail },
        })
        return
      }
      const severity = type === 'overspeed' ? overspeedSeverity(detail, elevator) : undefined
      lifecycle.raise(ctx, type, at, { isRepeat: true, severity, details: { source: 'event', ...detail } })
    },
    restorers: {
      [RULE.maintenanceSession]: (deviceId: string, value: Record<string, unknown>) => {
        const startedAt = num(value.startedAt)
        if (startedAt === null) sessions.delete(deviceId)
        else sessions.set(deviceId, startedAt)
      },
    },
    clear(): void {
      sessions.clear()
    },
  }
}
