/**
 * The trapped-passenger rescue workflow, after the 96333 emergency platforms: the timeline a `trapped`
 * alert carries (alarm -> dispatched -> accepted -> arrived -> released), the order its stages may be
 * recorded in, and the deadlines of acceptance and arrival (TSG T5002: a rescuer on site within
 * 30 min in a districted city such as Wuhan).
 *
 * A deadline that passes without its stage escalates the alert: the stage is marked missed, the
 * severity rises one step and an `escalated` change tells the duty officers. Deadlines are stored with
 * the alert, so the timers are re-armed from SQLite at start; one that passed while the engine was
 * down fires at once. Releasing (resolving) the alert is the lifecycle's business (lifecycle.ts).
 */
import type { Counter } from 'prom-client'
import { raiseSeverity } from '../rules.ts'
import type { Alert, RescueTimeline, TimerHandle } from '../types.ts'
import type { AlertBook } from './alert-book.ts'
import type { Emit } from './change-feed.ts'
import { type EngineBase, SYSTEM } from './deps.ts'

/** The operator actions that move a rescue forward (release resolves the alert instead). */
export type RescueAction = 'dispatch' | 'accept' | 'arrive'

/** The timeline of a rescue whose alarm is `at`; dispatched at once to the firm when so configured. */
export function openTimeline(
  config: Pick<
    EngineBase['config'],
    'RESCUE_AUTO_DISPATCH' | 'RESCUE_ACCEPT_LIMIT_S' | 'RESCUE_ARRIVE_LIMIT_S'
  >,
  tenantId: string | null,
  at: number,
): RescueTimeline {
  const isDispatched = config.RESCUE_AUTO_DISPATCH
  return {
    alarmAt: at,
    dispatchedAt: isDispatched ? at : null,
    dispatchedTo: isDispatched ? tenantId : null,
    acceptedAt: null,
    arrivedAt: null,
    releasedAt: null,
    acceptDeadline: at + config.RESCUE_ACCEPT_LIMIT_S * 1000,
    arriveDeadline: at + config.RESCUE_ARRIVE_LIMIT_S * 1000,
    acceptMissed: false,
    arriveMissed: false,
  }
}

/**
 * The timeline after an operator's rescue action, or why the action is refused: each stage follows
 * the previous one (accept needs a dispatch, arrive an acceptance) and is recorded once. A late stage
 * is still recorded, with its real time.
 */
export function rescueStep(
  r: RescueTimeline,
  action: RescueAction,
  tenantId: string | null,
  at: number,
): { rescue: RescueTimeline; transition: string } | { refused: string } {
  switch (action) {
    case 'dispatch':
      if (r.dispatchedAt !== null) return { refused: 'already dispatched' }
      return { rescue: { ...r, dispatchedAt: at, dispatchedTo: tenantId }, transition: 'dispatched' }
    case 'accept':
      if (r.dispatchedAt === null) return { refused: 'not dispatched yet' }
      if (r.acceptedAt !== null) return { refused: 'already accepted' }
      return { rescue: { ...r, acceptedAt: at }, transition: 'accepted' }
    case 'arrive':
      if (r.acceptedAt === null) return { refused: 'not accepted yet' }
      if (r.arrivedAt !== null) return { refused: 'already arrived' }
      return { rescue: { ...r, arrivedAt: at }, transition: 'arrived' }
  }
}

export type RescueDeadlines = ReturnType<typeof createRescueDeadlines>

/** Timers of the acceptance and arrival deadlines of active rescues, keyed by alert id. */
export function createRescueDeadlines(
  deps: Pick<EngineBase, 'clock' | 'log' | 'isRunning'> & {
    book: AlertBook
    emit: Emit
    escalations: Counter
  },
) {
  const { clock, log, book, emit } = deps
  const timers = new Map<string, TimerHandle[]>()

  function cancel(alertId: string): void {
    for (const handle of timers.get(alertId) ?? []) clock.clearTimeout(handle)
    timers.delete(alertId)
  }

  /** (Re)arms the deadlines of an alert's rescue that are neither met nor missed yet. */
  function arm(alert: Alert): void {
    cancel(alert.id)
    const r = alert.rescue
    if (!r || alert.status === 'resolved') return
    const handles: TimerHandle[] = []
    const now = clock.now()
    // A deadline that passed while the engine was down fires at once (delay 0).
    if (r.acceptedAt === null && !r.acceptMissed) {
      handles.push(clock.setTimeout(() => escalate(alert.id, 'accept'), r.acceptDeadline - now))
    }
    if (r.arrivedAt === null && !r.arriveMissed) {
      handles.push(clock.setTimeout(() => escalate(alert.id, 'arrive'), r.arriveDeadline - now))
    }
    if (handles.length > 0) timers.set(alert.id, handles)
  }

  function escalate(alertId: string, stage: 'accept' | 'arrive'): void {
    try {
      const alert = book.activeById(alertId)
      const r = alert?.rescue
      if (!alert || !r || !deps.isRunning()) return
      if (stage === 'accept' && (r.acceptedAt !== null || r.acceptMissed)) return
      if (stage === 'arrive' && (r.arrivedAt !== null || r.arriveMissed)) return
      const at = clock.now()
      const next: Alert = {
        ...alert,
        escalated: true,
        severity: raiseSeverity(alert.severity),
        rescue: stage === 'accept' ? { ...r, acceptMissed: true } : { ...r, arriveMissed: true },
      }
      const deadline = stage === 'accept' ? r.acceptDeadline : r.arriveDeadline
      book.commit(next, [
        {
          transition: 'escalated',
          actor: SYSTEM,
          note: null,
          at,
          details: { stage, deadline, to: 'duty_officers' },
        },
      ])
      deps.escalations.inc({ stage })
      log.warn({ alertId, deviceId: alert.deviceId, stage, deadline }, 'rescue deadline missed: escalated')
      emit(next, 'escalated', SYSTEM, at)
    } catch (err) {
      log.error({ err, alertId, stage }, 'rescue escalation failed')
    }
  }

  return {
    arm,
    cancel,
    /** At start: the deadlines of every active rescue continue across the restart. */
    armActive(): void {
      for (const alert of book.active()) if (alert.rescue) arm(alert)
    },
    stop(): void {
      for (const id of [...timers.keys()]) cancel(id)
    },
  }
}
