/**
 * Two brokers sharing a real Redis (Debian's redis-server), as two broker/main.ts processes with
 * REDIS_URL would: readings cross from one broker to a persistent session on the other, a session
 * outlives its subscriber's move between brokers, and each broker kicks its own revoked clients.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Registry as MetricsRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { silentLogger } from '../domain/logger.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { NORMAL_ELEVATOR_STATUS, NORMAL_SCALE_STATUS } from '../test/support/payloads.ts'
import { type Broker, createBroker } from './broker.ts'
import { createRedisCluster } from './cluster.ts'
import { BrokerConfigSchema } from './config.ts'
import { startLocalRedis } from './local-redis.ts'
import { type BrokerFixture, closed, connectOutcome, FAST_SCRYPT, startBrokerFixture } from './testing.ts'

type Pair = {
  redisUrl: string
  a: BrokerFixture
  b: Broker
  bMetrics: MetricsRegistry
  urlA: string
  urlB: string
  /** An mqtt.js client listening for messages from before its CONNACK (a session's stored ones). */
  listen(
    username: 'el-1' | 'el-2' | 'ingest',
    url: string,
    options?: IClientOptions,
  ): Promise<{ client: MqttClient; messages: { topic: string; seq: number; qos: number }[] }>
}

/** Redis, broker A (the fixture's registry) and broker B with its own handle on the same registry file. */
async function startPair(): Promise<Pair> {
  const redisDir = mkdtempSync(join(tmpdir(), 'broker-redis-'))
  const redis = await startLocalRedis({ dir: redisDir })
  // onTestFinished runs in reverse: brokers stop first, then their Redis connections, then Redis.
  onTestFinished(async () => {
    await redis.stop()
    rmSync(redisDir, { recursive: true, force: true })
  })
  const clusterA = createRedisCluster({ url: redis.url, logger: silentLogger(), id: 'broker-a' })
  const clusterB = createRedisCluster({ url: redis.url, logger: silentLogger(), id: 'broker-b' })
  onTestFinished(() => Promise.all([clusterA.close(), clusterB.close()]).then(() => undefined))
  const a = await startBrokerFixture({ cluster: clusterA.options })
  // A second handle on the registry file, as another process has: B learns of revocations by polling.
  const registryB = createRegistry({ file: registryFile(a.dir), scrypt: FAST_SCRYPT })
  const bMetrics = new MetricsRegistry()
  const b = createBroker({
    config: parseEnv(BrokerConfigSchema, {
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      MQTT_REVOCATION_POLL_MS: '200',
    }),
    logger: silentLogger(),
    registry: registryB,
    metrics: bMetrics,
    cluster: clusterB.options,
  })
  const clients = new Set<MqttClient>()
  onTestFinished(async () => {
    await Promise.all([...clients].map((c) => c.endAsync(true).catch(() => undefined)))
    await b.stop()
    registryB.close()
  })
  await b.start()
  const urlB = `mqtt://127.0.0.1:${b.port()}`

  async function listen(username: 'el-1' | 'el-2' | 'ingest', url: string, options: IClientOptions = {}) {
    const messages: { topic: string; seq: number; qos: number }[] = []
    const client = mqtt.connect(url, {
      clientId: username,
      username,
      password: a.secrets[username],
      reconnectPeriod: 0,
      connectTimeout: 20_000, // a CONNACK waits on Redis; 5 s was once too short under a full test run
      ...options,
    })
    clients.add(client)
    client.on('message', (topic, payload, packet) => {
      const seq = (JSON.parse(payload.toString()) as { seq?: unknown }).seq
      messages.push({ topic, seq: typeof seq === 'number' ? seq : -1, qos: packet.qos })
    })
    const err = await connectOutcome(client)
    if (err !== null) throw err
    return { client, messages }
  }

  return { redisUrl: redis.url, a, b, bMetrics, urlA: a.url, urlB, listen }
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function untilAsync(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const status = (seq: number): string => JSON.stringify({ ...NORMAL_ELEVATOR_STATUS, ts: Date.now(), seq })

describe('brokers sharing Redis', () => {
  it("carry a device's QoS 1 readings on broker A to ingest's persistent session on broker B", async () => {
    const { a, urlB, listen } = await startPair()
    const ingest = await listen('ingest', urlB, { clean: false })
    await ingest.client.subscribeAsync('v1/elevators/+/status', { qos: 1 })

    const device = await a.connect('el-1')
    for (let seq = 1; seq <= 5; seq++) {
      await device.publishAsync('v1/elevators/el-1/status', status(seq), { qos: 1 })
    }
    await until(() => ingest.messages.length >= 5)
    expect(ingest.messages).toEqual(
      [1, 2, 3, 4, 5].map((seq) => ({ topic: 'v1/elevators/el-1/status', seq, qos: 1 })),
    )
  })

  it('deliver every reading to a session that shares some of its filters with another session', async () => {
    // ingest takes elevators and scales, alerts elevators only: an elevator reading is queued in Redis
    // for two sessions, a scale reading for one, so the scale reading numbered after it reached the
    // emitter first and aedes dropped the elevator reading for ingest as an old duplicate, leaving it
    // in ingest's Redis session (broker/emit-in-order.ts).
    const { redisUrl, a, urlB, listen } = await startPair()
    const ingest = await listen('ingest', urlB, { clean: false })
    await ingest.client.subscribeAsync(['v1/elevators/+/status', 'v1/scales/+/status'], { qos: 1 })
    const alertsSecret = await a.registry.createServiceAccount('alerts')
    const alerts = mqtt.connect(urlB, {
      clientId: 'alerts',
      username: 'alerts',
      password: alertsSecret,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 20_000,
    })
    onTestFinished(() => alerts.endAsync(true).catch(() => undefined))
    const alertsGot: string[] = []
    alerts.on('message', (topic) => alertsGot.push(topic))
    const err = await connectOutcome(alerts)
    if (err !== null) throw err
    await alerts.subscribeAsync('v1/elevators/+/status', { qos: 1 })

    const elevator = await a.connect('el-1')
    const scale = await a.connect('sc-1')
    const perDevice = 100
    const sent: Promise<unknown>[] = []
    for (let seq = 1; seq <= perDevice; seq++) {
      sent.push(elevator.publishAsync('v1/elevators/el-1/status', status(seq), { qos: 1 }))
      const reading = JSON.stringify({ ...NORMAL_SCALE_STATUS, ts: Date.now(), seq })
      sent.push(scale.publishAsync('v1/scales/sc-1/status', reading, { qos: 1 }))
    }
    await Promise.all(sent) // every one acknowledged: in the sessions of Redis

    const received = (topic: string): number[] => [
      ...new Set(ingest.messages.filter((m) => m.topic === topic).map((m) => m.seq)),
    ]
    const expected = Array.from({ length: perDevice }, (_, i) => i + 1)
    await until(() => ingest.messages.length >= 2 * perDevice && alertsGot.length >= perDevice, 20_000).catch(
      () => undefined,
    )
    expect(received('v1/elevators/el-1/status').sort((x, y) => x - y)).toEqual(expected)
    expect(received('v1/scales/sc-1/status').sort((x, y) => x - y)).toEqual(expected)
    expect(alertsGot).toHaveLength(perDevice)
    // Each acknowledgement took its message out of the session's queue in Redis: nothing left behind.
    const redis = new Redis(redisUrl)
    onTestFinished(() => redis.quit().then(() => undefined))
    await untilAsync(
      async () => (await redis.llen('outgoing:ingest')) + (await redis.llen('outgoing:alerts')) === 0,
    )
  })

  it('answer a persistent session that subscribes to several filters in one SUBSCRIBE', async () => {
    // As ingest's and alerts' subscribers (domain/mqtt-subscriber.ts) do: one packet, every uplink filter.
    const { a, urlB, listen } = await startPair()
    const ingest = await listen('ingest', urlB, { clean: false })
    const granted = await ingest.client.subscribeAsync(
      ['v1/elevators/+/status', 'v1/elevators/+/events', 'v1/scales/+/status'],
      { qos: 1 },
    )
    expect(granted.map((g) => g.qos)).toEqual([1, 1, 1])

    const device = await a.connect('el-1')
    await device.publishAsync('v1/elevators/el-1/status', status(1), { qos: 1 })
    await device.publishAsync('v1/elevators/el-1/events', status(2), { qos: 1 })
    await until(() => ingest.messages.length >= 2)
    expect(ingest.messages.map((m) => m.topic)).toEqual([
      'v1/elevators/el-1/status',
      'v1/elevators/el-1/events',
    ])
  })

  it('keep a persistent session in Redis while its subscriber moves from broker A to broker B', async () => {
    const { a, urlA, urlB, listen } = await startPair()
    const first = await listen('ingest', urlA, { clean: false })
    await first.client.subscribeAsync('v1/elevators/+/status', { qos: 1 })
    await first.client.endAsync()
    // A has let it go (the client's end resolves before the broker has handled the DISCONNECT).
    await untilAsync(async () => (await a.metric('mqtt_clients_connected')) === 0)

    // Acknowledged while nobody is subscribed: the session's messages are in Redis only.
    const device = await a.connect('el-1', {}, urlB)
    for (let seq = 1; seq <= 3; seq++) {
      await device.publishAsync('v1/elevators/el-1/status', status(seq), { qos: 1 })
    }

    // A reading still travelling over Redis may come live, before the replay of the stored ones (and
    // again in it: QoS 1 allows a duplicate). Before broker/connack-first.ts it came before the CONNACK
    // too, and mqtt.js never read its CONNACK.
    const moved = await listen('ingest', urlB, { clean: false })
    const seqs = (): number[] => [...new Set(moved.messages.map((m) => m.seq))].sort((x, y) => x - y)
    await until(() => seqs().length >= 3)
    expect(seqs()).toEqual([1, 2, 3])
    // The subscription came with the session: a new reading reaches it without subscribing again.
    await device.publishAsync('v1/elevators/el-1/status', status(4), { qos: 1 })
    await until(() => seqs().length >= 4)
    expect(seqs()).toEqual([1, 2, 3, 4])
  })

  it('each kick a revoked device connected to it, the revocation made through another process', async () => {
    const { a, bMetrics, urlA, urlB, listen } = await startPair()
    const onB = await a.connect('el-2', {}, urlB)
    const onA = await a.connect('el-1')

    a.registry.revokeDevice('el-2')
    await closed(onB)
    const kicked = await bMetrics.getSingleMetric('mqtt_clients_kicked_total')?.get()
    expect(kicked?.values.find((v) => v.labels.reason === 'revoked')?.value).toBe(1)
    // The revoked device cannot come back through either broker; the others keep being served.
    for (const url of [urlA, urlB]) await expect(listen('el-2', url)).rejects.toThrow(/Not authorized|Bad/)
    await expect(onA.publishAsync('v1/elevators/el-1/status', status(1), { qos: 1 })).resolves.toBeDefined()
  })

  it('close the older connection of a device that connects again through the other broker', async () => {
    const { a, urlB } = await startPair()
    const onA = await a.connect('el-1')
    await a.connect('el-1', {}, urlB)
    // [MQTT-3.1.4-2]: one connection per client id, across the cluster.
    await closed(onA)
  })
})
