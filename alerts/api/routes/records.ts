/**
 * Records the regulator keeps: maintenance (TSG T5002), verification of scales (JJG 539) and
 * inspection of elevators (TSG T7001), accidents; the compliance report; ingest's dead letters.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { DomainError } from '../../../domain/errors.ts'
import { type Device, IsoDateSchema, type Principal } from '../../../domain/registry-types.ts'
import type { Certification } from '../../../registry/certification.ts'
import type { MaintenanceFilter } from '../../types.ts'
import type { ApiDeps } from '../app.ts'
import { actorOf, isTenantScoped, principalOf, requireRole, visibleDevice } from '../auth.ts'
import { ERROR_RESPONSES, ErrorBodySchema } from '../errors.ts'
import {
  AccidentRecordSchema,
  ComplianceReportSchema,
  DeviceIdSchema,
  IdParam,
  InspectionRecordSchema,
  MaintenanceRecordSchema,
  pageQuery,
  TimeQuerySchema,
  VerificationRecordSchema,
} from '../schemas.ts'

const errors = ERROR_RESPONSES
const writeErrors = { ...errors, 409: ErrorBodySchema, 503: ErrorBodySchema }

const MsInput = z.int().positive().describe('ms since epoch')

/** 400 INVALID_INPUT naming `field`: it comes before `other` (an end before its start). */
function isBeforeError(field: string, other: string): DomainError {
  const problem = `${field}: must not be before ${other}`
  return new DomainError('INVALID_INPUT', problem, { details: { problems: [problem] } })
}

const DeadLetterSchema = z.object({
  id: z.number().int(),
  at: z.number().int(),
  topic: z.string(),
  deviceId: z.string().nullable(),
  reason: z.string(),
  message: z.string(),
  /** The payload as text when it is UTF-8, else null (see payloadBase64). */
  payloadText: z.string().nullable(),
  payloadBase64: z.string().nullable(),
  payloadBytes: z.number().int(),
  isTruncated: z.boolean(),
})

export const recordRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { engine, registry } = deps
  const page = pageQuery(deps.config.API_MAX_PAGE_SIZE)

  /** Certification records are written by admins and duty officers, for a device they can see. */
  function deviceToCertify(principal: Principal, id: string): Device {
    requireRole(principal, 'admin', 'duty_officer')
    return visibleDevice(registry, principal, id)
  }

  function certification(): Certification {
    if (!deps.certification)
      throw new DomainError('NOT_AVAILABLE', 'certification records are not configured')
    return deps.certification
  }

  // ---- maintenance ----
  app.get(
    '/maintenance',
    {
      schema: {
        tags: ['maintenance'],
        summary: 'Maintenance log, newest first (a tenant sees its own elevators)',
        querystring: z.object({
          device: DeviceIdSchema.optional(),
          tenant: DeviceIdSchema.optional(),
          from: TimeQuerySchema.optional().describe('ended at or after'),
          to: TimeQuerySchema.optional().describe('ended before'),
          ...page,
        }),
        response: {
          200: z.object({ items: z.array(MaintenanceRecordSchema), limit: z.number(), offset: z.number() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const q = request.query
      const filter: MaintenanceFilter = {
        deviceId: q.device,
        tenantId: q.tenant,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset: q.offset,
      }
      if (isTenantScoped(principal)) {
        if (q.tenant && q.tenant !== principal.tenantId)
          return { items: [], limit: q.limit, offset: q.offset }
        filter.tenantId = principal.tenantId
      }
      return { items: engine.listMaintenance(filter), limit: q.limit, offset: q.offset }
    },
  )

  app.post(
    '/maintenance',
    {
      schema: {
        tags: ['maintenance'],
        summary: 'Record a completed maintenance (admin, duty officer, or the elevator’s own tenant)',
        description:
          'TSG T5002: records are append-only; this adds one and moves the elevator’s last maintenance.',
        body: z.object({
          deviceId: DeviceIdSchema,
          startedAt: MsInput,
          endedAt: MsInput,
          kind: z.enum(['half_monthly', 'quarterly', 'half_yearly', 'annual', 'repair']).optional(),
          note: z.string().trim().max(2000).optional(),
        }),
        response: { 201: MaintenanceRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      requireRole(principal, 'admin', 'duty_officer', 'tenant')
      const body = request.body
      visibleDevice(registry, principal, body.deviceId)
      if (body.endedAt < body.startedAt) throw isBeforeError('endedAt', 'startedAt')
      const record = engine.recordMaintenance({ ...body, actor: actorOf(principal) })
      return reply.code(201).send(record)
    },
  )

  // ---- certification ----
  app.get(
    '/devices/:id/verifications',
    {
      schema: {
        tags: ['certification'],
        summary: 'Verification history of a scale (JJG 539)',
        params: IdParam,
        response: {
          200: z.object({ items: z.array(VerificationRecordSchema) }),
          ...errors,
          503: ErrorBodySchema,
        },
      },
    },
    async (request) => {
      const device = visibleDevice(registry, principalOf(request), request.params.id)
      return { items: certification().listVerifications(device.id) }
    },
  )

  app.post(
    '/devices/:id/verifications',
    {
      schema: {
        tags: ['certification'],
        summary: 'Record a verification result after the fact (admin, duty officer)',
        params: IdParam,
        body: z.object({
          verifiedOn: IsoDateSchema,
          passed: z.boolean(),
          validUntil: IsoDateSchema.optional(),
          verifier: z.string().trim().min(1).max(200),
          note: z.string().trim().max(2000).optional(),
        }),
        response: { 201: VerificationRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const device = deviceToCertify(principalOf(request), request.params.id)
      return reply.code(201).send(certification().recordVerification(device.id, request.body))
    },
  )

  app.post(
    '/devices/:id/verifications/open',
    {
      schema: {
        tags: ['certification'],
        summary: 'Open a verification session: tamper signals are expected (and not alerted) until it closes',
        params: IdParam,
        body: z.object({ verifier: z.string().trim().min(1).max(200) }),
        response: { 201: VerificationRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const device = deviceToCertify(principalOf(request), request.params.id)
      return reply
        .code(201)
        .send(certification().openVerification(device.id, { verifier: request.body.verifier }))
    },
  )

  app.post(
    '/devices/:id/verifications/close',
    {
      schema: {
        tags: ['certification'],
        summary: 'Close the open verification session with its result',
        params: IdParam,
        body: z.object({
          verifiedOn: IsoDateSchema,
          passed: z.boolean(),
          validUntil: IsoDateSchema.optional(),
          note: z.string().trim().max(2000).optional(),
        }),
        response: { 200: VerificationRecordSchema, ...writeErrors },
      },
    },
    async (request) => {
      const device = deviceToCertify(principalOf(request), request.params.id)
      return certification().closeVerification(device.id, request.body)
    },
  )

  app.get(
    '/devices/:id/inspections',
    {
      schema: {
        tags: ['certification'],
        summary: 'Inspection declarations and results of an elevator (TSG T7001)',
        params: IdParam,
        response: {
          200: z.object({ items: z.array(InspectionRecordSchema) }),
          ...errors,
          503: ErrorBodySchema,
        },
      },
    },
    async (request) => {
      const device = visibleDevice(registry, principalOf(request), request.params.id)
      return { items: certification().listInspections(device.id) }
    },
  )

  app.post(
    '/devices/:id/inspections/declare',
    {
      schema: {
        tags: ['certification'],
        summary: 'Record that the periodic inspection was applied for (admin, duty officer)',
        params: IdParam,
        body: z.object({ declaredOn: IsoDateSchema }),
        response: { 201: InspectionRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const device = deviceToCertify(principal, request.params.id)
      return reply
        .code(201)
        .send(certification().declareInspection(device.id, { ...request.body, actor: actorOf(principal) }))
    },
  )

  app.post(
    '/devices/:id/inspections',
    {
      schema: {
        tags: ['certification'],
        summary: 'Record an inspection result (admin, duty officer)',
        params: IdParam,
        body: z.object({
          inspectedOn: IsoDateSchema,
          passed: z.boolean(),
          validUntil: IsoDateSchema.optional(),
        }),
        response: { 201: InspectionRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const device = deviceToCertify(principal, request.params.id)
      return reply
        .code(201)
        .send(certification().recordInspection(device.id, { ...request.body, actor: actorOf(principal) }))
    },
  )

  // ---- accidents ----
  app.get(
    '/accidents',
    {
      schema: {
        tags: ['accidents'],
        summary: 'Accidents recorded by hand (admin, duty officer)',
        querystring: z.object({
          site: DeviceIdSchema.optional(),
          from: TimeQuerySchema.optional(),
          to: TimeQuerySchema.optional(),
          ...page,
        }),
        response: {
          200: z.object({ items: z.array(AccidentRecordSchema), limit: z.number(), offset: z.number() }),
          ...errors,
        },
      },
    },
    async (request) => {
      requireRole(principalOf(request), 'admin', 'duty_officer')
      const q = request.query
      const items = engine.listAccidents({
        siteId: q.site,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset: q.offset,
      })
      return { items, limit: q.limit, offset: q.offset }
    },
  )

  app.post(
    '/accidents',
    {
      schema: {
        tags: ['accidents'],
        summary: 'Record an accident (admin, duty officer); the plan’s target is no fatal accident',
        body: z.object({
          at: MsInput,
          siteId: DeviceIdSchema,
          deviceId: DeviceIdSchema.nullish(),
          fatal: z.boolean(),
          description: z.string().trim().min(1).max(5000),
        }),
        response: { 201: AccidentRecordSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      requireRole(principal, 'admin', 'duty_officer')
      return reply.code(201).send(engine.recordAccident({ ...request.body, actor: actorOf(principal) }))
    },
  )

  // ---- compliance ----
  app.get(
    '/compliance',
    {
      schema: {
        tags: ['compliance'],
        summary:
          'The district plan’s rates for a period, overall and by site category (not for tenant tokens)',
        description:
          'Verification rate (周检率), inspection declaration rate, maintenance, rescue times, escalations, ' +
          'instruments, fatal accidents. District-wide figures: a tenant token gets 403.',
        querystring: z.object({ from: IsoDateSchema, to: IsoDateSchema }),
        response: { 200: ComplianceReportSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(principalOf(request), 'admin', 'duty_officer', 'viewer')
      const { from, to } = request.query
      if (to < from) throw isBeforeError('to', 'from')
      return engine.compliance({ from, to })
    },
  )

  // ---- dead letters ----
  app.get(
    '/dead-letters',
    {
      schema: {
        tags: ['dead-letters'],
        summary: 'Messages ingest refused, newest first, with the reason (admin, duty officer)',
        querystring: z.object({
          reason: z.string().max(64).optional(),
          device: DeviceIdSchema.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          before: z.coerce.number().int().positive().optional().describe('the last id of the previous page'),
        }),
        response: {
          200: z.object({
            items: z.array(DeadLetterSchema),
            countByReason: z.record(z.string(), z.number()),
            nextBefore: z.number().int().nullable(),
          }),
          ...errors,
          503: ErrorBodySchema,
        },
      },
    },
    async (request) => {
      requireRole(principalOf(request), 'admin', 'duty_officer')
      const store = deps.deadLetters
      if (!store) throw new DomainError('NOT_AVAILABLE', 'the dead-letter store is not configured')
      const q = request.query
      const rows = store.list({ reason: q.reason, deviceId: q.device, limit: q.limit, before: q.before })
      const items = rows.map((r) => ({
        id: r.id,
        at: r.at,
        topic: r.topic,
        deviceId: r.deviceId,
        reason: r.reason,
        message: r.message,
        payloadText: r.payloadText,
        payloadBase64: r.payloadText === null ? Buffer.from(r.payload).toString('base64') : null,
        payloadBytes: r.payloadBytes,
        isTruncated: r.isTruncated,
      }))
      const last = items.at(-1)
      return {
        items,
        countByReason: store.countByReason(),
        nextBefore: items.length === q.limit && last ? last.id : null,
      }
    },
  )
}
