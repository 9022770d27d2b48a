/**
 * Elevator detail: one elevator's floor, speed, door, mode, load and safety signals over time, with its
 * events and alerts as annotations.
 */
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {
  attentionWhenTrue,
  baseDashboard,
  DATASOURCE,
  DIRECTION_MAPPING,
  DOOR_MAPPING,
  deviceVariable,
  fixedColor,
  hiddenLegend,
  legend,
  MODE_MAPPING,
  reduce,
  rename,
  safeWhenTrue,
  siteVariables,
  target,
  targets,
  thresholdColors,
  thresholds,
  UIDS,
  VARS,
} from './common.ts'
import { from, TIME_FILTER } from './influxql.ts'
import { annotation, deviceEvents, deviceEventTable, selectedDevice } from './panels.ts'
import type { FieldOf } from './schema.ts'

type StatusField = FieldOf<'elevator_status'>

/** `last(field)` of the selected elevator per interval: the state it was in at the end of each. */
function lastPerInterval(field: StatusField, alias: string) {
  return latest(field, alias).groupByTime().fill('null')
}

function latest(field: StatusField, alias: string) {
  return selectedDevice('elevator_status').agg('last', field, alias)
}

function nowStat(title: string, description: string, field: StatusField): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(latest(field, field)))
    .reduceOptions(reduce('lastNotNull'))
    .graphMode(common.BigValueGraphMode.None)
    .height(4)
    .span(4)
}

/** Share of rated load: orange from 80%, red from 100% (overload). */
const loadThresholds = () => thresholds([null, 'green'], [0.8, 'orange'], [1, 'red'])

// Status reports come every 5 s (GB/T 24476 terminals); a gap longer than a minute is an outage, not
// a missing sample, and stays visible as a gap.
const SPAN_NULLS_MS = 60_000

export function elevatorDetail(): dashboard.Dashboard {
  const alerts = from('alert_change')
    .field('actor')
    .tag('type')
    .tag('transition')
    .tag('severity')
    .where(TIME_FILTER)
    .tagIsVariable('device_id', VARS.device)

  return baseDashboard(
    UIDS.elevator,
    'liftscale / Elevator detail',
    'One elevator: position, speed, door, mode, load and safety signals as the controller reported them.',
  )
    .time({ from: 'now-6h', to: 'now' })
    .variables([...siteVariables('elevator_status'), deviceVariable('elevator_status', 'Elevator')])
    .annotation(
      annotation('Elevator events', 'orange', deviceEvents('elevator_event'), {
        title: 'code',
        text: 'detail',
        tags: 'code',
      }),
    )
    .annotation(
      annotation('Alerts', 'red', alerts, { title: 'type', text: 'actor', tags: 'transition,severity' }),
    )
    .withRow(new dashboard.RowBuilder('Last reported in the range'))
    .withPanel(
      nowStat('Mode', 'Service mode (GB/T 24476)', 'mode')
        .mappings([MODE_MAPPING])
        .colorMode(common.BigValueColorMode.Background),
    )
    .withPanel(nowStat('Floor', 'Landing the car is at or last passed', 'floor').unit('none').decimals(0))
    .withPanel(nowStat('Door', 'Car door state', 'door').mappings([DOOR_MAPPING]))
    .withPanel(nowStat('Direction', 'Travel direction', 'direction').mappings([DIRECTION_MAPPING]))
    .withPanel(
      nowStat('Load', 'Share of rated load; above 100% the car is overloaded', 'load')
        .unit('percentunit')
        .decimals(0)
        .thresholds(loadThresholds())
        .colorScheme(thresholdColors()),
    )
    .withPanel(
      nowStat('Last report', 'Time of the last status the platform received', 'received_at')
        .unit('dateTimeFromNow')
        .colorScheme(fixedColor('text')),
    )
    .withRow(new dashboard.RowBuilder('Over time'))
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Floor')
        .description('Landing at the end of each interval')
        .datasource(DATASOURCE)
        .withTarget(target(lastPerInterval('floor', 'floor')))
        .unit('none')
        .decimals(0)
        .axisLabel('floor')
        .lineInterpolation(common.LineInterpolation.StepAfter)
        .spanNulls(SPAN_NULLS_MS)
        .colorScheme(fixedColor('blue'))
        .legend(hiddenLegend())
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Speed')
        .description('Car speed, highest and mean per interval')
        .datasource(DATASOURCE)
        .withTarget(
          target(
            selectedDevice('elevator_status')
              .agg('max', 'speed', 'highest')
              .agg('mean', 'speed', 'mean')
              .groupByTime()
              .fill('null'),
          ),
        )
        .unit('velocityms')
        .decimals(2)
        .min(0)
        .axisLabel('m/s')
        .spanNulls(SPAN_NULLS_MS)
        .colorScheme(fixedColor('purple'))
        .overrideByName('mean', [{ id: 'color', value: { mode: 'fixed', fixedColor: 'light-purple' } }])
        .legend(legend({ calcs: ['max'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Load')
        .description('Share of rated load, highest per interval; the red line is 100% (overload)')
        .datasource(DATASOURCE)
        .withTarget(
          target(selectedDevice('elevator_status').agg('max', 'load', 'load').groupByTime().fill('null')),
        )
        .unit('percentunit')
        .min(0)
        .axisSoftMax(1.1)
        .thresholds(loadThresholds())
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
        )
        .colorScheme(fixedColor('green'))
        .spanNulls(SPAN_NULLS_MS)
        .legend(hiddenLegend())
        .height(8)
        .span(12),
    )
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Mode, door and direction')
        .description('State at the end of each interval')
        .datasource(DATASOURCE)
        .targets(
          targets(
            [lastPerInterval('mode', 'mode'), {}],
            [lastPerInterval('door', 'door'), {}],
            [lastPerInterval('direction', 'direction'), {}],
          ),
        )
        .mappings([MODE_MAPPING, DOOR_MAPPING, DIRECTION_MAPPING])
        .overrideByName('mode', rename('Mode'))
        .overrideByName('door', rename('Door'))
        .overrideByName('direction', rename('Direction'))
        .showValue(common.VisibilityMode.Auto)
        .mergeValues(true)
        .legend(hiddenLegend())
        .height(8)
        .span(12),
    )
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Safety signals')
        .description('Safety and door-lock circuits, main power, occupancy and alarm button, per interval')
        .datasource(DATASOURCE)
        .targets(
          targets(
            [lastPerInterval('safety_circuit', 'safety_circuit'), {}],
            [lastPerInterval('door_lock', 'door_lock'), {}],
            [lastPerInterval('power', 'power'), {}],
            [lastPerInterval('occupied', 'occupied'), {}],
            [lastPerInterval('alarm_button', 'alarm_button'), {}],
          ),
        )
        .overrideByName('safety_circuit', [
          ...rename('Safety circuit'),
          { id: 'mappings', value: [safeWhenTrue('Closed', 'OPEN')] },
        ])
        .overrideByName('door_lock', [
          ...rename('Door-lock circuit'),
          { id: 'mappings', value: [safeWhenTrue('Closed', 'OPEN')] },
        ])
        .overrideByName('power', [
          ...rename('Main power'),
          { id: 'mappings', value: [safeWhenTrue('On', 'OFF')] },
        ])
        .overrideByName('occupied', [
          ...rename('Occupied'),
          { id: 'mappings', value: [attentionWhenTrue('Occupied', 'Empty', 'blue')] },
        ])
        .overrideByName('alarm_button', [
          ...rename('Alarm button'),
          { id: 'mappings', value: [attentionWhenTrue('PRESSED', 'Released', 'red')] },
        ])
        .showValue(common.VisibilityMode.Never)
        .mergeValues(true)
        .legend(hiddenLegend())
        .height(8)
        .span(24),
    )
    .withRow(new dashboard.RowBuilder('Events'))
    .withPanel(
      deviceEventTable(
        'elevator_event',
        'Events the controller sent in the range, newest first (also shown as annotations)',
      )
        .height(8)
        .span(24),
    )
    .build()
}
