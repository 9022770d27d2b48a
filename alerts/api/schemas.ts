/**
 * The API's request and response schemas. Responses are validated on the way out too, so the
 * OpenAPI document at /docs says exactly what the routes send.
 */
import { z } from 'zod'
import { AlertSeveritySchema, AlertStatusSchema } from '../../domain/alert-change.ts'
import { shanghaiMidnight } from '../../domain/dates.ts'
import {
  ACCURACY_CLASSES,
  RoleSchema,
  SiteCategorySchema,
  TENANT_KINDS,
} from '../../domain/registry-types.ts'
import { DEVICE_ID_PATTERN, DEVICE_KINDS } from '../../domain/topics.ts'
import { ALERT_TYPES } from '../types.ts'

/** Named schemas, shown as components of the OpenAPI document. Ours, not zod's global registry. */
export const apiSchemas = z.registry<{ id: string }>()
function named<S extends z.ZodType>(schema: S, id: string): S {
  apiSchemas.add(schema, { id })
  return schema
}

const Ms = z.number().int().describe('ms since epoch')
const IsoDate = z.string().describe('YYYY-MM-DD, Asia/Shanghai calendar')

export const IdParam = z.object({ id: z.string().min(1).max(200) })
export const DeviceIdSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'letters, digits, _ . - only; at most 64 characters')

/**
 * A point in time in a query: ms since epoch, an ISO 8601 date-time with offset, or a calendar
 * date (midnight Asia/Shanghai).
 */
export const TimeQuerySchema = z
  .string()
  .trim()
  .transform((value, ctx) => {
    if (/^\d{1,15}$/.test(value)) return Number(value)
    if (/^\d{4}-\d{2}-\d{2}$/.test(value) && z.iso.date().safeParse(value).success)
      return shanghaiMidnight(value)
    if (z.iso.datetime({ offset: true }).safeParse(value).success) return Date.parse(value)
    ctx.addIssue({
      code: 'custom',
      message: 'expected ms since epoch, YYYY-MM-DD (Asia/Shanghai) or an ISO 8601 date-time with offset',
    })
    return z.NEVER
  })
  .describe('ms since epoch, YYYY-MM-DD (midnight Asia/Shanghai) or ISO 8601 date-time')

/**
 * An optional query parameter of several values from a fixed set: repeated (`type=a&type=b`), comma-separated
 * (`type=a,b`) or both. Answers the distinct values in the order given; an unknown value is a 400 on
 * the parameter, naming the value.
 */
export function manyOf<const T extends string>(values: readonly T[]) {
  const known = new Set<string>(values)
  const isKnown = (value: string): value is T => known.has(value)
  return z
    .union([z.string().max(2000), z.array(z.string().max(2000)).max(100)])
    .transform((input, ctx) => {
      const given = [input].flat().flatMap((v) => v.split(','))
      const items = [...new Set(given.map((v) => v.trim()).filter((v) => v !== ''))]
      const unknown = items.filter((v) => !isKnown(v))
      if (items.length === 0 || unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message:
            items.length === 0 ? 'expected at least one value' : `unknown value(s): ${unknown.join(', ')}`,
        })
        return z.NEVER
      }
      return items.filter(isKnown)
    })
    .optional()
    .describe(`one or more of: ${values.join(', ')}; repeated or comma-separated`)
}

export function pageQuery(maxPage: number) {
  return {
    limit: z.coerce.number().int().min(1).max(maxPage).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  }
}

export function pageOf<S extends z.ZodType>(item: S) {
  return z.object({
    items: z.array(item),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
  })
}

export const TenantSchema = named(
  z.object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(TENANT_KINDS),
    contact: z.string().nullable(),
    createdAt: Ms,
  }),
  'Tenant',
)

export const SiteSchema = named(
  z.object({
    id: z.string(),
    name: z.string(),
    category: SiteCategorySchema,
    address: z.string(),
    operatorTenantId: z.string().nullable(),
    createdAt: Ms,
  }),
  'Site',
)

const DeviceBase = {
  id: z.string(),
  siteId: z.string(),
  tenantId: z.string(),
  name: z.string().nullable(),
  statusPeriodS: z.number(),
  inService: z.boolean(),
  createdAt: Ms,
}

export const ElevatorSchema = named(
  z.object({
    ...DeviceBase,
    kind: z.literal('elevator'),
    registrationCode: z.string(),
    ratedSpeedMps: z.number(),
    floors: z.number().int(),
    lastInspectionOn: IsoDate.nullable(),
    nextInspectionDue: IsoDate.nullable(),
    lastMaintenanceAt: Ms.nullable(),
  }),
  'Elevator',
)

export const ScaleSchema = named(
  z.object({
    ...DeviceBase,
    kind: z.literal('scale'),
    certificateNo: z.string(),
    accuracyClass: z.enum(ACCURACY_CLASSES),
    maxKg: z.number(),
    eG: z.number(),
    lastVerificationOn: IsoDate.nullable(),
    nextVerificationDue: IsoDate.nullable(),
  }),
  'Scale',
)

export const DeviceSchema = named(z.discriminatedUnion('kind', [ElevatorSchema, ScaleSchema]), 'Device')

export const RescueSchema = z.object({
  alarmAt: Ms,
  dispatchedAt: Ms.nullable(),
  dispatchedTo: z.string().nullable(),
  acceptedAt: Ms.nullable(),
  arrivedAt: Ms.nullable(),
  releasedAt: Ms.nullable(),
  acceptDeadline: Ms,
  arriveDeadline: Ms,
  acceptMissed: z.boolean(),
  arriveMissed: z.boolean(),
})

const LocalizedTextSchema = z.object({ zh: z.string(), en: z.string() })

export const AlertSchema = named(
  z.object({
    id: z.string(),
    deviceId: z.string(),
    deviceKind: z.enum(DEVICE_KINDS),
    siteId: z.string().nullable(),
    tenantId: z.string().nullable(),
    siteCategory: SiteCategorySchema.nullable(),
    type: z.enum(ALERT_TYPES),
    severity: AlertSeveritySchema,
    status: AlertStatusSchema,
    count: z.number().int(),
    title: LocalizedTextSchema,
    details: z.record(z.string(), z.unknown()),
    openedAt: Ms,
    lastSeenAt: Ms,
    acknowledgedAt: Ms.nullable(),
    acknowledgedBy: z.string().nullable(),
    resolvedAt: Ms.nullable(),
    resolvedBy: z.string().nullable(),
    resolutionNote: z.string().nullable(),
    escalated: z.boolean(),
    rescue: RescueSchema.nullable(),
    deviceName: z.string().nullable().describe('the device’s name in the registry, if it has one'),
    siteName: z
      .string()
      .nullable()
      .describe('the name of the site the alert was raised at, while the device is still there'),
  }),
  'Alert',
)

export const AlertSummarySchema = named(
  z.object({
    open: z.int().describe('active, not acknowledged'),
    acknowledged: z.int().describe('active, acknowledged'),
    critical: z.int().describe('active, critical'),
    rescuesInProgress: z.int().describe('active trapped-passenger alerts'),
    rescuesLate: z
      .int()
      .describe('of those, past their accept deadline unaccepted or their arrive deadline without arrival'),
    overdue: z.int().describe('active maintenance, inspection and verification overdue alerts'),
  }),
  'AlertSummary',
)
export type AlertSummary = z.infer<typeof AlertSummarySchema>

export const MaintenanceDueSchema = named(
  z.object({
    lastMaintenanceAt: Ms.nullable(),
    intervalDays: z.int(),
    dueOn: IsoDate.describe('last day within MAINTENANCE_INTERVAL_DAYS of the last maintenance'),
    isOverdue: z.boolean(),
  }),
  'MaintenanceDue',
)

const RatioShape = { numerator: z.number(), denominator: z.number(), rate: z.number().nullable() }
const RatioSchema = z.object(RatioShape)

const ComplianceFiguresSchema = named(
  z.object({
    verification: z.object({ ...RatioShape, target: z.number(), meetsTarget: z.boolean().nullable() }),
    inspectionDeclaration: z.object({
      ...RatioShape,
      target: z.number(),
      meetsTarget: z.boolean().nullable(),
      declaredInTime: z.int(),
    }),
    maintenance: z.object({ ...RatioShape, records: z.int() }),
    rescue: z.object({
      rescues: z.int(),
      arrived: z.int(),
      medianArrivalS: z.number().nullable(),
      p90ArrivalS: z.number().nullable(),
      withinLimit: RatioSchema,
      medianAcceptS: z.number().nullable(),
      acceptMissed: z.int(),
      arriveMissed: z.int(),
    }),
    escalations: z.int(),
    instruments: z.object({
      registered: z.int(),
      inService: z.int(),
      target: z.number().nullable(),
      share: z.number().nullable(),
    }),
    fatalAccidents: z.object({ count: z.int(), target: z.number(), meetsTarget: z.boolean() }),
  }),
  'ComplianceFigures',
)

export const ComplianceReportSchema = named(
  z.object({
    period: z.object({ from: IsoDate, to: IsoDate, timezone: z.literal('Asia/Shanghai') }),
    generatedAt: Ms,
    rescueLimits: z
      .object({ acceptS: z.number(), arriveS: z.number() })
      .describe('RESCUE_ACCEPT_LIMIT_S and RESCUE_ARRIVE_LIMIT_S of the engine'),
    overall: ComplianceFiguresSchema,
    byCategory: z.record(SiteCategorySchema, ComplianceFiguresSchema),
  }),
  'ComplianceReport',
)

export const TransitionSchema = named(
  z.object({
    id: z.number().int(),
    alertId: z.string(),
    transition: z.string(),
    actor: z.string(),
    note: z.string().nullable(),
    at: Ms,
    severity: AlertSeveritySchema,
    status: AlertStatusSchema,
    details: z.record(z.string(), z.unknown()).nullable(),
  }),
  'Transition',
)

export const MaintenanceRecordSchema = named(
  z.object({
    id: z.number().int(),
    deviceId: z.string(),
    tenantId: z.string().nullable(),
    startedAt: Ms,
    endedAt: Ms,
    kind: z.string(),
    source: z.enum(['device', 'api']),
    actor: z.string(),
    note: z.string().nullable(),
    recordedAt: Ms,
  }),
  'MaintenanceRecord',
)

export const AccidentRecordSchema = named(
  z.object({
    id: z.number().int(),
    at: Ms,
    siteId: z.string(),
    deviceId: z.string().nullable(),
    fatal: z.boolean(),
    description: z.string(),
    actor: z.string(),
    recordedAt: Ms,
  }),
  'AccidentRecord',
)

export const VerificationRecordSchema = named(
  z.object({
    id: z.number().int(),
    deviceId: z.string(),
    openedAt: Ms,
    closedAt: Ms.nullable(),
    verifiedOn: IsoDate.nullable(),
    passed: z.boolean().nullable(),
    validUntil: IsoDate.nullable(),
    dueBefore: IsoDate.nullable(),
    verifier: z.string().nullable(),
    note: z.string().nullable(),
  }),
  'VerificationRecord',
)

export const InspectionRecordSchema = named(
  z.object({
    id: z.number().int(),
    deviceId: z.string(),
    declaredOn: IsoDate,
    dueBefore: IsoDate.nullable(),
    inspectedOn: IsoDate.nullable(),
    passed: z.boolean().nullable(),
    validUntil: IsoDate.nullable(),
    recordedAt: Ms,
    actor: z.string().nullable(),
  }),
  'InspectionRecord',
)

export const ApiTokenSchema = named(
  z.object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    tenantId: z.string().nullable(),
    createdAt: Ms,
    revokedAt: Ms.nullable(),
  }),
  'ApiToken',
)

export const PrincipalSchema = z.object({
  tokenId: z.string(),
  name: z.string(),
  role: RoleSchema,
  tenantId: z.string().nullable(),
})

export const DeviceSnapshotSchema = z.object({
  lastStatus: z.unknown().describe('the last status message the device sent, as validated'),
  lastSeenAt: Ms.nullable(),
  online: z.boolean(),
  recentEvents: z.array(
    z.object({ at: Ms, code: z.string(), detail: z.record(z.string(), z.unknown()).optional() }),
  ),
})

export const NoteBodySchema = z
  .object({ note: z.string().trim().min(1).max(2000).optional() })
  .describe('`note` is required for comment')
