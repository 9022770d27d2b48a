/**
 * Panels and queries that several liftscale dashboards build the same way: event counts within the site
 * filter, the active-alert count from the `alerts_active` snapshot, a device's events (annotation and
 * table), and the "should be zero" count stat. Each helper makes the builder calls in the order the
 * dashboards made them, so the provisioned JSON keeps its key order.
 */
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import {
  ALERT_SNAPSHOT_WINDOW,
  DATASOURCE,
  reduce,
  rename,
  SITE_FILTER,
  target,
  thresholdColors,
  thresholds,
  VARS,
  ZERO_OFFSET_LIMIT_E,
} from './common.ts'
import {
  from,
  fromSubquery,
  InfluxQLAnnotationTargetBuilder,
  type MeasurementQuery,
  since,
  TIME_FILTER,
  tagEqualsVariable,
} from './influxql.ts'
import type { TagOf } from './schema.ts'

type Renderable = { render(): string }

export type EventMeasurement = 'elevator_event' | 'scale_event'

/** Measurements of device readings, tagged with device_id (schema.ts DEVICE_TAGS). */
export type DeviceMeasurement = 'elevator_status' | EventMeasurement | 'scale_status' | 'scale_weighing'

/** The tags of `alerts_active`: summing `last(active)` over all of them counts each group once. */
export const ALERT_SNAPSHOT_TAGS = [
  'type',
  'severity',
  'site_id',
  'site_category',
  'tenant_id',
  'kind',
] as const satisfies readonly TagOf<'alerts_active'>[]

/** Band of the zero offset: green inside +-0.5e, red outside (JJG 539). */
export function zeroOffsetBand(): dashboard.ThresholdsConfigBuilder {
  return thresholds([null, 'red'], [-ZERO_OFFSET_LIMIT_E, 'green'], [ZERO_OFFSET_LIMIT_E, 'red'])
}

/**
 * `count(seq)` of the events in the dashboard's range and site filter with one code (`=`) or any of
 * several codes (a regex).
 */
export function countEvents(measurement: EventMeasurement, codes: string | readonly string[], alias: string) {
  const query = from(measurement).agg('count', 'seq', alias).where(TIME_FILTER)
  if (typeof codes === 'string') query.tagIs('code', codes)
  else query.tagIn('code', codes)
  return query.filter(SITE_FILTER)
}

/**
 * Active alerts now from the latest `alerts_active` snapshot (optionally of one type), summed per
 * `groupBy`.
 */
export function activeAlertsNow(options: {
  alias: string
  type?: string
  groupBy?: readonly TagOf<'alerts_active'>[]
}) {
  const inner = from('alerts_active').agg('last', 'active', 'active').where(since(ALERT_SNAPSHOT_WINDOW))
  if (options.type !== undefined) inner.tagIs('type', options.type)
  inner.filter(SITE_FILTER).groupByTags(...ALERT_SNAPSHOT_TAGS)
  return fromSubquery(inner)
    .aggregate('sum', 'active', options.alias)
    .groupByTags(...(options.groupBy ?? []))
}

/** Points of the device chosen in the `$device` variable (a detail dashboard), in the range. */
export function selectedDevice<M extends DeviceMeasurement>(measurement: M): MeasurementQuery<M> {
  return from(measurement).where(TIME_FILTER, tagEqualsVariable('device_id', VARS.device))
}

/** The selected device's events in the range, for annotations: code, detail and seq. */
export function deviceEvents(measurement: EventMeasurement) {
  // seq is always there; detail is optional, and a row whose selected fields are all null is dropped.
  return selectedDevice(measurement).field('detail').field('seq').tag('code')
}

/** An annotation from an InfluxQL query, with the columns that give its title, text and tags. */
export function annotation(
  name: string,
  iconColor: string,
  query: Renderable,
  columns: { title?: string; text: string; tags?: string },
): dashboard.AnnotationQueryBuilder {
  return new dashboard.AnnotationQueryBuilder()
    .name(name)
    .datasource(DATASOURCE)
    .enable(true)
    .iconColor(iconColor)
    .target(new InfluxQLAnnotationTargetBuilder(query, columns))
}

/** A table of raw events; seq only makes the row exist (detail may be empty) and stays hidden. */
export function eventTable(
  title: string,
  description: string,
  query: Renderable,
  noValue: string,
): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(query, { format: 'table' }))
    .withTransformation({ id: 'organize', options: { excludeByName: { seq: true } } })
    .noValue(noValue)
}

/** The selected device's latest 200 events in the range, newest first. */
export function deviceEventTable(measurement: EventMeasurement, description: string): table.PanelBuilder {
  const events = selectedDevice(measurement)
    .tag('code', 'event')
    .field('detail')
    .field('seq')
    .orderByTimeDesc()
    .limit(200)
  return eventTable('Events', description, events, 'No events in this range')
}

/**
 * A count that should be zero (overdue scales, trapped passengers): the background takes the colour
 * of the threshold step it reaches, and no data reads as 0.
 */
export function countStat(
  title: string,
  description: string,
  query: Renderable,
  steps: dashboard.ThresholdsConfigBuilder,
): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(query))
    .unit('short')
    .decimals(0)
    .thresholds(steps)
    .colorScheme(thresholdColors())
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(reduce('lastNotNull'))
    .noValue('0')
}

/** Overrides that give each series named by a code its legend text. */
export function renameCodes<C extends string>(
  codes: readonly C[],
  label: (code: C) => string,
): Array<{ matcher: dashboard.MatcherConfig; properties: dashboard.DynamicConfigValue[] }> {
  return codes.map((code) => ({ matcher: { id: 'byName', options: code }, properties: rename(label(code)) }))
}
