/**
 * What every view is handed (the context) and the small pieces they share: severity badges that do
 * not rely on colour alone, labels of enums, key/value lists, loading and error states.
 */
import type { Alert, AlertAction, AlertSeverity, AlertStatus, NamedAlert } from '../../alerts/types.ts'
import type { Principal, Site, Tenant } from '../../domain/registry-types.ts'
import type { Api } from './api.ts'
import { ApiError } from './api.ts'
import { type Child, datum, h } from './dom.ts'
import { formatDateTime } from './format.ts'
import { type MessageKey, SEVERITY_KEYS, STATUS_KEYS, type Translator } from './i18n.ts'
import type { LiveAlertEvent, StreamState } from './stream.ts'

export type Ctx = {
  i18n: Translator
  me: Principal
  api: Api
  sites: Map<string, Site>
  tenants: Map<string, Tenant>
  streamState(): StreamState
  /** Re-renders the current view (after its data changed). */
  rerender(): void
  navigate(hash: string): void
  /** Asks for a note (resolve, comment); null when cancelled. */
  askNote(action: 'resolve' | 'comment'): Promise<string | null>
  /** Posts an action; shows the error and returns null when refused. */
  act(alert: Alert, action: AlertAction, note?: string): Promise<NamedAlert | null>
  toast(message: string, kind?: 'error' | 'info'): void
}

export type View = {
  render(): Child
  /** A change from the live stream. */
  onAlert?(event: LiveAlertEvent): void
  /** The stream (re)connected: refetch what may have been missed. */
  onSync?(): void
  dispose?(): void
}

const SEVERITY_ICON: Record<AlertSeverity, string> = {
  critical: '‼',
  major: '!',
  warning: '▲',
  info: 'i',
}

/** Icon + word + colour: severity is never told by colour alone. */
export function severityBadge(i18n: Translator, severity: AlertSeverity): HTMLElement {
  return h(
    'span',
    { class: `badge sev sev-${severity}` },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, SEVERITY_ICON[severity]),
    i18n.t(SEVERITY_KEYS[severity]),
  )
}

export function statusBadge(i18n: Translator, status: AlertStatus): HTMLElement {
  return h('span', { class: `badge status status-${status}` }, i18n.t(STATUS_KEYS[status]))
}

export const ACTION_KEYS: Record<AlertAction, MessageKey> = {
  acknowledge: 'actionAcknowledge',
  dispatch: 'actionDispatch',
  accept: 'actionAccept',
  arrive: 'actionArrive',
  release: 'actionRelease',
  resolve: 'actionResolve',
  comment: 'actionComment',
}

export function actorLabel(i18n: Translator, actor: string | null): Child {
  if (actor === null) return i18n.t('dash')
  return actor === 'system' ? i18n.t('actorSystem') : datum(actor)
}

export function timeOrDash(i18n: Translator, ms: number | null): Child {
  return ms === null
    ? i18n.t('dash')
    : h('time', { datetime: new Date(ms).toISOString() }, formatDateTime(ms))
}

/** A definition list of label/value pairs; rows whose value is null are left out. */
export function facts(rows: ReadonlyArray<readonly [string, Child] | null>): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    rows.map((row) =>
      row === null ? null : h('div', { class: 'fact' }, h('dt', null, row[0]), h('dd', null, row[1])),
    ),
  )
}

export function loadingBlock(i18n: Translator): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, i18n.t('loading'))
}

export function errorBlock(i18n: Translator, err: unknown, retry?: () => void): HTMLElement {
  let message: string
  if (err instanceof ApiError && err.status === 404) message = i18n.t('notFound')
  else if (err instanceof ApiError && err.status === 403) message = i18n.t('forbidden')
  else message = i18n.t('loadFailed', { message: err instanceof Error ? err.message : String(err) })
  return h(
    'div',
    { class: 'error-block', role: 'alert' },
    h('p', null, message),
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, i18n.t('retry')) : null,
  )
}

export function siteName(ctx: Ctx, siteId: string | null): Child {
  if (siteId === null) return ctx.i18n.t('dash')
  return datum(ctx.sites.get(siteId)?.name ?? siteId)
}

export function tenantName(ctx: Ctx, tenantId: string | null): Child {
  if (tenantId === null) return ctx.i18n.t('dash')
  return datum(ctx.tenants.get(tenantId)?.name ?? tenantId)
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', null, title), ...children)
}

/** Loads data for a view: `state` is null while loading, an Error when it failed. */
export function loader<T>(ctx: Ctx, fetcher: () => Promise<T>) {
  let state: { ok: true; value: T } | { ok: false; error: unknown } | null = null
  let generation = 0
  return {
    get state() {
      return state
    },
    async load(quiet = false): Promise<void> {
      const gen = ++generation
      if (!quiet) state = null
      try {
        const value = await fetcher()
        if (gen === generation) state = { ok: true, value }
      } catch (error) {
        if (gen === generation) state = { ok: false, error }
      }
      if (gen === generation) ctx.rerender()
    },
  }
}
