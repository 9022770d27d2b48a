/**
 * What every liftscale dashboard shares: the provisioned datasource, the template variables for tenant,
 * site category, site and device, panel defaults (legends, thresholds, value mappings) and the event
 * code groups taken from the domain catalogue.
 */
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { ELEVATOR_EVENT_CATALOGUE, MODE_CATALOGUE, SCALE_EVENT_CATALOGUE } from '../domain/catalogue.ts'
import {
  ELEVATOR_EVENT_CODES,
  type ElevatorEventCode,
  SCALE_EVENT_CODES,
  type ScaleEventCode,
} from '../domain/protocol.ts'
import {
  type Condition,
  InfluxQLTargetBuilder,
  type ResultFormat,
  showTagValues,
  tagMatchesVariable,
} from './influxql.ts'
import type { Measurement } from './schema.ts'

/** The InfluxDB datasource provisioned by deploy/grafana/provisioning/datasources/influxdb.yaml. */
export const DATASOURCE: common.DataSourceRef = { type: 'influxdb', uid: 'liftscale-influxdb' }

/** Dashboard uids: stable, so links between dashboards and bookmarks survive a rebuild. */
export const UIDS = {
  fleet: 'liftscale-fleet',
  elevator: 'liftscale-elevator',
  metering: 'liftscale-metering',
  scale: 'liftscale-scale',
  platform: 'liftscale-platform',
} as const

export const TAGS = ['liftscale']

/** The district's clock (China keeps UTC+8 all year). */
export const TIMEZONE = 'Asia/Shanghai'

/** JJG 539: a zero beyond +-0.5e is outside the initial-verification error (alerts ZERO_OFFSET_LIMIT_E). */
export const ZERO_OFFSET_LIMIT_E = 0.5

/**
 * Window over which `alerts_active` is read for "now": three snapshot periods of the alerts service
 * (ALERTS_SNAPSHOT_INTERVAL_S = 60), so one late snapshot does not blank the panel.
 */
export const ALERT_SNAPSHOT_WINDOW = '3m'

const codesOf = <C extends string>(
  codes: readonly C[],
  catalogue: Record<C, { group: string }>,
  group: string,
): C[] => codes.filter((code) => catalogue[code].group === group)

/** Elevator event codes the provincial catalogue files as faults (domain/catalogue.ts). */
export const FAULT_CODES: ElevatorEventCode[] = codesOf(
  ELEVATOR_EVENT_CODES,
  ELEVATOR_EVENT_CATALOGUE,
  'fault',
)
/** Scale events that may mean cheating: case opened, seal broken, unlock, calibration or parameter change. */
export const TAMPER_CODES: ScaleEventCode[] = codesOf(SCALE_EVENT_CODES, SCALE_EVENT_CATALOGUE, 'tamper')

/** `Door fails to close (2)`: the legend text of an elevator event code. */
export function elevatorCodeLabel(code: ElevatorEventCode): string {
  const entry = ELEVATOR_EVENT_CATALOGUE[code]
  return entry.catalogueNo === null ? entry.en : `${entry.en} (${entry.catalogueNo})`
}

export function scaleCodeLabel(code: ScaleEventCode): string {
  return SCALE_EVENT_CATALOGUE[code].en
}

// ---------------------------------------------------------------- targets

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** A raw InfluxQL target on the liftscale datasource. */
export function target(
  query: string | { render(): string },
  options: { refId?: string; format?: ResultFormat; alias?: string } = {},
): InfluxQLTargetBuilder {
  const builder = new InfluxQLTargetBuilder(query)
    .datasource(DATASOURCE)
    .format(options.format ?? 'time_series')
  builder.refId(options.refId ?? 'A')
  if (options.alias) builder.alias(options.alias)
  return builder
}

/** Targets lettered A, B, C... in order. */
export function targets(...list: Array<Parameters<typeof target>>): InfluxQLTargetBuilder[] {
  return list.map(([query, options], i) => target(query, { ...options, refId: REF_IDS[i] ?? `Q${i}` }))
}

// ---------------------------------------------------------------- variables

/** Variable names, used both in the variable list and in the queries' `$name`. */
export const VARS = {
  tenant: 'tenant',
  category: 'category',
  site: 'site',
  device: 'device',
  instance: 'instance',
  online: 'online',
} as const

/** The tag filters of a dashboard with tenant, category and site variables. */
export const SITE_FILTER = {
  tenant_id: VARS.tenant,
  site_category: VARS.category,
  site_id: VARS.site,
} as const

function tagVariable(
  name: string,
  label: string,
  tag: string,
  options: { from?: Measurement; where?: Condition[]; description: string },
): dashboard.QueryVariableBuilder {
  const query = showTagValues(tag, { from: options.from, where: options.where })
  return (
    new dashboard.QueryVariableBuilder(name)
      .label(label)
      .description(options.description)
      .datasource(DATASOURCE)
      .query(query)
      .definition(query)
      .refresh(dashboard.VariableRefresh.OnDashboardLoad)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      // `.*` rather than Grafana's default (every value joined into one regex): a district has
      // thousands of scales, and `/^.*$/` also keeps the query short.
      .allValue('.*')
      .current({ selected: true, text: ['All'], value: ['$__all'] })
  )
}

/** Tenant (maintenance firm or site operator), over every measurement. */
export function tenantVariable(from?: Measurement): dashboard.QueryVariableBuilder {
  return tagVariable(VARS.tenant, 'Tenant', 'tenant_id', {
    from,
    description: 'Maintenance firm (elevators) or site operator (scales)',
  })
}

export function categoryVariable(from?: Measurement): dashboard.QueryVariableBuilder {
  return tagVariable(VARS.category, 'Site category', 'site_category', {
    from,
    where: [tagMatchesVariable('tenant_id', VARS.tenant)],
    description: 'Market, mall, supermarket, school, metro...',
  })
}

export function siteVariable(from?: Measurement): dashboard.QueryVariableBuilder {
  return tagVariable(VARS.site, 'Site', 'site_id', {
    from,
    where: [tagMatchesVariable('tenant_id', VARS.tenant), tagMatchesVariable('site_category', VARS.category)],
    description: 'Sites of the selected tenants and categories',
  })
}

/** One device of the given kind (detail dashboards show a single device). */
export function deviceVariable(from: Measurement, label: string): dashboard.QueryVariableBuilder {
  const query = showTagValues('device_id', {
    from,
    where: [
      tagMatchesVariable('tenant_id', VARS.tenant),
      tagMatchesVariable('site_category', VARS.category),
      tagMatchesVariable('site_id', VARS.site),
    ],
  })
  return new dashboard.QueryVariableBuilder(VARS.device)
    .label(label)
    .description('Device id as registered (one device at a time)')
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(false)
    .includeAll(false)
}

/** The standard tenant / category / site trio, optionally restricted to one measurement's devices. */
export function siteVariables(from?: Measurement): dashboard.QueryVariableBuilder[] {
  return [tenantVariable(from), categoryVariable(from), siteVariable(from)]
}

// ---------------------------------------------------------------- field config helpers

export function thresholds(...steps: Array<[number | null, string]>): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })))
}

export function fixedColor(color: string): dashboard.FieldColorBuilder {
  return new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Fixed).fixedColor(color)
}

export function thresholdColors(): dashboard.FieldColorBuilder {
  return new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds)
}

export function paletteColors(): dashboard.FieldColorBuilder {
  return new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.PaletteClassic)
}

/** Value -> display text and colour. */
export function valueMap(options: Record<string, { text: string; color?: string }>): dashboard.ValueMapping {
  const entries = Object.entries(options).map(([value, result], index) => [value, { ...result, index }])
  return { type: dashboard.MappingType.ValueToText, options: Object.fromEntries(entries) }
}

export const MODE_MAPPING = valueMap({
  normal: { text: 'Normal', color: 'green' },
  inspection: { text: MODE_CATALOGUE.inspection.en, color: 'blue' },
  maintenance: { text: MODE_CATALOGUE.maintenance.en, color: 'blue' },
  fire_return: { text: MODE_CATALOGUE.fire_return.en, color: 'red' },
  firefighter: { text: MODE_CATALOGUE.firefighter.en, color: 'red' },
  emergency_power: { text: MODE_CATALOGUE.emergency_power.en, color: 'orange' },
  out_of_service: { text: MODE_CATALOGUE.out_of_service.en, color: 'text' },
  earthquake: { text: MODE_CATALOGUE.earthquake.en, color: 'dark-red' },
})

export const DOOR_MAPPING = valueMap({
  closed: { text: 'Closed', color: 'green' },
  opening: { text: 'Opening', color: 'yellow' },
  open: { text: 'Open', color: 'blue' },
  closing: { text: 'Closing', color: 'yellow' },
})

export const DIRECTION_MAPPING = valueMap({
  up: { text: 'Up', color: 'purple' },
  down: { text: 'Down', color: 'blue' },
  stopped: { text: 'Stopped', color: 'text' },
})

/** A boolean signal where true is the safe state (circuit closed, power on, seal intact). */
export function safeWhenTrue(trueText: string, falseText: string): dashboard.ValueMapping {
  return valueMap({ true: { text: trueText, color: 'green' }, false: { text: falseText, color: 'red' } })
}

/** A boolean signal where true needs attention (alarm pressed, car occupied). */
export function attentionWhenTrue(
  trueText: string,
  falseText: string,
  color = 'orange',
): dashboard.ValueMapping {
  return valueMap({ true: { text: trueText, color }, false: { text: falseText, color: 'green' } })
}

export const SEVERITY_COLORS: Record<string, string> = {
  critical: 'red',
  major: 'orange',
  warning: 'yellow',
  info: 'blue',
}

export function legend(
  options: { placement?: 'bottom' | 'right'; table?: boolean; calcs?: string[] } = {},
): common.VizLegendOptionsBuilder {
  return new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(options.table ? common.LegendDisplayMode.Table : common.LegendDisplayMode.List)
    .placement(options.placement === 'right' ? common.LegendPlacement.Right : common.LegendPlacement.Bottom)
    .calcs(options.calcs ?? [])
}

export function hiddenLegend(): common.VizLegendOptionsBuilder {
  return new common.VizLegendOptionsBuilder()
    .showLegend(false)
    .displayMode(common.LegendDisplayMode.Hidden)
    .placement(common.LegendPlacement.Bottom)
    .calcs([])
}

export function reduce(calc: 'lastNotNull' | 'sum' | 'max' | 'count'): common.ReduceDataOptionsBuilder {
  return new common.ReduceDataOptionsBuilder().calcs([calc]).values(false)
}

/** Override: this series or column shows as `displayName` (legend text for a code, say). */
export function rename(displayName: string): dashboard.DynamicConfigValue[] {
  return [{ id: 'displayName', value: displayName }]
}

export function color(colorName: string): dashboard.DynamicConfigValue {
  return { id: 'color', value: { mode: 'fixed', fixedColor: colorName } }
}

/**
 * Transformations that put several table queries side by side, one row per key: drop each frame's
 * time column (an aggregate's time is its window start, which differs per query), then merge on the
 * columns they share (the grouping tags).
 */
export function mergeTables(
  columnNames: Record<string, string>,
  order: string[],
): dashboard.DataTransformerConfig[] {
  return [
    { id: 'organize', options: { excludeByName: { Time: true } } },
    { id: 'merge', options: {} },
    {
      id: 'organize',
      options: {
        renameByName: columnNames,
        indexByName: Object.fromEntries(order.map((name, i) => [name, i])),
      },
    },
  ]
}

/** Links to every other liftscale dashboard, keeping the time range and the variables. */
export function dashboardLinks(): dashboard.DashboardLinkBuilder[] {
  return [
    new dashboard.DashboardLinkBuilder('liftscale')
      .type(dashboard.DashboardLinkType.Dashboards)
      .tags(TAGS)
      .asDropdown(true)
      .includeVars(true)
      .keepTime(true)
      .icon('external link')
      .tooltip('Other liftscale dashboards')
      .url('')
      .targetBlank(false),
  ]
}

/** The dashboard skeleton every liftscale dashboard starts from. */
export function baseDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(TAGS)
    .timezone(TIMEZONE)
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .readonly()
    .links(dashboardLinks())
}
