/**
 * The alerts database (DATA_DIR/alerts.db): alerts, their append-only transitions, rescue timelines,
 * rule state, last-seen times, the maintenance log and the accident register. History tables refuse
 * UPDATE and DELETE with triggers: TSG T5002 wants maintenance records kept (>= 4 years) unaltered,
 * and an alert's audit trail is worth the same.
 */
import { join } from 'node:path'
import { AlertSeveritySchema, AlertStatusSchema } from '../domain/alert-change.ts'
import { SiteCategorySchema } from '../domain/registry-types.ts'
import { type Migration, openSqlite, type SqliteDatabase } from '../registry/sqlite.ts'
import { isAlertType } from './rules.ts'
import type { AccidentRecord, Alert, MaintenanceRecord, RescueTimeline, Transition } from './types.ts'

function appendOnly(table: string): string {
  return `
CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`
}

export const ALERTS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  device_kind TEXT NOT NULL,
  site_id TEXT,
  tenant_id TEXT,
  site_category TEXT,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
  count INTEGER NOT NULL,
  title_zh TEXT NOT NULL,
  title_en TEXT NOT NULL,
  details TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  acknowledged_at INTEGER,
  acknowledged_by TEXT,
  resolved_at INTEGER,
  resolved_by TEXT,
  resolution_note TEXT,
  escalated INTEGER NOT NULL DEFAULT 0
);
-- One active alert per device and type: repeats update it.
CREATE UNIQUE INDEX alerts_active ON alerts(device_id, type) WHERE status <> 'resolved';
CREATE INDEX alerts_opened ON alerts(opened_at);
CREATE INDEX alerts_status ON alerts(status, opened_at);
CREATE INDEX alerts_tenant ON alerts(tenant_id, opened_at);
CREATE INDEX alerts_device ON alerts(device_id, opened_at);

CREATE TABLE rescues (
  alert_id TEXT PRIMARY KEY REFERENCES alerts(id),
  alarm_at INTEGER NOT NULL,
  dispatched_at INTEGER,
  dispatched_to TEXT,
  accepted_at INTEGER,
  arrived_at INTEGER,
  released_at INTEGER,
  accept_deadline INTEGER NOT NULL,
  arrive_deadline INTEGER NOT NULL,
  accept_missed INTEGER NOT NULL DEFAULT 0,
  arrive_missed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rescues_alarm ON rescues(alarm_at);

CREATE TABLE transitions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id TEXT NOT NULL REFERENCES alerts(id),
  transition TEXT NOT NULL,
  actor TEXT NOT NULL,
  note TEXT,
  at INTEGER NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  details TEXT
);
CREATE INDEX transitions_alert ON transitions(alert_id, id);
CREATE INDEX transitions_kind_at ON transitions(transition, at);
${appendOnly('transitions')}

-- State of duration conditions and counters, per device and rule: survives a restart.
CREATE TABLE rule_state (
  device_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, rule)
) WITHOUT ROWID;

CREATE TABLE device_seen (
  device_id TEXT PRIMARY KEY,
  last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE maintenance_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  tenant_id TEXT,
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('device', 'api')),
  actor TEXT NOT NULL,
  note TEXT,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX maintenance_device ON maintenance_log(device_id, ended_at);
CREATE INDEX maintenance_ended ON maintenance_log(ended_at);
${appendOnly('maintenance_log')}

CREATE TABLE accidents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  device_id TEXT,
  fatal INTEGER NOT NULL,
  description TEXT NOT NULL,
  actor TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX accidents_at ON accidents(at);
${appendOnly('accidents')}
`,
  },
]

export function alertsFile(dataDir: string): string {
  return join(dataDir, 'alerts.db')
}

export function openAlertsDb(dataDir: string): SqliteDatabase {
  return openSqlite(alertsFile(dataDir), ALERTS_MIGRATIONS)
}

export type Row = Record<string, unknown>

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

function parseJson(v: unknown): Record<string, unknown> {
  if (typeof v !== 'string') return {}
  try {
    const parsed: unknown = JSON.parse(v)
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {}
  } catch {
    return {}
  }
}

/** Columns of `alerts a LEFT JOIN rescues r`. */
export const ALERT_SELECT = `
SELECT a.*, r.alarm_at, r.dispatched_at, r.dispatched_to, r.accepted_at, r.arrived_at, r.released_at,
       r.accept_deadline, r.arrive_deadline, r.accept_missed, r.arrive_missed
FROM alerts a LEFT JOIN rescues r ON r.alert_id = a.id`

export function toRescue(r: Row): RescueTimeline | null {
  if (r.alarm_at === null || r.alarm_at === undefined) return null
  return {
    alarmAt: Number(r.alarm_at),
    dispatchedAt: numOrNull(r.dispatched_at),
    dispatchedTo: strOrNull(r.dispatched_to),
    acceptedAt: numOrNull(r.accepted_at),
    arrivedAt: numOrNull(r.arrived_at),
    releasedAt: numOrNull(r.released_at),
    acceptDeadline: Number(r.accept_deadline),
    arriveDeadline: Number(r.arrive_deadline),
    acceptMissed: r.accept_missed === 1,
    arriveMissed: r.arrive_missed === 1,
  }
}

export function toAlert(r: Row): Alert {
  const type = isAlertType(r.type) ? r.type : 'offline'
  return {
    id: String(r.id),
    deviceId: String(r.device_id),
    deviceKind: r.device_kind === 'scale' ? 'scale' : 'elevator',
    siteId: strOrNull(r.site_id),
    tenantId: strOrNull(r.tenant_id),
    siteCategory: r.site_category === null ? null : SiteCategorySchema.catch('other').parse(r.site_category),
    type,
    severity: AlertSeveritySchema.catch('warning').parse(r.severity),
    status: AlertStatusSchema.catch('open').parse(r.status),
    count: Number(r.count),
    title: { zh: String(r.title_zh), en: String(r.title_en) },
    details: parseJson(r.details),
    openedAt: Number(r.opened_at),
    lastSeenAt: Number(r.last_seen_at),
    acknowledgedAt: numOrNull(r.acknowledged_at),
    acknowledgedBy: strOrNull(r.acknowledged_by),
    resolvedAt: numOrNull(r.resolved_at),
    resolvedBy: strOrNull(r.resolved_by),
    resolutionNote: strOrNull(r.resolution_note),
    escalated: r.escalated === 1,
    rescue: toRescue(r),
  }
}

export function toTransition(r: Row): Transition {
  return {
    id: Number(r.id),
    alertId: String(r.alert_id),
    transition: String(r.transition),
    actor: String(r.actor),
    note: strOrNull(r.note),
    at: Number(r.at),
    severity: AlertSeveritySchema.catch('warning').parse(r.severity),
    status: AlertStatusSchema.catch('open').parse(r.status),
    details: r.details === null ? null : parseJson(r.details),
  }
}

export function toMaintenance(r: Row): MaintenanceRecord {
  return {
    id: Number(r.id),
    deviceId: String(r.device_id),
    tenantId: strOrNull(r.tenant_id),
    startedAt: Number(r.started_at),
    endedAt: Number(r.ended_at),
    kind: String(r.kind),
    source: r.source === 'api' ? 'api' : 'device',
    actor: String(r.actor),
    note: strOrNull(r.note),
    recordedAt: Number(r.recorded_at),
  }
}

export function toAccident(r: Row): AccidentRecord {
  return {
    id: Number(r.id),
    at: Number(r.at),
    siteId: String(r.site_id),
    deviceId: strOrNull(r.device_id),
    fatal: r.fatal === 1,
    description: String(r.description),
    actor: String(r.actor),
    recordedAt: Number(r.recorded_at),
  }
}

/** Prepared statements of the hot and warm paths. */
export function prepareStatements(db: SqliteDatabase) {
  return {
    insertAlert:
      db.prepare(`INSERT INTO alerts (id, device_id, device_kind, site_id, tenant_id, site_category,
        type, severity, status, count, title_zh, title_en, details, opened_at, last_seen_at, escalated)
      VALUES (@id, @deviceId, @deviceKind, @siteId, @tenantId, @siteCategory, @type, @severity, @status, @count,
        @titleZh, @titleEn, @details, @openedAt, @lastSeenAt, @escalated)`),
    updateAlert: db.prepare(`UPDATE alerts SET severity = @severity, status = @status, count = @count,
        title_zh = @titleZh, title_en = @titleEn, details = @details, last_seen_at = @lastSeenAt,
        acknowledged_at = @acknowledgedAt, acknowledged_by = @acknowledgedBy, resolved_at = @resolvedAt,
        resolved_by = @resolvedBy, resolution_note = @resolutionNote, escalated = @escalated
      WHERE id = @id`),
    upsertRescue:
      db.prepare(`INSERT INTO rescues (alert_id, alarm_at, dispatched_at, dispatched_to, accepted_at,
        arrived_at, released_at, accept_deadline, arrive_deadline, accept_missed, arrive_missed)
      VALUES (@alertId, @alarmAt, @dispatchedAt, @dispatchedTo, @acceptedAt, @arrivedAt, @releasedAt,
        @acceptDeadline, @arriveDeadline, @acceptMissed, @arriveMissed)
      ON CONFLICT(alert_id) DO UPDATE SET dispatched_at = excluded.dispatched_at,
        dispatched_to = excluded.dispatched_to, accepted_at = excluded.accepted_at, arrived_at = excluded.arrived_at,
        released_at = excluded.released_at, accept_missed = excluded.accept_missed,
        arrive_missed = excluded.arrive_missed`),
    insertTransition:
      db.prepare(`INSERT INTO transitions (alert_id, transition, actor, note, at, severity, status,
        details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    getAlert: db.prepare(`${ALERT_SELECT} WHERE a.id = ?`),
    activeAlerts: db.prepare(`${ALERT_SELECT} WHERE a.status <> 'resolved'`),
    transitionsOf: db.prepare('SELECT * FROM transitions WHERE alert_id = ? ORDER BY id'),
    upsertRuleState:
      db.prepare(`INSERT INTO rule_state (device_id, rule, state, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT(device_id, rule) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`),
    insertRuleStateIfAbsent: db.prepare(
      'INSERT OR IGNORE INTO rule_state (device_id, rule, state, updated_at) VALUES (?, ?, ?, ?)',
    ),
    deleteRuleState: db.prepare('DELETE FROM rule_state WHERE device_id = ? AND rule = ?'),
    allRuleState: db.prepare('SELECT * FROM rule_state'),
    upsertSeen: db.prepare(`INSERT INTO device_seen (device_id, last_seen_at) VALUES (?, ?)
      ON CONFLICT(device_id) DO UPDATE SET last_seen_at = max(device_seen.last_seen_at, excluded.last_seen_at)`),
    allSeen: db.prepare('SELECT * FROM device_seen'),
    insertMaintenance:
      db.prepare(`INSERT INTO maintenance_log (device_id, tenant_id, started_at, ended_at, kind,
        source, actor, note, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    getMaintenance: db.prepare('SELECT * FROM maintenance_log WHERE id = ?'),
    lastMaintenanceOf: db.prepare('SELECT max(ended_at) AS at FROM maintenance_log WHERE device_id = ?'),
    lastMaintenanceAll: db.prepare(
      'SELECT device_id, max(ended_at) AS at FROM maintenance_log GROUP BY device_id',
    ),
    insertAccident: db.prepare(`INSERT INTO accidents (at, site_id, device_id, fatal, description, actor,
        recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    getAccident: db.prepare('SELECT * FROM accidents WHERE id = ?'),
  }
}
export type Statements = ReturnType<typeof prepareStatements>
