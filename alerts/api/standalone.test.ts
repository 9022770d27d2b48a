/**
 * The alerts process of a split deployment, against the real broker: readings over the durable MQTT
 * subscription, alert changes out on `alerts/…`, the API on its own port; and alerts/main.ts itself.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { z } from 'zod'
import { startBrokerFixture } from '../../broker/testing.ts'
import { silentLogger } from '../../domain/logger.ts'
import { uplinkTopic } from '../../domain/topics.ts'
import { freePort } from '../../test/support/influxd.ts'
import { AlertSchema } from './schemas.ts'
import { openSse } from './sse-client.ts'
import { type AlertsProcess, AlertsProcessConfigSchema, createAlertsProcess } from './standalone.ts'

const AlertPage = z.object({ total: z.number(), items: z.array(AlertSchema) })

async function until<T>(
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

let seq = 1
function event(code: string) {
  seq += 1
  return JSON.stringify({ ts: Date.now(), seq, code })
}

async function setup() {
  const fixture = await startBrokerFixture()
  const secret = await fixture.registry.createServiceAccount('svc-alerts')
  const publisherSecret = await fixture.registry.createServiceAccount('svc-alerts-pub')
  const { token } = fixture.registry.createApiToken({ name: 'duty', role: 'duty_officer' })
  const config = AlertsProcessConfigSchema.parse({
    DATA_DIR: fixture.dir,
    MQTT_URL: fixture.url,
    MQTT_PASSWORD: secret,
    MQTT_PUBLISHER_PASSWORD: publisherSecret,
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    SCAN_ON_START: 'false',
  })
  const processes: AlertsProcess[] = []
  const start = async () => {
    const p = createAlertsProcess({ config, logger: silentLogger() })
    processes.push(p)
    await p.start()
    return p
  }
  onTestFinished(async () => {
    for (const p of processes) await p.stop()
  })
  const alerts = async (p: AlertsProcess, query = '') => {
    const res = await fetch(`${p.address()}/api/alerts${query}`, {
      headers: { authorization: `Bearer ${token}` },
    })
    return AlertPage.parse(await res.json())
  }
  return { fixture, token, secret, config, start, alerts }
}

describe('alerts process (split deployment)', () => {
  it('takes readings from the MQTT subscription and publishes alert changes on alerts/…', async () => {
    const { fixture, token, start, alerts } = await setup()
    const p = await start()
    const stream = await openSse(`${p.address()}/api/alerts/stream?access_token=${token}`)
    onTestFinished(() => stream.close())
    await stream.waitFor((e) => e.event === 'ready')
    const consumer: MqttClient = await fixture.connect('ingest')
    const published: string[] = []
    consumer.on('message', (topic) => published.push(topic))
    await consumer.subscribeAsync('alerts/#', { qos: 1 })

    const device = await fixture.connect('el-1')
    // a payload that does not decode is acknowledged and skipped; the next one still goes through
    await device.publishAsync(uplinkTopic('elevator_event', 'el-1'), '{"not":"an event"}', { qos: 1 })
    await device.publishAsync(uplinkTopic('elevator_event', 'el-1'), event('trapped'), { qos: 1 })

    const page = await until(async () => {
      const list = await alerts(p, '?device=el-1')
      return list.total > 0 ? list : null
    })
    expect(page.items[0]).toMatchObject({ type: 'trapped', severity: 'critical', tenantId: 'firm-a' })
    await stream.waitFor((e) => e.event === 'alert' && JSON.parse(e.data).change.deviceId === 'el-1')
    await until(() => published.includes('alerts/critical/trapped/el-1'))
    const health = await fetch(`${p.address()}/healthz`)
    expect(await health.json()).toMatchObject({
      status: 'ok',
      checks: { mqtt: { ok: true }, alertPublisher: { ok: true } },
    })
  })

  it('gets what was published while it was down from its persistent session', async () => {
    const { fixture, start, alerts } = await setup()
    const first = await start()
    await first.stop()
    const device = await fixture.connect('el-2')
    await device.publishAsync(uplinkTopic('elevator_event', 'el-2'), event('door_open_fault'), { qos: 1 })
    const second = await start()
    const page = await until(async () => {
      const list = await alerts(second, '?device=el-2')
      return list.total > 0 ? list : null
    })
    expect(page.items.map((a) => a.type)).toEqual(['door_open_fault'])
  })
})

describe('alerts/main.ts', () => {
  it('starts from the environment, serves /healthz and stops on SIGTERM', async () => {
    const fixture = await startBrokerFixture()
    const secret = await fixture.registry.createServiceAccount('svc-alerts')
    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'main.ts')], {
      env: {
        PATH: process.env.PATH,
        DATA_DIR: fixture.dir,
        MQTT_URL: fixture.url,
        MQTT_PASSWORD: secret,
        HTTP_PORT: String(port),
        HTTP_HOST: '127.0.0.1',
        SCAN_ON_START: 'false',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    const health = await until(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)
      return res?.status === 200 ? res.json() : null
    }, 30_000)
    expect(health).toMatchObject({ status: 'ok' })
    // no admin token exists yet: the process says how to make one
    expect(output).toContain('no admin API token')
    expect(output).not.toContain(secret)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('refuses to start without its MQTT password, naming the setting', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'main.ts')], {
      env: { PATH: process.env.PATH, HTTP_PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(code).toBe(1)
    expect(stderr).toContain('MQTT_PASSWORD')
    expect(stderr).toContain('HTTP_PORT')
  })
})
