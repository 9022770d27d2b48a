/**
 * The feed of alert changes: every committed change goes, as an `AlertChange`, to the `onChange`
 * listeners (SSE, webhooks, MQTT). Listeners run synchronously after the commit; one that throws is
 * counted and logged, and neither stops the others nor undoes the change.
 */
import type { Counter } from 'prom-client'
import type { AlertChange } from '../../domain/alert-change.ts'
import type { Logger } from '../../domain/logger.ts'
import type { Alert, AlertChangeEvent } from '../types.ts'

/** Hands one change of `alert` to every listener. `at` is rounded to whole ms, at least 1. */
export type Emit = (alert: Alert, transition: string, actor: string, at: number) => void

export function createChangeFeed(deps: { log: Logger; listenerErrors: Counter }): {
  emit: Emit
  onChange(listener: (event: AlertChangeEvent) => void): () => void
} {
  const listeners = new Set<(event: AlertChangeEvent) => void>()
  return {
    emit(alert, transition, actor, at) {
      const change: AlertChange = {
        alertId: alert.id,
        transition,
        type: alert.type,
        severity: alert.severity,
        status: alert.status,
        deviceId: alert.deviceId,
        siteId: alert.siteId,
        tenantId: alert.tenantId,
        siteCategory: alert.siteCategory,
        count: alert.count,
        at: Math.max(1, Math.round(at)),
        actor,
      }
      for (const listener of listeners) {
        try {
          listener({ change, alert })
        } catch (err) {
          deps.listenerErrors.inc()
          deps.log.error({ err, alertId: alert.id, transition }, 'alert change listener failed')
        }
      }
    },
    onChange(listener) {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
  }
}
