/**
 * Test fixture of the API: a real registry and alerts engine on SQLite files in a temp dir, the
 * notifier, and the fastify app; two tenants with one elevator and one scale each, and a token per role.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Registry as MetricsRegistry } from 'prom-client'
import { onTestFinished } from 'vitest'
import { silentLogger } from '../../domain/logger.ts'
import type { ElevatorEventCode } from '../../domain/protocol.ts'
import type { Reading } from '../../domain/reading.ts'
import { createCertification } from '../../registry/certification.ts'
import { createRegistry, type Registry } from '../../registry/registry.ts'
import { AlertsConfigSchema } from '../config.ts'
import { createAlertEngine } from '../engine.ts'
import { NotifyConfigSchema } from '../notify/config.ts'
import { createNotifier, type Notifier, type NotifierDeps } from '../notify/notifier.ts'
import type { AlertEngine } from '../types.ts'
import { type ApiDeps, buildApp } from './app.ts'
import { ApiConfigSchema } from './config.ts'

/** Cheap scrypt for tests: issuing secrets is exercised, not its cost. */
const FAST_SCRYPT = { N: 16, r: 1, p: 1 }

export type Tokens = { admin: string; duty: string; tenantA: string; tenantB: string; viewer: string }

export type ApiFixture = {
  dir: string
  app: FastifyInstance
  registry: Registry
  engine: AlertEngine
  notifier: Notifier
  metrics: MetricsRegistry
  tokens: Tokens
  /** `authorization` header of a role. */
  auth(role: keyof Tokens): { authorization: string }
  /** Feeds an elevator event through the engine, as the broker would. */
  elevatorEvent(deviceId: string, code: ElevatorEventCode, detail?: Record<string, unknown>): Promise<void>
}

export type FixtureOptions = {
  env?: Record<string, string>
  deps?: Partial<ApiDeps>
  notifier?: Partial<NotifierDeps>
}

export async function startApiFixture(options: FixtureOptions = {}): Promise<ApiFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-api-'))
  const env = {
    DATA_DIR: dir,
    SCAN_ON_START: 'false',
    PUBLIC_URL: 'https://liftscale.example',
    ...options.env,
  }
  const logger = silentLogger()
  const metrics = new MetricsRegistry()
  const registry = createRegistry({ file: join(dir, 'registry.db'), scrypt: FAST_SCRYPT })
  seed(registry)
  const tokens: Tokens = {
    admin: registry.createApiToken({ name: 'admin', role: 'admin' }).token,
    duty: registry.createApiToken({ name: '值班员 王', role: 'duty_officer' }).token,
    tenantA: registry.createApiToken({ name: 'firm A', role: 'tenant', tenantId: 'firm-a' }).token,
    tenantB: registry.createApiToken({ name: 'firm B', role: 'tenant', tenantId: 'firm-b' }).token,
    viewer: registry.createApiToken({ name: 'wall screen', role: 'viewer' }).token,
  }
  const engine = createAlertEngine({ config: AlertsConfigSchema.parse(env), logger, registry, metrics })
  await engine.start()
  const notifier = createNotifier({
    config: NotifyConfigSchema.parse(env),
    logger,
    engine,
    registry,
    metrics,
    ...options.notifier,
  })
  notifier.start()
  const app = buildApp({
    config: ApiConfigSchema.parse(env),
    logger,
    registry,
    engine,
    certification: createCertification(registry),
    metrics,
    notifier,
    ...options.deps,
  })
  await app.ready()
  onTestFinished(async () => {
    await app.close()
    await notifier.stop()
    await engine.stop()
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  let seq = 0
  return {
    dir,
    app,
    registry,
    engine,
    notifier,
    metrics,
    tokens,
    auth: (role) => ({ authorization: `Bearer ${tokens[role]}` }),
    async elevatorEvent(deviceId, code, detail) {
      seq += 1
      const now = Date.now()
      const reading: Reading = {
        type: 'elevator_event',
        kind: 'elevator',
        deviceId,
        receivedAt: now,
        data: { ts: now, seq, code, ...(detail ? { detail } : {}) },
      }
      await engine.handle(reading)
    },
  }
}

function seed(registry: Registry): void {
  registry.createTenant({ id: 'firm-a', name: '武汉安达电梯维保有限公司', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'firm-b', name: '汉口恒通电梯工程有限公司', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'market-op', name: '汉正街市场管理处', kind: 'site_operator' })
  registry.createSite({
    id: 'site-1',
    name: '汉正街市场',
    category: 'market',
    address: '武汉市硚口区汉正街1号',
    operatorTenantId: 'market-op',
  })
  registry.createSite({
    id: 'site-2',
    name: '宝丰路小学',
    category: 'school',
    address: '武汉市硚口区宝丰路2号',
  })
  registry.createElevator({
    id: 'el-a1',
    siteId: 'site-1',
    tenantId: 'firm-a',
    name: '1号客梯',
    registrationCode: '31104201002021000001',
    ratedSpeedMps: 1.75,
    floors: 18,
    nextInspectionDue: '2099-01-01',
  })
  registry.createElevator({
    id: 'el-b1',
    siteId: 'site-2',
    tenantId: 'firm-b',
    registrationCode: '31104201002021000002',
    ratedSpeedMps: 1,
    floors: 6,
    nextInspectionDue: '2000-01-01',
  })
  registry.createScale({
    id: 'sc-m1',
    siteId: 'site-1',
    tenantId: 'market-op',
    certificateNo: 'WH-2025-0001',
    maxKg: 30,
    eG: 5,
    nextVerificationDue: '2099-01-01',
  })
}
