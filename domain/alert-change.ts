/**
 * The message the alerts service emits whenever an alert is raised, repeated, escalated or moves
 * along its lifecycle. Published on MQTT under `alerts/…` for machine consumers (service accounts
 * only) and stored by ingest in InfluxDB as measurement `alert_change`, so Grafana can chart alerts.
 */
import { z } from 'zod'
import { SiteCategorySchema } from './registry-types.ts'

export const ALERT_SEVERITIES = ['info', 'warning', 'major', 'critical'] as const
export const AlertSeveritySchema = z.enum(ALERT_SEVERITIES)
export type AlertSeverity = z.infer<typeof AlertSeveritySchema>

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const
export const AlertStatusSchema = z.enum(ALERT_STATUSES)
export type AlertStatus = z.infer<typeof AlertStatusSchema>

export const AlertChangeSchema = z.object({
  alertId: z.string().min(1),
  /** What happened: raised, repeated, acknowledged, dispatched, accepted, arrived, released, escalated, resolved, commented. */
  transition: z.string().min(1).max(64),
  type: z.string().min(1).max(64),
  severity: AlertSeveritySchema,
  status: AlertStatusSchema,
  deviceId: z.string().min(1),
  siteId: z.string().nullable(),
  tenantId: z.string().nullable(),
  siteCategory: SiteCategorySchema.nullable(),
  /** How many times the condition has been seen while this alert was active. */
  count: z.int().min(1),
  /** ms since epoch of the transition. */
  at: z.int().positive(),
  actor: z.string().min(1).max(200),
})
export type AlertChange = z.infer<typeof AlertChangeSchema>

/** `alerts/{severity}/{type}/{deviceId}`: consumers subscribe to `alerts/critical/#`, `alerts/+/trapped/#`, … */
export function alertTopic(change: Pick<AlertChange, 'severity' | 'type' | 'deviceId'>): string {
  return `alerts/${change.severity}/${change.type}/${change.deviceId}`
}
