/**
 * The alert lifecycle: open -> acknowledged -> resolved, one active alert per device and type.
 *
 * `raise` is the one way rules create or touch an alert: a repeated occurrence (another event) counts,
 * a more severe one raises the severity (`severity_raised`), and a derived condition still true is the
 * same occurrence and changes nothing. `resolve` closes an alert (by the system when its condition
 * clears, by an operator with a note), recording the release of a rescue first. `act` is what an
 * operator may do; each refusal is a DomainError with a stable code (docs/alerts.md).
 */
import { randomUUID } from 'node:crypto'
import type { Counter } from 'prom-client'
import type { AlertSeverity } from '../../domain/alert-change.ts'
import { DomainError } from '../../domain/errors.ts'
import type { DeviceContext } from '../../domain/registry-types.ts'
import { ALERT_RULES, maxSeverity } from '../rules.ts'
import { type Alert, type AlertAction, type AlertType, type LocalizedText, SEVERITY_RANK } from '../types.ts'
import type { AlertBook } from './alert-book.ts'
import type { Emit } from './change-feed.ts'
import { type EngineBase, SYSTEM } from './deps.ts'
import { openTimeline, type RescueDeadlines, rescueStep } from './rescue.ts'

export type RaiseOptions = {
  severity?: AlertSeverity
  title?: LocalizedText
  details?: Record<string, unknown>
  /** A repeated occurrence (another event) raises count; a derived condition still true does not. */
  isRepeat: boolean
}

/** What the rules see of the lifecycle. */
export type Lifecycle = Pick<ReturnType<typeof createLifecycle>, 'raise' | 'resolve' | 'autoResolve'>

export function createLifecycle(
  deps: Pick<EngineBase, 'config' | 'clock' | 'log'> & {
    book: AlertBook
    deadlines: RescueDeadlines
    emit: Emit
    raised: Counter
    resolved: Counter
  },
) {
  const { config, clock, log, book, deadlines, emit } = deps

  function raise(ctx: DeviceContext, type: AlertType, at: number, options: RaiseOptions): Alert {
    const rule = ALERT_RULES[type]
    const severity = options.severity ?? rule.severity
    const existing = book.activeOf(ctx.device.id, type)
    if (existing) {
      const isMoreSevere = SEVERITY_RANK[severity] > SEVERITY_RANK[existing.severity]
      if (!options.isRepeat && !isMoreSevere) return existing
      const next: Alert = {
        ...existing,
        count: options.isRepeat ? existing.count + 1 : existing.count,
        lastSeenAt: Math.max(existing.lastSeenAt, at),
        severity: maxSeverity(existing.severity, severity),
        details: { ...existing.details, ...options.details },
      }
      const from = existing.severity
      book.commit(
        next,
        isMoreSevere
          ? [{ transition: 'severity_raised', actor: SYSTEM, note: null, at, details: { from } }]
          : [],
      )
      emit(next, 'repeated', SYSTEM, at)
      return next
    }
    const rescue = type === 'trapped' ? openTimeline(config, ctx.device.tenantId, at) : null
    const isDispatched = rescue !== null && rescue.dispatchedAt !== null
    const alert: Alert = {
      id: randomUUID(),
      deviceId: ctx.device.id,
      deviceKind: ctx.device.kind,
      siteId: ctx.site.id,
      tenantId: ctx.device.tenantId,
      siteCategory: ctx.site.category,
      type,
      severity,
      status: 'open',
      count: 1,
      title: options.title ?? rule.title,
      details: options.details ?? {},
      openedAt: at,
      lastSeenAt: at,
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      resolvedBy: null,
      resolutionNote: null,
      escalated: false,
      rescue,
    }
    book.insert(alert, [
      { transition: 'raised', actor: SYSTEM, note: null, at, details: alert.details },
      ...(isDispatched
        ? [{ transition: 'dispatched', actor: SYSTEM, note: null, at, details: { to: ctx.device.tenantId } }]
        : []),
    ])
    deps.raised.inc({ type, severity })
    log.info({ alertId: alert.id, deviceId: alert.deviceId, type, severity }, 'alert raised')
    if (rescue) deadlines.arm(alert)
    emit(alert, 'raised', SYSTEM, at)
    if (isDispatched) emit(alert, 'dispatched', SYSTEM, at)
    return alert
  }

  /** Resolves an active alert; for a rescue not yet released, records the release first. */
  function resolve(alert: Alert, actor: string, note: string | null, at: number): Alert {
    const isReleasing = alert.rescue !== null && alert.rescue.releasedAt === null
    const next: Alert = {
      ...alert,
      status: 'resolved',
      resolvedAt: at,
      resolvedBy: actor,
      resolutionNote: note,
      rescue: alert.rescue && isReleasing ? { ...alert.rescue, releasedAt: at } : alert.rescue,
    }
    book.commit(next, [
      ...(isReleasing ? [{ transition: 'released', actor, note: null, at, status: alert.status }] : []),
      { transition: 'resolved', actor, note, at },
    ])
    deadlines.cancel(next.id)
    deps.resolved.inc({ type: next.type, by: actor === SYSTEM ? 'system' : 'operator' })
    if (isReleasing) emit({ ...next, status: alert.status }, 'released', actor, at)
    emit(next, 'resolved', actor, at)
    // Trapped passengers press the alarm button; once they are out, those presses are answered too.
    if (next.type === 'trapped') autoResolve(next.deviceId, 'alarm_button', at, 'trapped alert resolved')
    return next
  }

  /** The condition cleared: resolves the device's active alert of this type, if any, as the system. */
  function autoResolve(deviceId: string, type: AlertType, at: number, reason: string): void {
    const alert = book.activeOf(deviceId, type)
    if (alert) resolve(alert, SYSTEM, reason, at)
  }

  function act(alertId: string, action: AlertAction, by: { actor: string; note?: string }): Alert {
    const alert = book.get(alertId)
    if (!alert) throw new DomainError('NOT_FOUND', `no alert ${alertId}`)
    const actor = by.actor.trim()
    if (actor === '') throw new DomainError('INVALID_INPUT', 'actor is required')
    const note = by.note?.trim() ? by.note.trim() : null
    const at = clock.now()
    const invalid = (why: string) =>
      new DomainError('INVALID_TRANSITION', `cannot ${action} alert ${alertId}: ${why}`, {
        details: { status: alert.status, action },
      })

    if (action === 'comment') {
      if (note === null) throw new DomainError('NOTE_REQUIRED', 'a comment needs a note')
      book.record(alert, { transition: 'commented', actor, note, at })
      emit(alert, 'commented', actor, at)
      return alert
    }
    if (alert.status === 'resolved') throw invalid('it is resolved')

    if (action === 'acknowledge') {
      if (alert.status !== 'open') throw invalid('it is not open')
      const next: Alert = { ...alert, status: 'acknowledged', acknowledgedAt: at, acknowledgedBy: actor }
      book.commit(next, [{ transition: 'acknowledged', actor, note, at }])
      emit(next, 'acknowledged', actor, at)
      return next
    }
    if (action === 'resolve') {
      if (note === null) throw new DomainError('NOTE_REQUIRED', 'resolving by hand needs a note')
      return resolve(alert, actor, note, at)
    }

    // Rescue timeline: alarm -> dispatched -> accepted -> arrived -> released.
    const r = alert.rescue
    if (!r) throw invalid('it has no rescue timeline')
    if (action === 'release') return resolve(alert, actor, note, at)
    const step = rescueStep(r, action, alert.tenantId, at)
    if ('refused' in step) throw invalid(step.refused)
    const next: Alert = { ...alert, rescue: step.rescue }
    book.commit(next, [
      {
        transition: step.transition,
        actor,
        note,
        at,
        details: action === 'dispatch' ? { to: alert.tenantId } : null,
      },
    ])
    deadlines.arm(next)
    emit(next, step.transition, actor, at)
    return next
  }

  return { raise, resolve, autoResolve, act }
}
