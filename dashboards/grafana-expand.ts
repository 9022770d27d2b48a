/**
 * Expands a dashboard query the way Grafana (11/12, InfluxDB datasource in InfluxQL mode, backend
 * query path) does before it reaches InfluxDB, so that a test can run exactly that text:
 *
 * 1. Template variables, in the browser (`interpolateQueryExpr` of the InfluxDB datasource):
 *    a multi-value variable becomes `(a|b)` with every value regex-escaped (one value: `(a)`); All
 *    with a custom all value inserts that value as it is (`.*`); a single-value variable is inserted
 *    as it is, or regex-escaped when it stands inside a `=~ /.../` regex; numbers are never escaped.
 * 2. Macros, in Grafana's server (pkg/tsdb/influxdb/influxql/models/query.go `Build`):
 *    `$timeFilter` -> `time >= <from>ms and time <= <to>ms`, `$interval` and `$__interval` -> the
 *    interval as Grafana formats it (`20s`, `1m`, `1h`), `$__interval_ms` -> milliseconds.
 * 3. The interval: (to - from) / max data points, rounded to Grafana's steps (rangeutil
 *    `roundInterval`), never below the panel's min interval or, without one, the datasource's.
 */

/** A variable as the dashboard holds it, with the options its query returned. */
export type VariableState = {
  name: string
  multi: boolean
  includeAll: boolean
  /** Custom all value (`.*`), inserted without escaping when All is selected. */
  allValue: string | null
  options: readonly string[]
  /** 'all', or the selected values. */
  current: 'all' | readonly string[]
}

/** Grafana's escapeRegex (@grafana/data). */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')
}

const isNumeric = (value: string): boolean => !Number.isNaN(Number.parseFloat(value))

// The datasource's test for "this query has a regex": `=~ /.../` or `!~ /.../`.
const REGEX_IN_QUERY =
  /(\s*(=|!)~\s*)\/((?![*+?])(?:[^\r\n[/\\]|\\.|\[(?:[^\r\n\]\\]|\\.)*\])+)\/((?:g(?:im?|mi?)?|i(?:gm?|mg?)?|m(?:gi?|ig?)?)?)/gm

/** The InfluxDB datasource's format function for one variable's value. */
export function interpolateQueryExpr(
  value: string | readonly string[],
  variable: VariableState,
  query: string,
): string {
  if (typeof value === 'string' && isNumeric(value)) return value
  const joined = (values: readonly string[]): string => `(${values.map(escapeRegex).join('|')})`
  if (variable.multi) {
    if (typeof value === 'string') return isNumeric(value) ? value : escapeRegex(value)
    return joined(value)
  }
  const usesVariable = new RegExp(`\\/(?:\\^)?(.*)(\\$${variable.name})(.*)(?:\\$)?\\/`, 'm')
  for (const match of query.match(REGEX_IN_QUERY) ?? []) {
    if (usesVariable.test(match)) return typeof value === 'string' ? escapeRegex(value) : joined(value)
  }
  return typeof value === 'string' ? value : value.join(',')
}

// templateSrv's variable syntax; this project's queries use the `$name` form only.
const VARIABLE_REF = /\$(\w+)/g

/** Replaces every `$name` of a known variable; unknown names (`$timeFilter`, `$__interval`) stay. */
export function interpolateVariables(query: string, variables: ReadonlyMap<string, VariableState>): string {
  return query.replace(VARIABLE_REF, (whole, name: string) => {
    const variable = variables.get(name)
    if (variable === undefined) return whole
    if (variable.current === 'all') {
      if (!variable.includeAll) throw new Error(`variable ${name} has no All option`)
      // A custom all value is inserted unformatted (templateSrv skips the format function for it).
      if (variable.allValue !== null) return variable.allValue
      return interpolateQueryExpr(variable.options, variable, query)
    }
    const value = variable.multi ? variable.current : (variable.current[0] ?? '')
    return interpolateQueryExpr(value, variable, query)
  })
}

const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `10s` -> 10000. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text)
  const unit = match?.[2]
  if (!match || unit === undefined) throw new Error(`not a duration: ${text}`)
  return Number(match[1]) * (MS[unit] ?? 0)
}

const STEPS: Array<[below: number, interval: number]> = [
  [10, 1],
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1500, 1000],
  [3500, 2000],
  [7500, 5000],
  [12500, 10000],
  [17500, 15000],
  [25000, 20000],
  [45000, 30000],
  [90000, 60000],
  [210000, 120000],
  [450000, 300000],
  [750000, 600000],
  [1050000, 900000],
  [1500000, 1200000],
  [2700000, 1800000],
  [5400000, 3600000],
  [9000000, 7200000],
  [16200000, 10800000],
  [32400000, 21600000],
  [86400000, 43200000],
  [604800000, 86400000],
  [1814400000, 604800000],
  [3628800000, 2592000000],
]

/** Grafana's rangeutil.roundInterval: the next "nice" interval. */
export function roundInterval(ms: number): number {
  for (const [below, interval] of STEPS) if (ms < below) return interval
  return 31536000000
}

/** The interval Grafana uses for a panel's queries. */
export function calculateIntervalMs(
  fromMs: number,
  toMs: number,
  maxDataPoints: number,
  minIntervalMs: number,
): number {
  return Math.max(roundInterval((toMs - fromMs) / maxDataPoints), minIntervalMs)
}

/** gtime.FormatInterval: the largest whole unit. */
export function formatInterval(ms: number): string {
  const units: Array<[number, string]> = [
    [31_536_000_000, 'y'],
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
    [1, 'ms'],
  ]
  for (const [size, unit] of units) if (ms >= size) return `${Math.floor(ms / size)}${unit}`
  return '1ms'
}

/** Grafana's server-side macros of an InfluxQL raw query. */
export function expandMacros(
  query: string,
  range: { fromMs: number; toMs: number; intervalMs: number },
): string {
  const text = formatInterval(range.intervalMs)
  return query
    .replaceAll(
      '$timeFilter',
      `time >= ${Math.floor(range.fromMs)}ms and time <= ${Math.floor(range.toMs)}ms`,
    )
    .replaceAll('$interval', text)
    .replaceAll('$__interval_ms', String(Math.floor(range.intervalMs)))
    .replaceAll('$__interval', text)
}
