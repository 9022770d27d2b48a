/**
 * InfluxDB misconfigured or away: a clear error, readings acknowledged from the spool, and all of them
 * in InfluxDB once it is fixed. Real broker, real mqtt.js devices, real InfluxDB 1.6.7.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { runLoad } from '../bench/lib/load-generator.ts'
import { createLogger } from '../domain/logger.ts'
import { createTestDatabase, freePort, influxQuery, startInfluxd } from '../test/support/influxd.ts'
import { countsByDevice, ingestConfig, makeFleet, startStack, tempDir, waitFor } from './testing.ts'

type LogLine = { level: number; msg: string; code?: string; err?: unknown }

function capturingLogger() {
  const lines: LogLine[] = []
  const logger = createLogger({
    level: 'info',
    destination: {
      write(chunk: string) {
        lines.push(JSON.parse(chunk) as LogLine)
      },
    },
  })
  return { logger, lines, errors: () => lines.filter((l) => l.level >= 50) }
}

async function fleetIn(prefix: string, devices = 20) {
  const { dir, remove } = tempDir(prefix)
  onTestFinished(remove)
  const fleet = await makeFleet(dir, devices)
  onTestFinished(() => fleet.registry.close())
  return { dir, ...fleet }
}

const LOAD = { messagesPerDevice: 25, inflightPerDevice: 5, maxDurationMs: 30_000 } as const

describe('ingest when InfluxDB is misconfigured', () => {
  const influxUrl = inject('influxUrl')

  it('keeps readings in the spool while INFLUX_URL is unset, and delivers them once it is set', async () => {
    const { dir, registry, devices } = await fleetIn('ingest-nourl-')
    const log = capturingLogger()
    const first = await startStack({ registry, logger: log.logger, config: ingestConfig({ DATA_DIR: dir }) })
    const result = await runLoad({ url: first.url, devices, ...LOAD })
    expect(result.ackedTotal).toBe(500)
    expect(first.ingest.stats()).toMatchObject({ spoolDepthLines: 500, written: 0, influx: 'not_configured' })
    expect(log.lines.some((l) => l.level === 40 && /INFLUX_URL is not set/.test(l.msg))).toBe(true)
    await first.stop()

    const db = await createTestDatabase(influxUrl, 'nourl')
    const second = await startStack({
      registry,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
    })
    onTestFinished(() => second.stop())
    await waitFor(() => second.ingest.stats().spoolDepthLines === 0, 20_000, 'the spool to drain')
    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id), device.id).toBe(device.ackedValid)
  })

  it('says the database is missing, spools, and replays once it exists', async () => {
    const { dir, registry, devices } = await fleetIn('ingest-nodb-')
    const db = `nodb_${Date.now().toString(36)}`
    const log = capturingLogger()
    const stack = await startStack({
      registry,
      logger: log.logger,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
    })
    onTestFinished(() => stack.stop())
    const [error] = log.errors()
    expect(error).toMatchObject({ code: 'INFLUX_NOT_FOUND' })
    expect(JSON.stringify(error)).toContain(`database not found: \\"${db}\\"`)

    const result = await runLoad({ url: stack.url, devices, ...LOAD })
    expect(result.ackedTotal).toBe(500)
    expect(stack.ingest.stats().spoolDepthLines).toBe(500)

    await influxQuery(influxUrl, `CREATE DATABASE "${db}"`)
    onTestFinished(() => influxQuery(influxUrl, `DROP DATABASE "${db}"`).then(() => undefined))
    await waitFor(() => stack.ingest.stats().spoolDepthLines === 0, 20_000, 'the spool to drain')
    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id), device.id).toBe(device.ackedValid)
    expect(log.lines.some((l) => l.msg === 'InfluxDB takes writes')).toBe(true)
  })

  it('says the URL does not answer, spools, and delivers after a restart with the right one', async () => {
    const { dir, registry, devices } = await fleetIn('ingest-badurl-')
    const db = await createTestDatabase(influxUrl, 'badurl')
    const log = capturingLogger()
    const wrong = `http://127.0.0.1:${await freePort()}`
    const first = await startStack({
      registry,
      logger: log.logger,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: wrong, INFLUX_DB: db }),
    })
    expect(log.errors()[0]).toMatchObject({ code: 'INFLUX_UNREACHABLE' })
    expect(JSON.stringify(log.errors()[0])).toContain('check INFLUX_URL')
    const result = await runLoad({ url: first.url, devices, ...LOAD })
    expect(result.ackedTotal).toBe(500)
    await first.stop()

    const second = await startStack({
      registry,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
    })
    onTestFinished(() => second.stop())
    await waitFor(() => second.ingest.stats().spoolDepthLines === 0, 20_000, 'the spool to drain')
    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id), device.id).toBe(device.ackedValid)
  })

  it('says the token is wrong (InfluxDB with auth), spools, and delivers after a restart with the right one', async () => {
    const { dir, registry, devices } = await fleetIn('ingest-auth-')
    const influxDir = tempDir('influxd-auth-')
    onTestFinished(influxDir.remove)
    const admin = { username: 'admin', password: 'right-password' }
    const server = await startInfluxd({ dir: influxDir.dir, admin })
    onTestFinished(() => server.stop())
    const db = await createTestDatabase(server.url, 'auth', admin)
    const base = { DATA_DIR: dir, INFLUX_URL: server.url, INFLUX_DB: db }
    const log = capturingLogger()
    const first = await startStack({
      registry,
      logger: log.logger,
      config: ingestConfig({ ...base, INFLUX_TOKEN: 'admin:wrong' }),
    })
    expect(log.errors()[0]).toMatchObject({ code: 'INFLUX_AUTH' })
    expect(JSON.stringify(log.errors()[0])).toContain('check INFLUX_TOKEN')
    // The secret itself never reaches the log.
    expect(JSON.stringify(log.lines)).not.toContain('admin:wrong')
    const result = await runLoad({ url: first.url, devices, ...LOAD })
    expect(result.ackedTotal).toBe(500)
    await first.stop()

    const second = await startStack({
      registry,
      config: ingestConfig({ ...base, INFLUX_TOKEN: `admin:${admin.password}` }),
    })
    onTestFinished(() => second.stop())
    await waitFor(() => second.ingest.stats().spoolDepthLines === 0, 20_000, 'the spool to drain')
    const series = await influxQuery(
      server.url,
      'SELECT count(seq) FROM elevator_status, elevator_event, scale_status, scale_weighing, scale_event',
      db,
      admin,
    )
    const total = series.reduce((n, s) => n + Number(s.values[0]?.[1] ?? 0), 0)
    expect(total).toBe(result.devices.reduce((n, d) => n + d.ackedValid, 0))
  })
})
