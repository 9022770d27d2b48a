/**
 * The district plan's figures against their targets, for a period a person picks: verification rate
 * per site category against 99%, inspection declaration against 100%, rescue arrival times against
 * the platform's arrival limit (30 min by default), instruments registered against 10,000. Bars with
 * a target line, a number and a ✓/✗ beside each, so the page reads at a glance and without colour.
 */
import type { ComplianceFigures, ComplianceReport, Ratio } from '../../../alerts/types.ts'
import { type Child, h } from '../dom.ts'
import { formatDateTime, formatPercent, shanghaiDate } from '../format.ts'
import { CATEGORY_KEYS } from '../i18n.ts'
import {
  type Period,
  type PeriodKind,
  periodFromQuery,
  periodOf,
  routeHash,
  VERIFICATION_CATEGORIES,
} from '../logic.ts'
import { type Ctx, errorBlock, loader, loadingBlock, type View } from '../ui.ts'

/** 30 for 1800 s, 1.5 for 90 s. */
const formatMinutes = (minutes: number): string =>
  Number.isInteger(minutes) ? String(minutes) : minutes.toFixed(1)

type BarRow = {
  key: string
  label: Child
  /** 0..1 of the scale. */
  fill: number
  value: string
  sub?: string
  verdict: 'meets' | 'misses' | 'none'
}

export function createComplianceView(ctx: Ctx, query: URLSearchParams): View {
  const today = shanghaiDate(Date.now())
  const period = periodFromQuery(query, today)
  let draft: PeriodKind = period.kind
  const data = loader<ComplianceReport>(ctx, () => ctx.api.compliance(period.from, period.to))
  void data.load()

  /** Horizontal bars against a vertical target line at `target` (0..1 of the scale). */
  function bars(name: string, rows: BarRow[], target: { at: number; label: string }): HTMLElement {
    const t = ctx.i18n.t
    return h(
      'div',
      { class: 'bars', 'data-chart': name },
      rows.map((row) =>
        h(
          'div',
          { class: `bar-row verdict-${row.verdict}`, 'data-row': row.key },
          h('span', { class: 'bar-label' }, row.label),
          h(
            'span',
            { class: 'bar-track', 'aria-hidden': 'true' },
            h('span', {
              class: 'bar-fill',
              style: `width:${(Math.min(1, Math.max(0, row.fill)) * 100).toFixed(2)}%`,
            }),
            h('span', { class: 'bar-target', style: `left:${(target.at * 100).toFixed(2)}%` }),
          ),
          h(
            'span',
            { class: 'bar-value' },
            h('strong', null, row.value),
            row.verdict === 'none'
              ? null
              : h(
                  'span',
                  { class: 'verdict' },
                  h('span', { 'aria-hidden': 'true' }, row.verdict === 'meets' ? ' ✓ ' : ' ✗ '),
                  t(row.verdict === 'meets' ? 'meets' : 'misses'),
                ),
            row.sub ? h('small', null, row.sub) : null,
          ),
        ),
      ),
      h(
        'div',
        { class: 'bar-row bar-axis', 'aria-hidden': 'true' },
        h('span', { class: 'bar-label' }),
        h(
          'span',
          { class: 'bar-track axis' },
          h(
            'span',
            { class: 'bar-target-label', style: `left:${(target.at * 100).toFixed(2)}%` },
            target.label,
          ),
        ),
        h('span', { class: 'bar-value' }),
      ),
    )
  }

  function rateRow(key: string, label: Child, ratio: Ratio, target: number): BarRow {
    const t = ctx.i18n.t
    if (ratio.rate === null) return { key, label, fill: 0, value: t('noData'), verdict: 'none' }
    return {
      key,
      label,
      fill: ratio.rate,
      value: formatPercent(ratio.rate),
      sub: t('dueInPeriod', { num: ratio.numerator, den: ratio.denominator }),
      verdict: ratio.rate >= target ? 'meets' : 'misses',
    }
  }

  function chart(name: string, title: string, desc: string, ...body: Child[]): HTMLElement {
    return h(
      'section',
      { class: 'panel chart', 'aria-labelledby': `${name}-h`, 'data-chart-panel': name },
      h('h2', { id: `${name}-h` }, title),
      h('p', { class: 'muted' }, desc),
      ...body,
    )
  }

  function verificationChart(report: ComplianceReport): HTMLElement {
    const t = ctx.i18n.t
    const target = report.overall.verification.target
    const rows = [
      rateRow('overall', h('strong', null, t('overall')), report.overall.verification, target),
      ...VERIFICATION_CATEGORIES.map((c) =>
        rateRow(c, t(CATEGORY_KEYS[c]), report.byCategory[c].verification, target),
      ),
    ]
    return chart(
      'verification',
      t('verificationChart'),
      t('verificationChartDesc', { target: formatPercent(target, 0) }),
      bars('verification', rows, { at: target, label: t('targetLine', { value: formatPercent(target, 0) }) }),
    )
  }

  function inspectionChart(overall: ComplianceFigures): HTMLElement {
    const t = ctx.i18n.t
    const d = overall.inspectionDeclaration
    const row = rateRow('overall', h('strong', null, t('overall')), d, d.target)
    if (d.rate !== null) row.sub = `${row.sub ?? ''} · ${t('declaredInTime', { n: d.declaredInTime })}`
    return chart(
      'inspection',
      t('inspectionChart'),
      t('inspectionChartDesc', { target: formatPercent(d.target, 0) }),
      bars('inspection', [row], {
        at: d.target,
        label: t('targetLine', { value: formatPercent(d.target, 0) }),
      }),
    )
  }

  /** The line is the platform's RESCUE_ARRIVE_LIMIT_S (TSG T5002: 30 min in a districted city). */
  function rescueChart(overall: ComplianceFigures, limits: ComplianceReport['rescueLimits']): HTMLElement {
    const t = ctx.i18n.t
    const r = overall.rescue
    const limitMin = limits.arriveS / 60
    const limitText = formatMinutes(limitMin)
    const toMin = (s: number | null) => (s === null ? null : s / 60)
    const median = toMin(r.medianArrivalS)
    const p90 = toMin(r.p90ArrivalS)
    const scale = Math.max(limitMin * 1.5, (p90 ?? 0) * 1.1)
    const row = (key: string, label: string, minutes: number | null): BarRow =>
      minutes === null
        ? { key, label, fill: 0, value: t('noData'), verdict: 'none' }
        : {
            key,
            label,
            fill: minutes / scale,
            value: t('minutes', { n: minutes.toFixed(1) }),
            verdict: minutes <= limitMin ? 'meets' : 'misses',
          }
    const within = r.withinLimit
    return chart(
      'rescue',
      t('rescueChart'),
      t('rescueChartDesc', { limit: limitText }),
      bars('rescue', [row('median', t('median'), median), row('p90', t('p90'), p90)], {
        at: limitMin / scale,
        label: t('targetLine', { value: t('minutes', { n: limitText }) }),
      }),
      h(
        'ul',
        { class: 'figures' },
        h('li', null, t('rescues', { n: r.rescues, arrived: r.arrived })),
        h(
          'li',
          null,
          t('withinLimit', { num: within.numerator, den: within.denominator }),
          within.rate === null ? null : ` (${formatPercent(within.rate)})`,
        ),
        h('li', { class: r.acceptMissed > 0 ? 'bad' : '' }, t('acceptMissedN', { n: r.acceptMissed })),
        h('li', { class: r.arriveMissed > 0 ? 'bad' : '' }, t('arriveMissedN', { n: r.arriveMissed })),
      ),
    )
  }

  function instrumentsChart(overall: ComplianceFigures): HTMLElement {
    const t = ctx.i18n.t
    const i = overall.instruments
    const target = i.target ?? 10_000
    const share = i.share ?? i.registered / target
    return chart(
      'instruments',
      t('instrumentsChart'),
      t('instrumentsChartDesc', { target: target.toLocaleString('en-US') }),
      bars(
        'instruments',
        [
          {
            key: 'registered',
            label: h('strong', null, t('overall')),
            fill: share,
            value: `${i.registered.toLocaleString('en-US')} / ${target.toLocaleString('en-US')}`,
            sub: `${formatPercent(share)} · ${t('inServiceN', { n: i.inService })}`,
            verdict: i.registered >= target ? 'meets' : 'misses',
          },
        ],
        { at: 1, label: t('targetLine', { value: target.toLocaleString('en-US') }) },
      ),
    )
  }

  function otherFigures(overall: ComplianceFigures): HTMLElement {
    const t = ctx.i18n.t
    const m = overall.maintenance
    return h(
      'section',
      { class: 'panel' },
      h('h2', null, t('otherFigures')),
      h(
        'ul',
        { class: 'figures' },
        h(
          'li',
          null,
          `${t('maintenanceFigure')}${t('colon')}`,
          h('strong', null, formatPercent(m.rate)),
          m.rate === null ? null : ` (${m.numerator} / ${m.denominator})`,
        ),
        h(
          'li',
          null,
          `${t('escalationsFigure')}${t('colon')}`,
          h('strong', null, String(overall.escalations)),
        ),
        h(
          'li',
          { class: overall.fatalAccidents.count > 0 ? 'bad' : '' },
          `${t('fatalFigure')}${t('colon')}`,
          h('strong', null, String(overall.fatalAccidents.count)),
        ),
      ),
    )
  }

  function periodForm(): HTMLElement {
    const t = ctx.i18n.t
    const year = period.from.slice(0, 4)
    const quarter = String(Math.floor((Number(period.from.slice(5, 7)) - 1) / 3) + 1)
    const field = (id: string, label: string, control: HTMLElement) =>
      h('div', { class: 'field' }, h('label', { for: id }, label), control)
    const yearField = () =>
      field(
        'p-year',
        t('periodYearValue'),
        h('input', {
          id: 'p-year',
          name: 'year',
          type: 'number',
          min: 2000,
          max: 2100,
          value: year,
          required: true,
        }),
      )
    let inputs: HTMLElement[]
    if (draft === 'month')
      inputs = [
        field(
          'p-month',
          t('periodMonthValue'),
          h('input', {
            id: 'p-month',
            name: 'month',
            type: 'month',
            value: period.from.slice(0, 7),
            required: true,
          }),
        ),
      ]
    else if (draft === 'quarter')
      inputs = [
        yearField(),
        field(
          'p-quarter',
          t('periodQuarterValue'),
          h(
            'select',
            { id: 'p-quarter', name: 'quarter' },
            ['1', '2', '3', '4'].map((q) =>
              h('option', { value: q, selected: q === quarter }, t('quarterN', { n: q })),
            ),
          ),
        ),
      ]
    else if (draft === 'year') inputs = [yearField()]
    else
      inputs = [
        field(
          'p-from',
          t('periodFrom'),
          h('input', { id: 'p-from', name: 'from', type: 'date', value: period.from, required: true }),
        ),
        field(
          'p-to',
          t('periodTo'),
          h('input', { id: 'p-to', name: 'to', type: 'date', value: period.to, required: true }),
        ),
      ]
    const onsubmit = (event: Event) => {
      event.preventDefault()
      const form = event.currentTarget
      if (!(form instanceof HTMLFormElement)) return
      const values = new FormData(form)
      const text = (name: string) => String(values.get(name) ?? '')
      let next: Period | null = null
      if (draft === 'month' && /^\d{4}-\d{2}$/.test(text('month')))
        next = periodOf('month', `${text('month')}-01`)
      else if (draft === 'quarter' && /^\d{4}$/.test(text('year'))) {
        const q = Number(text('quarter')) || 1
        next = periodOf('quarter', `${text('year')}-${String((q - 1) * 3 + 1).padStart(2, '0')}-01`)
      } else if (draft === 'year' && /^\d{4}$/.test(text('year')))
        next = periodOf('year', `${text('year')}-01-01`)
      else if (draft === 'custom' && text('from') && text('to') && text('from') <= text('to'))
        next = { kind: 'custom', from: text('from'), to: text('to') }
      if (next) ctx.navigate(routeHash('/compliance', { period: next.kind, from: next.from, to: next.to }))
    }
    return h(
      'form',
      { class: 'filters period-form', 'aria-label': t('period'), onsubmit },
      field(
        'p-kind',
        t('periodKind'),
        h(
          'select',
          {
            id: 'p-kind',
            name: 'kind',
            'data-key': 'period-kind',
            onchange: (event: Event) => {
              const target = event.target
              if (!(target instanceof HTMLSelectElement)) return
              const value = target.value
              if (value === 'month' || value === 'quarter' || value === 'year' || value === 'custom')
                draft = value
              ctx.rerender()
            },
          },
          (
            [
              ['month', 'periodMonth'],
              ['quarter', 'periodQuarter'],
              ['year', 'periodYear'],
              ['custom', 'periodCustom'],
            ] as const
          ).map(([value, key]) => h('option', { value, selected: value === draft }, t(key))),
        ),
      ),
      inputs,
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-key': 'period-apply' }, t('apply')),
    )
  }

  return {
    render() {
      const { i18n } = ctx
      const t = i18n.t
      const state = data.state
      let body: Child
      if (state === null) body = loadingBlock(i18n)
      else if (!state.ok) body = errorBlock(i18n, state.error, () => void data.load())
      else {
        const report = state.value
        body = [
          h(
            'p',
            { class: 'muted period-shown', 'data-from': report.period.from, 'data-to': report.period.to },
            `${t('period')}${t('colon')}${report.period.from} – ${report.period.to} · `,
            t('generatedAt', { time: formatDateTime(report.generatedAt) }),
          ),
          h(
            'div',
            { class: 'charts' },
            verificationChart(report),
            inspectionChart(report.overall),
            rescueChart(report.overall, report.rescueLimits),
            instrumentsChart(report.overall),
            otherFigures(report.overall),
          ),
        ]
      }
      return h(
        'div',
        { class: 'compliance-page' },
        h('h1', { class: 'page-title' }, t('complianceTitle')),
        periodForm(),
        body,
      )
    },
  }
}
