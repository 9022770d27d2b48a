import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { countsByDevice } from '../ingest/testing.ts'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { createTestDatabase } from '../test/support/influxd.ts'
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

/** A DATA_DIR with a Redis of its own and a registry holding one firm and one site (closed by the caller). */
async function clusterFolder() {
  const dir = mkdtempSync(join(tmpdir(), 'broker-main-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const redis = await startLocalRedis({ dir: join(dir, 'redis') })
  onTestFinished(() => redis.stop())
  const registry = createRegistry({ file: registryFile(dir) })
  registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
  registry.createSite({ id: 'site-1', name: 'Market', category: 'market', address: 'Qiaokou' })
  return { dir, redis, registry }
}

describe('broker/main.ts', () => {
  it('runs the broker alone over the registry in DATA_DIR and stops on SIGTERM with exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'broker-main-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const registry = createRegistry({ file: registryFile(dir) })
    registry.createTenant({ id: 'firm-a', name: 'Firm A', kind: 'maintenance_firm' })
    registry.createSite({ id: 'site-1', name: 'Market', category: 'market', address: 'Qiaokou' })
    registry.createElevator({
      id: 'el-1',
      siteId: 'site-1',
      tenantId: 'firm-a',
      registrationCode: '31104201002021000001',
      ratedSpeedMps: 1,
      floors: 6,
    })
    const secret = await registry.issueDeviceSecret('el-1')
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
    const { dir, redis, registry } = await clusterFolder()
    registry.createElevator({
      id: 'el-1',
      siteId: 'site-1',
      tenantId: 'firm-a',
      registrationCode: '31104201002021000001',
      ratedSpeedMps: 1,
      floors: 6,
    })
    const secret = await registry.issueDeviceSecret('el-1')
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
    const { dir, redis, registry } = await clusterFolder()
    const secrets: Record<string, string> = {}
    for (const [i, id] of ['el-1', 'el-2'].entries()) {
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
