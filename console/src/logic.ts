/**
 * The console's rules that do not touch the DOM: routes, board order and filters, which next steps a
 * role may take, compliance periods. Unit-tested in logic.test.ts.
 */
import {
  type Alert,
  type AlertAction,
  type AlertSeverity,
  type AlertStatus,
  type AlertType,
  type NamedAlert,
  OVERDUE_ALERT_TYPES,
} from '../../alerts/types.ts'
import type { Principal, SiteCategory } from '../../domain/registry-types.ts'

/** Kept in step with domain/alert-change.ts (not imported: it would bundle zod into the page). */
export const SEVERITIES = ['critical', 'major', 'warning', 'info'] as const satisfies readonly AlertSeverity[]
export const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, major: 2, critical: 3 }
export const SITE_CATEGORIES = [
  'market',
  'community_health_centre',
  'mall',
  'supermarket',
  'pharmacy',
  'hotel',
  'school',
  'metro',
  'residential',
  'other',
] as const satisfies readonly SiteCategory[]
/** Categories the plan's 99% verification target names (market fairs, health centres, malls…). */
export const VERIFICATION_CATEGORIES = [
  'market',
  'community_health_centre',
  'mall',
  'supermarket',
  'pharmacy',
  'hotel',
] as const satisfies readonly SiteCategory[]
/** What the board counts as overdue, as the API's summary does. */
export const OVERDUE_TYPES: readonly AlertType[] = OVERDUE_ALERT_TYPES

// ---- routes ----

export type Route =
  | { name: 'board'; query: URLSearchParams }
  | { name: 'alert'; id: string; query: URLSearchParams }
  | { name: 'devices'; query: URLSearchParams }
  | { name: 'device'; id: string; query: URLSearchParams }
  | { name: 'compliance'; query: URLSearchParams }

/** `#/alerts/abc?x=1` -> { name: 'alert', id: 'abc', query }; anything unknown is the board. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '')
  const at = raw.indexOf('?')
  const path = at >= 0 ? raw.slice(0, at) : raw
  const query = new URLSearchParams(at >= 0 ? raw.slice(at + 1) : '')
  const parts = path.split('/').filter((p) => p !== '')
  const [first, second] = parts
  const id = second === undefined ? null : safeDecode(second)
  if (first === 'alerts' && id) return { name: 'alert', id, query }
  if (first === 'devices' && id) return { name: 'device', id, query }
  if (first === 'devices') return { name: 'devices', query }
  if (first === 'compliance') return { name: 'compliance', query }
  return { name: 'board', query }
}

function safeDecode(value: string): string | null {
  try {
    return decodeURIComponent(value)
  } catch {
    return null
  }
}

export function routeHash(
  path: string,
  query?: URLSearchParams | Record<string, string | undefined>,
): string {
  const params = new URLSearchParams()
  if (query instanceof URLSearchParams) for (const [k, v] of query) params.set(k, v)
  else if (query) for (const [k, v] of Object.entries(query)) if (v) params.set(k, v)
  const text = params.toString()
  return `#${path}${text ? `?${text}` : ''}`
}

export const alertHash = (id: string): string => `#/alerts/${encodeURIComponent(id)}`
export const deviceHash = (id: string): string => `#/devices/${encodeURIComponent(id)}`

/**
 * Webhook messages link to `/alerts/:id` (alerts/notify/notifier.ts alertLink); the console routes by
 * hash, so such a path becomes `/#/alerts/:id`. null when the path is the console's own.
 */
export function hashForPath(pathname: string): string | null {
  const match = /^\/(alerts|devices)\/([^/]+)\/?$/.exec(pathname)
  if (!match) return null
  return `#/${match[1]}/${match[2]}`
}

// ---- board ----

/** The board's filters; an empty list is no filter (every type, every severity). */
export type BoardFilter = {
  status: AlertStatus | 'active'
  severities: AlertSeverity[]
  types: AlertType[]
  site?: string
  siteCategory?: SiteCategory
  tenant?: string
}

const STATUSES: ReadonlyArray<BoardFilter['status']> = ['active', 'open', 'acknowledged', 'resolved']

/** The known values of a comma-separated (or repeated) parameter, each once, in the order given. */
function listParam<T extends string>(query: URLSearchParams, name: string, allowed: readonly T[]): T[] {
  const given = query.getAll(name).flatMap((v) => v.split(','))
  const out: T[] = []
  for (const value of given) {
    const known = allowed.find((a) => a === value.trim())
    if (known && !out.includes(known)) out.push(known)
  }
  return out
}

export function filterFromQuery(query: URLSearchParams, known: { types: readonly AlertType[] }): BoardFilter {
  const pick = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const value = query.get(name)
    return allowed.find((a) => a === value)
  }
  const text = (name: string) => {
    const value = query.get(name)?.trim()
    return value ? value : undefined
  }
  return {
    status: pick('status', STATUSES) ?? 'active',
    severities: listParam(query, 'severity', SEVERITIES),
    types: listParam(query, 'type', known.types),
    site: text('site'),
    siteCategory: pick('siteCategory', SITE_CATEGORIES),
    tenant: text('tenant'),
  }
}

/** A list as one query value: `a,b` (the API takes the same form). */
const joined = (values: readonly string[]): string | undefined =>
  values.length > 0 ? values.join(',') : undefined

export function filterToQuery(filter: BoardFilter): Record<string, string | undefined> {
  return {
    status: filter.status === 'active' ? undefined : filter.status,
    severity: joined(filter.severities),
    type: joined(filter.types),
    site: filter.site,
    siteCategory: filter.siteCategory,
    tenant: filter.tenant,
  }
}

/** Query of GET /api/alerts/summary: the board's filters but status (the counts are of active alerts). */
export function summaryQuery(filter: BoardFilter): Record<string, string> {
  const q: Record<string, string> = {}
  for (const [name, value] of Object.entries(filterToQuery({ ...filter, status: 'active' })))
    if (value !== undefined) q[name] = value
  return q
}

/** Query of GET /api/alerts for a board filter. */
export function alertsQuery(filter: BoardFilter, limit: number): Record<string, string> {
  return { ...summaryQuery(filter), status: filter.status, limit: String(limit) }
}

/** Whether a changed alert belongs on a board with this filter (the API filters the list the same way). */
export function matchesFilter(alert: Alert, filter: BoardFilter): boolean {
  if (filter.status === 'active' ? alert.status === 'resolved' : alert.status !== filter.status) return false
  if (filter.severities.length > 0 && !filter.severities.includes(alert.severity)) return false
  if (filter.types.length > 0 && !filter.types.includes(alert.type)) return false
  if (filter.site && alert.siteId !== filter.site) return false
  if (filter.siteCategory && alert.siteCategory !== filter.siteCategory) return false
  if (filter.tenant && alert.tenantId !== filter.tenant) return false
  return true
}

/** How a person knows a device: its name with its id, or the id alone when it has no name. */
export function deviceLabel(alert: Pick<NamedAlert, 'deviceId' | 'deviceName'>): string {
  return alert.deviceName ? `${alert.deviceName} (${alert.deviceId})` : alert.deviceId
}

export function isActiveRescue(alert: Alert): boolean {
  return alert.type === 'trapped' && alert.status !== 'resolved'
}

/** Trapped passengers first, then by severity, then the newest first. */
export function compareAlerts(a: Alert, b: Alert): number {
  const rescue = Number(isActiveRescue(b)) - Number(isActiveRescue(a))
  if (rescue !== 0) return rescue
  const severity = SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
  if (severity !== 0) return severity
  return b.openedAt - a.openedAt
}

// ---- next steps ----

/** The rescue workflow in order (96333 timeline); the first one available is the next step. */
const WORKFLOW: readonly AlertAction[] = ['acknowledge', 'dispatch', 'accept', 'arrive', 'release']

/**
 * The actions this principal may take on this alert in its current state, in workflow order, then
 * resolve and comment. Mirrors alerts/api/auth.ts assertMayAct and the engine's transitions, so a
 * button is only shown when pressing it can succeed.
 */
export function availableActions(alert: Alert, me: Pick<Principal, 'role' | 'tenantId'>): AlertAction[] {
  if (me.role === 'viewer') return []
  const isOfficer = me.role === 'admin' || me.role === 'duty_officer'
  if (alert.status === 'resolved') return ['comment']
  const out: AlertAction[] = []
  if (alert.status === 'open') out.push('acknowledge')
  const r = alert.rescue
  if (r) {
    const mayTakeStage = isOfficer || (me.role === 'tenant' && r.dispatchedTo === me.tenantId)
    if (r.dispatchedAt === null) {
      if (isOfficer) out.push('dispatch')
    } else if (mayTakeStage) {
      if (r.acceptedAt === null) out.push('accept')
      else if (r.arrivedAt === null) out.push('arrive')
      else out.push('release')
    }
  }
  if (isOfficer) out.push('resolve')
  out.push('comment')
  return out
}

/** The one step to make obvious: the first of the workflow still open to this principal. */
export function nextStep(actions: readonly AlertAction[]): AlertAction | null {
  return WORKFLOW.find((a) => actions.includes(a)) ?? null
}

export const NEEDS_NOTE: ReadonlySet<AlertAction> = new Set(['resolve', 'comment'])

// ---- compliance periods ----

export type PeriodKind = 'month' | 'quarter' | 'year' | 'custom'
export type Period = { kind: PeriodKind; from: string; to: string }

const pad = (n: number): string => String(n).padStart(2, '0')
function lastDayOfMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}
const isIsoDate = (value: string | null): value is string =>
  value !== null && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))

/** The month, quarter or year holding `date` (YYYY-MM-DD), as inclusive ISO dates. */
export function periodOf(kind: Exclude<PeriodKind, 'custom'>, date: string): Period {
  const year = Number(date.slice(0, 4))
  const month = Number(date.slice(5, 7))
  if (kind === 'year') return { kind, from: `${year}-01-01`, to: `${year}-12-31` }
  if (kind === 'quarter') {
    const first = Math.floor((month - 1) / 3) * 3 + 1
    const last = first + 2
    return {
      kind,
      from: `${year}-${pad(first)}-01`,
      to: `${year}-${pad(last)}-${pad(lastDayOfMonth(year, last))}`,
    }
  }
  return {
    kind,
    from: `${year}-${pad(month)}-01`,
    to: `${year}-${pad(month)}-${pad(lastDayOfMonth(year, month))}`,
  }
}

/** The period of the compliance page's query, or the current month (Asia/Shanghai `today`). */
export function periodFromQuery(query: URLSearchParams, today: string): Period {
  const kind = query.get('period')
  const from = query.get('from')
  const to = query.get('to')
  if (kind === 'custom' && isIsoDate(from) && isIsoDate(to) && from <= to) return { kind, from, to }
  if ((kind === 'month' || kind === 'quarter' || kind === 'year') && isIsoDate(from))
    return periodOf(kind, from)
  return periodOf('month', today)
}
