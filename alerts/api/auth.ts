/**
 * Who may see and do what. Roles (docs/api.md):
 * - admin: everything;
 * - duty_officer: reads everything, works every alert, records maintenance, accidents, certification;
 * - tenant: reads its own devices and alerts only (another tenant's are 404, so existence does not
 *   leak), acknowledges and comments them, accepts/arrives/releases rescues dispatched to it,
 *   records maintenance of its own elevators;
 * - viewer: reads everything, acts on nothing (403).
 */
import type { FastifyRequest } from 'fastify'
import { DomainError } from '../../domain/errors.ts'
import type { Device, Principal, Role } from '../../domain/registry-types.ts'
import type { Alert, AlertAction } from '../types.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /api route; null only on public routes. */
    principal: Principal | null
  }
}

/** `Authorization: Bearer <token>`; the SSE route also takes `?access_token=` (EventSource sends no headers). */
export function bearerToken(request: FastifyRequest, allowQuery: boolean): string | null {
  const header = request.headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return match?.[1] ?? null
  }
  if (
    allowQuery &&
    typeof request.query === 'object' &&
    request.query !== null &&
    'access_token' in request.query
  ) {
    const token = request.query.access_token
    return typeof token === 'string' && token.length > 0 ? token : null
  }
  return null
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new DomainError('UNAUTHORIZED', 'a bearer token is required')
  return request.principal
}

export function requireRole(principal: Principal, ...roles: Role[]): void {
  if (!roles.includes(principal.role)) {
    throw new DomainError('FORBIDDEN', `role ${principal.role} may not do this`)
  }
}

/** A tenant token sees only what its tenant owns; every other role reads everything. */
export function isTenantScoped(
  principal: Principal,
): principal is Principal & { role: 'tenant'; tenantId: string } {
  return principal.role === 'tenant'
}

export function canSeeDevice(principal: Principal, device: Pick<Device, 'tenantId'>): boolean {
  return principal.role !== 'tenant' || device.tenantId === principal.tenantId
}

/** A tenant sees the alerts of its own devices and the rescues dispatched to it. */
export function canSeeAlert(principal: Principal, alert: Pick<Alert, 'tenantId' | 'rescue'>): boolean {
  if (principal.role !== 'tenant') return true
  return (
    principal.tenantId !== null &&
    (alert.tenantId === principal.tenantId || alert.rescue?.dispatchedTo === principal.tenantId)
  )
}

const RESCUE_STAGES: ReadonlySet<AlertAction> = new Set(['accept', 'arrive', 'release'])
const TENANT_ACTIONS: ReadonlySet<AlertAction> = new Set([
  'acknowledge',
  'comment',
  'accept',
  'arrive',
  'release',
])

/**
 * May this principal take this action on this (visible) alert? Throws FORBIDDEN when not.
 * Tenants take rescue stages only for rescues dispatched to them; dispatching and resolving stay
 * with the regulator's duty officers.
 */
export function assertMayAct(principal: Principal, alert: Pick<Alert, 'rescue'>, action: AlertAction): void {
  if (principal.role === 'admin' || principal.role === 'duty_officer') return
  if (principal.role === 'viewer') throw new DomainError('FORBIDDEN', 'a viewer token is read-only')
  if (!TENANT_ACTIONS.has(action)) {
    throw new DomainError('FORBIDDEN', `a tenant may not ${action} an alert`)
  }
  if (RESCUE_STAGES.has(action) && alert.rescue?.dispatchedTo !== principal.tenantId) {
    throw new DomainError('FORBIDDEN', `this rescue is not dispatched to ${principal.tenantId ?? 'you'}`)
  }
}

/**
 * `thing` when it exists and the principal may see it; NOT_FOUND otherwise, the same answer for both,
 * so that a tenant does not learn what exists outside its scope.
 */
export function visibleOrNotFound<T>(
  thing: T | null | undefined,
  isVisible: (found: T) => boolean,
  notFoundMessage: string,
): T {
  if (thing === null || thing === undefined || !isVisible(thing)) {
    throw new DomainError('NOT_FOUND', notFoundMessage)
  }
  return thing
}

/** A registered device the principal may see (another tenant's device is NOT_FOUND). */
export function visibleDevice(
  registry: { getDevice(id: string): Device | null },
  principal: Principal,
  id: string,
): Device {
  return visibleOrNotFound(registry.getDevice(id), (d) => canSeeDevice(principal, d), `no device ${id}`)
}

/** The actor recorded in an alert's history: the token's name, which a person recognises. */
export function actorOf(principal: Principal): string {
  return principal.name.slice(0, 200)
}
