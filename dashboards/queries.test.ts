/**
 * The proof that the dashboards work without a Grafana: every panel target, annotation and query
 * variable of every provisioned JSON file is expanded the way Grafana expands it (grafana-expand.ts:
 * template variables with the InfluxDB datasource's rules, then `$timeFilter` and `$__interval` with the
 * server's), run against the real InfluxDB loaded with simulator data written by ingest's encoder, and
 * must return rows. A query that errors or returns nothing fails the test, naming the panel.
 */
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase, influxQuery } from '../test/support/influxd.ts'
import { DASHBOARDS } from './dashboards.ts'
import { buildFixture } from './fixture.ts'
import {
  calculateIntervalMs,
  expandMacros,
  interpolateVariables,
  parseDurationMs,
  type VariableState,
} from './grafana-expand.ts'

// The provisioned datasource's "Min time interval" (deploy/grafana/provisioning/datasources).
const DATASOURCE_MIN_INTERVAL = '10s'
// maxDataPoints of a panel without one is its width in pixels: a 24-column row taken as 1800 px.
const ROW_PIXELS = 1800

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

type Query = { where: string; query: string; minInterval?: string; width: number }

/** Every query of a provisioned dashboard JSON: panel targets and annotation targets. */
function queriesOf(dashboard: Json): Query[] {
  const out: Query[] = []
  const panels = Array.isArray(dashboard.panels) ? dashboard.panels : []
  for (const panel of panels.filter(isObject)) {
    const width = isObject(panel.gridPos) && typeof panel.gridPos.w === 'number' ? panel.gridPos.w : 24
    for (const t of (Array.isArray(panel.targets) ? panel.targets : []).filter(isObject)) {
      const query = str(t.query)
      if (query) {
        out.push({
          where: `panel "${str(panel.title)}" ${str(t.refId)}`,
          query,
          minInterval: str(panel.interval),
          width,
        })
      }
    }
  }
  const annotations =
    isObject(dashboard.annotations) && Array.isArray(dashboard.annotations.list)
      ? dashboard.annotations.list
      : []
  for (const a of annotations.filter(isObject)) {
    const query = isObject(a.target) ? str(a.target.query) : undefined
    if (query) out.push({ where: `annotation "${str(a.name)}"`, query, width: 24 })
  }
  return out
}

type Scenario = {
  name: string
  /** Chooses a variable's value from its options; undefined = leave it as the dashboard's default. */
  pick(variable: {
    name: string
    multi: boolean
    options: readonly string[]
  }): 'all' | readonly string[] | undefined
  /** Whether every query must return rows (a tenant owns elevators or scales, not both). */
  requireRows: boolean
}

const firstOf = (options: readonly string[]): string[] => options.slice(0, 1)

// Multi-value variables on All, single-value ones on the dashboard's default (or the first option).
const byDefault = (v: { multi: boolean }): 'all' | undefined => (v.multi ? 'all' : undefined)

const SCENARIOS: Scenario[] = [
  { name: 'everything (All)', pick: byDefault, requireRows: true },
  {
    name: 'first site',
    pick: (v) => (v.name === 'site' ? firstOf(v.options) : byDefault(v)),
    requireRows: true,
  },
  // The fixture's last site id has a dot: escaped inside the regex, or it would match any character.
  {
    name: 'last site',
    pick: (v) => (v.name === 'site' ? v.options.slice(-1) : byDefault(v)),
    requireRows: true,
  },
  {
    name: 'two sites',
    pick: (v) => (v.name === 'site' ? v.options.slice(0, 2) : byDefault(v)),
    requireRows: true,
  },
  {
    name: 'first category',
    pick: (v) => (v.name === 'category' ? firstOf(v.options) : byDefault(v)),
    requireRows: true,
  },
  { name: 'first value of every variable', pick: (v) => firstOf(v.options), requireRows: false },
]

/** The time range a dashboard opens with (`now-6h` .. `now`), in ms. */
function defaultRange(dashboard: Json, now: number): { fromMs: number; toMs: number } {
  const from = isObject(dashboard.time) ? str(dashboard.time.from) : undefined
  const match = /^now-(\d+[smhdw])$/.exec(from ?? '')
  if (!match?.[1]) throw new Error(`unexpected time range ${from}`)
  return { fromMs: now - parseDurationMs(match[1]), toMs: now }
}

async function run(url: string, db: string, query: string) {
  return influxQuery(url, query, db)
}

const rowsOf = (series: Array<{ values: unknown[][] }>): number =>
  series.reduce((n, s) => n + s.values.length, 0)

describe('every dashboard query, expanded as Grafana does, returns rows from InfluxDB', () => {
  const url = inject('influxUrl')
  let db = ''
  const now = Date.now()

  beforeAll(async () => {
    db = await createTestDatabase(url, 'dashboards')
    const fixture = buildFixture({ endMs: now, hours: 6 })
    for (let i = 0; i < fixture.lines.length; i += 5000) {
      const res = await fetch(`${url}/write?db=${db}&precision=u`, {
        method: 'POST',
        body: fixture.lines.slice(i, i + 5000).join('\n'),
      })
      expect(res.status, await res.text()).toBe(204)
    }
  }, 120_000)

  const files = DASHBOARDS.map((d) => d.file)
  it.each(files)('%s', async (file) => {
    const dashboard: unknown = JSON.parse(
      readFileSync(new URL(`./provisioning/${file}`, import.meta.url), 'utf8'),
    )
    if (!isObject(dashboard)) throw new Error(`${file} is not a dashboard`)
    const range = defaultRange(dashboard, now)
    const queries = queriesOf(dashboard)
    expect(queries.length).toBeGreaterThan(0)
    const templating =
      isObject(dashboard.templating) && Array.isArray(dashboard.templating.list)
        ? dashboard.templating.list
        : []
    const failures: string[] = []
    let executed = 0

    for (const scenario of SCENARIOS) {
      const variables = new Map<string, VariableState>()
      for (const v of templating.filter(isObject)) {
        const name = str(v.name) ?? ''
        let options: string[]
        if (v.type === 'query') {
          const raw = str(v.query) ?? ''
          const expanded = expandMacros(interpolateVariables(raw, variables), {
            ...range,
            intervalMs: 60_000,
          })
          const series = await run(url, db, expanded).catch((err: unknown) => {
            failures.push(
              `[${scenario.name}] variable ${name}: ${err instanceof Error ? err.message : String(err)}\n    ${expanded}`,
            )
            return []
          })
          // SHOW TAG VALUES answers one series per measurement; Grafana keeps each value once, sorted.
          options = [...new Set(series.flatMap((s) => s.values.map((row) => String(row[1]))))].sort()
          executed++
          if (options.length === 0)
            failures.push(`[${scenario.name}] variable ${name} has no values\n    ${expanded}`)
        } else if (v.type === 'custom') {
          options = (str(v.query) ?? '').split(',').map((o) => o.trim())
        } else {
          throw new Error(`variable type ${String(v.type)} is not handled by this test`)
        }
        const multi = v.multi === true
        const picked = scenario.pick({ name, multi, options })
        const current =
          picked ??
          (isObject(v.current) && typeof v.current.value === 'string' ? [v.current.value] : firstOf(options))
        variables.set(name, {
          name,
          multi,
          includeAll: v.includeAll === true,
          allValue: str(v.allValue) ?? null,
          options,
          current: current === 'all' && v.includeAll !== true ? firstOf(options) : current,
        })
      }

      for (const q of queries) {
        const intervalMs = calculateIntervalMs(
          range.fromMs,
          range.toMs,
          Math.round((q.width / 24) * ROW_PIXELS),
          parseDurationMs(q.minInterval ?? DATASOURCE_MIN_INTERVAL),
        )
        const expanded = expandMacros(interpolateVariables(q.query, variables), { ...range, intervalMs })
        expect(expanded, `${q.where}: unexpanded macro or variable`).not.toMatch(/\$\w/)
        executed++
        try {
          const series = await run(url, db, expanded)
          if (scenario.requireRows && rowsOf(series) === 0) {
            failures.push(`[${scenario.name}] ${q.where} returned no rows\n    ${expanded}`)
          }
        } catch (err) {
          failures.push(
            `[${scenario.name}] ${q.where}: ${err instanceof Error ? err.message : String(err)}\n    ${expanded}`,
          )
        }
      }
    }
    expect(failures, failures.join('\n')).toEqual([])
    expect(executed).toBeGreaterThan(queries.length * SCENARIOS.length - 1)
  })
})
