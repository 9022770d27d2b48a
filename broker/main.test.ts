import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { countsByDevice } from '../ingest/testing.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { createTestDatabase, freePort } from '../test/support/influxd.ts'
import { NORMAL_ELEVATOR_STATUS } from '../test/support/payloads.ts'
import { startLocalRedis } from './local-redis.ts'
import { mosquitto } from './testing.ts'

const MAIN = join(import.meta.dirname, 'main.ts')

type Running = {
  child: ChildProcess
  lines: Record<string, unknown>[]
  stderr: () => string
  exit: Promise<number | null>
}

function run(env: Record<string, string>): Running {
  // node itself with tsx's loader, not the tsx binary: a SIGKILL at a failed test's end must reach the
  // process that runs the broker, not a wrapper that would leave it orphaned (and holding its port).
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop() ?? ''
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Record<string, unknown>)
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return { child, lines, stderr: () => stderr, exit }
}

async function waitFor<T>(fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * A DATA_DIR whose registry holds one firm, one site and the elevators `ids` (registration codes in
 * order), with the elevators' secrets; the registry is closed, as the broker processes open their own.
 */
async function dataFolder(ids: readonly string[] = ['el-1']) {
  const dir = mkdtempSync(join(tmpdir(), 'broker-main-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const registry = createRegistry({ file: registryFile(dir) })
  registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
  registry.createSite({ id: 'site-1', name: 'Market', category: 'market', address: 'Qiaokou' })
  const secrets: Record<string, string> = {}
  for (const [i, id] of ids.entries()) {
    registry.createElevator({
      id,
      siteId: 'site-1',
      tenantId: 'firm-a',
      registrationCode: `3110420100202100000${i + 1}`,
      ratedSpeedMps: 1,
      floors: 6,
    })
    secrets[id] = await registry.issueDeviceSecret(id)
  }
  return { dir, registry, secrets }
}

/** A Redis of its own in `dir`, stopped at the test's end. */
async function redisIn(dir: string) {
  const redis = await startLocalRedis({ dir: join(dir, 'redis') })
  onTestFinished(() => redis.stop())
  return redis
}

describe('broker/main.ts', () => {
  it('runs the broker alone over the registry in DATA_DIR and stops on SIGTERM with exit 0', async () => {
    const { dir, registry, secrets } = await dataFolder()
    const secret = secrets['el-1'] ?? ''
    registry.close()

    const broker = run({ DATA_DIR: dir, MQTT_PORT: '0', MQTT_HOST: '127.0.0.1', LOG_LEVEL: 'info' })
    const listening = await waitFor(() => broker.lines.find((l) => l.msg === 'broker listening'))
    const port = String(listening.port)
    const ok = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', port, '-i', 'el-1', '-u', 'el-1', '-P', secret],
      ...['-t', 'v1/elevators/el-1/status', '-q', '1', '-m', '{}'],
    ])
    expect(ok.code).toBe(0)
    const refused = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', port, '-i', 'el-1', '-u', 'el-1', '-P', 'wrong'],
      ...['-t', 'v1/elevators/el-1/status', '-m', '{}'],
    ])
    expect(refused.code).not.toBe(0)
    await waitFor(() => broker.lines.find((l) => l.reason === 'bad_secret'))
    broker.child.kill('SIGTERM')
    expect(await broker.exit).toBe(0)
    expect(broker.lines.some((l) => l.msg === 'broker stopped')).toBe(true)
    expect(JSON.stringify(broker.lines)).not.toContain(secret)
  })

  it('with REDIS_URL, two broker processes share messages and sessions, and stop with exit 0', async () => {
    const { dir, registry, secrets } = await dataFolder()
    const redis = await redisIn(dir)
    const secret = secrets['el-1'] ?? ''
    const ingestSecret = await registry.createServiceAccount('svc-ingest')
    registry.close()

    const env = {
      DATA_DIR: dir,
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
    }
    const brokers = [run(env), run(env)]
    const ports = await Promise.all(
      brokers.map(async (b) =>
        String((await waitFor(() => b.lines.find((l) => l.msg === 'broker listening'))).port),
      ),
    )
    const ids = brokers.map(
      (b) => b.lines.find((l) => l.msg === 'broker sharing Redis with its cluster')?.brokerId,
    )
    expect(new Set(ids).size).toBe(2)
    // A persistent session made on the first broker (mosquitto_sub -c), then the subscriber goes away.
    const subscriber = ['-h', '127.0.0.1', '-i', 'svc-ingest', '-u', 'svc-ingest', '-P', ingestSecret, '-c']
    const made = await mosquitto('mosquitto_sub', [
      ...subscriber,
      ...['-p', ports[0] ?? '', '-q', '1', '-t', 'v1/elevators/+/status', '-W', '1'],
    ])
    expect(made.stderr).not.toMatch(/refused|error/i)
    const published = await mosquitto('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', ports[1] ?? '', '-i', 'el-1', '-u', 'el-1', '-P', secret],
      ...['-t', 'v1/elevators/el-1/status', '-q', '1', '-m', '{"seq":7}'],
    ])
    expect(published.code).toBe(0)
    // The session, and the reading acknowledged while it was away, are found through the second broker.
    const resumed = await mosquitto('mosquitto_sub', [
      ...subscriber,
      ...['-p', ports[1] ?? '', '-q', '1', '-t', 'v1/elevators/+/status', '-C', '1', '-W', '10', '-v'],
    ])
    expect(resumed.stdout.trim()).toBe('v1/elevators/el-1/status {"seq":7}')

    for (const b of brokers) b.child.kill('SIGTERM')
    expect(await Promise.all(brokers.map((b) => b.exit))).toEqual([0, 0])
    expect(JSON.stringify(brokers.map((b) => b.lines))).not.toContain(secret)
  })

  it("with BROKER_INGEST=local, each broker of a cluster stores its own devices' readings before their PUBACK", async () => {
    const influxUrl = inject('influxUrl')
    const db = await createTestDatabase(influxUrl, 'broker_local_ingest')
    const { dir, registry, secrets } = await dataFolder(['el-1', 'el-2'])
    const redis = await redisIn(dir)
    const alertsSecret = await registry.createServiceAccount('svc-alerts')
    registry.close()

    const env = (name: string) => ({
      DATA_DIR: dir,
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
      BROKER_INGEST: 'local',
      INGEST_SPOOL_DIR: join(dir, `spool-${name}`),
      INFLUX_URL: influxUrl,
      INFLUX_API: '1',
      INFLUX_DB: db,
      INGEST_HEALTH_INTERVAL_MS: '0',
    })
    const brokers = [run(env('a')), run(env('b'))]
    const ports = await Promise.all(
      brokers.map(async (b) =>
        String((await waitFor(() => b.lines.find((l) => l.msg === 'broker listening'))).port),
      ),
    )
    // A subscriber of the cluster (alerts) on broker A still gets what a device sends to broker B.
    const alerts = spawn('mosquitto_sub', [
      ...[
        '-h',
        '127.0.0.1',
        '-p',
        ports[0] ?? '',
        '-i',
        'svc-alerts',
        '-u',
        'svc-alerts',
        '-P',
        alertsSecret,
      ],
      ...['-q', '1', '-t', 'v1/elevators/+/status', '-C', '1', '-W', '20', '-v'],
    ])
    let alertsOut = ''
    alerts.stdout.on('data', (chunk: Buffer) => {
      alertsOut += chunk.toString()
    })
    const alertsDone = new Promise<void>((resolve) => alerts.on('exit', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 1000)) // its SUBSCRIBE reaches the cluster

    for (const [i, id] of ['el-1', 'el-2'].entries()) {
      const payload = JSON.stringify({ ...NORMAL_ELEVATOR_STATUS, ts: Date.now(), seq: 1 })
      const published = await mosquitto('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', ports[i] ?? '', '-i', id, '-u', id, '-P', secrets[id] ?? ''],
        ...['-t', `v1/elevators/${id}/status`, '-q', '1', '-m', payload],
      ])
      expect(published.code).toBe(0)
      // mosquitto_pub returned after the PUBACK: the reading is already in InfluxDB.
      expect((await countsByDevice(influxUrl, db)).get(id), JSON.stringify(brokers[i]?.lines.slice(-6))).toBe(
        1,
      )
    }
    await alertsDone
    expect(alertsOut).toMatch(/^v1\/elevators\/el-1\/status /)

    // Two brokers on one spool would replay and delete each other's readings: the second one refuses.
    const third = run(env('a'))
    expect(await third.exit).toBe(1)
    expect(JSON.stringify(third.lines)).toMatch(/spool .*spool-a is in use by process \d+/)

    for (const b of brokers) b.child.kill('SIGTERM')
    expect(await Promise.all(brokers.map((b) => b.exit))).toEqual([0, 0])
    const stored = await countsByDevice(influxUrl, db)
    expect([stored.get('el-1'), stored.get('el-2')]).toEqual([1, 1])
  })

  it('with BROKER_INGEST=local, what it spooled before a SIGKILL reaches InfluxDB once after its restart', async () => {
    const influxUrl = inject('influxUrl')
    const db = await createTestDatabase(influxUrl, 'broker_local_kill')
    const { dir, registry, secrets } = await dataFolder()
    const secret = secrets['el-1'] ?? ''
    registry.close()
    const env = (url: string) => ({
      DATA_DIR: dir,
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      BROKER_INGEST: 'local',
      INGEST_SPOOL_DIR: join(dir, 'spool-broker1'),
      INFLUX_URL: url,
      INFLUX_API: '1',
      INFLUX_DB: db,
      INGEST_HEALTH_INTERVAL_MS: '0',
      INGEST_RETRY_MIN_MS: '100',
    })
    // InfluxDB away (nothing listens there): every reading is acknowledged from the fsync'd spool.
    const first = run(env(`http://127.0.0.1:${await freePort()}`))
    const port = (await waitFor(() => first.lines.find((l) => l.msg === 'broker listening'))).port
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${String(port)}`, {
      clientId: 'el-1',
      username: 'el-1',
      password: secret,
      reconnectPeriod: 0,
    })
    const t0 = Date.now()
    for (let seq = 1; seq <= 30; seq++) {
      const payload = JSON.stringify({ ...NORMAL_ELEVATOR_STATUS, ts: t0 + seq, seq })
      await device.publishAsync('v1/elevators/el-1/status', payload, { qos: 1 })
    }
    device.end(true)
    first.child.kill('SIGKILL')
    expect(await first.exit).toBe(null)
    expect(existsSync(join(dir, 'spool-broker1', 'owner.json'))).toBe(true)
    expect((await countsByDevice(influxUrl, db)).get('el-1')).toBeUndefined()

    // Restarted on its own spool with InfluxDB back: the dead owner's claim is taken over and replayed.
    const second = run(env(influxUrl))
    await waitFor(() => second.lines.find((l) => l.msg === 'broker listening'))
    const deadline = Date.now() + 20_000
    while ((await countsByDevice(influxUrl, db)).get('el-1') !== 30 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    second.child.kill('SIGTERM')
    expect(await second.exit).toBe(0)
    expect((await countsByDevice(influxUrl, db)).get('el-1')).toBe(30)
    expect(existsSync(join(dir, 'spool-broker1', 'owner.json'))).toBe(false)
  })

  it('prints every configuration problem and exits 1', async () => {
    const broker = run({
      MQTT_PORT: 'eighty',
      MQTT_MAX_CONNECTIONS: '-3',
      REDIS_URL: 'http://127.0.0.1:6379',
      DATA_DIR: tmpdir(),
    })
    expect(await broker.exit).toBe(1)
    expect(broker.stderr()).toMatch(/MQTT_PORT/)
    expect(broker.stderr()).toMatch(/MQTT_MAX_CONNECTIONS/)
    expect(broker.stderr()).toMatch(/REDIS_URL/)
    const half = run({ MQTT_TLS_CERT: '/nonexistent/cert.pem', DATA_DIR: tmpdir() })
    expect(await half.exit).toBe(1)
    expect(half.stderr()).toMatch(/MQTT_TLS_KEY/)
  })
})
