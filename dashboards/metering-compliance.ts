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
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {
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
import { anyOf, compare, from, fromSubquery, TIME_FILTER } from './influxql.ts'
import {
  ALERT_SNAPSHOT_TAGS,
  activeAlertsNow,
  countEvents,
  countStat,
  renameCodes,
  zeroOffsetBand,
} from './panels.ts'

type VerificationType = 'verification_due' | 'verification_overdue'

/** Scales with an active alert of this type now, summed per `groupBy`. */
function verificationNow(
  type: VerificationType,
  alias: string,
  groupBy: Array<'site_id' | 'site_category'> = [],
) {
  return activeAlertsNow({ alias, type, groupBy })
}

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
      .groupByTags(...ALERT_SNAPSHOT_TAGS),
  )
    .aggregate('sum', 'active', 'scales')
    .where(TIME_FILTER)
    .groupByTime()
    .groupByTags('type')
    .fill('null')

  const tamperBySite = countEvents('scale_event', TAMPER_CODES, 'tamper events').groupByTags('site_id')

  const tamperPerHour = countEvents('scale_event', TAMPER_CODES, 'events')
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
      countStat(
        'Verification overdue',
        'Scales past their verification due date (JJG 539: at most 12 months between verifications)',
        verificationNow('verification_overdue', 'overdue'),
        thresholds([null, 'green'], [1, 'red']),
      )
        .height(5)
        .span(6),
    )
    .withPanel(
      countStat(
        'Verification due soon',
        'Scales whose verification falls due within VERIFICATION_DUE_SOON_DAYS (30 days)',
        verificationNow('verification_due', 'due soon'),
        thresholds([null, 'green'], [1, 'orange']),
      )
        .height(5)
        .span(6),
    )
    .withPanel(
      countStat(
        'Scales outside +-0.5e zero',
        'Scales whose zero offset left the +-0.5e band at least once in the range (JJG 539)',
        countOutside,
        thresholds([null, 'green'], [1, 'orange']),
      )
        .height(5)
        .span(6),
    )
    .withPanel(
      countStat(
        'Tamper events',
        'Case opened, seal broken, unlock, calibration or parameter change, in the range',
        countEvents('scale_event', TAMPER_CODES, 'tamper events'),
        thresholds([null, 'green'], [1, 'orange'], [10, 'red']),
      )
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
        .overrides(renameCodes(TAMPER_CODES, scaleCodeLabel))
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
        .thresholds(zeroOffsetBand())
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
          { id: 'thresholds', value: zeroOffsetBand().build() },
        ])
        .noValue('Every scale stayed within +-0.5e')
        .height(9)
        .span(10),
    )
    .build()
}
