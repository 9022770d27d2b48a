/**
 * Platform health, from the platform's own points in InfluxDB: ingest writes `platform_ingest`,
 * `platform_process` (the process's headroom) and `platform_dead_letters` every
 * INGEST_HEALTH_INTERVAL_MS (10 s). Not from Prometheus: the compose
 * deployment runs no Prometheus, and these points sit beside the data they describe (the /metrics
 * endpoints carry the same counters for a site that scrapes them).
 */
import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import {
  baseDashboard,
  DATASOURCE,
  fixedColor,
  legend,
  paletteColors,
  reduce,
  target,
  targets,
  thresholdColors,
  thresholds,
  UIDS,
  VARS,
  valueMap,
} from './common.ts'
import { type Aggregation, from, showTagValues, TIME_FILTER } from './influxql.ts'
import type { FieldOf } from './schema.ts'

// Health points come every 10 s: a shorter interval has buckets without a point.
const MIN_INTERVAL = '10s'

function ingest() {
  return from('platform_ingest').where(TIME_FILTER).filter({ instance: VARS.instance })
}

/** A headroom time series per instance (a panel of the Headroom row), of aggregations of platform_process. */
function headroomSeries(
  title: string,
  description: string,
  series: ReadonlyArray<readonly [Aggregation, FieldOf<'platform_process'>, string]>,
  unit: string,
): timeseries.PanelBuilder {
  let query = from('platform_process').where(TIME_FILTER).filter({ instance: VARS.instance })
  for (const [fn, field, alias] of series) query = query.agg(fn, field, alias)
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(
      target(query.groupByTime().groupByTags('instance').fill('null'), { alias: '$col $tag_instance' }),
    )
    .interval(MIN_INTERVAL)
    .unit(unit)
    .min(0)
    .colorScheme(paletteColors())
    .legend(legend({ calcs: ['mean', 'max'] }))
    .height(8)
    .span(12)
}

/** A latest health figure, coloured by its thresholds. */
function healthStat(
  title: string,
  description: string,
  query: { render(): string },
  field: { unit: string; decimals?: number; steps: dashboard.ThresholdsConfigBuilder },
): stat.PanelBuilder {
  const panel = new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(target(query))
    .unit(field.unit)
  if (field.decimals !== undefined) panel.decimals(field.decimals)
  return panel
    .thresholds(field.steps)
    .colorScheme(thresholdColors())
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(reduce('lastNotNull'))
}

export function platformHealth(): dashboard.Dashboard {
  const instanceQuery = showTagValues('instance', { from: 'platform_ingest' })
  const instanceVariable = new dashboard.QueryVariableBuilder(VARS.instance)
    .label('Instance')
    .description('Ingest process (host name and pid)')
    .datasource(DATASOURCE)
    .query(instanceQuery)
    .definition(instanceQuery)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ selected: true, text: ['All'], value: ['$__all'] })

  const rates = ingest()
    .nonNegativeDerivative('last', 'received', '1s', 'received')
    .nonNegativeDerivative('last', 'written', '1s', 'written')
    .nonNegativeDerivative('last', 'spooled', '1s', 'spooled')
    .groupByTime()
    .groupByTags('instance')
    .fill('none')

  const deadLetters = from('platform_dead_letters')
    .nonNegativeDifference('last', 'count', 'dead letters')
    .where(TIME_FILTER)
    .filter({ instance: VARS.instance })
    .groupByTime()
    .groupByTags('reason')
    .fill('none')

  const deadLettersTotal = from('platform_dead_letters')
    .agg('last', 'count', 'since start')
    .where(TIME_FILTER)
    .filter({ instance: VARS.instance })
    .groupByTags('instance', 'reason')

  return baseDashboard(
    UIDS.platform,
    'liftscale / Platform health',
    'Ingest rate, spool, dead letters, InfluxDB write latency and the process headroom, from the platform_ingest and platform_process points ingest writes every 10 s.',
  )
    .time({ from: 'now-3h', to: 'now' })
    .refresh('30s')
    .withVariable(instanceVariable)
    .withRow(new dashboard.RowBuilder('Now'))
    .withPanel(
      new stat.PanelBuilder()
        .title('InfluxDB')
        .description('Whether ingest could write to InfluxDB at its last health point')
        .datasource(DATASOURCE)
        .withTarget(
          target(ingest().agg('last', 'influx_up', 'influxdb').groupByTags('instance'), {
            alias: '$tag_instance',
          }),
        )
        .mappings([valueMap({ '1': { text: 'Up', color: 'green' }, '0': { text: 'DOWN', color: 'red' } })])
        .colorMode(common.BigValueColorMode.Background)
        .graphMode(common.BigValueGraphMode.None)
        .reduceOptions(reduce('lastNotNull'))
        .height(4)
        .span(6),
    )
    .withPanel(
      healthStat(
        'Spool depth',
        'Lines waiting on disk for InfluxDB; nothing is lost while they wait',
        ingest().agg('last', 'spool_depth_lines', 'lines'),
        { unit: 'short', steps: thresholds([null, 'green'], [1, 'orange'], [100_000, 'red']) },
      )
        .height(4)
        .span(6),
    )
    .withPanel(
      healthStat(
        'Oldest spooled line',
        'Age of the oldest line still waiting in the spool',
        ingest().agg('last', 'spool_age_s', 'age'),
        { unit: 's', steps: thresholds([null, 'green'], [60, 'orange'], [900, 'red']) },
      )
        .height(4)
        .span(6),
    )
    .withPanel(
      healthStat(
        'Write latency p99',
        '99th percentile of InfluxDB write requests over the last health interval',
        ingest().agg('last', 'write_latency_p99_ms', 'p99'),
        { unit: 'ms', decimals: 0, steps: thresholds([null, 'green'], [500, 'orange'], [2000, 'red']) },
      )
        .height(4)
        .span(6),
    )
    .withRow(new dashboard.RowBuilder('Over time'))
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Ingest rate')
        .description('Messages received from MQTT, lines written to InfluxDB and lines spooled, per second')
        .datasource(DATASOURCE)
        .withTarget(target(rates, { alias: '$col $tag_instance' }))
        .interval(MIN_INTERVAL)
        .unit('mps')
        .min(0)
        .axisLabel('per second')
        .colorScheme(paletteColors())
        .legend(legend({ calcs: ['mean', 'max'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Write latency')
        .description('InfluxDB write request latency, median and 99th percentile, per health interval')
        .datasource(DATASOURCE)
        .withTarget(
          target(
            ingest()
              .agg('max', 'write_latency_p50_ms', 'p50')
              .agg('max', 'write_latency_p99_ms', 'p99')
              .groupByTime()
              .groupByTags('instance')
              .fill('null'),
            { alias: '$col $tag_instance' },
          ),
        )
        .interval(MIN_INTERVAL)
        .unit('ms')
        .min(0)
        .thresholds(thresholds([null, 'green'], [2000, 'red']))
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
        )
        .colorScheme(paletteColors())
        .legend(legend({ calcs: ['mean', 'max'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Spool depth')
        .description('Lines waiting in the spool (left) and the age of the oldest (right)')
        .datasource(DATASOURCE)
        .targets(
          targets(
            [ingest().agg('max', 'spool_depth_lines', 'lines').groupByTime().fill('null'), {}],
            [ingest().agg('max', 'spool_age_s', 'oldest').groupByTime().fill('null'), {}],
          ),
        )
        .interval(MIN_INTERVAL)
        .unit('short')
        .min(0)
        .colorScheme(fixedColor('orange'))
        .overrideByName('oldest', [
          { id: 'unit', value: 's' },
          { id: 'custom.axisPlacement', value: 'right' },
          { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
        ])
        .legend(legend({ calcs: ['max'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Batch size')
        .description('Mean lines per InfluxDB write request')
        .datasource(DATASOURCE)
        .withTarget(
          target(ingest().agg('mean', 'batch_size_avg', 'lines per write').groupByTime().fill('null')),
        )
        .interval(MIN_INTERVAL)
        .unit('short')
        .min(0)
        .colorScheme(fixedColor('blue'))
        .legend(legend({ calcs: ['mean'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new timeseries.PanelBuilder()
        .title('Dead letters by reason')
        .description(
          'Messages refused per interval (schema, unknown topic, too large...); kept in the dead-letter store',
        )
        .datasource(DATASOURCE)
        .withTarget(target(deadLetters, { alias: '$tag_reason' }))
        .interval(MIN_INTERVAL)
        .unit('short')
        .decimals(0)
        .min(0)
        .drawStyle(common.GraphDrawStyle.Bars)
        .fillOpacity(80)
        .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
        .colorScheme(paletteColors())
        .legend(legend({ calcs: ['sum'] }))
        .height(8)
        .span(12),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Dead letters since start, by reason')
        .description('Count per ingest process since it started (`npm run dead-letters -- list` shows them)')
        .datasource(DATASOURCE)
        .withTarget(target(deadLettersTotal, { format: 'table' }))
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            renameByName: { instance: 'Instance', reason: 'Reason', 'since start': 'Dead letters' },
          },
        })
        .noValue('No dead letters')
        .height(8)
        .span(12),
    )
    .withRow(
      new dashboard.RowBuilder('Headroom (the process ingest runs in: all of the platform when all-in-one)'),
    )
    .withPanel(
      headroomSeries(
        'Event loop busy',
        'Share of each health interval the event loop was busy. Broker, ingest and the alerts engine share ' +
          'this one loop (one core) in the all-in-one platform: past 60 % bursts and login storms build ' +
          'backlogs, near 100 % it is full (docs/benchmarks.md, "Sizing a node")',
        [
          ['mean', 'event_loop_utilization', 'mean'],
          ['max', 'event_loop_utilization', 'max'],
        ],
        'percentunit',
      )
        .max(1)
        .thresholds(thresholds([null, 'green'], [0.6, 'orange'], [0.85, 'red']))
        .thresholdsStyle(
          new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
        ),
    )
    .withPanel(
      headroomSeries(
        'Event loop delay p99',
        'How late the event loop ran its timers, 99th percentile per health interval: what a reading or an alert waits on top of its own work',
        [['max', 'event_loop_delay_p99_ms', 'p99']],
        'ms',
      ),
    )
    .withPanel(
      headroomSeries(
        'Open files',
        'Descriptors open (one per device connection, plus storage) against the limit; the broker keeps 1 % of the limit for storage and turns devices away past the rest',
        [
          ['max', 'open_files', 'open'],
          ['last', 'open_files_limit', 'limit'],
        ],
        'short',
      ),
    )
    .withPanel(
      headroomSeries(
        'Memory',
        'Resident memory of the process and its JavaScript heap in use (about 20-29 MiB per 1,000 devices connected, docs/benchmarks.md)',
        [
          ['max', 'rss_mib', 'resident'],
          ['max', 'heap_used_mib', 'heap used'],
        ],
        'mbytes',
      ),
    )
    .build()
}
