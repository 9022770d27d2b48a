/**
 * Ingest's batching, spooling and acknowledgement rules with a fake InfluxDB (the real one is in the
 * *.integration.test.ts files). Spool and dead letters are real files in a temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry as PromRegistry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseEnv } from '../domain/config.ts'
import { DomainError } from '../domain/errors.ts'
import { silentLogger } from '../domain/logger.ts'
import type { InboundMessage } from '../domain/pipeline.ts'
import type { Reading } from '../domain/reading.ts'
import type { DeviceContext } from '../domain/registry-types.ts'
import { startFakeHttp } from '../test/support/fake-http.ts'
import { IngestConfigSchema } from './config.ts'
import { createIngest } from './ingest.ts'
import { LineBatch } from './line-batch.ts'

const context: DeviceContext = {
  device: {
    id: 'sc-1',
    kind: 'scale',
    siteId: 'st-1',
    tenantId: 'tn-1',
    name: null,
    statusPeriodS: 60,
    inService: true,
    createdAt: 1,
    certificateNo: 'c',
    accuracyClass: 'III',
    maxKg: 30,
    eG: 5,
    lastVerificationOn: null,
    nextVerificationDue: null,
  },
  site: {
    id: 'st-1',
    name: 'Market',
    category: 'market',
    address: 'x',
    operatorTenantId: null,
    createdAt: 1,
  },
  tenant: { id: 'tn-1', name: 'Operator', kind: 'site_operator', contact: null, createdAt: 1 },
}

function weighing(seq: number): InboundMessage {
  const payload = {
    ts: 1_790_000_000_000 + seq,
    seq,
    grossKg: 1,
    tareKg: 0,
    netKg: 1,
    unitPriceCny: 2,
    amountCny: 2,
    stable: true,
  }
  return {
    topic: 'v1/scales/sc-1/weighings',
    payload: Buffer.from(JSON.stringify(payload)),
    clientId: 'sc-1',
    receivedAt: 1,
  }
}

const seqOf = (line: string): number => Number(/seq=(\d+)i/.exec(line)?.[1])

/** An InfluxDB that can be up, down, or holding every write until released. */
function fakeInflux() {
  let mode: 'up' | 'down' | 'hold' = 'up'
  const held: Array<() => void> = []
  const writes: string[][] = []
  return {
    target: 'fake',
    writes,
    set(next: 'up' | 'down' | 'hold') {
      mode = next
    },
    release() {
      for (const r of held.splice(0)) r()
    },
    heldCount: () => held.length,
    async write(lines: readonly string[] | LineBatch) {
      if (mode === 'down') throw new DomainError('INFLUX_UNREACHABLE', 'nobody home')
      if (mode === 'hold') await new Promise<void>((resolve) => held.push(resolve))
      writes.push(lines instanceof LineBatch ? lines.toLines() : [...lines])
    },
    async probe() {
      if (mode === 'down') throw new DomainError('INFLUX_UNREACHABLE', 'nobody home')
    },
    async createDatabase() {},
  }
}

function setup(env: Record<string, string> = {}, onReading?: (r: Reading) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'ingest-unit-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const influx = fakeInflux()
  const config = parseEnv(IngestConfigSchema, {
    DATA_DIR: dir,
    INGEST_HEALTH_INTERVAL_MS: '0',
    INGEST_RETRY_MIN_MS: '20',
    INGEST_RETRY_MAX_MS: '50',
    ...env,
  })
  const ingest = createIngest({
    config,
    logger: silentLogger(),
    registry: { getDeviceContext: (id) => (id === 'sc-1' ? context : null) },
    metrics: new PromRegistry(),
    influx,
    onReading,
  })
  onTestFinished(() => ingest.stop())
  return { ingest, influx, dir }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

function tracked(promise: Promise<void>) {
  const state = { isDone: false, error: null as unknown }
  promise.then(
    () => {
      state.isDone = true
    },
    (err: unknown) => {
      state.error = err
    },
  )
  return state
}

describe('ingest', () => {
  it('writes many messages in one request (group commit)', async () => {
    const { ingest, influx } = setup()
    await ingest.start()
    await Promise.all(Array.from({ length: 200 }, (_, i) => ingest.accept(weighing(i))))
    expect(influx.writes).toHaveLength(1)
    expect(influx.writes[0]?.map(seqOf)).toEqual([...Array(200).keys()])
  })

  it('hands a reading to a synchronous listener without a promise of its own: one batch, one promise', async () => {
    const seen: number[] = []
    const { ingest, influx } = setup({}, (reading) => {
      seen.push(reading.data.seq)
    })
    await ingest.start()
    const first = ingest.accept(weighing(0))
    const second = ingest.accept(weighing(1))
    // The alerts engine listens this way in one process: the PUBACKs wait on the batch's write alone.
    expect(second).toBe(first)
    expect(seen).toEqual([0, 1])
    await first
    expect(influx.writes[0]?.map(seqOf)).toEqual([0, 1])
  })

  it('acknowledges only once InfluxDB took the line, and merges what queued behind a busy write', async () => {
    const { ingest, influx } = setup({ INGEST_MAX_CONCURRENT_WRITES: '1', INGEST_FLUSH_INTERVAL_MS: '1' })
    await ingest.start()
    influx.set('hold')
    const first = tracked(ingest.accept(weighing(0)))
    await tick(20)
    expect(influx.heldCount()).toBe(1)
    const later: Array<ReturnType<typeof tracked>> = []
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 0; i < 10; i++) later.push(tracked(ingest.accept(weighing(1 + burst * 10 + i))))
      await tick(10)
    }
    expect(first.isDone).toBe(false)
    expect(later.some((s) => s.isDone)).toBe(false)
    influx.set('up')
    influx.release()
    await tick(50)
    expect(first.isDone).toBe(true)
    expect(later.every((s) => s.isDone)).toBe(true)
    // Three sealed batches waited behind the busy write: they went as one request.
    expect(influx.writes.map((w) => w.length)).toEqual([1, 30])
  })

  it('spools while InfluxDB is down, acknowledges from the spool, and replays in order', async () => {
    const { ingest, influx } = setup()
    influx.set('down')
    await ingest.start()
    await Promise.all(Array.from({ length: 50 }, (_, i) => ingest.accept(weighing(i))))
    for (let i = 50; i < 60; i++) await ingest.accept(weighing(i))
    expect(ingest.stats()).toMatchObject({ spooled: 60, spoolDepthLines: 60, written: 0, influx: 'down' })
    influx.set('up')
    for (let i = 0; i < 50 && ingest.stats().spoolDepthLines > 0; i++) await tick(20)
    expect(ingest.stats()).toMatchObject({ spoolDepthLines: 0, written: 60, influx: 'up' })
    expect(influx.writes.flat().map(seqOf)).toEqual([...Array(60).keys()])
  })

  it('keeps the spool across a restart and replays it', async () => {
    const first = setup()
    first.influx.set('down')
    await first.ingest.start()
    await Promise.all(Array.from({ length: 20 }, (_, i) => first.ingest.accept(weighing(i))))
    await first.ingest.stop()
    const influx = fakeInflux()
    const again = createIngest({
      config: parseEnv(IngestConfigSchema, { DATA_DIR: first.dir, INGEST_HEALTH_INTERVAL_MS: '0' }),
      logger: silentLogger(),
      registry: { getDeviceContext: () => context },
      metrics: new PromRegistry(),
      influx,
    })
    await again.start()
    onTestFinished(() => again.stop())
    for (let i = 0; i < 50 && again.stats().spoolDepthLines > 0; i++) await tick(20)
    expect(influx.writes.flat().map(seqOf)).toEqual([...Array(20).keys()])
  })

  it('stops acknowledging when the spool is full, and never drops', async () => {
    const { ingest, influx } = setup({ INGEST_SPOOL_MAX_BYTES: '2000' })
    influx.set('down')
    await ingest.start()
    // Eight batches of five (an empty spool takes any one record, however large).
    const states: Array<ReturnType<typeof tracked>> = []
    for (let burst = 0; burst < 8; burst++) {
      for (let i = 0; i < 5; i++) states.push(tracked(ingest.accept(weighing(burst * 5 + i))))
      await tick(20)
    }
    await tick(50)
    const acknowledged = states.filter((s) => s.isDone).length
    expect(acknowledged).toBeGreaterThan(0)
    expect(acknowledged).toBeLessThan(40)
    influx.set('up')
    for (let i = 0; i < 100 && !states.every((s) => s.isDone); i++) await tick(20)
    expect(states.every((s) => s.isDone)).toBe(true)
    for (let i = 0; i < 50 && ingest.stats().spoolDepthLines > 0; i++) await tick(20)
    expect(new Set(influx.writes.flat().map(seqOf)).size).toBe(40)
  })

  it('flushes on stop, then refuses new messages (they stay unacknowledged)', async () => {
    const { ingest, influx } = setup({ INGEST_FLUSH_INTERVAL_MS: '60000' })
    await ingest.start()
    const pending = tracked(ingest.accept(weighing(1)))
    await tick(10)
    expect(pending.isDone).toBe(false)
    await ingest.stop()
    expect(pending.isDone).toBe(true)
    expect(influx.writes.flat().map(seqOf)).toEqual([1])
    await expect(ingest.accept(weighing(2))).rejects.toMatchObject({ code: 'INGEST_STOPPED' })
  })

  it('dead-letters a line InfluxDB 2.x refuses with 422, writes the rest and keeps writing directly', async () => {
    // A stand-in for the v2 write endpoint: a batch holding seq 3 is a partial write (422), as 2.x
    // answers a point beyond the bucket's retention or a field type conflict.
    const stored: number[] = []
    const url = await startFakeHttp((_req, body, res) => {
      const lines = body
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
      if (lines.some((l) => seqOf(l) === 3)) {
        res.statusCode = 422
        res.setHeader('content-type', 'application/json')
        res.end(
          '{"code":"unprocessable entity","message":"partial write: points beyond retention policy dropped=1"}',
        )
        return
      }
      stored.push(...lines.map(seqOf))
      res.statusCode = 204
      res.end()
    })
    const dir = mkdtempSync(join(tmpdir(), 'ingest-unit-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const ingest = createIngest({
      config: parseEnv(IngestConfigSchema, {
        DATA_DIR: dir,
        INFLUX_URL: url,
        INFLUX_API: '2',
        INGEST_HEALTH_INTERVAL_MS: '0',
      }),
      logger: silentLogger(),
      registry: { getDeviceContext: (id) => (id === 'sc-1' ? context : null) },
      metrics: new PromRegistry(),
    })
    onTestFinished(() => ingest.stop())
    await ingest.start()
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => ingest.accept(weighing(i))))
    await Promise.all([6, 7].map((i) => ingest.accept(weighing(i))))
    expect(stored.sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 5, 6, 7])
    expect(ingest.stats()).toMatchObject({ influx: 'up', spoolDepthLines: 0, written: 7, spooled: 0 })
    expect(ingest.deadLetters.countByReason()).toEqual({ influx_rejected: 1 })
  })

  it('hands every valid reading to the listener in order; a failing listener stops nothing', async () => {
    const seen: number[] = []
    const { ingest, influx } = setup({}, (reading) => {
      seen.push(reading.data.seq)
      if (reading.data.seq === 3) throw new Error('listener bug')
    })
    await ingest.start()
    const invalid = { ...weighing(99), payload: Buffer.from('{"ts":') }
    await Promise.all([0, 1, 2, 3, 4].map((i) => ingest.accept(weighing(i))).concat(ingest.accept(invalid)))
    expect(seen).toEqual([0, 1, 2, 3, 4])
    expect(influx.writes.flat().map(seqOf)).toEqual([0, 1, 2, 3, 4])
    expect(ingest.deadLetters.countByReason()).toEqual({ invalid_json: 1 })
  })
})
