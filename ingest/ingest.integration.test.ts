/**
 * The whole path with real parts: simulated devices (mqtt.js, in their own process) -> the broker ->
 * ingest -> InfluxDB 1.6.7, read back with InfluxQL over HTTP.
 */
import { Registry as PromRegistry } from 'prom-client'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { runLoad } from '../bench/lib/load-generator.ts'
import { INVALID_KINDS } from '../bench/lib/payloads.ts'
import { silentLogger } from '../domain/logger.ts'
import { createTestDatabase, influxQuery } from '../test/support/influxd.ts'
import { deadLetterFile, openDeadLetterStore } from './dead-letters.ts'
import { createIngest } from './ingest.ts'
import { countsByDevice, ingestConfig, makeFleet, startStack, tempDir } from './testing.ts'

describe('ingest, all in one process', () => {
  const influxUrl = inject('influxUrl')

  it('stores 100,000 readings of 1,000 devices at QoS 1: per device, as many points as acknowledgements', async () => {
    const { dir, remove } = tempDir('ingest-100k-')
    onTestFinished(remove)
    const db = await createTestDatabase(influxUrl, 'ingest100k')
    const { registry, devices } = await makeFleet(dir, 1000)
    onTestFinished(() => registry.close())
    const stack = await startStack({
      registry,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
    })
    onTestFinished(() => stack.stop())

    const result = await runLoad({
      url: stack.url,
      devices,
      messagesPerDevice: 100,
      inflightPerDevice: 10,
      maxDurationMs: 100_000,
    })
    expect(result.errors).toEqual([])
    expect(result.ackedTotal).toBe(100_000)

    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id) ?? 0, device.id).toBe(device.ackedValid)
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(100_000)
    expect(stack.ingest.stats()).toMatchObject({ spooled: 0, deadLetters: 0 })
  }, 150_000)

  it('keeps every valid reading of a stream with 5% invalid messages, and every invalid one as a dead letter', async () => {
    const { dir, remove } = tempDir('ingest-invalid-')
    onTestFinished(remove)
    const db = await createTestDatabase(influxUrl, 'ingestinvalid')
    const { registry, devices } = await makeFleet(dir, 100)
    onTestFinished(() => registry.close())
    const stack = await startStack({
      registry,
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
    })
    onTestFinished(() => stack.stop())

    const result = await runLoad({
      url: stack.url,
      devices,
      messagesPerDevice: 200,
      inflightPerDevice: 10,
      invalidShare: 0.05,
      maxDurationMs: 60_000,
    })
    expect(result.ackedTotal).toBe(20_000)

    const counts = await countsByDevice(influxUrl, db)
    for (const device of result.devices) expect(counts.get(device.id) ?? 0, device.id).toBe(device.ackedValid)
    const expected = Object.fromEntries(
      INVALID_KINDS.map((kind) => [kind, result.devices.reduce((n, d) => n + d.ackedInvalid[kind], 0)]),
    )
    const invalidTotal = Object.values(expected).reduce((a, b) => a + b, 0)
    // About 5%: the share is what the test is about, so make sure it really is there.
    expect(invalidTotal).toBeGreaterThan(600)
    expect(invalidTotal).toBeLessThan(1400)

    await stack.stop()
    // A second reader of the same file, as the operator CLI and the alerts API are.
    const store = openDeadLetterStore(deadLetterFile(dir))
    onTestFinished(() => store.close())
    expect(store.countByReason()).toEqual(
      Object.fromEntries(Object.entries(expected).filter(([, n]) => n > 0)),
    )
    const [letter] = store.list({ reason: 'schema', limit: 1 })
    expect(letter?.deviceId).toMatch(/^dev-/)
    expect(letter?.topic).toContain(letter?.deviceId)
    expect(letter?.message).toMatch(/seq/)
    expect(letter?.payloadText).toContain('"seq":-1')
  }, 120_000)

  it('adds no point for a redelivered message, and keeps two readings of one millisecond', async () => {
    const { dir, remove } = tempDir('ingest-dup-')
    onTestFinished(remove)
    const db = await createTestDatabase(influxUrl, 'ingestdup')
    const { registry } = await makeFleet(dir, 2)
    onTestFinished(() => registry.close())
    const ingest = createIngest({
      config: ingestConfig({ DATA_DIR: dir, INFLUX_URL: influxUrl, INFLUX_DB: db }),
      logger: silentLogger(),
      registry,
      metrics: new PromRegistry(),
    })
    await ingest.start()
    onTestFinished(() => ingest.stop())
    const ts = 1_790_000_000_000
    const message = (seq: number, receivedAt: number) => ({
      topic: 'v1/scales/dev-00001/weighings',
      payload: Buffer.from(
        JSON.stringify({
          ts,
          seq,
          grossKg: 1,
          tareKg: 0,
          netKg: 1,
          unitPriceCny: 2,
          amountCny: 2,
          stable: true,
        }),
      ),
      clientId: 'dev-00001',
      receivedAt,
    })
    // The same message three times (a QoS 1 redelivery), and another one in the same millisecond.
    await Promise.all([ingest.accept(message(41, ts + 5)), ingest.accept(message(42, ts + 5))])
    await ingest.accept(message(41, ts + 900))
    await ingest.accept(message(41, ts + 901))
    const rows = await influxQuery(influxUrl, 'SELECT seq FROM scale_weighing', db)
    expect(rows[0]?.values.map((v) => v[1])).toEqual([41, 42])
    // An unknown device is a dead letter, not a point.
    await ingest.accept({ ...message(43, ts), topic: 'v1/scales/nobody/weighings', clientId: 'nobody' })
    await ingest.accept({ ...message(44, ts), payload: Buffer.alloc(5000, 0x20) })
    expect(ingest.deadLetters.countByReason()).toEqual({ unknown_device: 1, payload_too_large: 1 })
    const [tooLarge] = ingest.deadLetters.list({ reason: 'payload_too_large' })
    expect(tooLarge).toMatchObject({ payloadBytes: 5000, isTruncated: false, deviceId: 'dev-00001' })
  })

  it('keeps a line InfluxDB refuses as a dead letter, stores the rest of its batch, and writes its own health', async () => {
    const { dir, remove } = tempDir('ingest-refused-')
    onTestFinished(remove)
    const db = await createTestDatabase(influxUrl, 'ingestrefused')
    const { registry } = await makeFleet(dir, 2)
    onTestFinished(() => registry.close())
    const ts = 1_790_000_000_000
    // `firmware` already exists as an integer in this shard: InfluxDB refuses a string there.
    const res = await fetch(`${influxUrl}/write?db=${db}&precision=u`, {
      method: 'POST',
      body: `scale_status,device_id=other firmware=1i ${ts * 1000}`,
    })
    expect(res.status).toBe(204)
    const ingest = createIngest({
      config: ingestConfig({
        DATA_DIR: dir,
        INFLUX_URL: influxUrl,
        INFLUX_DB: db,
        INGEST_FLUSH_INTERVAL_MS: '50',
        INGEST_HEALTH_INTERVAL_MS: '100',
      }),
      logger: silentLogger(),
      registry,
      metrics: new PromRegistry(),
    })
    await ingest.start()
    onTestFinished(() => ingest.stop())
    const weighing = (seq: number) => ({
      topic: 'v1/scales/dev-00001/weighings',
      payload: Buffer.from(
        JSON.stringify({
          ts: ts + seq,
          seq,
          grossKg: 1,
          tareKg: 0,
          netKg: 1,
          unitPriceCny: 2,
          amountCny: 2,
          stable: true,
        }),
      ),
      clientId: 'dev-00001',
      receivedAt: ts,
    })
    const status = {
      topic: 'v1/scales/dev-00001/status',
      payload: Buffer.from(
        JSON.stringify({
          ts,
          seq: 100,
          zeroOffsetE: 0,
          sealIntact: true,
          paramCounter: 1,
          calibrationCounter: 1,
          firmware: 'v2',
        }),
      ),
      clientId: 'dev-00001',
      receivedAt: ts,
    }
    // One batch: seven weighings with the refused status in the middle.
    await Promise.all(
      [1, 2, 3, 4]
        .map((i) => ingest.accept(weighing(i)))
        .concat(
          ingest.accept(status),
          [5, 6, 7].map((i) => ingest.accept(weighing(i))),
        ),
    )
    expect(await influxQuery(influxUrl, 'SELECT count(seq) FROM scale_weighing', db)).toMatchObject([
      { values: [[0, 7]] },
    ])
    const [refused] = ingest.deadLetters.list({ reason: 'influx_rejected' })
    expect(refused).toMatchObject({ deviceId: 'dev-00001', topic: 'influx:scale_status' })
    expect(refused?.payloadText).toContain('firmware="v2"')
    expect(refused?.message).toMatch(/field type conflict/)
    expect(ingest.stats()).toMatchObject({
      written: 7,
      spooled: 0,
      deadLettersByReason: { influx_rejected: 1 },
    })

    await new Promise((r) => setTimeout(r, 400))
    const health = await influxQuery(
      influxUrl,
      'SELECT last(written), last(spool_depth_lines), last(dead_letters) FROM platform_ingest',
      db,
    )
    expect(health[0]?.values[0]?.slice(1)).toEqual([7, 0, 1])
    const byReason = await influxQuery(
      influxUrl,
      'SELECT last(count) FROM platform_dead_letters GROUP BY reason',
      db,
    )
    expect(byReason.map((s) => [s.tags?.reason, s.values[0]?.[1]])).toEqual([['influx_rejected', 1]])
    // The process's headroom rides with the same points.
    const [processPoint] = await influxQuery(
      influxUrl,
      'SELECT last(event_loop_utilization), last(event_loop_delay_p99_ms), last(rss_mib), last(heap_used_mib), last(open_files), last(open_files_limit) FROM platform_process',
      db,
    )
    const [elu, delayP99, rss, heap, files, limit] = (processPoint?.values[0]?.slice(1) ?? []) as number[]
    expect(elu).toBeGreaterThan(0)
    expect(elu).toBeLessThanOrEqual(1)
    expect(delayP99).toBeGreaterThan(0)
    expect(rss).toBeGreaterThan(heap ?? Number.POSITIVE_INFINITY)
    expect(files).toBeGreaterThan(2)
    expect(limit).toBeGreaterThanOrEqual(files ?? Number.POSITIVE_INFINITY)
  })
})
