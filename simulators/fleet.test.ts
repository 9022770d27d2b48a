/**
 * The fleet against the real broker (broker/broker.ts) on port 0, authenticating devices with the
 * registry's credentials; real mqtt.js clients, a real SQLite registry in a temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry as MetricsRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { type Broker, createBroker } from '../broker/broker.ts'
import { BrokerConfigSchema } from '../broker/config.ts'
import { parseEnv } from '../domain/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { commandTopic, parseTopic, UPLINK } from '../domain/topics.ts'
import { createRegistry, type Registry } from '../registry/registry.ts'
import { createFleet, type Fleet, type FleetConfig } from './fleet.ts'
import { provisionFleet } from './provision.ts'
import type { SimulatedDeviceSpec } from './spec.ts'

type Received = { clientId: string; topic: string; payload: Record<string, unknown> }

type TestBroker = {
  port: number
  /** Device messages the broker took (its in-process sink; the PUBACK follows). */
  received: Received[]
  connects: string[]
  disconnects: string[]
  /** Client ids, once per SUBSCRIBE that took effect. */
  subscribes: string[]
  broker: Broker
  stop(): Promise<void>
}

async function startBroker(registry: Registry, port = 0): Promise<TestBroker> {
  const received: Received[] = []
  const connects: string[] = []
  const disconnects: string[] = []
  const subscribes: string[] = []
  const broker = createBroker({
    config: parseEnv(BrokerConfigSchema, { MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1' }),
    logger: silentLogger(),
    registry,
    metrics: new MetricsRegistry(),
    async onDeviceMessage(message) {
      received.push({
        clientId: message.clientId,
        topic: message.topic,
        payload: JSON.parse(message.payload.toString('utf8')),
      })
    },
  })
  broker.aedes.on('client', (client) => connects.push(client.id))
  broker.aedes.on('clientDisconnect', (client) => disconnects.push(client.id))
  broker.aedes.on('subscribe', (_subscriptions, client) => subscribes.push(client.id))
  await broker.start()
  return {
    port: broker.port(),
    received,
    connects,
    disconnects,
    subscribes,
    broker,
    stop: () => broker.stop(),
  }
}

async function setup(options: { elevators: number; scales: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-'))
  // Cheap scrypt: this test is about the fleet, not password hashing.
  const registry = createRegistry({ file: join(dir, 'registry.db'), scrypt: { N: 16, r: 1, p: 1 } })
  const specs = await provisionFleet(registry, { ...options, seed: 7, prefix: 't', elevatorStatusPeriodS: 1 })
  const broker = await startBroker(registry)
  onTestFinished(async () => {
    await broker.stop()
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, registry, specs, broker }
}

function fleetFor(port: number, devices: SimulatedDeviceSpec[], config: Partial<FleetConfig> = {}): Fleet {
  const fleet = createFleet({
    config: {
      url: `mqtt://127.0.0.1:${port}`,
      seed: 3,
      rampPerSecond: 200,
      tickMs: 100,
      reconnectBaseMs: 200,
      reconnectMaxMs: 1000,
      ...config,
    },
    logger: silentLogger(),
    devices,
  })
  onTestFinished(() => fleet.stop())
  return fleet
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await sleep(50)
  }
}

describe('fleet', () => {
  it('connects every device with its own credentials and the broker gets exactly what was acknowledged', async () => {
    const { specs, broker } = await setup({ elevators: 20, scales: 20 })
    const fleet = fleetFor(broker.port, specs)
    await fleet.start()
    expect(await fleet.waitConnected(20_000)).toBe(true)
    await sleep(3000)
    const elevator = fleet.device('t-el-0001')
    elevator?.inject({ type: 'trapped', levelled: false, trappedEventAfterMs: 0, releaseAfterMs: 60_000 })
    fleet.device('t-sc-0001')?.inject({ type: 'tamper', kind: 'param_changed' })
    expect(() => fleet.device('t-sc-0002')?.inject({ type: 'trapped' })).toThrow(/does not apply/)
    await sleep(1500)
    await fleet.stop()

    const stats = fleet.stats()
    expect(stats.everConnected).toBe(40)
    expect(stats.refused).toBe(0)
    expect(stats.pending).toBe(0)
    expect(stats.acknowledged).toBe(stats.sent)
    expect(stats.byKind.elevator.everConnected).toBe(20)
    expect(stats.eventsByCode.trapped).toBe(1)
    expect(stats.eventsByCode.param_changed).toBe(1)

    // Each device published under its own identity, on its own topics, schema-valid, seq increasing.
    const perDevice = new Map<string, Received[]>()
    for (const r of broker.received) {
      const topic = parseTopic(r.topic)
      expect(topic?.deviceId).toBe(r.clientId)
      if (topic?.direction !== 'uplink') throw new Error(`unexpected topic ${r.topic}`)
      expect(UPLINK[topic.type].schema.safeParse(r.payload).success).toBe(true)
      perDevice.set(r.clientId, [...(perDevice.get(r.clientId) ?? []), r])
    }
    const acked = fleet.acknowledgedByDevice()
    for (const spec of specs) {
      const got = perDevice.get(spec.id) ?? []
      expect(got.length).toBe(acked.get(spec.id))
      expect(got.length).toBeGreaterThan(0)
      const seqs = got.map((r) => Number(r.payload.seq))
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1] ?? 0) + 1)
    }
    const trapped = broker.received.find((r) => r.payload.code === 'trapped')
    expect(trapped?.clientId).toBe('t-el-0001')
  })

  it('counts a refused connection for a wrong secret and keeps the others going', async () => {
    const { specs, broker } = await setup({ elevators: 2, scales: 1 })
    const [first, ...rest] = specs
    if (!first) throw new Error('no device')
    // One connection attempt at a time: the refused device must free its slot for the others.
    const fleet = fleetFor(broker.port, [{ ...first, secret: 'wrong-secret' }, ...rest], { maxConnecting: 1 })
    await fleet.start()
    await until(() => fleet.stats().connectRefused > 0 && fleet.stats().everConnected === 2, 20_000)
    await fleet.stop()
    const bad = fleet.device(first.id)?.stats()
    expect(bad?.everConnected).toBe(false)
    expect(bad?.connectRefused).toBeGreaterThan(0)
    expect(fleet.stats().refused).toBeGreaterThan(0)
    expect(broker.received.some((r) => r.clientId === first.id)).toBe(false)
  })

  it('resends unacknowledged messages after a broker restart: nothing is lost', async () => {
    const { specs, broker, registry } = await setup({ elevators: 3, scales: 2 })
    const fleet = fleetFor(broker.port, specs)
    await fleet.start()
    expect(await fleet.waitConnected(20_000)).toBe(true)
    await sleep(1500)
    await broker.stop()
    // Devices keep producing while the broker is down; mqtt.js holds the messages.
    await sleep(2500)
    const sentWhileDown = fleet.stats().sent
    expect(fleet.stats().pending).toBeGreaterThan(0)
    const again = await startBroker(registry, broker.port)
    onTestFinished(() => again.stop())
    await until(() => {
      const s = fleet.stats()
      return s.connected === specs.length && s.pending === 0 && s.sent > sentWhileDown
    }, 20_000)
    await fleet.stop()

    const stats = fleet.stats()
    expect(stats.acknowledged).toBe(stats.sent)
    expect(stats.reconnects).toBeGreaterThanOrEqual(specs.length)
    for (const spec of specs) {
      const seqs = new Set(
        [...broker.received, ...again.received]
          .filter((r) => r.clientId === spec.id)
          .map((r) => Number(r.payload.seq)),
      )
      const sorted = [...seqs].sort((a, b) => a - b)
      const firstSeq = sorted[0] ?? 0
      // Every seq from the first to the last arrived (duplicates of in-flight messages are allowed).
      expect(sorted.length).toBe((sorted.at(-1) ?? 0) - firstSeq + 1)
      expect(sorted.length).toBe(fleet.device(spec.id)?.stats().sent)
    }
  })

  it('drops the connection while a device is offline and answers report_status', async () => {
    const { specs, broker } = await setup({ elevators: 1, scales: 1 })
    const fleet = fleetFor(broker.port, specs)
    await fleet.start()
    expect(await fleet.waitConnected(20_000)).toBe(true)
    await sleep(500)
    const id = 't-sc-0001'
    const device = fleet.device(id)
    if (!device) throw new Error(`no device ${id}`)
    // The simulator's clock moves in ticks (1 s for a scale) and may trail the wall clock by one:
    // the offline window is measured on the device's own clock, as its messages' ts are.
    const cutAt = device.sim.now()
    device.inject({ type: 'offline', durationMs: 1500 })
    await until(() => broker.disconnects.includes(id), 5000)
    await until(() => broker.connects.filter((c) => c === id).length === 2, 10_000)
    // Strictly after the cut: the power_on of the first connection can carry cutAt itself when no
    // tick came between it and the cut, and would end this wait before the device is back.
    const isPowerOn = (r: Received) =>
      r.clientId === id && r.payload.code === 'power_on' && Number(r.payload.ts) > cutAt
    await until(() => broker.received.some(isPowerOn), 5000)
    // Silent while offline: the first thing after the cut is the power_on when it comes back.
    const after = broker.received.filter((r) => r.clientId === id && Number(r.payload.ts) > cutAt)
    expect(after.length).toBeGreaterThan(0)
    expect(after.every((r) => Number(r.payload.ts) >= cutAt + 1500)).toBe(true)

    // mqtt.js resubscribes after the reconnect, and may publish before its SUBSCRIBE took effect: a
    // command sent before then has no subscriber (under the CI's load it came first once).
    await until(() => broker.subscribes.filter((c) => c === id).length === 2, 5000)
    const before = broker.received.filter((r) => r.clientId === id && r.topic.endsWith('/status')).length
    await broker.broker.publish(
      commandTopic('scale', id),
      JSON.stringify({ ts: Date.now(), seq: 1, command: 'report_status' }),
      1,
    )
    await until(
      () => broker.received.filter((r) => r.clientId === id && r.topic.endsWith('/status')).length > before,
      5000,
    )
    expect(fleet.device(id)?.stats().reconnects).toBe(1)
  })

  it('spreads connections over the given source addresses', async () => {
    const { specs, broker } = await setup({ elevators: 2, scales: 2 })
    const addresses = new Map<string, string>()
    broker.broker.aedes.on('client', (client) => {
      const remote = 'remoteAddress' in client.conn ? String(client.conn.remoteAddress) : ''
      addresses.set(client.id, remote.replace(/^::ffff:/, ''))
    })
    const fleet = fleetFor(broker.port, specs, { sourceAddresses: ['127.0.0.2', '127.0.0.3'] })
    await fleet.start()
    expect(await fleet.waitConnected(20_000)).toBe(true)
    await fleet.stop()
    expect(new Set(addresses.values())).toEqual(new Set(['127.0.0.2', '127.0.0.3']))
    expect(fleet.stats().acknowledged).toBe(fleet.stats().sent)
  })
})
