import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRegistry, registryFile } from '../registry/registry.ts'
import { startLocalRedis } from './local-redis.ts'
import { mosquitto } from './testing.ts'

const MAIN = join(import.meta.dirname, 'main.ts')
const TSX = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx')

type Running = {
  child: ChildProcess
  lines: Record<string, unknown>[]
  stderr: () => string
  exit: Promise<number | null>
}

function run(env: Record<string, string>): Running {
  const child = spawn(TSX, [MAIN], {
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
    const dir = mkdtempSync(join(tmpdir(), 'broker-main-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const redis = await startLocalRedis({ dir: join(dir, 'redis') })
    onTestFinished(() => redis.stop())
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
