/**
 * What the device registry holds. The SQLite store in registry/ reads and writes these shapes;
 * every other service only reads them.
 */
import { z } from 'zod'
import type { DeviceKind } from './topics.ts'

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
] as const
export const SiteCategorySchema = z.enum(SITE_CATEGORIES)
export type SiteCategory = z.infer<typeof SiteCategorySchema>

export const TENANT_KINDS = ['maintenance_firm', 'site_operator'] as const
export type TenantKind = (typeof TENANT_KINDS)[number]

export const ROLES = ['admin', 'duty_officer', 'tenant', 'viewer'] as const
export const RoleSchema = z.enum(ROLES)
export type Role = z.infer<typeof RoleSchema>

export const ACCURACY_CLASSES = ['I', 'II', 'III', 'IIII'] as const
export type AccuracyClass = (typeof ACCURACY_CLASSES)[number]

/** ISO calendar date, `YYYY-MM-DD` (Asia/Shanghai calendar for the regulator's dates). */
export const IsoDateSchema = z.iso.date()

export type Tenant = {
  id: string
  name: string
  kind: TenantKind
  contact: string | null
  createdAt: number
}

export type Site = {
  id: string
  name: string
  category: SiteCategory
  address: string
  /** The operator of the site (a market's management), if registered. */
  operatorTenantId: string | null
  createdAt: number
}

type DeviceBase = {
  id: string
  kind: DeviceKind
  siteId: string
  /** Elevators: the maintenance firm. Scales: the market operator or vendor's operator. */
  tenantId: string
  name: string | null
  /** Seconds between status reports; the offline rule waits three of them. */
  statusPeriodS: number
  inService: boolean
  createdAt: number
}

export type Elevator = DeviceBase & {
  kind: 'elevator'
  /** 20-digit registration code (使用登记代码 / 设备代码). */
  registrationCode: string
  ratedSpeedMps: number
  floors: number
  lastInspectionOn: string | null
  nextInspectionDue: string | null
  /** ms since epoch of the last completed maintenance. */
  lastMaintenanceAt: number | null
}

export type Scale = DeviceBase & {
  kind: 'scale'
  certificateNo: string
  accuracyClass: AccuracyClass
  maxKg: number
  /** Verification interval e, in grams. */
  eG: number
  lastVerificationOn: string | null
  nextVerificationDue: string | null
}

export type Device = Elevator | Scale

/** A device together with the facts ingest tags its points with. */
export type DeviceContext = {
  device: Device
  site: Site
  tenant: Tenant
}

export type ApiToken = {
  id: string
  name: string
  role: Role
  /** Set for `tenant` tokens only: the tenant it sees. */
  tenantId: string | null
  createdAt: number
  revokedAt: number | null
}

/** Who is calling the API, once its token checked out. */
export type Principal = { tokenId: string; name: string; role: Role; tenantId: string | null }

/** MQTT identities of the platform itself (ingest, alerts, tools), as opposed to devices. */
export type ServiceAccount = { username: string; createdAt: number; revokedAt: number | null }
