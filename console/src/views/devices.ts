/**
 * Devices the token may see (a firm sees its own), paged; and one device: its latest status, recent
 * events and alerts, and its maintenance, inspection and verification dates with what is overdue.
 */
import type { Alert, MaintenanceRecord } from '../../../alerts/types.ts'
import { ELEVATOR_EVENT_CATALOGUE, MODE_CATALOGUE, SCALE_EVENT_CATALOGUE } from '../../../domain/catalogue.ts'
import type { Device } from '../../../domain/registry-types.ts'
import type { InspectionRecord, VerificationRecord } from '../../../registry/certification.ts'
import type { DeviceDetail } from '../api.ts'
import { type Child, datum, h } from '../dom.ts'
import { formatDateTime } from '../format.ts'
import {
  CATEGORY_KEYS,
  ENUM_VALUE_KEYS,
  MAINTENANCE_KIND_KEYS,
  STATUS_FIELD_KEYS,
  TENANT_KIND_KEYS,
} from '../i18n.ts'
import { elapsed } from '../live-times.ts'
import { alertHash, deviceHash, routeHash } from '../logic.ts'
import {
  type Ctx,
  errorBlock,
  facts,
  loader,
  loadingBlock,
  section,
  severityBadge,
  siteName,
  statusBadge,
  tenantName,
  timeOrDash,
  type View,
} from '../ui.ts'

const PAGE = 50

export function createDevicesView(ctx: Ctx, query: URLSearchParams): View {
  const kindParam = query.get('kind')
  const kind = kindParam === 'elevator' || kindParam === 'scale' ? kindParam : undefined
  const offset = Math.max(0, Number(query.get('offset')) || 0)
  const data = loader(ctx, () => ctx.api.devices({ kind, limit: PAGE, offset }))
  void data.load()

  function row(device: Device): HTMLElement {
    const t = ctx.i18n.t
    return h(
      'tr',
      { 'data-device-id': device.id },
      h('td', null, h('a', { href: deviceHash(device.id) }, datum(device.id))),
      h('td', null, datum(device.name ?? '')),
      h('td', null, t(device.kind === 'elevator' ? 'kindElevator' : 'kindScale')),
      h('td', null, siteName(ctx, device.siteId)),
      h('td', null, tenantName(ctx, device.tenantId)),
      h('td', null, t(device.inService ? 'inServiceYes' : 'inServiceNo')),
    )
  }

  return {
    render() {
      const { i18n } = ctx
      const t = i18n.t
      const state = data.state
      const kindSelect = h(
        'select',
        {
          id: 'd-kind',
          'data-key': 'device-kind',
          onchange: (event: Event) => {
            const target = event.target
            if (target instanceof HTMLSelectElement)
              ctx.navigate(routeHash('/devices', { kind: target.value || undefined }))
          },
        },
        h('option', { value: '', selected: !kind }, t('filterAll')),
        h('option', { value: 'elevator', selected: kind === 'elevator' }, t('kindElevator')),
        h('option', { value: 'scale', selected: kind === 'scale' }, t('kindScale')),
      )
      let body: Child
      if (state === null) body = loadingBlock(i18n)
      else if (!state.ok) body = errorBlock(i18n, state.error, () => void data.load())
      else if (state.value.items.length === 0) body = h('p', { class: 'empty' }, t('noDevices'))
      else {
        const page = state.value
        const to = page.offset + page.items.length
        const pageLink = (label: string, at: number | null) =>
          at === null
            ? null
            : h(
                'a',
                { class: 'btn btn-secondary', href: routeHash('/devices', { kind, offset: String(at) }) },
                label,
              )
        body = [
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'devices', 'aria-label': t('deviceList') },
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  [
                    t('colId'),
                    t('colName'),
                    t('colKind'),
                    t('colSite'),
                    t('colTenant'),
                    t('colInService'),
                  ].map((label) => h('th', { scope: 'col' }, label)),
                ),
              ),
              h('tbody', null, page.items.map(row)),
            ),
          ),
          h(
            'nav',
            { class: 'pager', 'aria-label': t('deviceList') },
            h('span', null, t('pageOf', { from: page.offset + 1, to, total: page.total })),
            pageLink(t('prevPage'), page.offset > 0 ? Math.max(0, page.offset - PAGE) : null),
            pageLink(t('nextPage'), to < page.total ? to : null),
          ),
        ]
      }
      return h(
        'div',
        { class: 'devices-page' },
        h('h1', { class: 'page-title' }, t('devicesTitle')),
        h(
          'form',
          { class: 'filters', onsubmit: (e: Event) => e.preventDefault() },
          h('div', { class: 'field' }, h('label', { for: 'd-kind' }, t('filterKind')), kindSelect),
        ),
        body,
      )
    },
  }
}

type Records = {
  recentAlerts: Alert[]
  maintenance: MaintenanceRecord[]
  inspections: InspectionRecord[]
  verifications: VerificationRecord[]
}

export function createDeviceView(ctx: Ctx, id: string): View {
  const data = loader<{ detail: DeviceDetail; records: Records }>(ctx, async () => {
    const detail = await ctx.api.device(id)
    const isElevator = detail.device.kind === 'elevator'
    // Certification may not be configured (503): the page still shows the rest.
    const none = <T>(): Promise<T[]> => Promise.resolve([])
    const [alerts, maintenance, inspections, verifications] = await Promise.all([
      ctx.api.alerts({ device: id, limit: 20 }),
      isElevator
        ? ctx.api
            .maintenance({ device: id, limit: 10 })
            .then((r) => r.items)
            .catch(none<MaintenanceRecord>)
        : none<MaintenanceRecord>(),
      isElevator
        ? ctx.api
            .inspections(id)
            .then((r) => r.items)
            .catch(none<InspectionRecord>)
        : none<InspectionRecord>(),
      isElevator
        ? none<VerificationRecord>()
        : ctx.api
            .verifications(id)
            .then((r) => r.items)
            .catch(none<VerificationRecord>),
    ])
    return { detail, records: { recentAlerts: alerts.items, maintenance, inspections, verifications } }
  })
  void data.load()

  function eventLabel(code: string, detail: Record<string, unknown> | undefined): Child {
    const { i18n } = ctx
    const entry =
      code in ELEVATOR_EVENT_CATALOGUE
        ? ELEVATOR_EVENT_CATALOGUE[code as keyof typeof ELEVATOR_EVENT_CATALOGUE]
        : code in SCALE_EVENT_CATALOGUE
          ? SCALE_EVENT_CATALOGUE[code as keyof typeof SCALE_EVENT_CATALOGUE]
          : null
    const mode = detail?.mode
    const modeEntry =
      code === 'mode_change' && typeof mode === 'string' && mode in MODE_CATALOGUE
        ? MODE_CATALOGUE[mode as keyof typeof MODE_CATALOGUE]
        : null
    if (modeEntry) return `${i18n.pick(entry ?? modeEntry)}: ${i18n.pick(modeEntry)}`
    return entry ? i18n.pick(entry) : datum(code)
  }

  function statusValue(key: string, value: unknown): Child {
    const { i18n } = ctx
    const t = i18n.t
    if (typeof value === 'boolean') return t(value ? 'yes' : 'no')
    if (key === 'ts' && typeof value === 'number') return formatDateTime(value)
    if (key === 'mode' && typeof value === 'string' && value in MODE_CATALOGUE)
      return i18n.pick(MODE_CATALOGUE[value as keyof typeof MODE_CATALOGUE])
    if (typeof value === 'string') {
      const k = ENUM_VALUE_KEYS[value]
      return k ? t(k) : datum(value)
    }
    return datum(typeof value === 'number' ? value : JSON.stringify(value))
  }

  function latestStatus(detail: DeviceDetail): HTMLElement {
    const t = ctx.i18n.t
    const status = detail.snapshot?.lastStatus
    if (typeof status !== 'object' || status === null)
      return section(t('latestStatus'), h('p', { class: 'muted' }, t('noStatus')))
    const rows = Object.entries(status).map(([key, value]) => {
      const label = STATUS_FIELD_KEYS[key]
      return [label ? t(label) : key, statusValue(key, value)] as const
    })
    return section(t('latestStatus'), facts(rows))
  }

  function flagBadge(isOn: boolean, label: string, level: 'late' | 'soon'): HTMLElement | null {
    return isOn
      ? h(
          'span',
          { class: `badge flag flag-${level}` },
          h('span', { 'aria-hidden': 'true' }, level === 'late' ? '⚠ ' : '◷ '),
          label,
        )
      : null
  }

  function dates(detail: DeviceDetail): HTMLElement {
    const { i18n } = ctx
    const t = i18n.t
    const { device, flags, maintenance } = detail
    const dateText = (value: string | null) => value ?? t('dash')
    // The API's figure takes the maintenance log into account as well as the registry's date.
    const lastMaintenance = maintenance ? maintenance.lastMaintenanceAt : null
    const anyOverdue =
      flags.maintenanceOverdue ||
      flags.inspectionOverdue ||
      flags.verificationOverdue ||
      flags.inspectionDue ||
      flags.verificationDue
    const rows: Array<readonly [string, Child] | null> =
      device.kind === 'elevator'
        ? [
            [
              t('lastMaintenance'),
              lastMaintenance === null
                ? t('never')
                : [timeOrDash(i18n, lastMaintenance), ' · ', elapsed(lastMaintenance)],
            ],
            maintenance
              ? [
                  t('maintenanceDue'),
                  [
                    h(
                      'span',
                      { class: maintenance.isOverdue ? 'date-late' : '', 'data-key': 'maintenance-due' },
                      maintenance.isOverdue ? h('span', { 'aria-hidden': 'true' }, '⚠ ') : null,
                      maintenance.dueOn,
                    ),
                    ' · ',
                    t('maintenanceEvery', { n: maintenance.intervalDays }),
                  ],
                ]
              : null,
            [t('lastInspection'), dateText(device.lastInspectionOn)],
            [t('nextInspection'), dateText(device.nextInspectionDue)],
          ]
        : [
            [t('lastVerification'), dateText(device.lastVerificationOn)],
            [t('nextVerification'), dateText(device.nextVerificationDue)],
          ]
    return section(
      t('datesTitle'),
      h(
        'p',
        { class: 'flags' },
        anyOverdue
          ? [
              flagBadge(flags.maintenanceOverdue, t('maintenanceOverdue'), 'late'),
              flagBadge(flags.inspectionOverdue, t('inspectionOverdue'), 'late'),
              flagBadge(flags.verificationOverdue, t('verificationOverdue'), 'late'),
              flagBadge(flags.inspectionDue && !flags.inspectionOverdue, t('inspectionDue'), 'soon'),
              flagBadge(flags.verificationDue && !flags.verificationOverdue, t('verificationDue'), 'soon'),
            ]
          : h('span', { class: 'badge flag flag-ok' }, t('nothingOverdue')),
      ),
      facts(rows),
    )
  }

  function alertsTable(title: string, alerts: Alert[]): HTMLElement {
    const { i18n } = ctx
    const t = i18n.t
    return section(
      title,
      alerts.length === 0
        ? h('p', { class: 'muted' }, t('noAlerts'))
        : h(
            'ul',
            { class: 'mini-list' },
            alerts.map((a) =>
              h(
                'li',
                { 'data-alert-id': a.id },
                severityBadge(i18n, a.severity),
                ' ',
                h('a', { href: alertHash(a.id) }, i18n.pick(a.title)),
                ' · ',
                statusBadge(i18n, a.status),
                ' · ',
                h('time', { datetime: new Date(a.openedAt).toISOString() }, formatDateTime(a.openedAt)),
              ),
            ),
          ),
    )
  }

  function recordsTable(headers: string[], rows: Child[][]): HTMLElement {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            headers.map((label) => h('th', { scope: 'col' }, label)),
          ),
        ),
        h(
          'tbody',
          null,
          rows.map((cells) =>
            h(
              'tr',
              null,
              cells.map((c) => h('td', null, c)),
            ),
          ),
        ),
      ),
    )
  }

  function result(passed: boolean | null): string {
    const t = ctx.i18n.t
    return passed === null ? t('pending') : t(passed ? 'passed' : 'failed')
  }

  return {
    render() {
      const { i18n } = ctx
      const t = i18n.t
      const back = h('p', { class: 'back' }, h('a', { href: '#/devices' }, `← ${t('devicesTitle')}`))
      const state = data.state
      if (state === null) return [back, loadingBlock(i18n)]
      if (!state.ok) return [back, errorBlock(i18n, state.error, () => void data.load())]
      const { detail, records } = state.value
      const { device, site, tenant, snapshot } = detail
      const online = snapshot?.online ?? false
      const identity: Array<readonly [string, Child] | null> =
        device.kind === 'elevator'
          ? [
              [t('registrationCode'), datum(device.registrationCode)],
              [t('ratedSpeed'), `${device.ratedSpeedMps} m/s`],
              [t('floors'), String(device.floors)],
            ]
          : [
              [t('certificateNo'), datum(device.certificateNo)],
              [t('accuracyClass'), datum(device.accuracyClass)],
              [t('maxCapacity'), `${device.maxKg} kg`],
              [t('intervalE'), `${device.eG} g`],
            ]
      return h(
        'div',
        { class: 'device-page', 'data-device-id': device.id },
        back,
        h(
          'header',
          { class: 'alert-header' },
          h(
            'h1',
            { class: 'page-title' },
            datum(device.name ?? device.id),
            ' ',
            h('small', null, datum(device.id)),
          ),
          h(
            'p',
            { class: 'badges' },
            h(
              'span',
              { class: `badge ${online ? 'online' : 'offline'}` },
              h('span', { 'aria-hidden': 'true' }, online ? '● ' : '○ '),
              t(online ? 'online' : 'offlineState'),
            ),
            h('span', { class: 'badge quiet' }, t(device.kind === 'elevator' ? 'kindElevator' : 'kindScale')),
            h('span', { class: 'badge quiet' }, t(device.inService ? 'inServiceYes' : 'inServiceNo')),
          ),
        ),
        h(
          'div',
          { class: 'alert-grid' },
          h(
            'div',
            { class: 'col-main' },
            dates(detail),
            alertsTable(t('activeAlerts'), detail.activeAlerts),
            latestStatus(detail),
            section(
              t('recentEvents'),
              (snapshot?.recentEvents.length ?? 0) === 0
                ? h('p', { class: 'muted' }, t('noEvents'))
                : h(
                    'ul',
                    { class: 'mini-list' },
                    [...(snapshot?.recentEvents ?? [])]
                      .sort((a, b) => b.at - a.at)
                      .map((e) =>
                        h(
                          'li',
                          null,
                          h('time', null, formatDateTime(e.at)),
                          ' · ',
                          eventLabel(e.code, e.detail),
                        ),
                      ),
                  ),
            ),
            alertsTable(t('recentAlerts'), records.recentAlerts),
            device.kind === 'elevator'
              ? section(
                  t('maintenanceLog'),
                  records.maintenance.length === 0
                    ? h('p', { class: 'muted' }, t('noMaintenance'))
                    : recordsTable(
                        [t('colStarted'), t('colEnded'), t('colMaintKind'), t('colSource'), t('colActor')],
                        records.maintenance.map((m) => {
                          const kindKey = MAINTENANCE_KIND_KEYS[m.kind]
                          return [
                            formatDateTime(m.startedAt),
                            formatDateTime(m.endedAt),
                            kindKey ? t(kindKey) : datum(m.kind),
                            t(m.source === 'device' ? 'sourceDevice' : 'sourceApi'),
                            m.actor === 'system' ? t('actorSystem') : datum(m.actor),
                          ]
                        }),
                      ),
                )
              : null,
            device.kind === 'elevator'
              ? section(
                  t('inspections'),
                  records.inspections.length === 0
                    ? h('p', { class: 'muted' }, t('noRecords'))
                    : recordsTable(
                        [t('colDeclared'), t('colInspected'), t('colPassed'), t('colValidUntil')],
                        records.inspections.map((r) => [
                          r.declaredOn,
                          r.inspectedOn ?? t('dash'),
                          result(r.passed),
                          r.validUntil ?? t('dash'),
                        ]),
                      ),
                )
              : section(
                  t('verifications'),
                  records.verifications.length === 0
                    ? h('p', { class: 'muted' }, t('noRecords'))
                    : recordsTable(
                        [t('colVerified'), t('colPassed'), t('colValidUntil'), t('colActor')],
                        records.verifications.map((r) => [
                          r.verifiedOn ?? t('dash'),
                          result(r.passed),
                          r.validUntil ?? t('dash'),
                          datum(r.verifier ?? ''),
                        ]),
                      ),
                ),
          ),
          h(
            'div',
            { class: 'col-side' },
            section(
              t('facts'),
              facts([
                [t('factKind'), t(device.kind === 'elevator' ? 'kindElevator' : 'kindScale')],
                ...identity,
                [t('factSite'), datum(site.name)],
                [t('factAddress'), datum(site.address)],
                [t('factCategory'), t(CATEGORY_KEYS[site.category])],
                [t(TENANT_KIND_KEYS[tenant.kind]), datum(tenant.name)],
                [
                  t('lastSeenAt'),
                  snapshot?.lastSeenAt
                    ? [timeOrDash(i18n, snapshot.lastSeenAt), ' · ', elapsed(snapshot.lastSeenAt)]
                    : t('never'),
                ],
              ]),
            ),
          ),
        ),
      )
    },
    onAlert(event) {
      if (event.alert.deviceId === id) void data.load(true)
    },
  }
}
