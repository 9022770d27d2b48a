/**
 * The deferred-ack subscriber against the real broker (broker/broker.ts on Aedes) with mqtt.js devices.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { Registry as PromRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type Broker, createBroker } from '../broker/broker.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { createRegistry, type Registry, registryFile } from '../registry/registry.ts'
import { silentLogger } from './logger.ts'
import { createMqttSubscriber, type SubscribedMessage } from './mqtt-subscriber.ts'
import { uplinkFilters } from './topics.ts'

const FAST_SCRYPT = { N: 16, r: 1, p: 1 }

async function setup(): Promise<{ registry: Registry; devicePassword: string; servicePassword: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'subscriber-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const registry = createRegistry({ file: registryFile(dir), scrypt: FAST_SCRYPT })
  onTestFinished(() => registry.close())
  registry.createTenant({ id: 'firm', name: 'Firm', kind: 'maintenance_firm' })
  registry.createSite({ id: 'site', name: 'Site', category: 'mall', address: 'x' })
  registry.createElevator({
    id: 'el-1',
    siteId: 'site',
    tenantId: 'firm',
    registrationCode: '11111111111111111111',
    ratedSpeedMps: 1,
    floors: 10,
  })
  const devicePassword = await registry.issueDeviceSecret('el-1')
  const servicePassword = await registry.createServiceAccount('svc-test')
  return { registry, devicePassword, servicePassword }
}

async function startBroker(registry: Registry, port = 0): Promise<Broker> {
  const broker = createBroker({
    config: BrokerConfigSchema.parse({ MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1' }),
    logger: silentLogger(),
    registry,
    metrics: new PromRegistry(),
  })
  await broker.start()
  return broker
}

/** A broker with el-1 and the svc-test account; the subscriber options every test shares. */
async function startWithService() {
  const { registry, devicePassword, servicePassword } = await setup()
  const broker = await startBroker(registry)
  onTestFinished(() => broker.stop())
  const url = `mqtt://127.0.0.1:${broker.port()}`
  const base = {
    url,
    clientId: 'svc-test',
    username: 'svc-test',
    password: servicePassword,
    logger: silentLogger(),
    drainTimeoutMs: 200,
  }
  return { url, devicePassword, base, broker }
}

async function publishAll(url: string, password: string, from: number, count: number): Promise<void> {
  const device = await mqtt.connectAsync(url, {
    clientId: 'el-1',
    username: 'el-1',
    password,
    reconnectPeriod: 0,
  })
  // 2 KB each, so that one socket read (at most 64 KiB) holds a few dozen of them, never all.
  const pad = 'x'.repeat(2000)
  for (let i = from; i < from + count; i++) {
    await device.publishAsync('v1/elevators/el-1/events', JSON.stringify({ n: i, pad }), { qos: 1 })
  }
  await device.endAsync()
}

const numberOf = (m: SubscribedMessage): number => (JSON.parse(m.payload.toString()) as { n: number }).n

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('mqtt subscriber', () => {
  it('holds acknowledgements until told, and gets back on its persistent session what it did not acknowledge', async () => {
    const { url, devicePassword, base: service } = await startWithService()
    const base = { ...service, subscriptions: uplinkFilters().map((topic) => ({ topic, qos: 1 as const })) }

    const first: SubscribedMessage[] = []
    const acks: Array<() => void> = []
    const sub1 = createMqttSubscriber({
      ...base,
      onMessage: (m, ack) => {
        first.push(m)
        acks.push(ack)
      },
    })
    await sub1.start()
    await publishAll(url, devicePassword, 0, 20)
    await until(() => first.length === 20, '20 messages')
    expect(first.map(numberOf)).toEqual([...Array(20).keys()])
    expect(sub1.unacked()).toBe(20)
    // Acknowledge the first 10 only, out of order; nothing is lost by acking late.
    for (const i of [3, 1, 0, 2, 9, 8, 7, 6, 5, 4]) acks[i]?.()
    await until(() => sub1.unacked() === 10, 'ten acknowledgements')
    await new Promise((r) => setTimeout(r, 100))
    await sub1.stop()

    // While no one is connected the broker keeps new messages for the session.
    await publishAll(url, devicePassword, 20, 5)

    const second: SubscribedMessage[] = []
    const sub2 = createMqttSubscriber({
      ...base,
      onMessage: (m, ack) => {
        second.push(m)
        ack()
      },
    })
    await sub2.start()
    onTestFinished(() => sub2.stop())
    await until(() => second.length >= 15, 'the redelivery')
    await new Promise((r) => setTimeout(r, 200))
    expect(second.map(numberOf).sort((a, b) => a - b)).toEqual([...Array(15).keys()].map((i) => i + 10))
    // Stale acks of the first connection do nothing.
    for (const ack of acks) ack()
  })

  it('drops the subscriptions an earlier configuration left in its persistent session', async () => {
    const { url, devicePassword, base, broker } = await startWithService()
    // As ingest with INGEST_SUBSCRIBE=all: every uplink, in a persistent session.
    const before = createMqttSubscriber({
      ...base,
      subscriptions: uplinkFilters().map((topic) => ({ topic, qos: 1 as const })),
      onMessage: (_m, ack) => ack(),
    })
    await before.start()
    await before.stop()
    // Then as INGEST_SUBSCRIBE=alerts: alerts/# only, and the uplink filters dropped.
    const received: SubscribedMessage[] = []
    const after = createMqttSubscriber({
      ...base,
      subscriptions: [{ topic: 'alerts/#', qos: 1 }],
      unsubscriptions: uplinkFilters(),
      onMessage: (m, ack) => {
        received.push(m)
        ack()
      },
    })
    await after.start()
    onTestFinished(() => after.stop())
    await publishAll(url, devicePassword, 0, 5)
    await broker.publish('alerts/critical/trapped/el-1', Buffer.from('{"n":99}'), 1)
    await until(() => received.length >= 1, 'the alert message')
    await new Promise((r) => setTimeout(r, 300))
    expect(received.map((m) => m.topic)).toEqual(['alerts/critical/trapped/el-1'])
  })

  it('stops reading past maxUnacked and reconnects after the broker restarts', async () => {
    const { registry, devicePassword, servicePassword } = await setup()
    let broker = await startBroker(registry)
    const port = broker.port()
    onTestFinished(() => broker.stop())
    const url = `mqtt://127.0.0.1:${port}`
    const got: SubscribedMessage[] = []
    const held: Array<() => void> = []
    const sub = createMqttSubscriber({
      url,
      clientId: 'svc-test',
      username: 'svc-test',
      password: servicePassword,
      subscriptions: [{ topic: 'v1/+/+/events', qos: 1 }],
      logger: silentLogger(),
      maxUnacked: 50,
      reconnectMinMs: 100,
      reconnectMaxMs: 200,
      onMessage: (m, ack) => {
        got.push(m)
        held.push(ack)
      },
    })
    await sub.start()
    onTestFinished(() => sub.stop())
    await publishAll(url, devicePassword, 0, 300)
    await new Promise((r) => setTimeout(r, 300))
    // Bounded by the window (plus what one socket read already held), far from all 300.
    expect(got.length).toBeGreaterThanOrEqual(50)
    expect(got.length).toBeLessThan(300)
    // Acknowledging lets the rest in.
    while (got.length < 300 || held.length > 0) {
      for (const ack of held.splice(0)) ack()
      await new Promise((r) => setTimeout(r, 20))
      if (got.length >= 300 && held.length === 0) break
    }
    expect(new Set(got.map(numberOf)).size).toBe(300)

    await broker.stop()
    await until(() => !sub.isConnected(), 'the connection to drop')
    broker = await startBroker(registry, port)
    await until(() => sub.isConnected(), 'the reconnection')
    const before = got.length
    await publishAll(url, devicePassword, 1000, 3)
    await until(() => got.length === before + 3, 'messages after the restart')
    for (const ack of held.splice(0)) ack()
  })
})
