/**
 * Devices, sites, tenants and API tokens: read by every role within its scope, managed by admins.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { shanghaiDate } from '../../../domain/dates.ts'
import { DomainError } from '../../../domain/errors.ts'
import type { Device, Principal, Site, Tenant } from '../../../domain/registry-types.ts'
import { SiteCategorySchema } from '../../../domain/registry-types.ts'
import { DEVICE_KINDS } from '../../../domain/topics.ts'
import {
  ApiTokenInputSchema,
  ElevatorInputSchema,
  ScaleInputSchema,
  SiteInputSchema,
  TenantInputSchema,
} from '../../../registry/registry.ts'
import { sqlWhere } from '../../../registry/sqlite.ts'
import type { ApiDeps } from '../app.ts'
import { isTenantScoped, principalOf, requireRole, visibleDevice, visibleOrNotFound } from '../auth.ts'
import { ERROR_RESPONSES, ErrorBodySchema } from '../errors.ts'
import { createAlertPresenter } from '../present.ts'
import {
  AlertSchema,
  ApiTokenSchema,
  DeviceIdSchema,
  DeviceSchema,
  DeviceSnapshotSchema,
  IdParam,
  MaintenanceDueSchema,
  pageOf,
  pageQuery,
  SiteSchema,
  TenantSchema,
} from '../schemas.ts'

const errors = ERROR_RESPONSES

const CredentialSchema = z.object({
  version: z.number().int(),
  issuedAt: z.number().int(),
  revokedAt: z.number().int().nullable(),
})

const DeviceDetailSchema = z.object({
  device: DeviceSchema,
  site: SiteSchema,
  tenant: TenantSchema,
  /** Admins and duty officers only; null otherwise or when no secret was ever issued. */
  credential: CredentialSchema.nullable(),
  flags: z.object({
    online: z.boolean(),
    maintenanceOverdue: z.boolean(),
    inspectionDue: z.boolean(),
    inspectionOverdue: z.boolean(),
    verificationDue: z.boolean(),
    verificationOverdue: z.boolean(),
  }),
  snapshot: DeviceSnapshotSchema.nullable(),
  activeAlerts: z.array(AlertSchema),
  /** Elevators: the half-monthly maintenance due date (TSG T5002); null for scales. */
  maintenance: MaintenanceDueSchema.nullable(),
})

type Row = Record<string, unknown>

export const registryRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry, engine } = deps
  const page = pageQuery(deps.config.API_MAX_PAGE_SIZE)
  const present = createAlertPresenter(registry)

  /** Sites a tenant may see: where it has devices, or which it operates. */
  function tenantSiteIds(tenantId: string): Set<string> {
    const rows = registry.db
      .prepare('SELECT DISTINCT site_id FROM devices WHERE tenant_id = ?')
      .all(tenantId) as Row[]
    const ids = new Set(rows.map((r) => String(r.site_id)))
    for (const site of registry.listSites()) if (site.operatorTenantId === tenantId) ids.add(site.id)
    return ids
  }

  function canSeeSite(principal: Principal, site: Site): boolean {
    return !isTenantScoped(principal) || tenantSiteIds(principal.tenantId).has(site.id)
  }

  function canSeeTenant(principal: Principal, tenant: Tenant): boolean {
    return !isTenantScoped(principal) || tenant.id === principal.tenantId
  }

  // ---- devices ----
  app.get(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Devices, filtered and paged (a tenant sees its own only)',
        querystring: z.object({
          kind: z.enum(DEVICE_KINDS).optional(),
          site: DeviceIdSchema.optional(),
          tenant: DeviceIdSchema.optional(),
          category: SiteCategorySchema.optional().describe('category of the device’s site'),
          inService: z.enum(['true', 'false']).optional(),
          ...page,
        }),
        response: { 200: pageOf(DeviceSchema), ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const q = request.query
      const { clause, args } = sqlWhere([
        ['d.kind = ?', q.kind || undefined],
        ['d.site_id = ?', q.site || undefined],
        ['d.tenant_id = ?', q.tenant || undefined],
        ['s.category = ?', q.category || undefined],
        ['d.in_service = ?', q.inService && (q.inService === 'true' ? 1 : 0)],
        ['d.tenant_id = ?', isTenantScoped(principal) ? principal.tenantId : undefined],
      ])
      const from = `FROM devices d JOIN sites s ON s.id = d.site_id ${clause}`
      const total = Number((registry.db.prepare(`SELECT count(*) AS n ${from}`).get(...args) as Row).n)
      const ids = registry.db
        .prepare(`SELECT d.id ${from} ORDER BY d.id LIMIT ? OFFSET ?`)
        .all(...args, q.limit, q.offset) as Row[]
      const items = ids.map((r) => registry.getDevice(String(r.id))).filter((d): d is Device => d !== null)
      return { items, total, limit: q.limit, offset: q.offset }
    },
  )

  app.get(
    '/devices/:id',
    {
      schema: {
        tags: ['devices'],
        summary: 'One device with its site, tenant, due/overdue flags, live snapshot and active alerts',
        params: IdParam,
        response: { 200: DeviceDetailSchema, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const device = visibleDevice(registry, principal, request.params.id)
      const site = registry.getSite(device.siteId)
      const tenant = registry.getTenant(device.tenantId)
      if (!site || !tenant) throw new DomainError('NOT_FOUND', `device ${device.id} has no site or tenant`)
      const activeAlerts = engine.listAlerts({
        deviceId: device.id,
        status: 'active',
        limit: 200,
        offset: 0,
      }).items
      const active = new Set<string>(activeAlerts.map((a) => a.type))
      const snapshot = engine.deviceSnapshot(device.id)
      const maintenance = engine.maintenanceDue(device.id)
      const today = shanghaiDate(Date.now())
      const pastDue = (due: string | null) => due !== null && due < today
      // Each flag is the active alert or, between two hourly scans, the calendar already saying so.
      const flags = {
        online: snapshot?.online ?? false,
        maintenanceOverdue: active.has('maintenance_overdue') || maintenance?.isOverdue === true,
        inspectionDue: active.has('inspection_due'),
        inspectionOverdue:
          active.has('inspection_overdue') ||
          (device.kind === 'elevator' && pastDue(device.nextInspectionDue)),
        verificationDue: active.has('verification_due'),
        verificationOverdue:
          active.has('verification_overdue') ||
          (device.kind === 'scale' && pastDue(device.nextVerificationDue)),
      }
      const mayManage = principal.role === 'admin' || principal.role === 'duty_officer'
      return {
        device,
        site,
        tenant,
        credential: mayManage ? registry.getCredentialInfo(device.id) : null,
        flags,
        snapshot: snapshot ? { ...snapshot, lastStatus: snapshot.lastStatus ?? null } : null,
        activeAlerts: activeAlerts.map(present),
        maintenance,
      }
    },
  )

  app.post(
    '/devices/elevators',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register an elevator (admin)',
        body: ElevatorInputSchema,
        response: { 201: DeviceSchema, ...errors, 409: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      return reply.code(201).send(registry.createElevator(request.body))
    },
  )

  app.post(
    '/devices/scales',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register a scale (admin)',
        body: ScaleInputSchema,
        response: { 201: DeviceSchema, ...errors, 409: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      return reply.code(201).send(registry.createScale(request.body))
    },
  )

  app.post(
    '/devices/:id/secret',
    {
      schema: {
        tags: ['devices'],
        summary: 'Issue or rotate the device’s MQTT secret (admin); the secret is shown once',
        params: IdParam,
        response: {
          201: z.object({
            deviceId: z.string(),
            secret: z.string(),
            credential: CredentialSchema.nullable(),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      const device = registry.requireDevice(request.params.id)
      const secret = await registry.issueDeviceSecret(device.id)
      reply.header('cache-control', 'no-store')
      return reply
        .code(201)
        .send({ deviceId: device.id, secret, credential: registry.getCredentialInfo(device.id) })
    },
  )

  app.post(
    '/devices/:id/revoke',
    {
      schema: {
        tags: ['devices'],
        summary: 'Revoke the device’s credentials; the broker disconnects it (admin)',
        params: IdParam,
        response: { 204: z.undefined(), ...errors },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      registry.revokeDevice(request.params.id)
      return reply.code(204).send()
    },
  )

  app.put(
    '/devices/:id/in-service',
    {
      schema: {
        tags: ['devices'],
        summary: 'Put a device in or out of service (admin)',
        params: IdParam,
        body: z.object({ inService: z.boolean() }),
        response: { 200: DeviceSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(principalOf(request), 'admin')
      registry.setInService(request.params.id, request.body.inService)
      return registry.requireDevice(request.params.id)
    },
  )

  // ---- sites ----
  app.get(
    '/sites',
    {
      schema: {
        tags: ['sites'],
        summary: 'Sites (a tenant sees those with its devices or that it operates)',
        querystring: z.object({ category: SiteCategorySchema.optional(), ...page }),
        response: { 200: pageOf(SiteSchema), ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { category, limit, offset } = request.query
      const scope = isTenantScoped(principal) ? tenantSiteIds(principal.tenantId) : null
      const all = registry
        .listSites()
        .filter((s) => (!category || s.category === category) && (!scope || scope.has(s.id)))
      return { items: all.slice(offset, offset + limit), total: all.length, limit, offset }
    },
  )

  app.get(
    '/sites/:id',
    {
      schema: {
        tags: ['sites'],
        summary: 'One site',
        params: IdParam,
        response: { 200: SiteSchema, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return visibleOrNotFound(registry.getSite(id), (s) => canSeeSite(principal, s), `no site ${id}`)
    },
  )

  app.post(
    '/sites',
    {
      schema: {
        tags: ['sites'],
        summary: 'Register a site (admin)',
        body: SiteInputSchema,
        response: { 201: SiteSchema, ...errors, 409: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      return reply.code(201).send(registry.createSite(request.body))
    },
  )

  // ---- tenants ----
  app.get(
    '/tenants',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Tenants: maintenance firms and site operators (a tenant sees itself)',
        response: { 200: z.object({ items: z.array(TenantSchema), total: z.number().int() }), ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const items = registry.listTenants().filter((t) => canSeeTenant(principal, t))
      return { items, total: items.length }
    },
  )

  app.get(
    '/tenants/:id',
    {
      schema: {
        tags: ['tenants'],
        summary: 'One tenant',
        params: IdParam,
        response: { 200: TenantSchema, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return visibleOrNotFound(registry.getTenant(id), (t) => canSeeTenant(principal, t), `no tenant ${id}`)
    },
  )

  app.post(
    '/tenants',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Register a tenant (admin)',
        body: TenantInputSchema,
        response: { 201: TenantSchema, ...errors, 409: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      return reply.code(201).send(registry.createTenant(request.body))
    },
  )

  // ---- API tokens ----
  app.get(
    '/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'API tokens, without their secrets (admin)',
        response: { 200: z.object({ items: z.array(ApiTokenSchema) }), ...errors },
      },
    },
    async (request) => {
      requireRole(principalOf(request), 'admin')
      return { items: registry.listApiTokens() }
    },
  )

  app.post(
    '/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token (admin); the token is shown once',
        body: ApiTokenInputSchema,
        response: { 201: z.object({ token: z.string(), record: ApiTokenSchema }), ...errors },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      reply.header('cache-control', 'no-store')
      return reply.code(201).send(registry.createApiToken(request.body))
    },
  )

  app.delete(
    '/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token at once (admin)',
        params: IdParam,
        response: { 204: z.undefined(), ...errors },
      },
    },
    async (request, reply) => {
      requireRole(principalOf(request), 'admin')
      registry.revokeApiToken(request.params.id)
      return reply.code(204).send()
    },
  )
}
