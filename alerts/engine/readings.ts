/**
 * The hot path: every reading of every device comes through `handle`, in the order of one device's
 * messages. It drops QoS 1 redeliveries (the same seq and ts seen again on the same channel), notes
 * the device as heard from, keeps the live view, and hands the reading to the rules of its kind.
 * Everything here stays in memory; SQLite is written only when something changes, and for an event's
 * redelivery window (events count, so a redelivery after a restart must still be recognised): that
 * one goes with the event's own first write, or with the turn's other windows in one transaction.
 */
import type { Counter } from 'prom-client'
import type { HotCounter } from '../../domain/hot-metrics.ts'
import type { Reading } from '../../domain/reading.ts'
import type { UplinkType } from '../../domain/topics.ts'
import type { EngineBase } from './deps.ts'
import type { DeviceSnapshots } from './device-snapshots.ts'
import type { ElevatorEventRules } from './elevator-events.ts'
import type { ElevatorStatusRules } from './elevator-status.ts'
import type { Offline } from './offline.ts'
import { RULE, type RuleState } from './rule-state.ts'
import type { ScaleRules } from './scale-rules.ts'

/** Remembers (seq, ts) in a bounded window; true when it was there already (a QoS 1 redelivery). */
function seenBefore(window: number[], seq: number, ts: number, size: number): boolean {
  for (let i = 0; i < window.length; i += 2) if (window[i] === seq && window[i + 1] === ts) return true
  window.push(seq, ts)
  if (window.length > size * 2) window.splice(0, window.length - size * 2)
  return false
}

/** Flat [seq, ts, seq, ts, ...] windows of recently seen messages, per channel. */
type Windows = { status: number[]; event: number[] }

export function createReadings(
  deps: Pick<EngineBase, 'config' | 'registry' | 'isRunning'> & {
    ruleState: Pick<RuleState, 'saveSoon'>
    offline: Pick<Offline, 'seen'>
    snapshots: Pick<DeviceSnapshots, 'setStatus' | 'rememberEvent'>
    elevatorStatus: Pick<ElevatorStatusRules, 'handle'>
    elevatorEvents: Pick<ElevatorEventRules, 'handle'>
    scale: Pick<ScaleRules, 'status' | 'event'>
    metrics: { readings: HotCounter<UplinkType>; duplicates: Counter; unknownDevices: Counter }
  },
) {
  const { config, registry, ruleState, offline, snapshots, metrics } = deps
  const windows = new Map<string, Windows>()

  function windowsOf(deviceId: string): Windows {
    let w = windows.get(deviceId)
    if (!w) {
      w = { status: [], event: [] }
      windows.set(deviceId, w)
    }
    return w
  }

  return {
    /** Throws only on a failure of the engine itself (SQLite); the caller counts and logs it. */
    handle(reading: Reading): void {
      if (!deps.isRunning()) return
      const ctx = registry.getDeviceContext(reading.deviceId)
      if (!ctx) {
        metrics.unknownDevices.inc()
        return
      }
      const id = reading.deviceId
      const at = reading.receivedAt
      const isEvent = reading.type === 'elevator_event' || reading.type === 'scale_event'
      // Weighings raise nothing, so a redelivered one does no harm: the busiest channel keeps no window.
      if (reading.type !== 'scale_weighing') {
        const w = windowsOf(id)
        const window = isEvent ? w.event : w.status
        if (seenBefore(window, reading.data.seq, reading.data.ts, config.SEQ_WINDOW)) {
          metrics.duplicates.inc()
          return
        }
        // Events count, so their window survives a restart (a QoS 1 redelivery may follow one). It is
        // written with the event's first effect, in the same transaction, or at the end of this turn.
        if (isEvent) ruleState.saveSoon(id, RULE.eventSeqs, { window: w.event })
      }
      metrics.readings.inc(reading.type)
      offline.seen(id, at)

      const device = ctx.device
      switch (reading.type) {
        case 'elevator_status':
          if (device.kind === 'elevator') {
            snapshots.setStatus(id, reading.data)
            deps.elevatorStatus.handle(ctx, device, reading.data, at)
          }
          return
        case 'elevator_event':
          snapshots.rememberEvent(id, at, reading.data.code, reading.data.detail)
          if (device.kind === 'elevator') deps.elevatorEvents.handle(ctx, device, reading.data, at)
          return
        case 'scale_status':
          snapshots.setStatus(id, reading.data)
          deps.scale.status(ctx, reading.data, at)
          return
        case 'scale_event':
          snapshots.rememberEvent(id, at, reading.data.code, reading.data.detail)
          deps.scale.event(ctx, reading.data, at)
          return
        case 'scale_weighing':
          return
      }
    },
    restorers: {
      [RULE.eventSeqs]: (deviceId: string, value: Record<string, unknown>) => {
        windowsOf(deviceId).event = Array.isArray(value.window)
          ? value.window.filter((v) => typeof v === 'number')
          : []
      },
    },
    clear(): void {
      windows.clear()
    },
  }
}
