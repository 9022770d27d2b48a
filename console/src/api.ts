/**
 * The platform's HTTP API as the console calls it: every request carries `Authorization: Bearer`;
 * a 401 means the token was revoked (or never valid) and signs the user out.
 */
import type { AlertSummary } from '../../alerts/api/schemas.ts'
import type {
  AlertAction,
  ComplianceReport,
  DeviceSnapshot,
  MaintenanceDue,
  MaintenanceRecord,
  NamedAlert,
  Transition,
} from '../../alerts/types.ts'
import type { Device, Principal, Site, Tenant } from '../../domain/registry-types.ts'
import type { InspectionRecord, VerificationRecord } from '../../registry/certification.ts'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

export type Page<T> = { items: T[]; total: number; limit: number; offset: number }
export type DeviceFlags = {
  online: boolean
  maintenanceOverdue: boolean
  inspectionDue: boolean
  inspectionOverdue: boolean
  verificationDue: boolean
  verificationOverdue: boolean
}
/** GET /api/devices/:id (alerts/api/routes/registry.ts DeviceDetailSchema). */
export type DeviceDetail = {
  device: Device
  site: Site
  tenant: Tenant
  flags: DeviceFlags
  snapshot: DeviceSnapshot | null
  activeAlerts: NamedAlert[]
  /** Elevators: the half-monthly maintenance due date; null for scales. */
  maintenance: MaintenanceDue | null
}

type Query = Record<string, string | number | undefined>

function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v))
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

function errorOf(status: number, body: unknown, fallback: string): ApiError {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const error = body.error
    if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
      return new ApiError(status, String(error.code), String(error.message))
    }
  }
  return new ApiError(status, `HTTP_${status}`, fallback)
}

export type Api = ReturnType<typeof createApi>

export function createApi(token: string, onUnauthorized: () => void = () => undefined) {
  const authorization = `Bearer ${token}`

  async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: {
        authorization,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    })
    const text = await res.text()
    let parsed: unknown = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      parsed = null
    }
    if (res.status === 401) onUnauthorized()
    if (!res.ok) throw errorOf(res.status, parsed, res.statusText || 'request failed')
    // The API validates its responses against its own schemas (alerts/api/schemas.ts): the shape holds.
    return parsed as T
  }

  const get = <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query))

  return {
    authorization,
    me: () => get<Principal>('/api/me'),
    alerts: (query: Query) => get<Page<NamedAlert> & { nextCursor: string | null }>('/api/alerts', query),
    /** The board's counts in one call, under its filters (the API scopes a tenant to its own). */
    summary: (query: Query) => get<AlertSummary>('/api/alerts/summary', query),
    alert: (id: string) =>
      get<{ alert: NamedAlert; transitions: Transition[] }>(`/api/alerts/${encodeURIComponent(id)}`),
    act: (id: string, action: AlertAction, note?: string) =>
      request<NamedAlert>(
        'POST',
        `/api/alerts/${encodeURIComponent(id)}/${action}`,
        note === undefined ? {} : { note },
      ),
    devices: (query: Query) => get<Page<Device>>('/api/devices', query),
    device: (id: string) => get<DeviceDetail>(`/api/devices/${encodeURIComponent(id)}`),
    sites: () => get<Page<Site>>('/api/sites', { limit: 500 }),
    tenants: () => get<{ items: Tenant[]; total: number }>('/api/tenants'),
    maintenance: (query: Query) => get<{ items: MaintenanceRecord[] }>('/api/maintenance', query),
    inspections: (id: string) =>
      get<{ items: InspectionRecord[] }>(`/api/devices/${encodeURIComponent(id)}/inspections`),
    verifications: (id: string) =>
      get<{ items: VerificationRecord[] }>(`/api/devices/${encodeURIComponent(id)}/verifications`),
    compliance: (from: string, to: string) => get<ComplianceReport>('/api/compliance', { from, to }),
  }
}
