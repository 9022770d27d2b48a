/**
 * Fleet overview: what the district's elevators and scales are doing now and over the chosen range.
 */
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge'
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import { ALERT_SEVERITIES } from '../domain/alert-change.ts'
import {
  baseDashboard,
  color,
  DATASOURCE,
  elevatorCodeLabel,
  FAULT_CODES,
  fixedColor,
  legend,
  mergeTables,
  paletteColors,
  reduce,
  SEVERITY_COLORS,
  SITE_FILTER,
  siteVariables,
  TAMPER_CODES,
  target,
  targets,
  thresholds,
  UIDS,
  VARS,
} from './common.ts'
import { from, fromSubquery, since, TIME_FILTER } from './influxql.ts'
import { activeAlertsNow, countEvents, countStat, eventTable, renameCodes } from './panels.ts'

type StatusMeasurement = 'elevator_status' | 'scale_status'

/** Devices that reported within `$online`; the alerts service calls a device offline after 3 periods. */
function onlineCount(measurement: StatusMeasurement, alias: string) {
  return fromSubquery(
    from(measurement)
      .agg('last', 'seq', 'seq')
      .where(since(`$${VARS.online}`))
      .filter(SITE_FILTER)
      .groupByTags('device_id'),
  ).aggregate('count', 'seq', alias)
}

/** Distinct devices with at least one status in the dashboard's range. */
function seenCount(
  measurement: StatusMeasurement,
  alias: string,
  groupBy: Array<'site_id' | 'site_category'> = [],
) {
  const inner = from(measurement)
    .agg('last', 'seq', 'seq')
    .where(TIME_FILTER)
    .filter(SITE_FILTER)
    .groupByTags('device_id', ...groupBy)
  return fromSubquery(inner)
    .aggregate('count', 'seq', alias)
    .groupByTags(...groupBy)
}

/** Devices online now, of those seen in the range: the online count in green, the seen one in grey. */
function onlineStat(title: string, description: string, measurement: StatusMeasurement): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(onlineCount(measurement, 'online'), { refId: 'A' }))
    .withTarget(target(seenCount(measurement, 'seen in range'), { refId: 'B' }))
    .unit('short')
    .decimals(0)
    .colorScheme(fixedColor('green'))
    .overrideByName('seen in range', [color('text')])
    .reduceOptions(reduce('lastNotNull'))
    .graphMode(common.BigValueGraphMode.None)
    .noValue('0')
}

export function fleetOverview(): dashboard.Dashboard {
  const onlineVariable = new dashboard.CustomVariableBuilder(VARS.online)
    .label('Online = reported within')
    .description('A device counts as online when its last status is younger than this')
    .values('1m,5m,15m,1h')
    .current({ selected: true, text: '5m', value: '5m' })
    .multi(false)
    .includeAll(false)

  const faultsPerHour = countEvents('elevator_event', FAULT_CODES, 'faults')
    .groupByTime('1h')
    .groupByTags('code')
    .fill(0)

  const trappedList = from('elevator_event')
    .field('seq')
    .tag('device_id', 'elevator')
    .tag('site_id', 'site')
    .tag('tenant_id', 'maintenance firm')
    .where(TIME_FILTER)
    .tagIs('code', 'trapped')
    .filter(SITE_FILTER)
    .orderByTimeDesc()
    .limit(100)

  const faultsBySite = countEvents('elevator_event', FAULT_CODES, 'faults').groupByTags(
    'site_id',
    'site_category',
  )
  const trappedBySite = countEvents('elevator_event', 'trapped', 'trapped').groupByTags(
    'site_id',
    'site_category',
  )
  const tamperBySite = countEvents('scale_event', TAMPER_CODES, 'tamper').groupByTags(
    'site_id',
    'site_category',
  )
  const alertsBySite = activeAlertsNow({ alias: 'active', groupBy: ['site_id', 'site_category'] })

  const severityOverrides = ALERT_SEVERITIES.map((severity) => ({
    matcher: { id: 'byName', options: severity },
    properties: [color(SEVERITY_COLORS[severity] ?? 'text')],
  }))

  return baseDashboard(
    UIDS.fleet,
    'liftscale / Fleet overview',
    'Elevators and scales of the district: online now, faults, alerts, trapped passengers, per site.',
  )
    .variables([...siteVariables(), onlineVariable])
    .withRow(new dashboard.RowBuilder('Now'))
    .withPanel(
      onlineStat(
        'Elevators online',
        'Elevators whose last status is younger than the "Online" window, of those seen in the range',
        'elevator_status',
      )
        .height(5)
        .span(5),
    )
    .withPanel(
      onlineStat(
        'Scales online',
        'Scales whose last status is younger than the "Online" window, of those seen in the range',
        'scale_status',
      )
        .height(5)
        .span(5),
    )
    .withPanel(
      countStat(
        'Trapped-passenger events',
        'Passenger trapped (catalogue 93) events in the range; each one needs a rescuer on site within 30 min (TSG T5002)',
        countEvents('elevator_event', 'trapped', 'trapped'),
        thresholds([null, 'green'], [1, 'red']),
      )
        .height(5)
        .span(4),
    )
    .withPanel(
      new bargauge.PanelBuilder()
        .title('Active alerts by severity')
        .description('Open or acknowledged alerts now (latest alerts_active snapshot)')
        .datasource(DATASOURCE)
        .withTarget(
          target(activeAlertsNow({ alias: 'active', groupBy: ['severity'] }), { alias: '$tag_severity' }),
        )
        .unit('short')
        .decimals(0)
        .min(0)
        .colorScheme(fixedColor('text'))
        .overrides(severityOverrides)
        .displayMode(common.BarGaugeDisplayMode.Basic)
        .orientation(common.VizOrientation.Horizontal)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('0')
        .height(5)
        .span(10),
    )
    .withRow(new dashboard.RowBuilder('Range'))
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Elevator faults per hour, by code')
        .description(
          'Fault events (catalogue group "fault": codes 1-8, overspeed, door-lock circuit) per hour',
        )
        .datasource(DATASOURCE)
        .withTarget(target(faultsPerHour, { alias: '$tag_code' }))
        .unit('short')
        .decimals(0)
        .min(0)
        .axisLabel('faults / hour')
        .drawStyle(common.GraphDrawStyle.Bars)
        .fillOpacity(80)
        .lineWidth(1)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
        .colorScheme(paletteColors())
        .overrides(renameCodes(FAULT_CODES, elevatorCodeLabel))
        .legend(legend({ placement: 'right', table: true, calcs: ['sum'] }))
        .height(9)
        .span(16),
    )
    .withPanel(
      eventTable(
        'Trapped-passenger events',
        'Latest 100 trapped events in the range',
        trappedList,
        'No trapped passengers in this range',
      )
        .height(9)
        .span(8),
    )
    .withRow(new dashboard.RowBuilder('Sites'))
    .withPanel(
      new table.PanelBuilder()
        .title('Sites')
        .description(
          'Per site: devices seen in the range, elevator faults, trapped passengers and scale tamper events in the range, alerts active now',
        )
        .datasource(DATASOURCE)
        .targets(
          targets(
            [seenCount('elevator_status', 'elevators', ['site_id', 'site_category']), { format: 'table' }],
            [seenCount('scale_status', 'scales', ['site_id', 'site_category']), { format: 'table' }],
            [faultsBySite, { format: 'table' }],
            [trappedBySite, { format: 'table' }],
            [tamperBySite, { format: 'table' }],
            [alertsBySite, { format: 'table' }],
          ),
        )
        .transformations(
          mergeTables(
            {
              site_id: 'Site',
              site_category: 'Category',
              elevators: 'Elevators',
              scales: 'Scales',
              faults: 'Faults',
              trapped: 'Trapped',
              tamper: 'Tamper events',
              active: 'Active alerts',
            },
            ['site_id', 'site_category', 'elevators', 'scales', 'faults', 'trapped', 'tamper', 'active'],
          ),
        )
        .overrideByName('Trapped', [
          { id: 'custom.cellOptions', value: { type: 'color-background' } },
          { id: 'thresholds', value: thresholds([null, 'transparent'], [1, 'red']).build() },
        ])
        .overrideByName('Active alerts', [
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
          { id: 'thresholds', value: thresholds([null, 'green'], [1, 'orange']).build() },
        ])
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('Faults').desc(true)])
        .height(12)
        .span(24),
    )
    .build()
}
