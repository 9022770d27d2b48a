/**
 * The whole platform in one process, as `npm start` runs it, against the real InfluxDB: a simulated
 * fleet streams over MQTT, a trapped passenger becomes an alert in the API, and every acknowledged
 * reading is in InfluxDB exactly once.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { createFleet } from '../simulators/fleet.ts'
import { provisionFleet } from '../simulators/provision.ts'
import { createTestDatabase, influxQuery } from '../test/support/influxd.ts'
import { PlatformConfigSchema } from './config.ts'
import { createPlatform } from './platform.ts'

const run = promisify(execFile)

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== null) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function startPlatform(extraEnv: Record<string, string> = {}) {
  const influxUrl = inject('influxUrl')
  const db = await createTestDatabase(influxUrl, 'platform')
  const dir = mkdtempSync(join(tmpdir(), 'platform-'))
  const adminToken = randomBytes(32).toString('base64url')
  const config = parseEnv(PlatformConfigSchema, {
    DATA_DIR: dir,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    INFLUX_URL: influxUrl,
    INFLUX_API: '1',
    INFLUX_DB: db,
    INGEST_HEALTH_INTERVAL_MS: '0',
    ADMIN_TOKEN: adminToken,
    SCAN_ON_START: 'false',
    ...extraEnv,
  })
  const platform = createPlatform({ config, logger: silentLogger() })
  onTestFinished(async () => {
    await platform.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await platform.start()
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`http://127.0.0.1:${platform.httpPort()}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...init.headers },
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  return { platform, db, influxUrl, api, dir }
}

describe('platform (all services in one process)', () => {
  it('stores every acknowledged reading once and raises a derived trapped alert in the API', async () => {
    const { platform, db, influxUrl, api } = await startPlatform({
      TRAPPED_AFTER_S: '2',
      ALERTS_SNAPSHOT_INTERVAL_S: '1',
    })
    const devices = await provisionFleet(platform.registry, {
      elevators: 8,
      scales: 8,
      seed: 'platform-test',
    })
    const fleet = createFleet({
      config: {
        url: `mqtt://127.0.0.1:${platform.mqttPort()}`,
        seed: 'platform-test',
        elevator: { statusPeriodS: 1 },
      },
      logger: silentLogger(),
      devices,
    })
    onTestFinished(() => fleet.stop())
    await fleet.start()
    expect(await fleet.waitConnected(30_000)).toBe(true)

    // A controller that never reports `trapped`: only its status shows it (derived rule, 2 s here).
    const victim = devices.find((d) => d.kind === 'elevator')
    if (!victim) throw new Error('no elevator provisioned')
    fleet
      .device(victim.id)
      ?.inject({ type: 'trapped', levelled: false, sendTrappedEvent: false, releaseAfterMs: 600_000 })
    const alert = await until(
      'a trapped alert in the API',
      async () => {
        const { body } = await api(`/api/alerts?type=trapped&deviceId=${victim.id}`)
        const items = body.items as Array<Record<string, unknown>> | undefined
        return items && items.length > 0 ? items : null
      },
      20_000,
    )
    expect(alert).toHaveLength(1)
    expect(alert[0]).toMatchObject({ severity: 'critical', deviceId: victim.id })

    await new Promise((r) => setTimeout(r, 1500))
    await fleet.stop()
    const acknowledged = fleet.acknowledgedByDevice()
    await platform.stop()

    // Every acknowledged reading is in InfluxDB, and no more than that (no duplicates).
    const stored = new Map<string, number>()
    for (const measurement of [
      'elevator_status',
      'elevator_event',
      'scale_status',
      'scale_weighing',
      'scale_event',
    ]) {
      const series = await influxQuery(
        influxUrl,
        `SELECT count(seq) FROM ${measurement} GROUP BY device_id`,
        db,
      )
      for (const s of series) {
        const deviceId = s.tags?.device_id ?? ''
        stored.set(deviceId, (stored.get(deviceId) ?? 0) + Number(s.values[0]?.[1] ?? 0))
      }
    }
    expect(Object.fromEntries(stored)).toEqual(Object.fromEntries(acknowledged))
    const total = [...acknowledged.values()].reduce((a, b) => a + b, 0)
    expect(total).toBeGreaterThan(devices.length)

    // The alert's history reached InfluxDB through the same lossless path.
    const changes = await influxQuery(
      influxUrl,
      `SELECT count(alert_id) FROM alert_change WHERE type = 'trapped'`,
      db,
    )
    expect(Number(changes[0]?.values[0]?.[1] ?? 0)).toBeGreaterThanOrEqual(1)
    // And what was open, every snapshot interval, for Grafana's "active alerts" panels.
    const active = await influxQuery(
      influxUrl,
      `SELECT last(active) FROM alerts_active WHERE type = 'trapped' AND severity = 'critical'`,
      db,
    )
    expect(Number(active[0]?.values[0]?.[1] ?? 0)).toBe(1)
  })

  it('takes readings from a client nobody here wrote (mosquitto_pub) and dead-letters garbage', async () => {
    const { platform, db, influxUrl, api } = await startPlatform()
    const devices = await provisionFleet(platform.registry, { elevators: 1, scales: 0, seed: 'mosquitto' })
    const device = devices[0]
    if (!device) throw new Error('no device')
    const status = {
      ts: Date.now(),
      seq: 1,
      mode: 'normal',
      floor: 3,
      levelled: true,
      doorZone: true,
      direction: 'stopped',
      speed: 0,
      door: 'closed',
      occupied: false,
      load: 0,
      safetyCircuit: true,
      doorLock: true,
      power: true,
      alarmButton: false,
    }
    const pub = (message: string) =>
      run('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(platform.mqttPort()), '-q', '1', '-V', 'mqttv311'],
        ...['-i', device.id, '-u', device.id, '-P', device.secret],
        ...['-t', `v1/elevators/${device.id}/status`, '-m', message],
      ])
    await pub(JSON.stringify(status))
    await pub('{"ts": "yesterday"}')

    const rows = await influxQuery(
      influxUrl,
      `SELECT floor, seq FROM elevator_status WHERE device_id = '${device.id}'`,
      db,
    )
    expect(rows[0]?.values).toEqual([[expect.any(Number), 3, 1]])
    const { status: code, body } = await api('/api/dead-letters')
    expect(code).toBe(200)
    const items = body.items as Array<Record<string, unknown>>
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ deviceId: device.id, reason: 'schema' })
  })

  it('stores the escalation of a rescue deadline that passed while the platform was down', async () => {
    const influxUrl = inject('influxUrl')
    const db = await createTestDatabase(influxUrl, 'platform')
    const dir = mkdtempSync(join(tmpdir(), 'platform-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const config = parseEnv(PlatformConfigSchema, {
      DATA_DIR: dir,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      INFLUX_URL: influxUrl,
      INFLUX_API: '1',
      INFLUX_DB: db,
      INGEST_HEALTH_INTERVAL_MS: '0',
      ADMIN_TOKEN: randomBytes(32).toString('base64url'),
      SCAN_ON_START: 'false',
      RESCUE_ACCEPT_LIMIT_S: '1',
      RESCUE_ARRIVE_LIMIT_S: '1',
    })
    const first = createPlatform({ config, logger: silentLogger() })
    await first.start()
    const [device] = await provisionFleet(first.registry, { elevators: 1, scales: 0, seed: 'escalate' })
    if (!device) throw new Error('no device')
    const event = { ts: Date.now(), seq: 1, code: 'trapped' }
    await first.ingest.accept({
      topic: `v1/elevators/${device.id}/events`,
      payload: Buffer.from(JSON.stringify(event)),
      clientId: device.id,
      receivedAt: Date.now(),
    })
    expect(first.engine.activeRescues()).toHaveLength(1)
    // Down before either deadline; back once both have passed.
    await first.stop()
    await new Promise((r) => setTimeout(r, 1500))
    const second = createPlatform({ config, logger: silentLogger() })
    onTestFinished(() => second.stop())
    await second.start()
    await until(
      'the escalation in the alerts database',
      async () => (second.engine.activeRescues()[0]?.rescue?.arriveMissed ? true : null),
      10_000,
    )
    await second.stop()
    const escalations = await influxQuery(
      influxUrl,
      `SELECT count(alert_id) FROM alert_change WHERE transition = 'escalated'`,
      db,
    )
    expect(Number(escalations[0]?.values[0]?.[1] ?? 0)).toBe(2)
  })

  it('refuses a weak ADMIN_TOKEN', () => {
    expect(() => parseEnv(PlatformConfigSchema, { ADMIN_TOKEN: 'admin' })).toThrow(/ADMIN_TOKEN/)
  })
})
