/**
 * The alerts as recorded: the in-memory index of active (open or acknowledged) alerts, and their rows
 * in SQLite (the alert, its rescue timeline, its append-only transitions).
 *
 * The index answers the hot path ("is there an active offline alert for this device?") without SQL,
 * and holds at most one alert per device and type, as the partial unique index of the alerts table
 * does. Every change is written in one transaction and only then put in the index, so the index never
 * shows what SQLite does not hold.
 */
import type { AlertStatus } from '../../domain/alert-change.ts'
import { sqlWhere } from '../../registry/sqlite.ts'
import { ALERT_SELECT, type Row, toAlert, toTransition } from '../store.ts'
import {
  type ActiveAlertCount,
  type Alert,
  type AlertFilter,
  type AlertType,
  SEVERITY_RANK,
  type Transition,
} from '../types.ts'
import type { EngineBase } from './deps.ts'

/** One transition to record with a change. */
export type TransitionRow = {
  transition: string
  actor: string
  note: string | null
  at: number
  details?: Record<string, unknown> | null
  /** The status the row records when it is not the alert's new one (a release just before resolving). */
  status?: AlertStatus
}

export type AlertBook = ReturnType<typeof createAlertBook>

export function createAlertBook(
  deps: Pick<EngineBase, 'store'> & {
    /** Runs first inside every change's transaction: rule state promised to be written with it. */
    beforeWrite?: () => void
  },
) {
  const { store, beforeWrite } = deps
  // By device, then type: the hot path asks several times per reading, and a device's id is the same
  // string every time (its hash cached), where a joined `device|type` key was a new string to hash:
  // 25 against 100 ns a lookup.
  const active = new Map<string, Map<AlertType, Alert>>()
  const activeById = new Map<string, Alert>()

  function index(alert: Alert): void {
    const ofDevice = active.get(alert.deviceId)
    if (alert.status === 'resolved') {
      ofDevice?.delete(alert.type)
      if (ofDevice?.size === 0) active.delete(alert.deviceId)
      activeById.delete(alert.id)
    } else {
      if (ofDevice === undefined) active.set(alert.deviceId, new Map([[alert.type, alert]]))
      else ofDevice.set(alert.type, alert)
      activeById.set(alert.id, alert)
    }
  }

  function writeRescue(alert: Alert): void {
    const r = alert.rescue
    if (!r) return
    store().st.upsertRescue.run({
      alertId: alert.id,
      alarmAt: r.alarmAt,
      dispatchedAt: r.dispatchedAt,
      dispatchedTo: r.dispatchedTo,
      acceptedAt: r.acceptedAt,
      arrivedAt: r.arrivedAt,
      releasedAt: r.releasedAt,
      acceptDeadline: r.acceptDeadline,
      arriveDeadline: r.arriveDeadline,
      acceptMissed: r.acceptMissed ? 1 : 0,
      arriveMissed: r.arriveMissed ? 1 : 0,
    })
  }

  function writeTransition(alert: Alert, row: TransitionRow): void {
    const details = row.details ?? null
    store().st.insertTransition.run(
      alert.id,
      row.transition,
      row.actor,
      row.note,
      row.at,
      alert.severity,
      row.status ?? alert.status,
      details === null ? null : JSON.stringify(details),
    )
  }

  return {
    /** The active alert of a device and type, if any. */
    activeOf(deviceId: string, type: AlertType): Alert | undefined {
      return active.get(deviceId)?.get(type)
    },
    /** The active alert with this id, if any (memory only). */
    activeById(id: string): Alert | undefined {
      return activeById.get(id)
    },
    /** Active alerts from memory, others from SQLite; null for an unknown id. */
    get(id: string): Alert | null {
      const found = activeById.get(id)
      if (found) return found
      const row = store().st.getAlert.get(id) as Row | undefined
      return row ? toAlert(row) : null
    },
    active(): IterableIterator<Alert> {
      return activeById.values()
    },
    activeCount(): number {
      return activeById.size
    },
    /** Active alerts that carry a rescue timeline (trapped passengers). */
    rescues(): Alert[] {
      return [...activeById.values()].filter((alert) => alert.rescue !== null)
    },
    /** Active alerts counted by (type, severity, kind, site, tenant, site category). */
    counts(): ActiveAlertCount[] {
      const groups = new Map<string, ActiveAlertCount>()
      for (const alert of activeById.values()) {
        const { type, severity, deviceKind: kind, siteId, tenantId, siteCategory } = alert
        const group = JSON.stringify([type, severity, kind, siteId, tenantId, siteCategory])
        let count = groups.get(group)
        if (!count) {
          count = { type, severity, kind, siteId, tenantId, siteCategory, active: 0, unacknowledged: 0 }
          groups.set(group, count)
        }
        count.active++
        if (alert.status === 'open') count.unacknowledged++
      }
      const text = (v: string | null) => v ?? ''
      return [...groups.values()].sort(
        (a, b) =>
          a.kind.localeCompare(b.kind) ||
          a.type.localeCompare(b.type) ||
          SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
          text(a.siteId).localeCompare(text(b.siteId)) ||
          text(a.tenantId).localeCompare(text(b.tenantId)) ||
          text(a.siteCategory).localeCompare(text(b.siteCategory)),
      )
    },

    /** Writes a new alert with its first transitions, then indexes it. */
    insert(alert: Alert, rows: readonly TransitionRow[]): void {
      const { db, st } = store()
      db.transaction(() => {
        beforeWrite?.()
        st.insertAlert.run({
          id: alert.id,
          deviceId: alert.deviceId,
          deviceKind: alert.deviceKind,
          siteId: alert.siteId,
          tenantId: alert.tenantId,
          siteCategory: alert.siteCategory,
          type: alert.type,
          severity: alert.severity,
          status: alert.status,
          count: alert.count,
          titleZh: alert.title.zh,
          titleEn: alert.title.en,
          details: JSON.stringify(alert.details),
          openedAt: alert.openedAt,
          lastSeenAt: alert.lastSeenAt,
          escalated: alert.escalated ? 1 : 0,
        })
        writeRescue(alert)
        for (const row of rows) writeTransition(alert, row)
      })()
      index(alert)
    },

    /** Writes the new state of an alert with its transitions in one transaction, then indexes it. */
    commit(next: Alert, rows: readonly TransitionRow[]): void {
      const { db, st } = store()
      db.transaction(() => {
        beforeWrite?.()
        st.updateAlert.run({
          id: next.id,
          severity: next.severity,
          status: next.status,
          count: next.count,
          titleZh: next.title.zh,
          titleEn: next.title.en,
          details: JSON.stringify(next.details),
          lastSeenAt: next.lastSeenAt,
          acknowledgedAt: next.acknowledgedAt,
          acknowledgedBy: next.acknowledgedBy,
          resolvedAt: next.resolvedAt,
          resolvedBy: next.resolvedBy,
          resolutionNote: next.resolutionNote,
          escalated: next.escalated ? 1 : 0,
        })
        writeRescue(next)
        for (const row of rows) writeTransition(next, row)
      })()
      index(next)
    },

    /** A transition that changes nothing else (a comment). */
    record(alert: Alert, row: TransitionRow): void {
      writeTransition(alert, row)
    },

    list(filter: AlertFilter): { items: Alert[]; total: number } {
      const { db } = store()
      const { clause, args } = sqlWhere([
        filter.status === 'active' ? `a.status <> 'resolved'` : ['a.status = ?', filter.status || undefined],
        ['a.type = ?', filter.type],
        ['a.severity = ?', filter.severity],
        // A list of values as one JSON parameter: the statement keeps one `?` whatever the count.
        ['a.type IN (SELECT value FROM json_each(?))', filter.types && JSON.stringify(filter.types)],
        [
          'a.severity IN (SELECT value FROM json_each(?))',
          filter.severities && JSON.stringify(filter.severities),
        ],
        ['a.site_id = ?', filter.siteId],
        ['a.tenant_id = ?', filter.tenantId],
        ['a.device_id = ?', filter.deviceId],
        ['a.site_category = ?', filter.siteCategory],
        ['a.opened_at >= ?', filter.from],
        ['a.opened_at < ?', filter.to],
      ])
      const total = Number((db.prepare(`SELECT count(*) AS n FROM alerts a ${clause}`).get(...args) as Row).n)
      const rows = db
        .prepare(`${ALERT_SELECT} ${clause} ORDER BY a.opened_at DESC, a.id LIMIT ? OFFSET ?`)
        .all(...args, Math.max(0, filter.limit), Math.max(0, filter.offset)) as Row[]
      return { items: rows.map(toAlert), total }
    },

    transitionsOf(alertId: string): Transition[] {
      return (store().st.transitionsOf.all(alertId) as Row[]).map(toTransition)
    },

    /** Fills the index from SQLite (at start). */
    restore(): void {
      for (const row of store().st.activeAlerts.all() as Row[]) index(toAlert(row))
    },
    clear(): void {
      active.clear()
      activeById.clear()
    },
  }
}
