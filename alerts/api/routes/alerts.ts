/**
 * Alerts: list and filter, one alert with its history, the actions of the rescue workflow, and the
 * live stream of changes (server-sent events), each scoped to the caller.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ALERT_SEVERITIES, AlertSeveritySchema, AlertStatusSchema } from '../../../domain/alert-change.ts'
import { DomainError } from '../../../domain/errors.ts'
import { type Principal, SiteCategorySchema } from '../../../domain/registry-types.ts'
import {
  type ActiveAlertCount,
  ALERT_ACTIONS,
  ALERT_TYPES,
  type Alert,
  type AlertFilter,
  OVERDUE_ALERT_TYPES,
  SEVERITY_RANK,
} from '../../types.ts'
import type { ApiDeps } from '../app.ts'
import {
  actorOf,
  assertMayAct,
  bearerToken,
  canSeeAlert,
  isTenantScoped,
  principalOf,
  visibleOrNotFound,
} from '../auth.ts'
import { ERROR_RESPONSES, ErrorBodySchema } from '../errors.ts'
import { createAlertPresenter } from '../present.ts'
import {
  AlertSchema,
  AlertSummarySchema,
  DeviceIdSchema,
  IdParam,
  manyOf,
  NoteBodySchema,
  TimeQuerySchema,
  TransitionSchema,
} from '../schemas.ts'

const errors = ERROR_RESPONSES

/**
 * `cursor` is an opaque continuation of the same query. It is offset-based underneath (the engine
 * pages by offset), so alerts raised between two pages can shift the next page by as many rows.
 */
function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url')
}

const CursorSchema = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
      const result = z.object({ o: z.int().min(0) }).safeParse(parsed)
      if (result.success) return result.data.o
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'not a cursor this API issued' })
    return z.NEVER
  })

const STREAM_TOKEN_RECHECK_MS = 5000

const OVERDUE: ReadonlySet<string> = new Set(OVERDUE_ALERT_TYPES)

/** The board's filters, shared by the list and the summary. */
const boardFilters = {
  type: manyOf(ALERT_TYPES),
  severity: manyOf(ALERT_SEVERITIES),
  site: DeviceIdSchema.optional(),
  tenant: DeviceIdSchema.optional(),
  siteCategory: SiteCategorySchema.optional(),
}

type Grouped = Pick<ActiveAlertCount, 'type' | 'severity' | 'siteId' | 'tenantId' | 'siteCategory'>

export const alertRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { engine, registry } = deps
  const present = createAlertPresenter(registry)

  function visibleAlert(principal: Principal, id: string): Alert {
    return visibleOrNotFound(engine.getAlert(id), (a) => canSeeAlert(principal, a), `no alert ${id}`)
  }

  // Streams this app opened, with the token each was opened with: a stream never ends by itself, so
  // it is ended when its token is revoked (here or by another process) and when the app closes.
  const streams = new Map<ServerResponse, string>()
  let recheck: NodeJS.Timeout | undefined

  function endRevokedStreams(): void {
    for (const [res, token] of streams) {
      if (!registry.authenticateToken(token)) {
        streams.delete(res)
        res.end()
      }
    }
  }
  const unsubscribe = registry.onChange((change) => {
    if (change.type === 'token_revoked' || change.type === 'external') endRevokedStreams()
  })
  app.addHook('preClose', (done) => {
    unsubscribe()
    clearInterval(recheck)
    for (const res of streams.keys()) res.end()
    streams.clear()
    done()
  })

  app.get(
    '/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary:
          'Alerts, newest first, filtered and paged (a tenant sees its own and rescues dispatched to it)',
        querystring: z.object({
          status: z
            .union([AlertStatusSchema, z.literal('active')])
            .optional()
            .describe('active = open or acknowledged'),
          ...boardFilters,
          device: DeviceIdSchema.optional(),
          from: TimeQuerySchema.optional().describe('opened at or after'),
          to: TimeQuerySchema.optional().describe('opened before'),
          limit: z.coerce.number().int().min(1).max(deps.config.API_MAX_PAGE_SIZE).default(50),
          offset: z.coerce.number().int().min(0).default(0),
          cursor: CursorSchema.optional().describe('nextCursor of the previous page; replaces offset'),
        }),
        response: {
          200: z.object({
            items: z.array(AlertSchema),
            total: z.number().int(),
            limit: z.number().int(),
            offset: z.number().int(),
            nextCursor: z.string().nullable(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const q = request.query
      const offset = q.cursor ?? q.offset
      const filter: AlertFilter = {
        status: q.status,
        types: q.type,
        severities: q.severity,
        siteId: q.site,
        tenantId: q.tenant,
        deviceId: q.device,
        siteCategory: q.siteCategory,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset,
      }
      if (isTenantScoped(principal)) {
        // Another tenant's filter would only ever match nothing; the scope is the token's.
        if (q.tenant && q.tenant !== principal.tenantId) {
          return { items: [], total: 0, limit: q.limit, offset, nextCursor: null }
        }
        filter.tenantId = principal.tenantId
      }
      const { items, total } = engine.listAlerts(filter)
      const next = offset + items.length
      return {
        items: items.map(present),
        total,
        limit: q.limit,
        offset,
        nextCursor: next < total ? encodeCursor(next) : null,
      }
    },
  )

  app.get(
    '/alerts/summary',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Counts of active alerts for the board, under its filters (a tenant counts its own)',
        description:
          'From the engine’s in-memory index: one call instead of a list call per count. `type` and ' +
          '`severity` take several values, as on the list. Rescues are active trapped-passenger alerts; a ' +
          'late one has missed its accept or its arrive deadline (RESCUE_ACCEPT_LIMIT_S, RESCUE_ARRIVE_LIMIT_S).',
        querystring: z.object(boardFilters),
        response: { 200: AlertSummarySchema, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const q = request.query
      const summary = {
        open: 0,
        acknowledged: 0,
        critical: 0,
        rescuesInProgress: 0,
        rescuesLate: 0,
        overdue: 0,
      }
      let tenantId = q.tenant
      if (isTenantScoped(principal)) {
        // As on the list: the alerts of the tenant's own devices; another tenant's filter matches nothing.
        if (q.tenant && q.tenant !== principal.tenantId) return summary
        tenantId = principal.tenantId
      }
      const matches = (a: Grouped) =>
        (!q.type || q.type.includes(a.type)) &&
        (!q.severity || q.severity.includes(a.severity)) &&
        (!q.site || a.siteId === q.site) &&
        (!tenantId || a.tenantId === tenantId) &&
        (!q.siteCategory || a.siteCategory === q.siteCategory)
      for (const group of engine.activeAlertCounts()) {
        if (!matches(group)) continue
        summary.open += group.unacknowledged
        summary.acknowledged += group.active - group.unacknowledged
        if (group.severity === 'critical') summary.critical += group.active
        if (OVERDUE.has(group.type)) summary.overdue += group.active
      }
      for (const alert of engine.activeRescues()) {
        if (!matches(alert)) continue
        summary.rescuesInProgress += 1
        if (alert.rescue?.acceptMissed || alert.rescue?.arriveMissed) summary.rescuesLate += 1
      }
      return summary
    },
  )

  app.get(
    '/alerts/stream',
    {
      config: { allowsQueryToken: true },
      schema: {
        tags: ['alerts'],
        summary: 'Live alert changes as server-sent events (scoped like the list)',
        description:
          'text/event-stream. Events: `alert` (data: `{change, alert}`), `ready` once connected, `reset` when ' +
          'a Last-Event-ID can no longer be replayed (reload the list). Comment lines are heartbeats. ' +
          'EventSource cannot send headers: pass the token as `?access_token=` (it then appears in access ' +
          'logs of proxies; prefer a short-lived viewer or tenant token for wall screens).',
        querystring: z.object({
          access_token: z.string().optional(),
          minSeverity: AlertSeveritySchema.optional(),
          lastEventId: z
            .string()
            .max(100)
            .optional()
            .describe('as the Last-Event-ID header, for clients that cannot set it'),
        }),
        response: { 401: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const minRank = request.query.minSeverity ? SEVERITY_RANK[request.query.minSeverity] : 0
      const header = request.headers['last-event-id']
      const lastEventId =
        (typeof header === 'string' ? header : undefined) ?? request.query.lastEventId ?? null
      const token = bearerToken(request, true)
      reply.hijack()
      const res = reply.raw
      if (token) streams.set(res, token)
      // Revocations by another process (the operator CLI) are not announced: look every few seconds.
      recheck ??= setInterval(endRevokedStreams, STREAM_TOKEN_RECHECK_MS).unref()
      res.on('close', () => {
        streams.delete(res)
        if (streams.size === 0) {
          clearInterval(recheck)
          recheck = undefined
        }
      })
      const headers: Record<string, string | number | string[]> = {}
      for (const [name, value] of Object.entries(reply.getHeaders()))
        if (value !== undefined) headers[name] = value
      deps.notifier.sse.attach(res, {
        filter: (event) =>
          SEVERITY_RANK[event.alert.severity] >= minRank && canSeeAlert(principal, event.alert),
        lastEventId,
        headers,
        label: principal.tokenId,
      })
    },
  )

  app.get(
    '/alerts/:id',
    {
      schema: {
        tags: ['alerts'],
        summary: 'One alert with its history of transitions',
        params: IdParam,
        response: {
          200: z.object({ alert: AlertSchema, transitions: z.array(TransitionSchema) }),
          ...errors,
        },
      },
    },
    async (request) => {
      const alert = visibleAlert(principalOf(request), request.params.id)
      return { alert: present(alert), transitions: engine.getTransitions(alert.id) }
    },
  )

  app.post(
    '/alerts/:id/:action',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Act on an alert: acknowledge, dispatch, accept, arrive, release, resolve, comment',
        description:
          'Rescue stages (accept, arrive, release) follow the 96333 timeline. A tenant may acknowledge and ' +
          'comment its alerts and take the stages of rescues dispatched to it; a viewer may do nothing. ' +
          '`note` is required for comment. 409 INVALID_TRANSITION when the alert is not in a state for it.',
        params: z.object({ id: z.string().min(1).max(200), action: z.enum(ALERT_ACTIONS) }),
        body: NoteBodySchema.nullish(),
        response: { 200: AlertSchema, ...errors, 409: ErrorBodySchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id, action } = request.params
      const alert = visibleAlert(principal, id)
      assertMayAct(principal, alert, action)
      const note = request.body?.note
      if (action === 'comment' && !note) {
        throw new DomainError('NOTE_REQUIRED', 'a comment needs a note')
      }
      return present(engine.act(id, action, { actor: actorOf(principal), ...(note ? { note } : {}) }))
    },
  )
}
