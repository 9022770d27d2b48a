/**
 * Metering compliance: scales due or overdue for periodic verification (JJG 539: at most 12 months),
 * tamper events by site, and zero offsets against the +-0.5e band.
 *
 * Verification due dates live in the registry (SQLite), not in InfluxDB: the alerts service's scheduled
 * scan raises `verification_due` / `verification_overdue` alerts from them, and its `alerts_active`
 * snapshot says how many are active now, per site. That is what these panels read.
 */
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge'
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {
  ALERT_SNAPSHOT_WINDOW,
  baseDashboard,
  color,
  DATASOURCE,
  fixedColor,
  legend,
  mergeTables,
  paletteColors,
  reduce,
  rename,
  SITE_FILTER,
  scaleCodeLabel,
  siteVariables,
  TAMPER_CODES,
  target,
  targets,
  thresholdColors,
  thresholds,
  UIDS,
  ZERO_OFFSET_LIMIT_E,
} from './common.ts'
import { anyOf, compare, from, fromSubquery, since, TIME_FILTER } from './influxql.ts'

type VerificationType = 'verification_due' | 'verification_overdue'

const SNAPSHOT_TAGS = ['type', 'severity', 'site_id', 'site_category', 'tenant_id', 'kind'] as const

/** Scales with an active alert of this type now, summed per `groupBy`. */
function verificationNow(type: VerificationType, alias: string, groupBy: string[] = []) {
  return fromSubquery(
    from('alerts_active')
      .agg('last', 'active', 'active')
      .where(since(ALERT_SNAPSHOT_WINDOW))
      .tagIs('type', type)
      .filter(SITE_FILTER)
      .groupByTags(...SNAPSHOT_TAGS),
  )
    .aggregate('sum', 'active', alias)
    .groupByTags(...groupBy)
}

/** Band of the zero offset: green inside +-0.5e, red outside. */
const zeroBand = () =>
  thresholds([null, 'red'], [-ZERO_OFFSET_LIMIT_E, 'green'], [ZERO_OFFSET_LIMIT_E, 'red'])

/** Per scale over the range: highest and lowest zero offset. */
function zeroExtremesPerScale() {
  return from('scale_status')
    .agg('max', 'zero_offset_e', 'highest')
    .agg('min', 'zero_offset_e', 'lowest')
    .where(TIME_FILTER)
    .filter(SITE_FILTER)
    .groupByTags('device_id', 'site_id')
}

const outsideBand = anyOf(
  compare('highest', '>', ZERO_OFFSET_LIMIT_E),
  compare('lowest', '<', -ZERO_OFFSET_LIMIT_E),
)

export function meteringCompliance(): dashboard.Dashboard {
  const verificationOverTime = fromSubquery(
    from('alerts_active')
      .agg('last', 'active', 'active')
      .where(TIME_FILTER)
      .tagIn('type', ['verification_due', 'verification_overdue'])
      .filter(SITE_FILTER)
      .groupByTime()
      .groupByTags(...SNAPSHOT_TAGS),
  )
    .aggregate('sum', 'active', 'scales')
    .where(TIME_FILTER)
    .groupByTime()
    .groupByTags('type')
    .fill('null')

  const tamperBySite = from('scale_event')
    .agg('count', 'seq', 'tamper events')
    .where(TIME_FILTER)
    .tagIn('code', TAMPER_CODES)
    .filter(SITE_FILTER)
    .groupByTags('site_id')

  const tamperPerHour = from('scale_event')
    .agg('count', 'seq', 'events')
    .where(TIME_FILTER)
    .tagIn('code', TAMPER_CODES)
    .filter(SITE_FILTER)
    .groupByTime('1h')
    .groupByTags('code')
    .fill(0)

  const zeroOverTime = from('scale_status')
    .agg('max', 'zero_offset_e', 'highest')
    .agg('min', 'zero_offset_e', 'lowest')
    .where(TIME_FILTER)
    .filter(SITE_FILTER)
    .groupByTime()
    .fill('null')

  // Grouped by the inner query's tags so that each row keeps its scale and site.
  const scalesOutside = fromSubquery(zeroExtremesPerScale().query)
    .column('highest')
    .column('lowest')
    .where(outsideBand)
    .groupByTags('device_id', 'site_id')
  const countOutside = fromSubquery(zeroExtremesPerScale().query)
    .aggregate('count', 'highest', 'scales')
    .where(outsideBand)

  return baseDashboard(
    UIDS.metering,
    'liftscale / Metering compliance',
    'Compulsory-verification scales: verification due and overdue (JJG 539), tamper events, zero offsets.',
  )
    .time({ from: 'now-7d', to: 'now' })
    .variables(siteVariables('scale_status'))
    .withRow(new dashboard.RowBuilder('Verification now'))
    .withPanel(
      new stat.PanelBuilder()
        .title('Verification overdue')
        .description(
          'Scales past their verification due date (JJG 539: at most 12 months between verifications)',
        )
        .datasource(DATASOURCE)
        .withTarget(target(verificationNow('verification_overdue', 'overdue')))
        .unit('short')
        .decimals(0)
        .thresholds(thresholds([null, 'green'], [1, 'red']))
        .colorScheme(thresholdColors())
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.None)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('0')
        .height(5)
        .span(6),
    )
    .withPanel(
      new stat.PanelBuilder()
        .title('Verification due soon')
        .description('Scales whose verification falls due within VERIFICATION_DUE_SOON_DAYS (30 days)')
        .datasource(DATASOURCE)
        .withTarget(target(verificationNow('verification_due', 'due soon')))
        .unit('short')
        .decimals(0)
        .thresholds(thresholds([null, 'green'], [1, 'orange']))
        .colorScheme(thresholdColors())
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.None)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('0')
        .height(5)
        .span(6),
    )
    .withPanel(
      new stat.PanelBuilder()
        .title('Scales outside +-0.5e zero')
        .description('Scales whose zero offset left the +-0.5e band at least once in the range (JJG 539)')
        .datasource(DATASOURCE)
        .withTarget(target(countOutside))
        .unit('short')
        .decimals(0)
        .thresholds(thresholds([null, 'green'], [1, 'orange']))
        .colorScheme(thresholdColors())
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.None)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('0')
        .height(5)
        .span(6),
    )
    .withPanel(
      new stat.PanelBuilder()
        .title('Tamper events')
        .description('Case opened, seal broken, unlock, calibration or parameter change, in the range')
        .datasource(DATASOURCE)
        .withTarget(
          target(
            from('scale_event')
              .agg('count', 'seq', 'tamper events')
              .where(TIME_FILTER)
              .tagIn('code', TAMPER_CODES)
              .filter(SITE_FILTER),
          ),
        )
        .unit('short')
        .decimals(0)
        .thresholds(thresholds([null, 'green'], [1, 'orange'], [10, 'red']))
        .colorScheme(thresholdColors())
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.None)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('0')
        .height(5)
        .span(6),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Verification due and overdue, by site')
        .description('Scales per site with an active verification alert now')
        .datasource(DATASOURCE)
        .targets(
          targets(
            [
              verificationNow('verification_overdue', 'overdue', ['site_id', 'site_category']),
              { format: 'table' },
            ],
            [verificationNow('verification_due', 'due', ['site_id', 'site_category']), { format: 'table' }],
          ),
        )
        .transformations(
          mergeTables(
            { site_id: 'Site', site_category: 'Category', overdue: 'Overdue', due: 'Due within 30 days' },
            ['site_id', 'site_category', 'overdue', 'due'],
          ),
        )
        .overrideByName('Overdue', [
          { id: 'custom.cellOptions', value: { type: 'color-background' } },
          { id: 'thresholds', value: thresholds([null, 'transparent'], [1, 'red']).build() },
        ])
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('Overdue').desc(true)])
        .height(9)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Verification due and overdue over time')
        .description('Scales with an active verification alert, from the alerts_active snapshots')
        .datasource(DATASOURCE)
        .withTarget(target(verificationOverTime, { alias: '$tag_type' }))
        // Snapshots come every minute: a shorter interval would show empty buckets between them.
        .interval('1m')
        .unit('short')
        .decimals(0)
        .min(0)
        .axisLabel('scales')
        .lineInterpolation(common.LineInterpolation.StepAfter)
        .overrideByName('verification_overdue', [...rename('Overdue'), color('red')])
        .overrideByName('verification_due', [...rename('Due within 30 days'), color('orange')])
        .legend(legend({ calcs: ['lastNotNull'] }))
        .height(9)
        .span(12),
    )
    .withRow(new dashboard.RowBuilder('Tampering'))
    .withPanel(
      new bargauge.PanelBuilder()
        .title('Tamper events by site')
        .description(
          'Tamper events in the range per site; a cheat scale passes a weight test, its events do not',
        )
        .datasource(DATASOURCE)
        .withTarget(target(tamperBySite, { alias: '$tag_site_id' }))
        .unit('short')
        .decimals(0)
        .min(0)
        .thresholds(thresholds([null, 'green'], [1, 'orange'], [5, 'red']))
        .colorScheme(thresholdColors())
        .displayMode(common.BarGaugeDisplayMode.Gradient)
        .orientation(common.VizOrientation.Horizontal)
        .reduceOptions(reduce('lastNotNull'))
        .noValue('No tamper events in this range')
        .height(9)
        .span(10),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Tamper events per hour, by kind')
        .datasource(DATASOURCE)
        .withTarget(target(tamperPerHour, { alias: '$tag_code' }))
        .unit('short')
        .decimals(0)
        .min(0)
        .axisLabel('events / hour')
        .drawStyle(common.GraphDrawStyle.Bars)
        .fillOpacity(80)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
        .colorScheme(paletteColors())
        .overrides(
          TAMPER_CODES.map((code) => ({
            matcher: { id: 'byName', options: code },
            properties: rename(scaleCodeLabel(code)),
          })),
        )
        .legend(legend({ calcs: ['sum'] }))
        .height(9)
        .span(14),
    )
    .withRow(new dashboard.RowBuilder('Zero offset'))
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Zero offset, highest and lowest across scales')
        .description(
          'Zero offset in units of the verification interval e; green is the +-0.5e band of JJG 539',
        )
        .datasource(DATASOURCE)
        .withTarget(target(zeroOverTime))
        .unit('none')
        .decimals(2)
        .axisLabel('zero offset (e)')
        .thresholds(zeroBand())
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.DashedAndArea),
        )
        .colorScheme(fixedColor('blue'))
        .overrideByName('lowest', [color('purple')])
        .spanNulls(5 * 60_000)
        .legend(legend({ calcs: ['max', 'min'] }))
        .height(9)
        .span(14),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Scales outside the +-0.5e band')
        .description('Highest and lowest zero offset in the range of each scale that left the band')
        .datasource(DATASOURCE)
        .withTarget(target(scalesOutside, { format: 'table' }))
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            renameByName: {
              device_id: 'Scale',
              site_id: 'Site',
              highest: 'Highest (e)',
              lowest: 'Lowest (e)',
            },
          },
        })
        .decimals(2)
        .overrideByRegexp('^(Highest|Lowest).*', [
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
          { id: 'thresholds', value: zeroBand().build() },
        ])
        .noValue('Every scale stayed within +-0.5e')
        .height(9)
        .span(10),
    )
    .build()
}
