/**
 * The message the alerts service emits whenever an alert is raised, repeated, escalated or moves
 * along its lifecycle. Published on MQTT under `alerts/…` for machine consumers (service accounts
 * only) and stored by ingest in InfluxDB as measurement `alert_change`, so Grafana can chart alerts.
 */
import { z } from 'zod'
import { SiteCategorySchema } from './registry-types.ts'
import { DEVICE_KINDS } from './topics.ts'

/** Groups per snapshot message: ~200 bytes each keeps a message well under the broker's packet limit. */
export const ACTIVE_ALERTS_GROUPS_PER_MESSAGE = 50

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

/** Active alerts of one group (type, severity, device kind, site, tenant, category) at one instant. */
export const ActiveAlertGroupSchema = z.object({
  type: z.string().min(1).max(64),
  severity: AlertSeveritySchema,
  kind: z.enum(DEVICE_KINDS),
  siteId: z.string().nullable(),
  tenantId: z.string().nullable(),
  siteCategory: SiteCategorySchema.nullable(),
  /** Open + acknowledged. */
  active: z.int().min(0),
  /** Open only. */
  unacknowledged: z.int().min(0),
})
export type ActiveAlertGroup = z.infer<typeof ActiveAlertGroupSchema>

/**
 * A periodic snapshot of the active alerts, stored as measurement `alerts_active` so Grafana can chart
 * what is open now (alert_change only has the transitions). Split across processes it travels on
 * ACTIVE_ALERTS_TOPIC, in parts small enough for one MQTT packet; all parts share `at`.
 */
export const ActiveAlertsSnapshotSchema = z.object({
  at: z.int().positive(),
  groups: z.array(ActiveAlertGroupSchema).max(ACTIVE_ALERTS_GROUPS_PER_MESSAGE),
})
export type ActiveAlertsSnapshot = z.infer<typeof ActiveAlertsSnapshotSchema>

/** Not under `alerts/{severity}/…`: consumers of alert changes do not receive snapshots. */
export const ACTIVE_ALERTS_TOPIC = 'alerts/active'
