/**
 * InfluxDB stopped for 30 s in the middle of a stream, then started again: afterwards every device
 * has exactly as many points as it had acknowledged messages (nothing lost, nothing duplicated).
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { startLoad } from '../bench/lib/load-generator.ts'
import { createTestDatabase, startInfluxd } from '../test/support/influxd.ts'
import { countsByDevice, ingestConfig, makeFleet, startStack, tempDir, waitFor } from './testing.ts'

const OUTAGE_MS = 30_000

describe('ingest through an InfluxDB outage', () => {
  it('spools while influxd is stopped for 30 s and replays it all, once', async () => {
    const data = tempDir('ingest-outage-')
    onTestFinished(data.remove)
    const influxDir = tempDir('influxd-outage-')
    onTestFinished(influxDir.remove)
    const influxd = await startInfluxd({ dir: influxDir.dir })
    onTestFinished(() => influxd.stop())
    const db = await createTestDatabase(influxd.url, 'outage')
    const { registry, devices } = await makeFleet(data.dir, 100)
    onTestFinished(() => registry.close())
    const stack = await startStack({
      registry,
      config: ingestConfig({
        DATA_DIR: data.dir,
        INFLUX_URL: influxd.url,
        INFLUX_DB: db,
        INGEST_RETRY_MAX_MS: '1000',
      }),
    })
    onTestFinished(() => stack.stop())

    // 100 devices at 4 Hz for 45 s: the outage falls well inside the stream.
    const load = startLoad({
      url: stack.url,
      devices,
      messagesPerDevice: 180,
      inflightPerDevice: 5,
      ratePerDeviceHz: 4,
      maxDurationMs: 90_000,
    })
    await load.ready
    load.go()
    await waitFor(() => load.acked() > 2000, 20_000, 'the stream to be under way')
    await influxd.stop()
    const ackedAtStop = load.acked()
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    // Devices went on being acknowledged from the spool.
    expect(load.acked()).toBeGreaterThan(ackedAtStop + 5000)
    expect(stack.ingest.stats().spoolDepthLines).toBeGreaterThan(5000)
    await influxd.start()

    const result = await load.done
    expect(result.errors).toEqual([])
    expect(result.ackedTotal).toBe(18_000)
    await waitFor(() => stack.ingest.stats().spoolDepthLines === 0, 30_000, 'the spool to drain')
    const counts = await countsByDevice(influxd.url, db)
    for (const device of result.devices) expect(counts.get(device.id) ?? 0, device.id).toBe(device.ackedValid)
    expect(stack.ingest.stats().spooled).toBeGreaterThan(5000)
  }, 120_000)
})
