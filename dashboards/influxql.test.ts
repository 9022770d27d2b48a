import { describe, expect, it } from 'vitest'
import {
  anyOf,
  compare,
  escapeRegex,
  from,
  fromSubquery,
  InfluxQLTargetBuilder,
  ident,
  showTagValues,
  since,
  stringLiteral,
  TIME_FILTER,
  tagMatchesVariable,
} from './influxql.ts'

describe('InfluxQL builder', () => {
  it('renders an aggregate over time and tags with Grafana macros left in place', () => {
    const sql = from('elevator_event')
      .agg('count', 'seq', 'faults')
      .where(TIME_FILTER)
      .tagIn('code', ['door_close_fault', 'safety_circuit_open'])
      .filter({ site_id: 'site' })
      .groupByTime()
      .groupByTags('code')
      .fill(0)
      .render()
    expect(sql).toBe(
      'SELECT count("seq") AS "faults" FROM "elevator_event" WHERE $timeFilter AND "code" =~ /^(door_close_fault|safety_circuit_open)$/ AND "site_id" =~ /^$site$/ GROUP BY time($__interval), "code" fill(0)',
    )
  })

  it('renders raw selects with tags, order and limit', () => {
    const sql = from('elevator_event')
      .field('seq')
      .tag('device_id', 'elevator')
      .where(TIME_FILTER)
      .tagIs('code', 'trapped')
      .tagIsVariable('device_id', 'device')
      .orderByTimeDesc()
      .limit(10)
      .render()
    expect(sql).toBe(
      `SELECT "seq", "device_id"::tag AS "elevator" FROM "elevator_event" WHERE $timeFilter AND "code" = 'trapped' AND "device_id" = '$device' ORDER BY time DESC LIMIT 10`,
    )
  })

  it('nests a subquery and checks the outer columns and tags against it', () => {
    const inner = from('scale_status')
      .agg('max', 'zero_offset_e', 'highest')
      .where(since('5m'))
      .groupByTags('device_id', 'site_id')
    const outer = fromSubquery(inner)
      .aggregate('count', 'highest', 'scales')
      .where(anyOf(compare('highest', '>', 0.5), compare('highest', '<', -0.5)))
      .groupByTags('site_id')
    expect(outer.render()).toBe(
      'SELECT count("highest") AS "scales" FROM (SELECT max("zero_offset_e") AS "highest" FROM "scale_status" WHERE time > now() - 5m GROUP BY "device_id", "site_id") WHERE ("highest" > 0.5 OR "highest" < -0.5) GROUP BY "site_id"',
    )
    expect(() => fromSubquery(inner).aggregate('count', 'lowest').render()).toThrow(/no column lowest/)
    expect(() => fromSubquery(inner).aggregate('count', 'highest').groupByTags('tenant_id').render()).toThrow(
      /does not group by tenant_id/,
    )
  })

  it('refuses fill without time grouping and durations that are not InfluxQL', () => {
    expect(() => from('scale_status').agg('last', 'seq').fill(0).render()).toThrow(/groupByTime/)
    expect(() => since('5 minutes')).toThrow(/not an InfluxQL duration/)
    expect(since('$online').sql).toBe('time > now() - $online')
  })

  it('quotes identifiers, strings and regex literals', () => {
    expect(ident('a "b"')).toBe('"a \\"b\\""')
    expect(stringLiteral("it's")).toBe("'it\\'s'")
    expect(escapeRegex('qk-market.1/(a)')).toBe('qk-market\\.1\\/\\(a\\)')
    expect(tagMatchesVariable('site_id', 'site').sql).toBe('"site_id" =~ /^$site$/')
  })

  it('renders SHOW TAG VALUES for variables', () => {
    expect(
      showTagValues('site_id', { from: 'scale_status', where: [tagMatchesVariable('tenant_id', 'tenant')] }),
    ).toBe('SHOW TAG VALUES FROM "scale_status" WITH KEY = "site_id" WHERE "tenant_id" =~ /^$tenant$/')
  })

  it('builds a Grafana raw InfluxQL target', () => {
    const t = new InfluxQLTargetBuilder(from('scale_weighing').agg('sum', 'amount_cny'))
      .refId('B')
      .format('table')
      .alias('$tag_site_id')
      .build()
    expect(JSON.parse(JSON.stringify(t))).toEqual({
      refId: 'B',
      query: 'SELECT sum("amount_cny") FROM "scale_weighing"',
      rawQuery: true,
      resultFormat: 'table',
      alias: '$tag_site_id',
    })
  })
})
