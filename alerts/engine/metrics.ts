/**
 * The alerts engine's Prometheus metrics, in one place so that their names stay those listed in
 * docs/alerts.md. They are registered on the registry the service is given, never on prom-client's
 * global one: several engines live in one process (tests, the all-in-one platform).
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { AlertSeverity } from '../../domain/alert-change.ts'
import { createHotCounter } from '../../domain/hot-metrics.ts'
import { UPLINK_TYPES } from '../../domain/topics.ts'
import type { Alert } from '../types.ts'

/** `activeAlerts` is read when Prometheus scrapes, so the gauge is never stale. */
export function createEngineMetrics(registry: Registry, activeAlerts: () => Iterable<Alert>) {
  // Registration order is the order of the /metrics text: kept as it was before the split.
  const readings = createHotCounter({
    name: 'alerts_readings_total',
    help: 'Readings evaluated by the alert rules, by reading type',
    labelName: 'type',
    values: UPLINK_TYPES,
    registers: [registry],
  })
  const duplicates = new Counter({
    name: 'alerts_readings_duplicate_total',
    help: 'Readings dropped as redeliveries of a (device, channel, seq, ts) already seen',
    registers: [registry],
  })
  const unknownDevices = new Counter({
    name: 'alerts_readings_unknown_device_total',
    help: 'Readings from a device the registry does not know',
    registers: [registry],
  })
  const errors = new Counter({
    name: 'alerts_handle_errors_total',
    help: 'Readings whose evaluation failed (logged, skipped)',
    registers: [registry],
  })
  const raised = new Counter({
    name: 'alerts_raised_total',
    help: 'Alerts raised, by type and severity',
    labelNames: ['type', 'severity'],
    registers: [registry],
  })
  const resolved = new Counter({
    name: 'alerts_resolved_total',
    help: 'Alerts resolved, by type and by whom (system or operator)',
    labelNames: ['type', 'by'],
    registers: [registry],
  })
  const escalations = new Counter({
    name: 'alerts_escalations_total',
    help: 'Rescue escalations, by missed stage',
    labelNames: ['stage'],
    registers: [registry],
  })
  const listenerErrors = new Counter({
    name: 'alerts_listener_errors_total',
    help: 'onChange listeners that threw',
    registers: [registry],
  })
  new Gauge({
    name: 'alerts_active',
    help: 'Active (open or acknowledged) alerts, by severity',
    labelNames: ['severity'],
    registers: [registry],
    collect() {
      const counts: Record<AlertSeverity, number> = { info: 0, warning: 0, major: 0, critical: 0 }
      for (const alert of activeAlerts()) counts[alert.severity]++
      for (const [severity, n] of Object.entries(counts)) this.set({ severity }, n)
    },
  })
  const scanSeconds = new Gauge({
    name: 'alerts_scan_duration_seconds',
    help: 'Duration of the last scheduled scan',
    registers: [registry],
  })
  return {
    readings,
    duplicates,
    unknownDevices,
    errors,
    raised,
    resolved,
    escalations,
    listenerErrors,
    scanSeconds,
  }
}

export type EngineMetrics = ReturnType<typeof createEngineMetrics>
