/**
 * The live alert board: counts at the top, a banner nobody can miss while a passenger is trapped,
 * filters kept in the URL, and the alerts with trapped passengers first, then by severity and time.
 */
import type { AlertSummary } from '../../../alerts/api/schemas.ts'
import { ALERT_RULES } from '../../../alerts/rules.ts'
import { ALERT_TYPES, type NamedAlert } from '../../../alerts/types.ts'
import { type Child, datum, h } from '../dom.ts'
import { formatDateTime } from '../format.ts'
import { CATEGORY_KEYS, SEVERITY_KEYS, STATUS_KEYS } from '../i18n.ts'
import { countdown, elapsed } from '../live-times.ts'
import {
  alertHash,
  alertsQuery,
  availableActions,
  compareAlerts,
  deviceHash,
  deviceLabel,
  filterFromQuery,
  filterToQuery,
  isActiveRescue,
  matchesFilter,
  nextStep,
  OVERDUE_TYPES,
  routeHash,
  SEVERITIES,
  SITE_CATEGORIES,
  summaryQuery,
} from '../logic.ts'
import { ACTION_KEYS, type Ctx, errorBlock, severityBadge, statusBadge, type View } from '../ui.ts'

/** The board's URL parameters (filterToQuery). */
type BoardParam = 'status' | 'severity' | 'type' | 'site' | 'siteCategory' | 'tenant'

/** Alerts fetched for the board; the API's page limit is 500. */
const BOARD_LIMIT = 200

export function createBoardView(ctx: Ctx, query: URLSearchParams): View {
  const filter = filterFromQuery(query, { types: ALERT_TYPES })
  let alerts = new Map<string, NamedAlert>()
  let total = 0
  let loaded = false
  let error: unknown = null
  let counts: AlertSummary | null = null
  let generation = 0
  // Alerts changed while the list is being fetched are applied again on top of it.
  let buffered: NamedAlert[] | null = null
  let countsTimer: number | undefined

  /** The alert as it is now (from the stream or an action's answer), on or off this board. */
  function apply(alert: NamedAlert): void {
    const had = alerts.has(alert.id)
    if (matchesFilter(alert, filter)) {
      alerts.set(alert.id, alert)
      if (!had) total += 1
    } else if (had) {
      alerts.delete(alert.id)
      total = Math.max(0, total - 1)
    }
  }

  async function loadList(): Promise<void> {
    const gen = ++generation
    buffered = []
    try {
      const page = await ctx.api.alerts(alertsQuery(filter, BOARD_LIMIT))
      if (gen !== generation) return
      alerts = new Map(page.items.map((a) => [a.id, a]))
      total = page.total
      for (const alert of buffered ?? []) apply(alert)
      error = null
    } catch (err) {
      if (gen !== generation) return
      error = err
    } finally {
      if (gen === generation) {
        buffered = null
        loaded = true
        ctx.rerender()
      }
    }
  }

  async function loadCounts(): Promise<void> {
    try {
      counts = await ctx.api.summary(summaryQuery(filter))
      ctx.rerender()
    } catch {
      // the list shows the error; counts keep their last values
    }
  }

  /** At most one refetch of the counts per 300 ms, however fast changes arrive (a throttle, not a debounce). */
  function scheduleCounts(): void {
    if (countsTimer !== undefined) return
    countsTimer = window.setTimeout(() => {
      countsTimer = undefined
      void loadCounts()
    }, 300)
  }

  function setParam(name: string, value: string): void {
    const params = filterToQuery(filter)
    params[name] = value === '' ? undefined : value
    ctx.navigate(routeHash('/board', params))
  }

  function filterForm(): HTMLElement {
    const { i18n, me } = ctx
    const t = i18n.t
    const field = (id: string, label: string, control: HTMLElement) =>
      h('div', { class: 'field' }, h('label', { for: id }, label), control)
    const option = (value: string, label: Child, selected: boolean, isData = false) =>
      h('option', { value, selected, ...(isData ? { translate: 'no' } : {}) }, label)
    const select = (id: string, key: BoardParam, options: HTMLOptionElement[]) =>
      h(
        'select',
        {
          id,
          name: key,
          'data-key': `filter-${key}`,
          onchange: (event: Event) => {
            const target = event.target
            if (target instanceof HTMLSelectElement) setParam(key, target.value)
          },
        },
        options,
      )
    const statusSelect = select(
      'f-status',
      'status',
      (['active', 'open', 'acknowledged', 'resolved'] as const).map((s) =>
        option(s === 'active' ? '' : s, t(STATUS_KEYS[s]), filter.status === s),
      ),
    )
    const sites = [...ctx.sites.values()].sort((a, b) => a.name.localeCompare(b.name, 'zh-CN'))
    const tenants = [...ctx.tenants.values()].sort((a, b) => a.name.localeCompare(b.name, 'zh-CN'))
    /**
     * The options of a filter of several values: all, each value, and, when the URL asks for several
     * (the overdue count's link, say), one more option standing for that set.
     */
    const listOptions = <T extends string>(
      chosen: readonly T[],
      values: readonly T[],
      label: (value: T) => string,
    ): HTMLOptionElement[] => [
      option('', t('filterAll'), chosen.length === 0),
      ...(chosen.length > 1
        ? [option(chosen.join(','), chosen.map(label).join(t('listSeparator')), true)]
        : []),
      ...values.map((v) => option(v, label(v), chosen.length === 1 && chosen[0] === v)),
    ]
    const hasFilter =
      filter.severities.length > 0 ||
      filter.types.length > 0 ||
      filter.site ||
      filter.siteCategory ||
      filter.tenant ||
      filter.status !== 'active'
    return h(
      'form',
      { class: 'filters', 'aria-label': t('filters'), onsubmit: (e: Event) => e.preventDefault() },
      field(
        'f-severity',
        t('filterSeverity'),
        select(
          'f-severity',
          'severity',
          listOptions(filter.severities, SEVERITIES, (s) => t(SEVERITY_KEYS[s])),
        ),
      ),
      field(
        'f-type',
        t('filterType'),
        select(
          'f-type',
          'type',
          listOptions(filter.types, ALERT_TYPES, (type) => i18n.pick(ALERT_RULES[type].title)),
        ),
      ),
      field(
        'f-site',
        t('filterSite'),
        select('f-site', 'site', [
          option('', t('filterAll'), !filter.site),
          ...sites.map((site) => option(site.id, site.name, filter.site === site.id, true)),
        ]),
      ),
      field(
        'f-category',
        t('filterCategory'),
        select('f-category', 'siteCategory', [
          option('', t('filterAll'), !filter.siteCategory),
          ...SITE_CATEGORIES.map((c) => option(c, t(CATEGORY_KEYS[c]), filter.siteCategory === c)),
        ]),
      ),
      me.role === 'tenant'
        ? null
        : field(
            'f-tenant',
            t('filterTenant'),
            select('f-tenant', 'tenant', [
              option('', t('filterAll'), !filter.tenant),
              ...tenants.map((tn) => option(tn.id, tn.name, filter.tenant === tn.id, true)),
            ]),
          ),
      field('f-status', t('filterStatus'), statusSelect),
      hasFilter
        ? h(
            'a',
            { class: 'btn btn-quiet clear-filters', href: '#/board', 'data-key': 'filter-clear' },
            t('clearFilters'),
          )
        : null,
    )
  }

  function countTiles(): HTMLElement {
    const t = ctx.i18n.t
    const tile = (
      name: string,
      label: string,
      value: number | null,
      href: string,
      more: { extra?: Child; hint?: string } = {},
    ) => {
      const body = [
        h('span', { class: 'count-value', 'data-count': name }, value === null ? '…' : String(value)),
        h('span', { class: 'count-label' }, label),
        more.extra ?? null,
      ]
      const cls = `count count-${name}${value ? ' has-value' : ''}`
      const hint = more.hint ? { title: more.hint } : {}
      return h('li', null, h('a', { class: cls, href, 'data-key': `count-${name}`, ...hint }, body))
    }
    // Each count is of the filters in force (status aside: counts are of active alerts); its link opens
    // the board with those filters and its own.
    const scope = summaryQuery(filter)
    const late = counts?.rescuesLate ?? 0
    return h(
      'ul',
      { class: 'counts', 'aria-label': t('countsLabel') },
      tile(
        'open',
        t('countOpen'),
        counts ? counts.open + counts.acknowledged : null,
        routeHash('/board', scope),
      ),
      tile(
        'critical',
        t('countCritical'),
        counts?.critical ?? null,
        routeHash('/board', { ...scope, severity: 'critical' }),
      ),
      tile(
        'rescues',
        t('countRescues'),
        counts?.rescuesInProgress ?? null,
        routeHash('/board', { ...scope, type: 'trapped' }),
        {
          extra:
            late > 0
              ? h(
                  'span',
                  { class: 'count-late', 'data-count': 'rescues-late' },
                  h('span', { 'aria-hidden': 'true' }, '⚠ '),
                  t('countRescuesLate', { n: late }),
                )
              : null,
        },
      ),
      tile(
        'overdue',
        t('countOverdue'),
        counts?.overdue ?? null,
        routeHash('/board', { ...scope, type: OVERDUE_TYPES.join(',') }),
        { hint: t('countOverdueHint') },
      ),
    )
  }

  function trappedBanner(): HTMLElement | null {
    const t = ctx.i18n.t
    const rescues = [...alerts.values()].filter(isActiveRescue)
    const n = Math.max(counts?.rescuesInProgress ?? 0, rescues.length)
    if (n === 0) return null
    const first = rescues.sort(compareAlerts)[0]
    return h(
      'div',
      { class: 'trapped-banner', role: 'alert' },
      h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, '⚠'),
      h('strong', null, n === 1 ? t('trappedBannerOne') : t('trappedBanner', { n })),
      first
        ? h(
            'a',
            { class: 'btn btn-on-danger', href: alertHash(first.id), 'data-key': 'banner-open' },
            t('openDetails'),
          )
        : null,
    )
  }

  function alertCard(alert: NamedAlert): HTMLElement {
    const { i18n, me } = ctx
    const t = i18n.t
    const rescue = alert.rescue
    const isRescue = isActiveRescue(alert)
    const step = nextStep(availableActions(alert, me))
    return h(
      'li',
      {
        class: `alert-card sev-${alert.severity} status-${alert.status}${isRescue ? ' is-rescue' : ''}${alert.escalated ? ' is-escalated' : ''}`,
        'data-alert-id': alert.id,
        'data-alert-type': alert.type,
        'data-device-id': alert.deviceId,
        'data-status': alert.status,
      },
      h(
        'div',
        { class: 'card-head' },
        severityBadge(i18n, alert.severity),
        statusBadge(i18n, alert.status),
        alert.escalated ? h('span', { class: 'badge escalated' }, t('escalatedBadge')) : null,
        alert.count > 1 ? h('span', { class: 'badge quiet' }, t('repeated', { n: alert.count })) : null,
      ),
      h(
        'h3',
        { class: 'card-title' },
        h(
          'a',
          { href: alertHash(alert.id), 'data-key': `open-${alert.id}`, class: 'stretched' },
          isRescue ? h('span', { class: 'rescue-icon', 'aria-hidden': 'true' }, '⚠ ') : null,
          i18n.pick(alert.title),
        ),
      ),
      h(
        'p',
        { class: 'card-where' },
        h(
          'a',
          { href: deviceHash(alert.deviceId), 'data-key': `dev-${alert.id}` },
          datum(deviceLabel(alert)),
        ),
        ' · ',
        datum(alert.siteName ?? alert.siteId ?? ''),
        alert.siteCategory ? [' · ', t(CATEGORY_KEYS[alert.siteCategory])] : null,
      ),
      h(
        'p',
        { class: 'card-when' },
        h('span', null, `${t('since')} `),
        h('time', { datetime: new Date(alert.openedAt).toISOString() }, formatDateTime(alert.openedAt)),
        ' · ',
        elapsed(alert.openedAt),
      ),
      isRescue && rescue
        ? h(
            'p',
            { class: 'card-rescue' },
            rescue.acceptedAt === null
              ? [
                  t('limitAccept', { min: Math.round((rescue.acceptDeadline - rescue.alarmAt) / 60000) }),
                  t('colon'),
                ]
              : [
                  t('limitArrive', { min: Math.round((rescue.arriveDeadline - rescue.alarmAt) / 60000) }),
                  t('colon'),
                ],
            rescue.acceptedAt === null
              ? countdown({ start: rescue.alarmAt, deadline: rescue.acceptDeadline, doneAt: null })
              : countdown({
                  start: rescue.alarmAt,
                  deadline: rescue.arriveDeadline,
                  doneAt: rescue.arrivedAt,
                }),
          )
        : null,
      step && step !== 'resolve' && step !== 'comment'
        ? h(
            'div',
            { class: 'card-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-primary',
                'data-action': step,
                'data-key': `act-${alert.id}`,
                onclick: async (event: Event) => {
                  const button = event.currentTarget
                  if (button instanceof HTMLButtonElement) button.disabled = true
                  const updated = await ctx.act(alert, step)
                  // The answer is the alert as the stream will bring it a moment later.
                  if (updated) apply(updated)
                  ctx.rerender()
                },
              },
              t(ACTION_KEYS[step]),
            ),
          )
        : null,
    )
  }

  return {
    render() {
      const t = ctx.i18n.t
      const sorted = [...alerts.values()].sort(compareAlerts)
      return h(
        'div',
        { class: 'board' },
        h('h1', { class: 'page-title' }, t('boardTitle')),
        trappedBanner(),
        countTiles(),
        filterForm(),
        error
          ? errorBlock(ctx.i18n, error, () => void loadList())
          : !loaded
            ? h('p', { class: 'loading', role: 'status' }, t('loading'))
            : sorted.length === 0
              ? h('p', { class: 'empty' }, t('noAlerts'))
              : [
                  h('ul', { class: 'alert-list', 'aria-label': t('alertList') }, sorted.map(alertCard)),
                  total > sorted.length
                    ? h('p', { class: 'muted' }, t('showingOf', { shown: sorted.length, total }))
                    : null,
                ],
      )
    },
    onAlert({ alert }) {
      if (buffered) buffered.push(alert)
      apply(alert)
      scheduleCounts()
      ctx.rerender()
    },
    onSync() {
      void loadList()
      void loadCounts()
    },
    dispose() {
      window.clearTimeout(countsTimer)
      generation += 1
    },
  }
}
