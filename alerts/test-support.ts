/**
 * Builders shared by the alerts tests: a registry seeded in a temp dir, an engine on a fake clock,
 * and readings shaped as the broker hands them over.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry as MetricsRegistry } from 'prom-client'
import { parseEnv } from '../domain/config.ts'
import { silentLogger } from '../domain/logger.ts'
import type { ElevatorEvent, ElevatorStatus, ScaleEvent, ScaleStatus } from '../domain/protocol.ts'
import type { Reading } from '../domain/reading.ts'
import { createCertification } from '../registry/certification.ts'
import { createRegistry, type Registry } from '../registry/registry.ts'
import { NORMAL_ELEVATOR_STATUS, NORMAL_SCALE_STATUS } from '../test/support/payloads.ts'
import { createFakeClock, type FakeClock } from './clock.ts'
import { AlertsConfigSchema } from './config.ts'
import { createAlertEngine } from './engine.ts'
import type { AlertChangeEvent, AlertEngine } from './types.ts'

export type Harness = {
  dir: string
  clock: FakeClock
  registry: Registry
  certification: ReturnType<typeof createCertification>
  engine: AlertEngine
  changes: AlertChangeEvent[]
  env: Record<string, string>
  /** Stops the engine and opens a new one on the same DATA_DIR and registry (a process restart). */
  restart(options?: { beforeStart?: () => void }): Promise<AlertEngine>
  elevatorStatus(deviceId: string, over?: Partial<ElevatorStatus>): Reading
  elevatorEvent(deviceId: string, code: ElevatorEvent['code'], detail?: Record<string, unknown>): Reading
  scaleStatus(deviceId: string, over?: Partial<ScaleStatus>): Reading
  scaleEvent(deviceId: string, code: ScaleEvent['code'], detail?: Record<string, unknown>): Reading
  cleanup(): Promise<void>
}

/** 2026-03-10 10:00 in Asia/Shanghai. */
export const T0 = Date.parse('2026-03-10T02:00:00.000Z')

export async function createHarness(
  env: Record<string, string> = {},
  options: { start?: number; seed?: (registry: Registry, clock: FakeClock) => void } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-test-'))
  const clock = createFakeClock(options.start ?? T0)
  const registry = createRegistry({ file: join(dir, 'registry.db'), now: () => clock.now() })
  const certification = createCertification(registry, { now: () => clock.now() })
  if (options.seed) options.seed(registry, clock)
  else seedDefault(registry, clock)
  const fullEnv = { DATA_DIR: join(dir, 'data'), SCAN_ON_START: 'false', ...env }
  const config = parseEnv(AlertsConfigSchema, fullEnv)
  const changes: AlertChangeEvent[] = []
  const open = () => {
    const engine = createAlertEngine({
      config,
      logger: silentLogger(),
      registry,
      metrics: new MetricsRegistry(),
      clock,
    })
    engine.onChange((event) => changes.push(event))
    return engine
  }
  let seq = 1
  /** An event's payload: the next seq at the clock's time, and the detail only when there is one. */
  const eventData = <C extends string>(code: C, detail: Record<string, unknown> | undefined) =>
    detail === undefined
      ? { ts: clock.now(), seq: seq++, code }
      : { ts: clock.now(), seq: seq++, code, detail }
  const harness: Harness = {
    dir,
    clock,
    registry,
    certification,
    engine: open(),
    changes,
    env: fullEnv,
    async restart(restartOptions) {
      await harness.engine.stop()
      restartOptions?.beforeStart?.()
      harness.engine = open()
      await harness.engine.start()
      return harness.engine
    },
    elevatorStatus: (deviceId, over = {}) => ({
      type: 'elevator_status',
      kind: 'elevator',
      deviceId,
      receivedAt: clock.now(),
      data: { ts: clock.now(), seq: seq++, ...NORMAL_ELEVATOR_STATUS, ...over },
    }),
    elevatorEvent: (deviceId, code, detail) => ({
      type: 'elevator_event',
      kind: 'elevator',
      deviceId,
      receivedAt: clock.now(),
      data: eventData(code, detail),
    }),
    scaleStatus: (deviceId, over = {}) => ({
      type: 'scale_status',
      kind: 'scale',
      deviceId,
      receivedAt: clock.now(),
      data: { ts: clock.now(), seq: seq++, ...NORMAL_SCALE_STATUS, ...over },
    }),
    scaleEvent: (deviceId, code, detail) => ({
      type: 'scale_event',
      kind: 'scale',
      deviceId,
      receivedAt: clock.now(),
      data: eventData(code, detail),
    }),
    async cleanup() {
      await harness.engine.stop()
      registry.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await harness.engine.start()
  return harness
}

/** One firm, one operator, one mall with elevator el-1 (1.0 m/s) and a market with scale sc-1. */
export function seedDefault(registry: Registry, clock: FakeClock): void {
  registry.createTenant({ id: 'firm-1', name: 'Firm One', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'op-1', name: 'Market Operator', kind: 'site_operator' })
  registry.createSite({ id: 'mall-1', name: 'Mall', category: 'mall', address: 'Qiaokou 1' })
  registry.createSite({ id: 'market-1', name: 'Market', category: 'market', address: 'Qiaokou 2' })
  registry.createElevator({
    id: 'el-1',
    siteId: 'mall-1',
    tenantId: 'firm-1',
    registrationCode: '31104201002019000001',
    ratedSpeedMps: 1,
    floors: 10,
    statusPeriodS: 5,
    lastInspectionOn: '2025-09-01',
    nextInspectionDue: '2026-08-31',
    lastMaintenanceAt: clock.now() - 3 * 86_400_000,
  })
  registry.createScale({
    id: 'sc-1',
    siteId: 'market-1',
    tenantId: 'op-1',
    certificateNo: 'JJG-0001',
    maxKg: 30,
    eG: 10,
    statusPeriodS: 60,
    lastVerificationOn: '2025-10-01',
    nextVerificationDue: '2026-09-30',
  })
}
