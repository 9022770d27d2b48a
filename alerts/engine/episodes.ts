/**
 * Instant conditions read from a status (overspeed, zero offset, broken seal): true or not at each
 * status, with no wait. Each is raised once per episode (the run of statuses that show it) and raised
 * again only if a status shows it worse (overspeed past 1.4x after 1.2x); a derived condition that
 * stays true is one occurrence, not a repeat. Kept in memory per device: after a restart the active
 * alert (one per device and type) already stops a second one.
 */
import type { AlertSeverity } from '../../domain/alert-change.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import { type AlertType, SEVERITY_RANK } from '../types.ts'
import type { Lifecycle } from './lifecycle.ts'

export type Episodes = ReturnType<typeof createEpisodes>

export function createEpisodes(deps: { lifecycle: Pick<Lifecycle, 'raise'> }) {
  /** Per device: the conditions in their current episode, with the severity raised. */
  const current = new Map<string, Map<AlertType, AlertSeverity>>()

  function of(deviceId: string): Map<AlertType, AlertSeverity> {
    let episodes = current.get(deviceId)
    if (!episodes) {
      episodes = new Map()
      current.set(deviceId, episodes)
    }
    return episodes
  }

  return {
    /** A status shows the condition at `severity`, or not at all (null: the episode ends). */
    update(
      ctx: DeviceContext,
      type: AlertType,
      at: number,
      severity: AlertSeverity | null,
      details: Record<string, unknown>,
    ): void {
      const episodes = of(ctx.device.id)
      const raised = episodes.get(type)
      if (severity === null) {
        episodes.delete(type)
        return
      }
      if (raised !== undefined && SEVERITY_RANK[severity] <= SEVERITY_RANK[raised]) return
      episodes.set(type, severity)
      deps.lifecycle.raise(ctx, type, at, { isRepeat: false, severity, details })
    },
    isOngoing(deviceId: string, type: AlertType): boolean {
      return current.get(deviceId)?.has(type) ?? false
    },
    /** Starts an episode without an alert (a condition excused, e.g. a seal broken during verification). */
    begin(deviceId: string, type: AlertType, severity: AlertSeverity): void {
      of(deviceId).set(type, severity)
    },
    end(deviceId: string, type: AlertType): void {
      current.get(deviceId)?.delete(type)
    },
    clear(): void {
      current.clear()
    },
  }
}
