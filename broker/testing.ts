/**
 * Test support for the broker: a real broker on 127.0.0.1:0 over a registry in a temp dir, with a
 * few devices and a service account, mqtt.js and mosquitto client helpers, metric and log readers.
 * Only tests import this.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Registry as MetricsRegistry } from 'prom-client'
import { onTestFinished } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { createLogger } from '../domain/logger.ts'
import type { MessageSink } from '../domain/pipeline.ts'
import { createRegistry, type Registry, registryFile } from '../registry/registry.ts'
import { type Broker, type BrokerDeps, createBroker } from './broker.ts'
import { BrokerConfigSchema } from './config.ts'

/** scrypt at a test cost: the production cost would only slow the suite. */
export const FAST_SCRYPT = { N: 16, r: 1, p: 1 }

export type LogLine = { level: number; msg: string; [key: string]: unknown }

export type BrokerFixture = {
  broker: Broker
  registry: Registry
  metrics: MetricsRegistry
  dir: string
  logs: LogLine[]
  /** Secrets by MQTT username: el-1, el-2 (elevators), sc-1 (scale), ingest (service account). */
  secrets: Record<'el-1' | 'el-2' | 'sc-1' | 'ingest', string>
  url: string
  /** Connects with mqtt.js as `username` (client id = username unless given), no reconnect. */
  connect(username: string, options?: IClientOptions, url?: string): Promise<MqttClient>
  /** CONNACK return code of a refused mqtt.js connection attempt (throws if it connects). */
  refusedCode(options: IClientOptions): Promise<number>
  metric(name: string, labels?: Record<string, string>): Promise<number>
  /** Warn lines carrying this refusal reason. */
  warnings(reason: string): LogLine[]
  /** A good device still publishes and a service account still receives it. */
  assertServes(): Promise<void>
}

/** Starts a broker on port 0 with devices el-1, el-2 (elevators), sc-1 (scale) and service account ingest. */
export async function startBrokerFixture(
  options: { sink?: MessageSink; env?: Record<string, string>; cluster?: BrokerDeps['cluster'] } = {},
): Promise<BrokerFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'broker-test-'))
  const registry = createRegistry({ file: registryFile(dir), scrypt: FAST_SCRYPT })
  const clients = new Set<MqttClient>()
  let broker: Broker | null = null
  onTestFinished(async () => {
    await Promise.all([...clients].map((c) => c.endAsync(true).catch(() => undefined)))
    await broker?.stop()
    registry.close()
    rmSync(dir, { recursive: true, force: true })
  })

  registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
  registry.createTenant({ id: 'market-op', name: 'Hanzheng market management', kind: 'site_operator' })
  registry.createSite({ id: 'site-1', name: 'Hanzheng market', category: 'market', address: 'Qiaokou' })
  for (const [id, code] of [
    ['el-1', '31104201002021000001'],
    ['el-2', '31104201002021000002'],
  ] as const) {
    registry.createElevator({
      id,
      siteId: 'site-1',
      tenantId: 'firm-a',
      registrationCode: code,
      ratedSpeedMps: 1.75,
      floors: 18,
    })
  }
  registry.createScale({
    id: 'sc-1',
    siteId: 'site-1',
    tenantId: 'market-op',
    certificateNo: 'JJG539-0001',
    maxKg: 30,
    eG: 5,
  })
  const secrets = {
    'el-1': await registry.issueDeviceSecret('el-1'),
    'el-2': await registry.issueDeviceSecret('el-2'),
    'sc-1': await registry.issueDeviceSecret('sc-1'),
    ingest: await registry.createServiceAccount('ingest'),
  }

  const logs: LogLine[] = []
  const logger = createLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        logs.push(JSON.parse(line) as LogLine)
      },
    },
  })
  const metrics = new MetricsRegistry()
  const config = parseEnv(BrokerConfigSchema, {
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_REVOCATION_POLL_MS: '200',
    ...options.env,
  })
  broker = createBroker({
    config,
    logger,
    registry,
    metrics,
    onDeviceMessage: options.sink,
    cluster: options.cluster,
  })
  await broker.start()
  const url = `mqtt://127.0.0.1:${broker.port()}`

  function track(client: MqttClient): MqttClient {
    clients.add(client)
    return client
  }

  async function connect(username: string, extra: IClientOptions = {}, target = url): Promise<MqttClient> {
    const password = (secrets as Record<string, string | undefined>)[username]
    const client = track(
      mqtt.connect(target, {
        clientId: username,
        username,
        password,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...extra,
      }),
    )
    const err = await connectOutcome(client)
    if (err !== null) throw err
    return client
  }

  async function refusedCode(opts: IClientOptions): Promise<number> {
    const client = track(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts }))
    const outcome = await connectOutcome(client)
    if (outcome === null) throw new Error('connection was accepted')
    return Number((outcome as Error & { code?: unknown }).code)
  }

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const found = metrics.getSingleMetric(name)
    if (found === undefined) throw new Error(`no metric ${name}`)
    const { values } = await found.get()
    return values
      .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
      .reduce((sum, v) => sum + v.value, 0)
  }

  async function assertServes(): Promise<void> {
    const subscriber = await connect('ingest')
    await subscriber.subscribeAsync('v1/#', { qos: 1 })
    const device = await connect('el-2')
    const payload = JSON.stringify({ probe: Math.random() })
    const received = new Promise<string>((resolve) => {
      subscriber.on('message', (topic, message) => {
        if (topic === 'v1/elevators/el-2/status' && message.toString() === payload) resolve(payload)
      })
    })
    await device.publishAsync('v1/elevators/el-2/status', payload, { qos: 1 })
    if ((await received) !== payload) throw new Error('probe message not delivered')
    await Promise.all([device.endAsync(), subscriber.endAsync()])
  }

  return {
    broker,
    registry,
    metrics,
    dir,
    logs,
    secrets,
    url,
    connect,
    refusedCode,
    metric,
    warnings: (reason) => logs.filter((line) => line.level === 40 && line.reason === reason),
    assertServes,
  }
}

/** A throw-away certificate for 127.0.0.1 and localhost (openssl), removed after the test. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'broker-tls-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { stdio: 'ignore' },
  )
  return { cert, key }
}

/** Resolves with null once connected, or with the error (a refused CONNACK carries `code`). */
export function connectOutcome(client: MqttClient): Promise<Error | null> {
  return new Promise((resolve) => {
    client.once('connect', () => resolve(null))
    client.once('error', (err) => resolve(err))
  })
}

/** Resolves when the client's connection closes (the broker dropped it); rejects after `timeoutMs`. */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  if (!client.connected) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connection still open after ${timeoutMs} ms`)),
      timeoutMs,
    )
    client.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export type ProcessResult = { code: number; stdout: string; stderr: string }

/** Runs a Debian mosquitto client (mosquitto_pub / mosquitto_sub) to completion. */
export function mosquitto(
  program: 'mosquitto_pub' | 'mosquitto_sub',
  args: string[],
  timeoutMs = 10_000,
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(program, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}
