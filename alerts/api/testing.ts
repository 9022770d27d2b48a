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
import { parseEnv } from '../../domain/config.ts'
import { silentLogger } from '../../domain/logger.ts'
import type { ElevatorEventCode } from '../../domain/protocol.ts'
import type { Reading } from '../../domain/reading.ts'
import { type Certification, createCertification } from '../../registry/certification.ts'
import { createRegistry, type Registry, registryFile } from '../../registry/registry.ts'
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

/** The names each role's token is created with; the actor an action is recorded under. */
export type TokenNames = Record<keyof Tokens, string>

const TOKEN_NAMES: TokenNames = {
  admin: 'admin',
  duty: '值班员 王',
  tenantA: 'firm A',
  tenantB: 'firm B',
  viewer: 'wall screen',
}

/** The alerts service's parts as one process runs them, not yet listening; stop() in reverse order. */
export type AlertsStack = {
  registry: Registry
  certification: Certification
  engine: AlertEngine
  notifier: Notifier
  app: FastifyInstance
  metrics: MetricsRegistry
  tokens: Tokens
  /** Closes the app, stops the notifier and the engine, closes the registry; the files stay. */
  stop(): Promise<void>
}

/**
 * A real registry (at `registryFile`, seeded by `seed`, one token per role of firm-a and firm-b), the
 * alerts engine (started), the notifier (started) and the API app, configured from `env` as the entry
 * point configures them. Shared by the API's and the console's test fixtures.
 */
export async function startAlertsStack(options: {
  registryFile: string
  env: Record<string, string>
  seed: (registry: Registry, certification: Certification) => void | Promise<void>
  tokenNames?: Partial<TokenNames>
  notifier?: Partial<NotifierDeps>
  deps?: Partial<ApiDeps>
}): Promise<AlertsStack> {
  const { env } = options
  const logger = silentLogger()
  const metrics = new MetricsRegistry()
  const registry = createRegistry({ file: options.registryFile, scrypt: FAST_SCRYPT })
  const certification = createCertification(registry)
  await options.seed(registry, certification)
  const names = { ...TOKEN_NAMES, ...options.tokenNames }
  const tokens: Tokens = {
    admin: registry.createApiToken({ name: names.admin, role: 'admin' }).token,
    duty: registry.createApiToken({ name: names.duty, role: 'duty_officer' }).token,
    tenantA: registry.createApiToken({ name: names.tenantA, role: 'tenant', tenantId: 'firm-a' }).token,
    tenantB: registry.createApiToken({ name: names.tenantB, role: 'tenant', tenantId: 'firm-b' }).token,
    viewer: registry.createApiToken({ name: names.viewer, role: 'viewer' }).token,
  }
  const engine = createAlertEngine({ config: parseEnv(AlertsConfigSchema, env), logger, registry, metrics })
  await engine.start()
  const notifier = createNotifier({
    config: parseEnv(NotifyConfigSchema, env),
    logger,
    engine,
    registry,
    metrics,
    ...options.notifier,
  })
  notifier.start()
  const app = buildApp({
    config: parseEnv(ApiConfigSchema, env),
    logger,
    registry,
    engine,
    certification,
    metrics,
    notifier,
    ...options.deps,
  })
  return {
    registry,
    certification,
    engine,
    notifier,
    app,
    metrics,
    tokens,
    async stop() {
      await app.close()
      await notifier.stop()
      await engine.stop()
      registry.close()
    },
  }
}

export async function startApiFixture(options: FixtureOptions = {}): Promise<ApiFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-api-'))
  const env = {
    DATA_DIR: dir,
    SCAN_ON_START: 'false',
    PUBLIC_URL: 'https://liftscale.example',
    ...options.env,
  }
  const { app, registry, engine, notifier, metrics, tokens, stop } = await startAlertsStack({
    registryFile: registryFile(dir),
    env,
    seed,
    notifier: options.notifier,
    deps: options.deps,
  })
  await app.ready()
  onTestFinished(async () => {
    await stop()
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

/**
 * Tenants and sites both fixtures start from: two maintenance firms (firm-a, firm-b), the market's
 * operator (market-op); a market it runs (site-1) and a school (site-2).
 */
export function seedTenantsAndSites(registry: Registry): void {
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
}

function seed(registry: Registry): void {
  seedTenantsAndSites(registry)
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
