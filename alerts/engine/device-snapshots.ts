/**
 * What the console's device page shows of a device: its last status, whether it is online, and its
 * last RECENT_EVENTS events (every event, including those that raise nothing, such as mode changes or
 * tamper signals inside a verification). Kept in memory only: it is a live view, not a record (the
 * history is in InfluxDB). The rules read the last status for facts an event or a timer lacks
 * (the floor of a trapped car).
 */
import type { DeviceSnapshot } from '../types.ts'
import type { EngineBase } from './deps.ts'
import type { Offline } from './offline.ts'
import { isRecord } from './rule-state.ts'

type RecentEvent = DeviceSnapshot['recentEvents'][number]

export type DeviceSnapshots = ReturnType<typeof createDeviceSnapshots>

export function createDeviceSnapshots(
  deps: Pick<EngineBase, 'config' | 'registry'> & { offline: Pick<Offline, 'lastSeenOf' | 'isOnline'> },
) {
  const { config, registry, offline } = deps
  const lastStatus = new Map<string, unknown>()
  const recentEvents = new Map<string, RecentEvent[]>()

  return {
    setStatus(deviceId: string, status: unknown): void {
      lastStatus.set(deviceId, status)
    },
    /** The last status as a record of fields; `{}` before the first. */
    statusFields(deviceId: string): Record<string, unknown> {
      const status = lastStatus.get(deviceId)
      return isRecord(status) ? status : {}
    },
    rememberEvent(deviceId: string, at: number, code: string, detail?: Record<string, unknown>): void {
      let events = recentEvents.get(deviceId)
      if (!events) {
        events = []
        recentEvents.set(deviceId, events)
      }
      events.push(detail === undefined ? { at, code } : { at, code, detail })
      if (events.length > config.RECENT_EVENTS) events.shift()
    },
    /** null for a device the registry does not know. */
    snapshot(deviceId: string): DeviceSnapshot | null {
      const device = registry.getDevice(deviceId)
      if (!device) return null
      return {
        lastStatus: lastStatus.get(deviceId) ?? null,
        lastSeenAt: offline.lastSeenOf(deviceId),
        online: offline.isOnline(device),
        recentEvents: [...(recentEvents.get(deviceId) ?? [])],
      }
    },
    clear(): void {
      lastStatus.clear()
      recentEvents.clear()
    },
  }
}
