/**
 * The expansion rules, checked against the cases of Grafana's own tests (InfluxDB datasource
 * `interpolateQueryExpr`, rangeutil `roundInterval`, influxql models `Build`).
 */
import { describe, expect, it } from 'vitest'
import {
  calculateIntervalMs,
  expandMacros,
  formatInterval,
  interpolateQueryExpr,
  interpolateVariables,
  roundInterval,
  type VariableState,
} from './grafana-expand.ts'

const variable = (over: Partial<VariableState>): VariableState => ({
  name: 'v',
  multi: false,
  includeAll: false,
  allValue: null,
  options: [],
  current: [],
  ...over,
})

describe('template variables (InfluxDB datasource rules)', () => {
  it('inserts a single value as it is outside a regex, escaped inside one', () => {
    const v = variable({ name: 'tempVar' })
    expect(interpolateQueryExpr('/special/path', v, `select that where path = '$tempVar'`)).toBe(
      '/special/path',
    )
    expect(
      interpolateQueryExpr('/special/path', v, 'select atan(z/sqrt(3.14)), that where path =~ /$tempVar/'),
    ).toBe('\\/special\\/path')
    expect(interpolateQueryExpr('/special/path', v, 'select that where path !~ /^$tempVar$/')).toBe(
      '\\/special\\/path',
    )
    expect(interpolateQueryExpr('12.2', v, `select that where path = '$tempVar'`)).toBe('12.2')
  })

  it('escapes and joins multi values always', () => {
    const v = variable({ name: 'tempVar', multi: true })
    expect(interpolateQueryExpr(['/special/path', '/some/other/path'], v, `where path = '$tempVar'`)).toBe(
      '(\\/special\\/path|\\/some\\/other\\/path)',
    )
  })

  it('expands All to the custom all value unescaped, or to every option', () => {
    const custom = variable({ name: 'site', multi: true, includeAll: true, allValue: '.*', current: 'all' })
    const every = variable({
      name: 'site',
      multi: true,
      includeAll: true,
      options: ['a.1', 'b'],
      current: 'all',
    })
    const q = 'SELECT 1 FROM m WHERE "site_id" =~ /^$site$/'
    expect(interpolateVariables(q, new Map([['site', custom]]))).toBe(
      'SELECT 1 FROM m WHERE "site_id" =~ /^.*$/',
    )
    expect(interpolateVariables(q, new Map([['site', every]]))).toBe(
      'SELECT 1 FROM m WHERE "site_id" =~ /^(a\\.1|b)$/',
    )
  })

  it('leaves macros and unknown names for the server', () => {
    const q = `SELECT 1 FROM m WHERE $timeFilter AND "device_id" = '$device' GROUP BY time($__interval)`
    const v = variable({ name: 'device', current: ['elv.1'] })
    expect(interpolateVariables(q, new Map([['device', v]]))).toBe(
      `SELECT 1 FROM m WHERE $timeFilter AND "device_id" = 'elv.1' GROUP BY time($__interval)`,
    )
  })
})

describe('macros and interval (Grafana server rules)', () => {
  it('rounds intervals to Grafana steps and formats them in one unit', () => {
    expect(roundInterval(21_600)).toBe(20_000)
    expect(roundInterval(48_000)).toBe(60_000)
    expect(roundInterval(336_000)).toBe(300_000)
    expect(formatInterval(300_000)).toBe('5m')
    expect(formatInterval(20_000)).toBe('20s')
    expect(formatInterval(86_400_000)).toBe('1d')
  })

  it('never goes below the min interval', () => {
    expect(calculateIntervalMs(0, 3_600_000, 1800, 10_000)).toBe(10_000)
    expect(calculateIntervalMs(0, 7 * 86_400_000, 1800, 10_000)).toBe(300_000)
  })

  it('expands $timeFilter, $__interval and $__interval_ms', () => {
    const q = 'SELECT mean("x") FROM m WHERE $timeFilter GROUP BY time($__interval) LIMIT $__interval_ms'
    expect(expandMacros(q, { fromMs: 1000, toMs: 2000, intervalMs: 60_000 })).toBe(
      'SELECT mean("x") FROM m WHERE time >= 1000ms and time <= 2000ms GROUP BY time(1m) LIMIT 60000',
    )
  })
})
