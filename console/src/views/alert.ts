/**
 * One alert: what and where, the rescue timeline with live countdowns to the accept and arrive limits
 * (TSG T5002: on site within 30 min), the next step as the obvious button, and the full history.
 */
import type { Alert, AlertAction, NamedAlert, RescueTimeline, Transition } from '../../../alerts/types.ts'
import type { DeviceDetail } from '../api.ts'
import { type Child, datum, h } from '../dom.ts'
import { formatDateTime } from '../format.ts'
import { CATEGORY_KEYS, type MessageKey, STATUS_KEYS, TRANSITION_KEYS } from '../i18n.ts'
import { countdown, elapsed } from '../live-times.ts'
import { availableActions, deviceHash, NEEDS_NOTE, nextStep } from '../logic.ts'
import {
  ACTION_KEYS,
  actorLabel,
  type Ctx,
  errorBlock,
  facts,
  loader,
  loadingBlock,
  section,
  severityBadge,
  statusBadge,
  timeOrDash,
  type View,
} from '../ui.ts'

type Loaded = { alert: NamedAlert; transitions: Transition[]; device: DeviceDetail | null }

export function createAlertView(ctx: Ctx, id: string): View {
  let busy = false
  const data = loader<Loaded>(ctx, async () => {
    const { alert, transitions } = await ctx.api.alert(id)
    // The device's site and firm; a missing device (removed from the registry) leaves the facts short.
    const device = await ctx.api.device(alert.deviceId).catch(() => null)
    return { alert, transitions, device }
  })

  async function run(alert: Alert, action: AlertAction): Promise<void> {
    if (busy) return
    let note: string | undefined
    if (NEEDS_NOTE.has(action)) {
      const answer = await ctx.askNote(action === 'resolve' ? 'resolve' : 'comment')
      if (answer === null) return
      note = answer
    }
    busy = true
    ctx.rerender()
    await ctx.act(alert, action, note)
    busy = false
    await data.load(true)
  }

  function actions(alert: Alert): HTMLElement {
    const t = ctx.i18n.t
    const available = availableActions(alert, ctx.me)
    const step = nextStep(available)
    return section(
      t('nextSteps'),
      available.length === 0
        ? h('p', { class: 'muted' }, t('noActions'))
        : h(
            'div',
            { class: 'actions' },
            available.map((action) =>
              h(
                'button',
                {
                  type: 'button',
                  class: `btn ${action === step ? 'btn-primary btn-large' : 'btn-secondary'}`,
                  'data-action': action,
                  'data-key': `action-${action}`,
                  disabled: busy,
                  onclick: () => void run(alert, action),
                },
                t(ACTION_KEYS[action]),
              ),
            ),
          ),
    )
  }

  function stage(
    name: string,
    label: MessageKey,
    at: number | null,
    extra: Child,
    limit?: { label: string; start: number; deadline: number; missed: boolean },
  ): HTMLElement {
    const t = ctx.i18n.t
    const late = limit !== undefined && (limit.missed || (at !== null && at > limit.deadline))
    return h(
      'li',
      { class: `stage${at !== null ? ' done' : ''}${late ? ' late' : ''}`, 'data-stage': name },
      h('span', { class: 'stage-dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'stage-body' },
        h('strong', { class: 'stage-name' }, t(label)),
        h(
          'span',
          { class: 'stage-time' },
          at === null
            ? t('stagePending')
            : h('time', { datetime: new Date(at).toISOString() }, formatDateTime(at)),
        ),
        extra,
        limit
          ? h(
              'span',
              { class: 'stage-limit' },
              `${limit.label}${t('colon')}`,
              countdown({ start: limit.start, deadline: limit.deadline, doneAt: at }),
            )
          : null,
      ),
    )
  }

  function timeline(alert: Alert, r: RescueTimeline): HTMLElement {
    const t = ctx.i18n.t
    const minutes = (deadline: number) => Math.round((deadline - r.alarmAt) / 60000)
    const firm = r.dispatchedTo ? (ctx.tenants.get(r.dispatchedTo)?.name ?? r.dispatchedTo) : null
    return h(
      'section',
      {
        class: `panel rescue${alert.status !== 'resolved' ? ' is-live' : ''}`,
        'aria-labelledby': 'rescue-h',
      },
      h('h2', { id: 'rescue-h' }, t('rescueTimeline')),
      h(
        'ol',
        { class: 'timeline' },
        stage('alarm', 'stageAlarm', r.alarmAt, null),
        stage(
          'dispatched',
          'stageDispatched',
          r.dispatchedAt,
          firm ? h('span', { class: 'stage-extra' }, t('dispatchedTo', { firm: '' }), datum(firm)) : null,
        ),
        stage('accepted', 'stageAccepted', r.acceptedAt, null, {
          label: t('limitAccept', { min: minutes(r.acceptDeadline) }),
          start: r.alarmAt,
          deadline: r.acceptDeadline,
          missed: r.acceptMissed,
        }),
        stage('arrived', 'stageArrived', r.arrivedAt, null, {
          label: t('limitArrive', { min: minutes(r.arriveDeadline) }),
          start: r.alarmAt,
          deadline: r.arriveDeadline,
          missed: r.arriveMissed,
        }),
        stage('released', 'stageReleased', r.releasedAt, null),
      ),
    )
  }

  function factList(loaded: Loaded): HTMLElement {
    const { i18n } = ctx
    const t = i18n.t
    const { alert, device } = loaded
    const tenant = device?.tenant ?? null
    const detailRows = Object.entries(alert.details).map(
      ([key, value]) => [key, datum(typeof value === 'string' ? value : JSON.stringify(value))] as const,
    )
    return section(
      t('facts'),
      facts([
        [
          t('factDevice'),
          h(
            'a',
            { href: deviceHash(alert.deviceId) },
            datum(alert.deviceId),
            alert.deviceName ? [' ', datum(`(${alert.deviceName})`)] : null,
          ),
        ],
        [t('factKind'), t(alert.deviceKind === 'elevator' ? 'kindElevator' : 'kindScale')],
        [t('factSite'), datum(alert.siteName ?? alert.siteId ?? '')],
        device ? [t('factAddress'), datum(device.site.address)] : null,
        alert.siteCategory ? [t('factCategory'), t(CATEGORY_KEYS[alert.siteCategory])] : null,
        tenant
          ? [t(tenant.kind === 'maintenance_firm' ? 'factFirm' : 'factOperator'), datum(tenant.name)]
          : null,
        [t('factSince'), [timeOrDash(i18n, alert.openedAt), ' · ', elapsed(alert.openedAt)]],
        [t('factLastSeen'), timeOrDash(i18n, alert.lastSeenAt)],
        [t('factCount'), String(alert.count)],
        [t('factSeverity'), severityBadge(i18n, alert.severity)],
        [t('factStatus'), statusBadge(i18n, alert.status)],
        alert.acknowledgedAt !== null
          ? [
              t('factAcknowledged'),
              [timeOrDash(i18n, alert.acknowledgedAt), ' · ', actorLabel(i18n, alert.acknowledgedBy)],
            ]
          : null,
        alert.resolvedAt !== null
          ? [
              t('factResolved'),
              [timeOrDash(i18n, alert.resolvedAt), ' · ', actorLabel(i18n, alert.resolvedBy)],
            ]
          : null,
        alert.resolutionNote ? [t('factResolutionNote'), datum(alert.resolutionNote)] : null,
      ]),
      detailRows.length > 0
        ? h('details', null, h('summary', null, t('factDetails')), facts(detailRows.map(([k, v]) => [k, v])))
        : null,
    )
  }

  function history(transitions: Transition[]): HTMLElement {
    const { i18n } = ctx
    const t = i18n.t
    return section(
      t('history'),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'history' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col' }, t('colTime')),
              h('th', { scope: 'col' }, t('colStep')),
              h('th', { scope: 'col' }, t('colActor')),
              h('th', { scope: 'col' }, t('colNote')),
              h('th', { scope: 'col' }, t('colStatus')),
            ),
          ),
          h(
            'tbody',
            null,
            transitions.map((tr) => {
              const key = TRANSITION_KEYS[tr.transition]
              return h(
                'tr',
                { 'data-transition': tr.transition },
                h('td', null, h('time', { datetime: new Date(tr.at).toISOString() }, formatDateTime(tr.at))),
                h('td', null, key ? t(key) : datum(tr.transition)),
                h('td', null, actorLabel(i18n, tr.actor)),
                h('td', null, tr.note ? datum(tr.note) : ''),
                h('td', null, t(STATUS_KEYS[tr.status])),
              )
            }),
          ),
        ),
      ),
    )
  }

  void data.load()

  return {
    render() {
      const { i18n } = ctx
      const t = i18n.t
      const back = h('p', { class: 'back' }, h('a', { href: '#/board' }, `← ${t('backToBoard')}`))
      const state = data.state
      if (state === null) return [back, loadingBlock(i18n)]
      if (!state.ok) return [back, errorBlock(i18n, state.error, () => void data.load())]
      const { alert, transitions } = state.value
      return h(
        'div',
        {
          class: `alert-page sev-${alert.severity}${alert.type === 'trapped' ? ' is-trapped' : ''}`,
          'data-alert-id': alert.id,
          'data-status': alert.status,
        },
        back,
        h(
          'header',
          { class: 'alert-header' },
          h('h1', { class: 'page-title' }, i18n.pick(alert.title)),
          h(
            'p',
            { class: 'badges' },
            severityBadge(i18n, alert.severity),
            statusBadge(i18n, alert.status),
            alert.escalated ? h('span', { class: 'badge escalated' }, t('escalatedBadge')) : null,
          ),
        ),
        h(
          'div',
          { class: 'alert-grid' },
          h(
            'div',
            { class: 'col-main' },
            alert.rescue ? timeline(alert, alert.rescue) : null,
            actions(alert),
            history(transitions),
          ),
          h('div', { class: 'col-side' }, factList(state.value)),
        ),
      )
    },
    onAlert(event) {
      if (event.alert.id === id) void data.load(true)
    },
    onSync() {
      if (data.state !== null) void data.load(true)
    },
  }
}
