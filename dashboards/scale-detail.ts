/**
 * Scale detail: one market scale's weighings and amounts, its zero offset against the +-0.5e band, its
 * legal-metrology counters and seal, and its events.
 */
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {
  baseDashboard,
  color,
  DATASOURCE,
  deviceVariable,
  fixedColor,
  hiddenLegend,
  legend,
  reduce,
  rename,
  safeWhenTrue,
  siteVariables,
  TAMPER_CODES,
  target,
  targets,
  thresholdColors,
  UIDS,
} from './common.ts'
import { annotation, deviceEvents, deviceEventTable, selectedDevice, zeroOffsetBand } from './panels.ts'

/** Custom unit: Grafana has no CNY currency unit; ¥ prefix, amounts in yuan. */
const YUAN = 'prefix:¥'

function weighings() {
  return selectedDevice('scale_weighing')
}

function status() {
  return selectedDevice('scale_status')
}

function rangeStat(title: string, description: string): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .reduceOptions(reduce('lastNotNull'))
    .graphMode(common.BigValueGraphMode.None)
    .colorScheme(fixedColor('text'))
    .height(4)
    .span(4)
}

export function scaleDetail(): dashboard.Dashboard {
  const tamperEvents = deviceEvents('scale_event').tagIn('code', [...TAMPER_CODES, 'self_check_failed'])

  return baseDashboard(
    UIDS.scale,
    'liftscale / Scale detail',
    'One market scale: weighings, amounts, zero offset, seal and legal-metrology counters, events.',
  )
    .variables([...siteVariables('scale_status'), deviceVariable('scale_status', 'Scale')])
    .annotation(
      annotation('Tamper and self-check events', 'red', tamperEvents, {
        title: 'code',
        text: 'detail',
        tags: 'code',
      }),
    )
    .withRow(new dashboard.RowBuilder('In the range'))
    .withPanel(
      rangeStat('Weighings', 'Weighings the scale reported in the range').withTarget(
        target(weighings().agg('count', 'net_kg', 'weighings')),
      ),
    )
    .withPanel(
      rangeStat('Amount', 'Sum of the amounts charged, in yuan')
        .withTarget(target(weighings().agg('sum', 'amount_cny', 'amount')))
        .unit(YUAN)
        .decimals(2),
    )
    .withPanel(
      rangeStat('Net weight', 'Sum of net weights sold')
        .withTarget(target(weighings().agg('sum', 'net_kg', 'net')))
        .unit('masskg')
        .decimals(1),
    )
    .withPanel(
      rangeStat('Zero offset', 'Last reported zero offset, in e; outside +-0.5e is red (JJG 539)')
        .withTarget(target(status().agg('last', 'zero_offset_e', 'zero')))
        .unit('none')
        .decimals(2)
        .thresholds(zeroOffsetBand())
        .colorScheme(thresholdColors())
        .colorMode(common.BigValueColorMode.Background),
    )
    .withPanel(
      rangeStat('Seal', 'Last reported seal state')
        .withTarget(target(status().agg('last', 'seal_intact', 'seal')))
        .mappings([safeWhenTrue('Intact', 'BROKEN')])
        .colorMode(common.BigValueColorMode.Background),
    )
    .withPanel(
      rangeStat('Firmware', 'Firmware id the scale reports').withTarget(
        target(status().agg('last', 'firmware', 'firmware')),
      ),
    )
    .withRow(new dashboard.RowBuilder('Over time'))
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Weighings')
        .description('Weighings per interval')
        .datasource(DATASOURCE)
        .withTarget(target(weighings().agg('count', 'net_kg', 'weighings').groupByTime().fill(0)))
        .unit('short')
        .decimals(0)
        .min(0)
        .axisLabel('weighings')
        .drawStyle(common.GraphDrawStyle.Bars)
        .fillOpacity(70)
        .colorScheme(fixedColor('blue'))
        .legend(legend({ calcs: ['sum'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Amounts')
        .description('Yuan charged per interval')
        .datasource(DATASOURCE)
        .withTarget(target(weighings().agg('sum', 'amount_cny', 'amount').groupByTime().fill(0)))
        .unit(YUAN)
        .decimals(2)
        .min(0)
        .axisLabel('yuan')
        .drawStyle(common.GraphDrawStyle.Bars)
        .fillOpacity(70)
        .colorScheme(fixedColor('green'))
        .legend(legend({ calcs: ['sum'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Net weight per weighing')
        .description('Mean and largest net weight of the weighings in each interval')
        .datasource(DATASOURCE)
        .withTarget(
          target(
            weighings()
              .agg('mean', 'net_kg', 'mean')
              .agg('max', 'net_kg', 'largest')
              .groupByTime()
              .fill('null'),
          ),
        )
        .unit('masskg')
        .decimals(3)
        .min(0)
        .drawStyle(common.GraphDrawStyle.Points)
        .pointSize(5)
        .colorScheme(fixedColor('purple'))
        .overrideByName('largest', [color('light-purple')])
        .legend(legend())
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Zero offset')
        .description(
          'Zero offset in e, lowest, mean and highest per interval; green is the +-0.5e band (JJG 539)',
        )
        .datasource(DATASOURCE)
        .withTarget(
          target(
            status()
              .agg('min', 'zero_offset_e', 'lowest')
              .agg('mean', 'zero_offset_e', 'mean')
              .agg('max', 'zero_offset_e', 'highest')
              .groupByTime()
              .fill('null'),
          ),
        )
        // Status comes every minute (DEFAULT_SCALE_OPTIONS.statusPeriodS).
        .interval('1m')
        .unit('none')
        .decimals(2)
        .axisLabel('zero offset (e)')
        .thresholds(zeroOffsetBand())
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.DashedAndArea),
        )
        .colorScheme(fixedColor('blue'))
        .spanNulls(5 * 60_000)
        .legend(legend({ calcs: ['min', 'max'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Legal-metrology counters')
        .description(
          'Parameter and calibration change counters: a step outside a verification is a tamper signal',
        )
        .datasource(DATASOURCE)
        .withTarget(
          target(
            status()
              .agg('last', 'param_counter', 'param_counter')
              .agg('last', 'calibration_counter', 'calibration_counter')
              .groupByTime()
              .fill('null'),
          ),
        )
        .interval('1m')
        .unit('none')
        .decimals(0)
        .lineInterpolation(common.LineInterpolation.StepAfter)
        .spanNulls(5 * 60_000)
        .overrideByName('param_counter', [...rename('Parameter changes'), color('orange')])
        .overrideByName('calibration_counter', [...rename('Calibration changes'), color('red')])
        .legend(legend({ calcs: ['lastNotNull'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Seal')
        .description('Seal state per interval')
        .datasource(DATASOURCE)
        .targets(targets([status().agg('last', 'seal_intact', 'seal').groupByTime().fill('null'), {}]))
        .interval('1m')
        .mappings([safeWhenTrue('Intact', 'BROKEN')])
        .overrideByName('seal', rename('Seal'))
        .mergeValues(true)
        .showValue(common.VisibilityMode.Auto)
        .legend(hiddenLegend())
        .height(8)
        .span(12),
    )
    .withRow(new dashboard.RowBuilder('Events'))
    .withPanel(
      deviceEventTable('scale_event', 'Events the scale sent in the range, newest first').height(8).span(24),
    )
    .build()
}
