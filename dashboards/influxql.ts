/**
 * A small typed InfluxQL builder, and the Grafana query type that carries its text (the foundation SDK
 * has no InfluxDB query type: this is its custom-query pattern, a `cog.Builder<Dataquery>`).
 *
 * InfluxQL rather than Flux or SQL: the same text runs on InfluxDB 1.x, on 2.x through its DBRP mapping
 * and on 3.x, where Flux is gone. The builder renders strings with Grafana's macros left in place
 * (`$timeFilter`, `$__interval`, `$variable`); Grafana expands them, and so does the proof test
 * (grafana-expand.ts) before it runs every query against a real InfluxDB.
 */

import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog'
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common'
import { type FieldOf, MEASUREMENTS, type Measurement, type TagOf } from './schema.ts'

export type Aggregation =
  | 'count'
  | 'sum'
  | 'mean'
  | 'median'
  | 'min'
  | 'max'
  | 'first'
  | 'last'
  | 'spread'
  | 'stddev'

export type Fill = 'null' | 'none' | 'previous' | 'linear' | number

/** `"name"`: InfluxQL identifier quoting. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** `'text'`: InfluxQL string literal (tag values compared with `=`). */
export function stringLiteral(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** Escapes regex metacharacters the way Grafana's escapeRegex does, so a literal stays a literal. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')
}

const DURATION = /^(\d+(ns|u|µ|ms|s|m|h|d|w)|\$[A-Za-z_][A-Za-z0-9_]*)$/

function checkDuration(duration: string): string {
  if (!DURATION.test(duration)) throw new Error(`not an InfluxQL duration or $variable: ${duration}`)
  return duration
}

/** One term of a WHERE clause, already rendered. */
export type Condition = { readonly sql: string }

const cond = (sql: string): Condition => ({ sql })

/** `"tag" =~ /^$variable$/`: a multi-value, include-All template variable (Grafana renders `(a|b)` or `.*`). */
export function tagMatchesVariable(tag: string, variable: string): Condition {
  return cond(`${ident(tag)} =~ /^$${variable}$/`)
}

/** `"tag" = '$variable'`: a single-value variable, inserted by Grafana as it is. */
export function tagEqualsVariable(tag: string, variable: string): Condition {
  return cond(`${ident(tag)} = '$${variable}'`)
}

/** `"tag" = 'value'`. */
export function tagEquals(tag: string, value: string): Condition {
  return cond(`${ident(tag)} = ${stringLiteral(value)}`)
}

/** `"tag" =~ /^(a|b)$/` for a fixed set of values. */
export function tagIn(tag: string, values: readonly string[]): Condition {
  if (values.length === 0) throw new Error(`tagIn(${tag}) needs at least one value`)
  return cond(`${ident(tag)} =~ /^(${values.map(escapeRegex).join('|')})$/`)
}

export type Comparison = '=' | '!=' | '<' | '<=' | '>' | '>='

/** `"column" > 0.5`: compares a field (or a subquery's column). */
export function compare(column: string, op: Comparison, value: number | boolean): Condition {
  return cond(`${ident(column)} ${op} ${String(value)}`)
}

/** `(a OR b)`. */
export function anyOf(...conditions: Condition[]): Condition {
  return cond(`(${conditions.map((c) => c.sql).join(' OR ')})`)
}

/** Grafana's dashboard time range. */
export const TIME_FILTER: Condition = cond('$timeFilter')

/** `time > now() - 5m`: a window ending now, whatever range the dashboard shows. */
export function since(duration: string): Condition {
  return cond(`time > now() - ${checkDuration(duration)}`)
}

type Selection = { sql: string; column: string }

type Source = { kind: 'measurement'; name: Measurement } | { kind: 'subquery'; query: Query }

/**
 * A SELECT statement. Built with `from(measurement)` (fields and tags typed by the schema) or
 * `fromSubquery(query)` (columns checked when rendered against what the inner query produces).
 */
export class Query {
  readonly #source: Source
  readonly #selections: Selection[] = []
  readonly #conditions: Condition[] = []
  #timeGroup: string | null = null
  readonly #tagGroups: string[] = []
  #fill: Fill | null = null
  #orderDesc = false
  #limit: number | null = null
  #tz: string | null = null
  #isAggregated = false

  constructor(source: Source) {
    this.#source = source
  }

  /** `fn("column") AS "alias"`; the alias defaults to the function name, as InfluxDB names it. */
  aggregate(fn: Aggregation, column: string, alias?: string): this {
    this.#isAggregated = true
    const name = alias ?? fn
    this.#selections.push({
      sql: `${fn}(${ident(column)})${alias ? ` AS ${ident(alias)}` : ''}`,
      column: name,
    })
    return this
  }

  /** `non_negative_difference(fn("column"))`: per-interval increase of a counter. */
  nonNegativeDifference(fn: Aggregation, column: string, alias: string): this {
    this.#isAggregated = true
    this.#selections.push({
      sql: `non_negative_difference(${fn}(${ident(column)})) AS ${ident(alias)}`,
      column: alias,
    })
    return this
  }

  /** `non_negative_derivative(fn("column"), unit)`: rate of a counter per `unit` (restarts ignored). */
  nonNegativeDerivative(fn: Aggregation, column: string, unit: string, alias: string): this {
    this.#isAggregated = true
    this.#selections.push({
      sql: `non_negative_derivative(${fn}(${ident(column)}), ${checkDuration(unit)}) AS ${ident(alias)}`,
      column: alias,
    })
    return this
  }

  /** `fn("column") / divisor`: a rate from a per-interval sum, say. */
  aggregateDividedBy(fn: Aggregation, column: string, divisor: number, alias: string): this {
    this.#isAggregated = true
    this.#selections.push({ sql: `${fn}(${ident(column)}) / ${divisor} AS ${ident(alias)}`, column: alias })
    return this
  }

  /** A raw column (no aggregation). */
  column(column: string, alias?: string): this {
    this.#selections.push({
      sql: `${ident(column)}${alias ? ` AS ${ident(alias)}` : ''}`,
      column: alias ?? column,
    })
    return this
  }

  /** A tag as a column of a raw (non-aggregated) select, `"tag"::tag`. */
  tagColumn(tag: string, alias?: string): this {
    this.#selections.push({
      sql: `${ident(tag)}::tag${alias ? ` AS ${ident(alias)}` : ''}`,
      column: alias ?? tag,
    })
    return this
  }

  where(...conditions: Condition[]): this {
    this.#conditions.push(...conditions)
    return this
  }

  /** `GROUP BY time(interval)`; Grafana's `$__interval` unless told. */
  groupByTime(interval = '$__interval'): this {
    this.#timeGroup = interval === '$__interval' ? interval : checkDuration(interval)
    return this
  }

  groupByTags(...tags: string[]): this {
    this.#tagGroups.push(...tags)
    return this
  }

  fill(fill: Fill): this {
    this.#fill = fill
    return this
  }

  orderByTimeDesc(): this {
    this.#orderDesc = true
    return this
  }

  limit(limit: number): this {
    this.#limit = limit
    return this
  }

  /** Local time zone for time grouping (days and hours start at Shanghai midnight). */
  tz(tz: string): this {
    this.#tz = tz
    return this
  }

  /** The columns this query returns besides time: its selections and the tags it groups by. */
  get columns(): readonly string[] {
    return [...this.#selections.map((s) => s.column), ...this.#tagGroups]
  }

  /**
   * Tags a query over this one may still group by: those it groups by, or, for a raw select from a
   * measurement, all of the measurement's.
   */
  get tags(): readonly string[] {
    if (this.#source.kind === 'measurement' && !this.#isAggregated)
      return MEASUREMENTS[this.#source.name].tags
    return this.#tagGroups
  }

  render(): string {
    if (this.#selections.length === 0) throw new Error('a query selects at least one column')
    let from: string
    if (this.#source.kind === 'measurement') {
      from = ident(this.#source.name)
    } else {
      const inner = this.#source.query
      for (const s of this.#selections) {
        const referenced = /"((?:[^"\\]|\\.)*)"/.exec(s.sql)?.[1]
        if (referenced !== undefined && !inner.columns.includes(referenced)) {
          throw new Error(`subquery has no column ${referenced} (it has ${inner.columns.join(', ')})`)
        }
      }
      for (const tag of this.#tagGroups) {
        if (!inner.tags.includes(tag)) throw new Error(`subquery does not group by ${tag}`)
      }
      from = `(${inner.render()})`
    }
    let sql = `SELECT ${this.#selections.map((s) => s.sql).join(', ')} FROM ${from}`
    if (this.#conditions.length > 0) sql += ` WHERE ${this.#conditions.map((c) => c.sql).join(' AND ')}`
    const groups = [
      ...(this.#timeGroup === null ? [] : [`time(${this.#timeGroup})`]),
      ...this.#tagGroups.map(ident),
    ]
    if (groups.length > 0) sql += ` GROUP BY ${groups.join(', ')}`
    if (this.#fill !== null) {
      if (this.#timeGroup === null) throw new Error('fill() needs groupByTime()')
      sql += ` fill(${String(this.#fill)})`
    }
    if (this.#orderDesc) sql += ' ORDER BY time DESC'
    if (this.#limit !== null) sql += ` LIMIT ${this.#limit}`
    if (this.#tz !== null) sql += ` tz(${stringLiteral(this.#tz)})`
    return sql
  }
}

/**
 * A query on one measurement, with field and tag names checked against the schema at compile time.
 * `q.agg('last', 'floor')` only compiles when `floor` is a field of the measurement.
 */
export class MeasurementQuery<M extends Measurement> {
  readonly query: Query
  constructor(readonly measurement: M) {
    this.query = new Query({ kind: 'measurement', name: measurement })
  }
  agg(fn: Aggregation, field: FieldOf<M>, alias?: string): this {
    this.query.aggregate(fn, field, alias)
    return this
  }
  nonNegativeDifference(fn: Aggregation, field: FieldOf<M>, alias: string): this {
    this.query.nonNegativeDifference(fn, field, alias)
    return this
  }
  nonNegativeDerivative(fn: Aggregation, field: FieldOf<M>, unit: string, alias: string): this {
    this.query.nonNegativeDerivative(fn, field, unit, alias)
    return this
  }
  aggDividedBy(fn: Aggregation, field: FieldOf<M>, divisor: number, alias: string): this {
    this.query.aggregateDividedBy(fn, field, divisor, alias)
    return this
  }
  field(field: FieldOf<M>, alias?: string): this {
    this.query.column(field, alias)
    return this
  }
  tag(tag: TagOf<M>, alias?: string): this {
    this.query.tagColumn(tag, alias)
    return this
  }
  /** Each tag matches its template variable (`"site_id" =~ /^$site$/`). */
  filter(variables: Partial<Record<TagOf<M>, string>>): this {
    for (const [tag, variable] of Object.entries(variables)) {
      if (typeof variable === 'string') this.query.where(tagMatchesVariable(tag, variable))
    }
    return this
  }
  tagIs(tag: TagOf<M>, value: string): this {
    this.query.where(tagEquals(tag, value))
    return this
  }
  tagIn(tag: TagOf<M>, values: readonly string[]): this {
    this.query.where(tagIn(tag, values))
    return this
  }
  /** `"tag" = '$variable'` for a single-value variable (one device on a detail dashboard). */
  tagIsVariable(tag: TagOf<M>, variable: string): this {
    this.query.where(tagEqualsVariable(tag, variable))
    return this
  }
  where(...conditions: Condition[]): this {
    this.query.where(...conditions)
    return this
  }
  groupByTime(interval?: string): this {
    this.query.groupByTime(interval)
    return this
  }
  groupByTags(...tags: TagOf<M>[]): this {
    this.query.groupByTags(...tags)
    return this
  }
  fill(fill: Fill): this {
    this.query.fill(fill)
    return this
  }
  orderByTimeDesc(): this {
    this.query.orderByTimeDesc()
    return this
  }
  limit(limit: number): this {
    this.query.limit(limit)
    return this
  }
  render(): string {
    return this.query.render()
  }
}

export function from<M extends Measurement>(measurement: M): MeasurementQuery<M> {
  return new MeasurementQuery(measurement)
}

/** A query over the result of another (`SELECT ... FROM (SELECT ...)`). */
export function fromSubquery(inner: Query | MeasurementQuery<Measurement>): Query {
  return new Query({ kind: 'subquery', query: inner instanceof Query ? inner : inner.query })
}

/** `SHOW TAG VALUES [FROM "m"] WITH KEY = "tag" [WHERE ...]`: the options of a query variable. */
export function showTagValues(
  tag: string,
  options: { from?: Measurement; where?: readonly Condition[] } = {},
): string {
  let sql = 'SHOW TAG VALUES'
  if (options.from) sql += ` FROM ${ident(options.from)}`
  sql += ` WITH KEY = ${ident(tag)}`
  if (options.where && options.where.length > 0)
    sql += ` WHERE ${options.where.map((c) => c.sql).join(' AND ')}`
  return sql
}

export type ResultFormat = 'time_series' | 'table' | 'logs'

/** A raw InfluxQL target as Grafana's InfluxDB datasource stores it (`rawQuery: true`). */
export interface InfluxQLTarget extends Dataquery {
  refId: string
  datasource?: DataSourceRef
  hide?: boolean
  query: string
  rawQuery: true
  resultFormat: ResultFormat
  /** Series name pattern: `$tag_code`, `$col`, `$m`. */
  alias?: string
}

type Renderable = { render(): string }

/** The query builder of a panel target (the SDK's custom-query pattern). */
export class InfluxQLTargetBuilder implements Builder<Dataquery> {
  readonly #target: InfluxQLTarget

  constructor(query: string | Renderable) {
    this.#target = {
      refId: '',
      query: typeof query === 'string' ? query : query.render(),
      rawQuery: true,
      resultFormat: 'time_series',
      _implementsDataqueryVariant() {},
    }
  }

  refId(refId: string): this {
    this.#target.refId = refId
    return this
  }
  datasource(ref: DataSourceRef): this {
    this.#target.datasource = ref
    return this
  }
  format(format: ResultFormat): this {
    this.#target.resultFormat = format
    return this
  }
  alias(alias: string): this {
    this.#target.alias = alias
    return this
  }
  hide(hide: boolean): this {
    this.#target.hide = hide
    return this
  }
  build(): InfluxQLTarget {
    return this.#target
  }
}

/**
 * The target of an InfluxQL annotation query. Grafana reads the columns by name: time is the
 * event's time, the title/text/tags columns are shown on hover.
 */
export interface InfluxQLAnnotationTarget extends Dataquery {
  refId: string
  query: string
  rawQuery: true
  fromAnnotations: true
  titleColumn: string
  textColumn: string
  tagsColumn: string
  timeEndColumn: string
}

export class InfluxQLAnnotationTargetBuilder implements Builder<Dataquery> {
  readonly #target: InfluxQLAnnotationTarget

  constructor(query: string | Renderable, columns: { title?: string; text: string; tags?: string }) {
    this.#target = {
      refId: 'Anno',
      query: typeof query === 'string' ? query : query.render(),
      rawQuery: true,
      fromAnnotations: true,
      titleColumn: columns.title ?? '',
      textColumn: columns.text,
      tagsColumn: columns.tags ?? '',
      timeEndColumn: '',
      _implementsDataqueryVariant() {},
    }
  }

  build(): InfluxQLAnnotationTarget {
    return this.#target
  }
}
