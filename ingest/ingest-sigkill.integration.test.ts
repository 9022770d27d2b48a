/**
 * Split deployment: ingest (ingest/main.ts) in a process of its own behind the real broker, killed with
 * SIGKILL in the middle of the stream and started again. Its persistent session makes the broker keep
 * and redeliver what it had not acknowledged; a redelivery lands on the same point. Afterwards every
 * device has exactly as many points as messages the broker acknowledged to it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { Registry as PromRegistry } from 'prom-client'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { startLoad } from '../bench/lib/load-generator.ts'
import { createBroker } from '../broker/broker.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { createTestDatabase, freePort, influxQuery } from '../test/support/influxd.ts'
import { deadLetterFile, openDeadLetterStore } from './dead-letters.ts'
import { countsByDevice, makeFleet, tempDir, waitFor } from './testing.ts'

function startIngestProcess(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = ''
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { child, output: () => output }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))
}

describe('ingest as its own process', () => {
  const influxUrl = inject('influxUrl')

  it('loses and duplicates nothing when killed with SIGKILL mid-stream and started again', async () => {
    const data = tempDir('ingest-sigkill-')
    onTestFinished(data.remove)
    const db = await createTestDatabase(influxUrl, 'sigkill')
    const { registry, devices } = await makeFleet(data.dir, 100)
    onTestFinished(() => registry.close())
    const password = await registry.createServiceAccount('svc-ingest')
    const broker = createBroker({
      config: BrokerConfigSchema.parse({ MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }),
      logger: silentLogger(),
      registry,
      metrics: new PromRegistry(),
    })
    await broker.start()
    onTestFinished(() => broker.stop())
    const env = {
      DATA_DIR: data.dir,
      MQTT_URL: `mqtt://127.0.0.1:${broker.port()}`,
      MQTT_USERNAME: 'svc-ingest',
      MQTT_PASSWORD: password,
      INFLUX_URL: influxUrl,
      INFLUX_API: '1',
      INFLUX_DB: db,
      METRICS_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    }
    const running: ChildProcess[] = []
    onTestFinished(async () => {
      for (const child of running) {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          process.kill(child.pid, 'SIGKILL')
          await exited(child)
        }
      }
    })
    const first = startIngestProcess(env)
    running.push(first.child)
    // Until the first session exists the broker has nobody to keep messages for (ingest is its only client yet).
    await waitFor(() => broker.aedes.connectedClients === 1, 30_000, 'ingest to connect').catch((err) => {
      throw new Error(`${err}\n${first.output()}`)
    })

    const load = startLoad({
      url: `mqtt://127.0.0.1:${broker.port()}`,
      devices,
      messagesPerDevice: 150,
      inflightPerDevice: 5,
      ratePerDeviceHz: 10,
      maxDurationMs: 60_000,
    })
    await load.ready
    load.go()
    await waitFor(() => load.acked() > 4000, 30_000, 'the stream to be under way')
    if (first.child.pid !== undefined) process.kill(first.child.pid, 'SIGKILL')
    await exited(first.child)
    expect(first.child.signalCode).toBe('SIGKILL')
    const atKill = load.acked()
    await new Promise((r) => setTimeout(r, 2000))
    // The devices go on: the broker acknowledges and keeps their messages for the ingest session.
    expect(load.acked()).toBeGreaterThan(atKill)

    const second = startIngestProcess(env)
    running.push(second.child)
    const result = await load.done
    expect(result.errors).toEqual([])
    expect(result.ackedTotal).toBe(15_000)
    const expected = result.devices.reduce((n, d) => n + d.ackedValid, 0)
    const total = async () => [...(await countsByDevice(influxUrl, db)).values()].reduce((a, b) => a + b, 0)
    await waitFor(
      async () => (await total()) >= expected,
      60_000,
      `all readings in InfluxDB: ${second.output()}`,
    )
    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id) ?? 0, device.id).toBe(device.ackedValid)

    // Alert changes published for machine consumers are stored too; a malformed one is a dead letter.
    const change = {
      alertId: 'al-1',
      transition: 'raised',
      type: 'trapped',
      severity: 'critical',
      status: 'open',
      deviceId: 'dev-00000',
      siteId: 'dev-site',
      tenantId: 'dev-firm',
      siteCategory: 'market',
      count: 1,
      at: Date.now(),
      actor: 'system',
    }
    await broker.publish('alerts/critical/trapped/dev-00000', JSON.stringify(change), 1)
    await broker.publish('alerts/critical/trapped/dev-00000', JSON.stringify({ ...change, count: 0 }), 1)
    await waitFor(
      async () => (await influxQuery(influxUrl, 'SELECT count(alert_id) FROM alert_change', db)).length > 0,
      20_000,
      'the alert change in InfluxDB',
    )
    expect(await influxQuery(influxUrl, 'SELECT count(alert_id) FROM alert_change', db)).toMatchObject([
      { values: [[0, 1]] },
    ])
    // So is a part of the alerts service's active-alerts snapshot (measurement alerts_active).
    const group = { ...change, kind: 'elevator', active: 2, unacknowledged: 1 }
    await broker.publish('alerts/active', JSON.stringify({ at: change.at, groups: [group] }), 1)
    await waitFor(
      async () => (await influxQuery(influxUrl, 'SELECT active FROM alerts_active', db)).length > 0,
      20_000,
      'the active-alerts snapshot in InfluxDB',
    )
    expect(
      await influxQuery(influxUrl, 'SELECT active, unacknowledged FROM alerts_active', db),
    ).toMatchObject([{ values: [[change.at, 2, 1]] }])

    // Its /metrics carries the process's own figures beside ingest's (open files against their limit).
    const metricsText = await (await fetch(`http://127.0.0.1:${env.METRICS_PORT}/metrics`)).text()
    expect(metricsText).toMatch(/^ingest_written_total \d+/m)
    expect(metricsText).toMatch(/^process_open_fds \d+/m)
    expect(metricsText).toMatch(/^process_max_fds \d+/m)

    // SIGTERM flushes and exits cleanly.
    if (second.child.pid !== undefined) process.kill(second.child.pid, 'SIGTERM')
    await exited(second.child)
    expect(second.child.exitCode).toBe(0)
    const store = openDeadLetterStore(deadLetterFile(data.dir))
    onTestFinished(() => store.close())
    expect(store.countByReason()).toEqual({ invalid_alert_change: 1 })
  }, 150_000)
})
